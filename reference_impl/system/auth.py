"""Connection tokens: JWTs (RFC 7519) signed HS256, ES256 or RS256, verified with PyJWT.

A token says who connects and what it may do. Claims (any JWT library can mint them):

==========  =============================  ======================================================
claim       type                           meaning
==========  =============================  ======================================================
``sub``     string, required               the subject: stamped as ``from`` on its publications,
                                           the key of the per-subject limits
``exp``     number, required               expiry (unix seconds); an open connection is closed
                                           with 1008 then, unless it sent a fresh token
``nbf``     number, optional               not valid before (unix seconds)
``rooms``   list of grants, optional       ``[{"match": "chat.*", "allow": ["subscribe",
                                           "history"]}]``; no grant, no room
``scope``   string, optional               space-separated: ``metrics`` (``GET /metrics``),
                                           ``admin`` (the balancer's admin API)
``aud``     string or list, optional       checked when the verifier is given an audience
``iss``     string, optional               checked when the verifier is given an issuer
==========  =============================  ======================================================

A grant's ``match`` is a room name in which ``*`` stands for any run of characters (``*`` alone: every
room); ``allow`` lists rights among ``subscribe`` (join, live messages), ``publish`` and ``history``
(a resume's replay and ``GET /snapshot/ROOM``). The shape follows Centrifugo's ``caps`` claim.

One verifier has one key and one algorithm, fixed where the key is configured (RFC 8725): an HMAC
secret (at least 32 bytes) means HS256; a PEM public key means ES256 (EC P-256) or RS256 (RSA).
A token with any other ``alg`` — ``none``, or HS256 signed with the public key — is refused.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

RIGHTS = ("subscribe", "publish", "history")
SCOPES = ("metrics", "admin")
MIN_SECRET_BYTES = 32
#: every right on every room: what a trusted service (the load generator) grants its clients
ALL_ROOMS: tuple[dict[str, Any], ...] = ({"match": "*", "allow": list(RIGHTS)},)


class AuthError(ValueError):
    """The token cannot be accepted; ``reason`` is a short code sent with the 401."""

    reason = "invalid"


class MissingToken(AuthError):
    reason = "missing"


class MalformedToken(AuthError):
    reason = "malformed"


class ForgedToken(AuthError):
    reason = "forged"


class ExpiredToken(AuthError):
    reason = "expired"


class NotYetValidToken(AuthError):
    reason = "not_yet_valid"


class WrongAudience(AuthError):
    reason = "wrong_audience"


@dataclass(frozen=True, slots=True)
class Grants:
    """What a verified token allows: rooms by right, scopes, and until when."""

    subject: str
    expires: float
    rules: tuple[tuple[str, re.Pattern[str] | None, frozenset[str]], ...]
    scopes: frozenset[str]

    def allows(self, right: str, room: str) -> bool:
        """True when some grant gives ``right`` on ``room``."""
        for name, pattern, rights in self.rules:
            if right in rights and (room == name if pattern is None else pattern.fullmatch(room)):
                return True
        return False

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def room_grants(rooms: Iterable[str], rights: Iterable[str] = RIGHTS) -> list[dict[str, Any]]:
    """The ``rooms`` claim granting ``rights`` on each of ``rooms`` (names or ``*`` patterns)."""
    allow = list(rights)
    return [{"match": room, "allow": allow} for room in rooms]


@functools.lru_cache(maxsize=4096)
def _compile(claim: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[Any, ...]:
    """Compiled rules of a ``rooms`` claim (cached: many connections carry the same grants)."""
    rules = []
    for match, allow in claim:
        pattern = None
        if "*" in match:
            pattern = re.compile(".*".join(re.escape(part) for part in match.split("*")), re.DOTALL)
        rules.append((match, pattern, frozenset(allow)))
    return tuple(rules)


def _rules(claim: Any) -> tuple[Any, ...]:
    if claim is None:
        return ()
    if not isinstance(claim, list) or len(claim) > 1000:
        raise MalformedToken("claim 'rooms' must be a list of at most 1000 grants")
    normal = []
    for grant in claim:
        match = grant.get("match") if isinstance(grant, dict) else None
        allow = grant.get("allow") if isinstance(grant, dict) else None
        if not isinstance(match, str) or not isinstance(allow, list) or not set(allow) <= set(RIGHTS):
            raise MalformedToken(
                f"each grant of 'rooms' is {{'match': 'ROOM-or-pattern', 'allow': [...]}} with rights "
                f"among {', '.join(RIGHTS)}; got {str(grant)[:80]}"
            )
        normal.append((match, tuple(sorted(allow))))
    return _compile(tuple(normal))


def _scopes(claim: Any) -> frozenset[str]:
    if claim is None:
        return frozenset()
    if not isinstance(claim, str):
        raise MalformedToken("claim 'scope' must be a space-separated string")
    return frozenset(claim.split())


def _algorithm(key: Any) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if key.curve.name != "secp256r1":
            raise ValueError(f"EC keys must be on P-256 (ES256), not {key.curve.name}")
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ValueError(f"RSA keys must have at least 2048 bits, not {key.key_size}")
        return "RS256"
    raise ValueError("the key must be an EC P-256 (ES256) or RSA (RS256) key in PEM")


def _secret_bytes(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the HMAC secret has {len(raw)} bytes; HS256 needs at least {MIN_SECRET_BYTES} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw


class TokenVerifier:
    """Verifies tokens with one key: ``secret`` (HS256) or ``public_key`` (PEM: ES256 or RS256)."""

    __slots__ = ("algorithm", "audience", "issuer", "key", "leeway")

    def __init__(
        self,
        secret: str | bytes | None = None,
        public_key: str | bytes | None = None,
        *,
        leeway: float = 0.0,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        if (secret is None) == (public_key is None):
            raise ValueError("give exactly one of an HMAC secret (HS256) or a PEM public key (ES256/RS256)")
        if secret is not None:
            self.key: Any = _secret_bytes(secret)
            self.algorithm = "HS256"
        else:
            pem = public_key.encode() if isinstance(public_key, str) else public_key
            self.key = load_pem_public_key(pem)  # type: ignore[arg-type]
            self.algorithm = _algorithm(self.key)
        if leeway < 0:
            raise ValueError(f"leeway must be >= 0 seconds, got {leeway}")
        self.leeway, self.audience, self.issuer = leeway, audience, issuer

    def __repr__(self) -> str:  # never the key
        return f"TokenVerifier({self.algorithm}, leeway={self.leeway:g}s)"

    def verify(self, token: str | None) -> Grants:
        """The token's grants; raises :class:`AuthError` (a subclass naming the reason) otherwise."""
        if not token:
            raise MissingToken("no token: send 'Authorization: Bearer TOKEN' or '?token=TOKEN'")
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                leeway=self.leeway,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.InvalidSignatureError:
            raise ForgedToken("token signature does not match") from None
        except jwt.InvalidAlgorithmError:
            raise ForgedToken(
                f"token algorithm refused: this gateway accepts {self.algorithm} only"
            ) from None
        except jwt.ExpiredSignatureError:
            raise ExpiredToken("token expired") from None
        except jwt.ImmatureSignatureError:
            raise NotYetValidToken("token not valid yet (nbf or iat in the future)") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as exc:
            raise WrongAudience(f"token not issued for this service: {exc}") from None
        except jwt.InvalidTokenError as exc:  # DecodeError, missing or mistyped claims
            raise MalformedToken(f"token is not a valid JWT: {exc}") from None
        return Grants(
            claims["sub"], float(claims["exp"]), _rules(claims.get("rooms")), _scopes(claims.get("scope"))
        )


def mint_token(
    key: str | bytes,
    sub: str,
    ttl: float,
    *,
    rooms: Iterable[Mapping[str, Any]] | None = ALL_ROOMS,
    scope: str | None = None,
    now: float | None = None,
    nbf: float | None = None,
    **claims: Any,
) -> str:
    """A token for ``sub`` valid ``ttl`` seconds from ``now`` (default: wall clock).

    ``key`` is an HMAC secret (HS256) or a PEM private key (ES256 / RS256, chosen by the key).
    """
    start = time.time() if now is None else now
    payload: dict[str, Any] = {"sub": sub, "iat": int(start), "exp": start + ttl, **claims}
    if rooms is not None:
        payload["rooms"] = [dict(g) for g in rooms]
    if scope:
        payload["scope"] = scope
    if nbf is not None:
        payload["nbf"] = nbf
    pem = key.encode() if isinstance(key, str) else key
    if pem.lstrip().startswith(b"-----BEGIN"):
        private = load_pem_private_key(pem, password=None)
        return jwt.encode(payload, private, algorithm=_algorithm(private))  # type: ignore[arg-type]
    return jwt.encode(payload, _secret_bytes(key), algorithm="HS256")


def extract_token(path: str, headers: Mapping[str, str]) -> str | None:
    """The bearer token of a request: the ``Authorization`` header, else the ``token`` query parameter."""
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


_TOKEN_IN_TEXT = re.compile(r"(token=|[Bb]earer\s+)[^\s&\"']+")


def redact(text: str) -> str:
    """``text`` with every bearer token (query parameter or header) replaced by ``[redacted]``."""
    return _TOKEN_IN_TEXT.sub(r"\1[redacted]", text)
