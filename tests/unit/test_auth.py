"""JWT connection tokens: grants round trip, every rejection names its reason, keys fix the algorithm."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from reference_impl.system.auth import (
    AuthError,
    ExpiredToken,
    ForgedToken,
    MalformedToken,
    MissingToken,
    NotYetValidToken,
    TokenVerifier,
    WrongAudience,
    extract_token,
    mint_token,
    redact,
    room_grants,
)

SECRET = "unit-test-secret-of-at-least-32-bytes!"


def _pem(private: object) -> tuple[bytes, bytes]:
    priv = private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub = private.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return priv, pub


def test_round_trip_returns_subject_expiry_grants_and_scopes() -> None:
    token = mint_token(SECRET, "alice", 60, rooms=room_grants(["chat.*"], ["subscribe"]), scope="metrics")
    g = TokenVerifier(SECRET).verify(token)
    assert g.subject == "alice" and g.expires == pytest.approx(time.time() + 60, abs=2)
    assert (
        g.allows("subscribe", "chat.x")
        and g.allows("subscribe", "chat.")
        and not g.allows("subscribe", "chat")
    )
    assert not g.allows("publish", "chat.x") and not g.allows("history", "chat.x")
    assert g.has_scope("metrics") and not g.has_scope("admin")


def test_patterns_match_whole_names_and_stars_only() -> None:
    rooms = [{"match": "a*b", "allow": ["publish"]}, {"match": "x.y", "allow": ["history"]}]
    g = TokenVerifier(SECRET).verify(mint_token(SECRET, "s", 60, rooms=rooms))
    assert g.allows("publish", "ab") and g.allows("publish", "a-long-b") and not g.allows("publish", "abc")
    assert g.allows("history", "x.y") and not g.allows("history", "xzy"), "a dot is not a wildcard"
    assert not TokenVerifier(SECRET).verify(mint_token(SECRET, "s", 60, rooms=None)).allows("subscribe", "a")


def test_the_claims_are_plain_jwt_claims() -> None:
    token = mint_token(SECRET, "bob", 10, now=100.0, rooms=room_grants(["r"]))
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "sub": "bob",
        "iat": 100,
        "exp": 110.0,
        "rooms": [{"match": "r", "allow": ["subscribe", "publish", "history"]}],
    }


@pytest.mark.parametrize("token", [None, ""])
def test_missing(token: str | None) -> None:
    with pytest.raises(MissingToken):
        TokenVerifier(SECRET).verify(token)


def test_expiry_and_not_before_respect_the_leeway() -> None:
    expired = mint_token(SECRET, "a", -3)
    with pytest.raises(ExpiredToken):
        TokenVerifier(SECRET).verify(expired)
    assert TokenVerifier(SECRET, leeway=10).verify(expired).subject == "a"
    early = mint_token(SECRET, "a", 60, nbf=time.time() + 3)
    with pytest.raises(NotYetValidToken):
        TokenVerifier(SECRET).verify(early)
    assert TokenVerifier(SECRET, leeway=10).verify(early).subject == "a"


def test_wrong_secret_and_tampered_payload_are_forged() -> None:
    with pytest.raises(ForgedToken):
        TokenVerifier(SECRET).verify(mint_token("o" * 32, "alice", 60))
    head, _, sig = mint_token(SECRET, "alice", 60).split(".")
    evil = base64.urlsafe_b64encode(b'{"sub":"root","exp":1e12}').rstrip(b"=").decode()
    with pytest.raises(ForgedToken):
        TokenVerifier(SECRET).verify(f"{head}.{evil}.{sig}")


def test_alg_none_is_forged() -> None:
    token = jwt.encode({"sub": "x", "exp": time.time() + 60}, None, algorithm="none")
    with pytest.raises(ForgedToken, match="accepts HS256 only"):
        TokenVerifier(SECRET).verify(token)


@pytest.mark.parametrize(
    "token",
    [
        "nodot",
        "a.b",
        "a.b.c",
        jwt.encode({"exp": 2e9}, SECRET, algorithm="HS256"),  # no sub
        jwt.encode({"sub": "x"}, SECRET, algorithm="HS256"),  # no exp
        jwt.encode({"sub": "x", "exp": "soon"}, SECRET, algorithm="HS256"),
        jwt.encode({"sub": "x", "exp": 2e9, "rooms": "all"}, SECRET, algorithm="HS256"),
        jwt.encode({"sub": "x", "exp": 2e9, "rooms": [{"match": "r", "allow": ["own"]}]}, SECRET, "HS256"),
        jwt.encode({"sub": "x", "exp": 2e9, "scope": ["admin"]}, SECRET, algorithm="HS256"),
    ],
)
def test_malformed(token: str) -> None:
    with pytest.raises(MalformedToken):
        TokenVerifier(SECRET).verify(token)


def test_audience_and_issuer_are_checked_when_configured() -> None:
    v = TokenVerifier(SECRET, audience="wssim", issuer="https://idp")
    assert v.verify(mint_token(SECRET, "a", 60, aud="wssim", iss="https://idp")).subject == "a"
    for claims in ({"aud": "other", "iss": "https://idp"}, {"aud": "wssim", "iss": "evil"}):
        with pytest.raises(WrongAudience):
            v.verify(mint_token(SECRET, "a", 60, **claims))


@pytest.mark.parametrize(
    ("make", "alg"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: rsa.generate_private_key(65537, 2048), "RS256"),
    ],
)
def test_public_keys_fix_their_algorithm(make, alg: str) -> None:  # type: ignore[no-untyped-def]
    private, public = _pem(make())
    v = TokenVerifier(public_key=public)
    assert v.algorithm == alg
    assert v.verify(jwt.encode({"sub": "k", "exp": time.time() + 60}, private, algorithm=alg)).subject == "k"
    assert v.verify(mint_token(private, "helper", 60)).subject == "helper"
    with pytest.raises(ForgedToken):
        v.verify(mint_token(SECRET, "k", 60))  # HS256: refused whatever its key


def test_keys_are_checked_at_configuration() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        TokenVerifier("short")
    with pytest.raises(ValueError, match="exactly one"):
        TokenVerifier()
    _, p384 = _pem(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ValueError, match="P-256"):
        TokenVerifier(public_key=p384)
    assert SECRET not in repr(TokenVerifier(SECRET))


def test_all_errors_are_auth_errors_with_distinct_reasons() -> None:
    classes = (MissingToken, MalformedToken, ForgedToken, ExpiredToken, NotYetValidToken, WrongAudience)
    assert len({c.reason for c in classes}) == len(classes)
    assert all(issubclass(c, AuthError) for c in classes)


def test_extract_prefers_the_bearer_header() -> None:
    assert extract_token("/ws?token=q", {"Authorization": "Bearer h"}) == "h"
    assert extract_token("/ws?token=q", {}) == "q"
    assert extract_token("/ws", {"Authorization": "Basic x"}) is None


def test_redact_hides_query_and_header_tokens() -> None:
    token = mint_token(SECRET, "a", 60)
    text = redact(f"< GET /ws?key=1&token={token}&x=2 HTTP/1.1 and Authorization: Bearer {token}")
    assert token not in text and text.count("[redacted]") == 2 and "key=1" in text and "&x=2" in text
    assert json.dumps(redact("token=abc")) == '"token=[redacted]"'
