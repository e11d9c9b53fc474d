"""HMAC-signed connection tokens: ``b64url(json{"sub","exp"}) + "." + b64url(HMAC-SHA256(secret, part1))``.

Base64url without padding (padding is accepted on input). ``exp`` is a unix time in seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit


class AuthError(ValueError):
    """The token is missing, malformed, forged or expired; ``reason`` is a short code."""

    reason = "invalid"


class MissingToken(AuthError):
    reason = "missing"


class MalformedToken(AuthError):
    reason = "malformed"


class ForgedToken(AuthError):
    reason = "forged"


class ExpiredToken(AuthError):
    reason = "expired"


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str | bytes, part: str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return _b64e(hmac.new(key, part.encode("ascii"), hashlib.sha256).digest())


def issue_token(secret: str | bytes, sub: str, ttl: float, now: float | None = None) -> str:
    """A token for ``sub`` valid for ``ttl`` seconds from ``now`` (default: wall clock)."""
    exp = (time.time() if now is None else now) + ttl
    part = _b64e(json.dumps({"sub": sub, "exp": exp}, separators=(",", ":")).encode())
    return f"{part}.{_sign(secret, part)}"


def verify_token(secret: str | bytes, token: str | None, now: float | None = None) -> str:
    """The token's subject; raises :class:`AuthError` (a subclass) when it is not valid at ``now``."""
    if not token:
        raise MissingToken("no token: send 'Authorization: Bearer TOKEN' or '?token=TOKEN'")
    part, dot, sig = token.partition(".")
    if not dot or not part or not sig:
        raise MalformedToken("token must be PAYLOAD.SIGNATURE")
    if not hmac.compare_digest(sig, _sign(secret, part)):
        raise ForgedToken("token signature does not match")
    try:
        claims = json.loads(_b64d(part))
    except (ValueError, binascii.Error) as exc:
        raise MalformedToken(f"token payload is not base64url JSON: {exc}") from None
    sub, exp = (claims.get("sub"), claims.get("exp")) if isinstance(claims, dict) else (None, None)
    if not isinstance(sub, str) or not isinstance(exp, int | float) or isinstance(exp, bool):
        raise MalformedToken("token payload needs 'sub' (string) and 'exp' (unix seconds)")
    if (time.time() if now is None else now) >= exp:
        raise ExpiredToken(f"token expired at {exp:.0f}")
    return sub


def extract_token(path: str, headers: Mapping[str, str]) -> str | None:
    """The bearer token of a request: the ``Authorization`` header, else the ``token`` query parameter."""
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None
