"""HMAC token issue/verify: subject round trip, and every rejection names its reason."""

from __future__ import annotations

import base64
import json

import pytest

from reference_impl.system.auth import (
    AuthError,
    ExpiredToken,
    ForgedToken,
    MalformedToken,
    MissingToken,
    extract_token,
    issue_token,
    verify_token,
)

SECRET = "s3cret"


def test_round_trip_returns_subject() -> None:
    token = issue_token(SECRET, "alice", ttl=60, now=1000.0)
    assert verify_token(SECRET, token, now=1059.0) == "alice"


def test_token_has_the_contract_shape() -> None:
    token = issue_token(SECRET, "bob", ttl=10, now=100.0)
    part, _sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert claims == {"sub": "bob", "exp": 110.0}
    assert "=" not in token


@pytest.mark.parametrize("token", [None, ""])
def test_missing(token: str | None) -> None:
    with pytest.raises(MissingToken):
        verify_token(SECRET, token, now=0)


def test_expired_at_exactly_exp() -> None:
    token = issue_token(SECRET, "alice", ttl=5, now=100.0)
    with pytest.raises(ExpiredToken, match="expired"):
        verify_token(SECRET, token, now=105.0)


def test_wrong_secret_is_forged() -> None:
    token = issue_token("other", "alice", ttl=60, now=0)
    with pytest.raises(ForgedToken):
        verify_token(SECRET, token, now=1)


def test_tampered_payload_is_forged() -> None:
    token = issue_token(SECRET, "alice", ttl=60, now=0)
    _part, sig = token.split(".")
    evil = base64.urlsafe_b64encode(b'{"sub":"root","exp":1e12}').rstrip(b"=").decode()
    with pytest.raises(ForgedToken):
        verify_token(SECRET, f"{evil}.{sig}", now=1)


@pytest.mark.parametrize("token", ["nodot", ".sig", "part."])
def test_malformed(token: str) -> None:
    with pytest.raises(MalformedToken):
        verify_token(SECRET, token, now=0)


def test_signed_garbage_payload_is_malformed() -> None:
    from reference_impl.system.auth import _sign

    part = base64.urlsafe_b64encode(b"[1,2]").rstrip(b"=").decode()
    with pytest.raises(MalformedToken):
        verify_token(SECRET, f"{part}.{_sign(SECRET, part)}", now=0)


def test_all_errors_are_auth_errors_with_reason() -> None:
    reasons = {cls.reason for cls in (MissingToken, MalformedToken, ForgedToken, ExpiredToken)}
    assert reasons == {"missing", "malformed", "forged", "expired"}
    assert all(issubclass(c, AuthError) for c in (MissingToken, ForgedToken))


def test_extract_prefers_header_then_query() -> None:
    assert extract_token("/ws?token=q", {"Authorization": "Bearer h"}) == "h"
    assert extract_token("/ws?token=q", {}) == "q"
    assert extract_token("/ws", {"Authorization": "Basic xyz"}) is None
    assert extract_token("/ws", {}) is None
