"""Admission before the upgrade: JWTs (HS256 and ES256) and their 401 reasons, 503 + Retry-After at
capacity; /metrics behind a token with the metrics scope, /healthz open."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from live_helpers import SECRET, ops_token, running_gateway, token, ws_uri
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from reference_impl.driver.loadgen import retry_after
from reference_impl.system.auth import mint_token
from reference_impl.system.backplanes import make_backplane
from reference_impl.system.gateway_metrics import families, sample

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]


def _get(port: int, path: str, bearer: str | None = None) -> tuple[int, str, list[tuple[str, str]]]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode(), r.headers.items()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.items()


async def _status(uri: str, **kw: object) -> int:
    try:
        async with connect(uri, proxy=None, **kw):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def _refused(port: int, query: str) -> tuple[int, str]:
    try:
        async with connect(f"ws://127.0.0.1:{port}/ws{query}", proxy=None):
            pytest.fail("upgrade accepted")
    except InvalidStatus as exc:
        return exc.response.status_code, exc.response.body.decode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(ttl: float = 60.0) -> dict[str, object]:
    return {"sub": "direct", "exp": int(time.time() + ttl), "rooms": [{"match": "*", "allow": ["subscribe"]}]}


# Tokens are minted when the test runs, not when it is collected: a suite longer than a token's
# lifetime would otherwise send an expired token where it means a not-yet-valid one.
BAD_TOKENS: dict[str, tuple[Callable[[], str], str]] = {
    "missing": (lambda: "", "missing"),
    "expired": (lambda: "?token=" + token("a", ttl=-60), "expired"),  # beyond the 5 s leeway
    "not yet valid": (lambda: "?token=" + token("a", nbf=time.time() + 120), "not_yet_valid"),
    "forged": (lambda: "?token=" + mint_token("w" * 40, "a", 60), "forged"),
    "garbage": (lambda: "?token=abc", "malformed"),
    "alg none": (lambda: "?token=" + jwt.encode(_claims(), None, algorithm="none"), "forged"),
    "no exp": (lambda: "?token=" + jwt.encode({"sub": "a"}, SECRET, algorithm="HS256"), "malformed"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_tokens_are_refused_with_401_and_their_reason_before_upgrade(case: str) -> None:
    make_query, reason = BAD_TOKENS[case]

    async def run() -> None:
        async with running_gateway(make_backplane("in_memory")) as gw:
            status, body = await _refused(gw.port, make_query())
            assert status == 401 and body.startswith(reason + ":"), body
            assert gw.metrics.value("requests_rejected", reason="unauthorized") == 1
            assert gw.metrics.value("handshakes") == 0
            assert await _status(ws_uri(gw.port)) == 101

    asyncio.run(run())


def test_a_token_minted_with_pyjwt_directly_is_accepted_and_its_grants_apply() -> None:
    async def run() -> list[dict]:
        async with running_gateway(make_backplane("in_memory")) as gw:
            direct = jwt.encode(_claims(), SECRET, algorithm="HS256")
            async with connect(f"ws://127.0.0.1:{gw.port}/ws?token={direct}", proxy=None) as ws:
                await ws.send('{"op":"subscribe","rooms":["a"]}')
                await ws.send('{"op":"publish","room":"a","body":"x"}')  # subscribe only: refused
                return [json.loads(await ws.recv()) for _ in range(2)]

    subscribed, refused = asyncio.run(run())
    assert subscribed["op"] == "subscribed"
    assert refused == {"op": "error", "reason": "publish: not granted by the token", "room": "a"}


def test_es256_gateway_accepts_es256_and_refuses_hs256_signed_with_its_public_key() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # the key-confusion attack: HS256 with the public key as the HMAC secret (PyJWT refuses to mint it)
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    signature = _b64(hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    confused = f"{head}.{body}.{signature}"

    async def run() -> tuple[int, int, tuple[int, str]]:
        settings = {"secret": None, "public_key": public_pem.decode()}
        async with running_gateway(make_backplane("in_memory"), **settings) as gw:
            es256 = jwt.encode(_claims(), private_pem, algorithm="ES256")  # PyJWT, not the helper
            helper = mint_token(private_pem, "helper", 60)
            return (
                await _status(f"ws://127.0.0.1:{gw.port}/ws?token={es256}"),
                await _status(f"ws://127.0.0.1:{gw.port}/ws?token={helper}"),
                await _refused(gw.port, f"?token={confused}"),
            )

    es256, helper, (status, text) = asyncio.run(run())
    assert es256 == 101 and helper == 101
    assert status == 401 and text.startswith("forged: token algorithm refused"), text


def test_bearer_header_is_accepted() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory")) as gw:
            header = {"Authorization": "Bearer " + token("bob")}
            assert await _status(f"ws://127.0.0.1:{gw.port}/ws", additional_headers=header) == 101

    asyncio.run(run())


def test_max_connections_answers_503_with_retry_after() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory"), max_connections=2, retry_after=7) as gw:
            held = [await connect(ws_uri(gw.port, f"u{i}"), proxy=None) for i in range(2)]
            try:
                with pytest.raises(InvalidStatus) as info:
                    await connect(ws_uri(gw.port, "u3"), proxy=None)
                assert info.value.response.status_code == 503
                assert info.value.response.headers["Retry-After"] == "7"
                assert info.value.response.headers["Retry-After-Ms"] == "7000"
                assert gw.metrics.value("requests_rejected", reason="capacity") == 1
            finally:
                for ws in held:
                    await ws.close()
            await asyncio.sleep(0.1)
            assert await _status(ws_uri(gw.port)) == 101  # capacity freed

    asyncio.run(run())


def test_handshake_rate_limit_answers_503() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory"), handshake_rate=2.0) as gw:
            codes = [await _status(ws_uri(gw.port, f"u{i}")) for i in range(6)]
            # a bucket of 2 tokens refilling at 2/s admits 2 (+ at most the refill while trying)
            assert codes.count(503) >= 2 and codes[:2] == [101, 101]
            assert gw.metrics.value("requests_rejected", reason="rate") == codes.count(503)

    asyncio.run(run())


def test_a_sub_second_retry_after_rounds_up_and_keeps_its_milliseconds() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory"), max_connections=0, retry_after=0.25) as gw:
            with pytest.raises(InvalidStatus) as info:
                await connect(ws_uri(gw.port), proxy=None)
            headers = info.value.response.headers
            assert (headers["Retry-After"], headers["Retry-After-Ms"]) == ("1", "250")
            assert retry_after(headers) == 0.25

    asyncio.run(run())


def test_handshake_burst_sizes_the_bucket() -> None:
    async def run() -> None:
        bp = make_backplane("in_memory")
        async with running_gateway(bp, handshake_rate=0.5, handshake_burst=4.0) as gw:
            codes = [await _status(ws_uri(gw.port, f"u{i}")) for i in range(6)]
            # 4 tokens, refilled at one per 2 s: 4 back to back, then refused
            assert codes == [101] * 4 + [503] * 2
            assert gw.metrics.value("requests_rejected", reason="rate") == 2

    asyncio.run(run())


def test_metrics_need_the_metrics_scope_healthz_is_open_unknown_paths_404() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory"), gateway_id="gwX") as gw:
            async with connect(ws_uri(gw.port), proxy=None):
                status, text, headers = await asyncio.to_thread(_get, gw.port, "/metrics", ops_token())
                assert status == 200
                types = [v for k, v in headers if k.lower() == "content-type"]
                assert len(types) == 1 and types[0].startswith("text/plain; version=0.0.4")
                assert sample(text, "wssim_connections") == 1
                assert sample(text, "wssim_gateway_info", gateway="gwX") == 1
                kinds = {f.name: f.type for f in families(text)}
                assert kinds["wssim_send_queue_depth"] == "histogram"
                assert kinds["wssim_slow_consumer_disconnects"] == "counter"
            assert (await asyncio.to_thread(_get, gw.port, "/metrics"))[0] == 401
            assert (await asyncio.to_thread(_get, gw.port, "/metrics", token()))[0] == 403
            assert (await asyncio.to_thread(_get, gw.port, "/healthz"))[0] == 200
            assert (await asyncio.to_thread(_get, gw.port, "/nope"))[0] == 404

    asyncio.run(run())


def test_metrics_pass_promtool_check_metrics() -> None:
    """The exposition follows Prometheus' naming and format rules (promtool, from the prometheus package)."""
    import os
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        reason = "promtool not found; apt-get install prometheus"
        if os.environ.get("CI"):
            pytest.fail(f"CI: {reason}")
        pytest.skip(reason)

    async def run() -> str:
        async with running_gateway(make_backplane("in_memory")) as gw, connect(ws_uri(gw.port), proxy=None):
            return (await asyncio.to_thread(_get, gw.port, "/metrics", ops_token()))[1]

    text = asyncio.run(run())
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), check
