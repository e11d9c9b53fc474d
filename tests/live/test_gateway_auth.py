"""Admission before the upgrade: 401 for bad tokens, 503 + Retry-After at capacity; /metrics, /healthz."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from live_helpers import SECRET, running_gateway, ws_uri
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from reference_impl.driver.loadgen import retry_after
from reference_impl.system.auth import issue_token
from reference_impl.system.backplanes import make_backplane
from reference_impl.system.gateway_metrics import sample

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]


def _get(port: int, path: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


async def _status(uri: str, **kw: object) -> int:
    try:
        async with connect(uri, proxy=None, **kw):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


@pytest.mark.parametrize(
    ("case", "query", "reason"),
    [
        ("missing", "", "missing"),
        ("expired", "?token=" + issue_token(SECRET, "a", ttl=-1), "expired"),
        ("forged", "?token=" + issue_token("wrong-secret", "a", ttl=60), "forged"),
        ("garbage", "?token=abc", "malformed"),
    ],
)
def test_bad_tokens_are_refused_with_401_before_upgrade(case: str, query: str, reason: str) -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory")) as gw:
            try:
                async with connect(f"ws://127.0.0.1:{gw.port}/ws{query}", proxy=None):
                    pytest.fail("upgrade accepted")
            except InvalidStatus as exc:
                assert exc.response.status_code == 401
                assert reason in exc.response.body.decode()
            assert gw.metrics.rejected_unauthorized == 1 and gw.metrics.handshakes == 0
            assert await _status(ws_uri(gw.port)) == 101

    asyncio.run(run())


def test_bearer_header_is_accepted() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory")) as gw:
            header = {"Authorization": "Bearer " + issue_token(SECRET, "bob", 60)}
            assert await _status(f"ws://127.0.0.1:{gw.port}/ws", additional_headers=header) == 101

    asyncio.run(run())


def test_max_connections_answers_503_with_retry_after() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory"), max_connections=2, retry_after=7) as gw:
            held = [await connect(ws_uri(gw.port), proxy=None) for _ in range(2)]
            try:
                with pytest.raises(InvalidStatus) as info:
                    await connect(ws_uri(gw.port), proxy=None)
                assert info.value.response.status_code == 503
                assert info.value.response.headers["Retry-After"] == "7"
                assert info.value.response.headers["Retry-After-Ms"] == "7000"
                assert gw.metrics.rejected_capacity == 1
            finally:
                for ws in held:
                    await ws.close()
            await asyncio.sleep(0.1)
            assert await _status(ws_uri(gw.port)) == 101  # capacity freed

    asyncio.run(run())


def test_handshake_rate_limit_answers_503() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory"), handshake_rate=2.0) as gw:
            codes = [await _status(ws_uri(gw.port)) for _ in range(6)]
            # a bucket of 2 tokens refilling at 2/s admits 2 (+ at most the refill while trying)
            assert codes.count(503) >= 2 and codes[:2] == [101, 101]
            assert gw.metrics.rejected_rate == codes.count(503)

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
            codes = [await _status(ws_uri(gw.port)) for _ in range(6)]
            # 4 tokens, refilled at one per 2 s: 4 back to back, then refused
            assert codes == [101] * 4 + [503] * 2
            assert gw.metrics.rejected_rate == 2

    asyncio.run(run())


def test_metrics_healthz_and_unknown_paths() -> None:
    async def run() -> None:
        async with running_gateway(make_backplane("in_memory"), gateway_id="gwX") as gw:
            async with connect(ws_uri(gw.port), proxy=None):
                status, text, headers = await asyncio.to_thread(_get, gw.port, "/metrics")
                assert status == 200 and headers["Content-Type"].startswith("text/plain")
                assert sample(text, "wssim_connections") == 1
                assert 'wssim_send_queue_depth_bucket{gateway="gwX",le="+Inf"}' in text
                assert "# TYPE wssim_slow_consumer_disconnects_total counter" in text
            assert (await asyncio.to_thread(_get, gw.port, "/healthz"))[0] == 200
            assert (await asyncio.to_thread(_get, gw.port, "/nope"))[0] == 404

    asyncio.run(run())
