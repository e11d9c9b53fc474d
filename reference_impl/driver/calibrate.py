"""``wssim calibrate``: measure the live reference implementation on this machine, write an overlay.

For each backplane kind, one gateway process (``python -m reference_impl.system.gateway``) on a free
loopback port behind an L4 balancer (``reference_impl.system.balancer``), using private Redis / NATS
servers (or the ones ``redis_url`` / ``nats_url`` name):

- handshake service time: a herd of ``handshakes`` connections opened at once through the balancer,
  as a live herd arrives; the service time is the span of the gateway's accept times (its event log)
  divided by the handshakes after the first: what the simulator's accept queue serves each one in. On
  a few shared cores the load generator, the balancer and the gateway share the CPU, so this, not the
  gateway's CPU alone, bounds a herd. The wall time per handshake at concurrency 1 and the gateway's
  CPU per handshake (utime + stime from /proc) are reported alongside;
- memory: the gateway's RSS before any client (base), then with ``connections`` idle subscribed
  connections: (RSS after - base) / N is the user-space bytes per connection (kernel socket memory is
  not in RSS, and loopback has no TLS);
- the path to a reader that stopped reading (bytes held before the gateway's queue grows);
- latency: ``subscribers`` clients in one room; ``rate`` messages/s published straight to the
  backplane, as the live publishers do; latency = receipt - the publish timestamp, p50 and p99;
- CPU per operation (:mod:`reference_impl.driver.cpu_costs`): per frame written, per byte, per
  backplane message, per ping/pong, per byte compressed, and memory per idle connection with
  permessage-deflate.

Every process it starts runs in its own session and is killed when the calibration returns, fails,
or is stopped by Ctrl-C, SIGTERM or SIGHUP.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from reference_impl.driver.harness import Fleet, LiveRunError, Proc, free_port, http_get, wait_port
from wssim.errors import ConfigError
from wssim.lifetime import Terminated, terminate_on_signals

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("redis_pubsub", "redis_streams", "nats", "jetstream")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
T = TypeVar("T")


@dataclass
class CalibrateOptions:
    """What ``wssim calibrate`` measures and how much of it (defaults: three to four minutes on two cores)."""

    kinds: list[str] = field(default_factory=lambda: list(KINDS))
    out: Path = ROOT / "data" / "calibration" / "loopback.yaml"
    redis_url: str | None = None  # None: a private server
    nats_url: str | None = None
    handshakes: int = 200
    herds: int = 3
    connections: int = 2000
    subscribers: int = 100
    rate: float = 50.0
    seconds: float = 5.0
    send_buffer: int = 8192
    message_size: int = 16384
    cpu: bool = True  # the per-operation CPU costs and the compression memory

    def check(self) -> None:
        """One :class:`ConfigError` paragraph naming every bad option, what is allowed and how to fix it."""
        problems = [f"--kind {k!r} is not a live backplane kind" for k in self.kinds if k not in KINDS]
        if not self.kinds:
            problems.append("no --kind given")
        if len(set(self.kinds)) != len(self.kinds):
            problems.append("--kind names a kind twice")
        for name, low, high in (("handshakes", 2, 5000), ("herds", 1, 20), ("connections", 10, 18000),
                                ("subscribers", 1, 2000)):  # fmt: skip
            value = getattr(self, name)
            if not low <= value <= high:
                problems.append(f"--{name} {value} is outside {low}..{high}")
        if self.connections < self.handshakes:
            problems.append(f"--connections {self.connections} is below --handshakes {self.handshakes}")
        if not 0 < self.rate <= 5000 or not 0 < self.seconds <= 120:
            problems.append(
                f"--rate {self.rate:g} and --seconds {self.seconds:g} must be in (0, 5000] and (0, 120]"
            )
        if not 1024 <= self.send_buffer <= 8 << 20 or not 1024 <= self.message_size <= 60_000:
            problems.append("--send-buffer must be 1 KiB..8 MiB and --message-size 1 KiB..60,000 B")
        for url, scheme in ((self.redis_url, "redis://"), (self.nats_url, "nats://")):
            if url is not None and not url.startswith(scheme):
                problems.append(f"{url!r} is not a {scheme} URL")
        if self.out.exists() and self.out.is_dir():
            problems.append(f"--out {self.out} is a directory; give a file path (e.g. me.yaml)")
        elif not self.out.parent.exists():
            problems.append(f"--out {self.out}: its folder {self.out.parent} does not exist")
        if problems:
            raise ConfigError(
                "wssim calibrate: " + "; ".join(problems) + f". Allowed kinds: {', '.join(KINDS)}; "
                "see `wssim calibrate --help` for every option and its range."
            )
        for binary, url, kinds in (("redis-server", self.redis_url, ("redis_pubsub", "redis_streams")),
                                   ("nats-server", self.nats_url, ("nats", "jetstream"))):  # fmt: skip
            if url is None and any(k in kinds for k in self.kinds) and shutil.which(binary) is None:
                raise ConfigError(
                    f"wssim calibrate: {binary} is not on PATH, and no URL was given for "
                    f"{', '.join(k for k in self.kinds if k in kinds)}: install {binary}, pass "
                    f"--{binary.split('-')[0]}-url URL of a running server, or leave those kinds out."
                )


# ------------------------------------------------------------------------------------ process info
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss(pid: int) -> int:
    """Resident set size of a process, bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` where Ctrl-C, SIGTERM and SIGHUP cancel the measurement (its ``finally``
    blocks close its clients) and are raised once the loop is closed, as :class:`KeyboardInterrupt` /
    :class:`~wssim.lifetime.Terminated`, so no task is left holding the exception."""
    received: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    async def main() -> T | None:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None

        def cancel() -> None:  # again every 0.1 s: a client library may swallow one CancelledError
            if not task.done():
                task.cancel()
                loop.call_later(0.1, cancel)

        def stop(sig: int) -> None:
            if not received:
                cancel()
            received.append(sig)

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop, sig)
        try:
            return await coro
        except asyncio.CancelledError:
            if received:
                return None
            raise

    try:
        result = asyncio.run(main())
    finally:
        for sig, handler in previous.items():  # the loop left SIG_DFL behind
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt() if received[0] == signal.SIGINT else Terminated(received[0])
    return result  # type: ignore[return-value]


# -------------------------------------------------------------------------------------- the system
class Bench:
    """The processes of one calibration: private backplane servers, gateways and balancers."""

    def __init__(self, workdir: Path, opts: CalibrateOptions) -> None:
        self.workdir, self.opts = workdir, opts
        self.fleet = Fleet(workdir)
        self.secret = secrets.token_urlsafe(32)  # fresh per run: reaches the gateways through their env
        self.config = workdir / "calibrate.yaml"
        self.config.write_text("name: calibrate\n")  # every default: no admission limit, default keepalive
        self.redis_url = opts.redis_url
        self.nats_url = opts.nats_url

    def start_servers(self) -> None:
        """Private redis-server / nats-server -js for the kinds that need one and have no URL."""
        if self.redis_url is None and any(k.startswith("redis") for k in self.opts.kinds):
            port = free_port()
            argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
            argv += ["no", "--dir", str(self.workdir)]
            wait_port("127.0.0.1", port, 10, self.fleet.spawn("redis", argv, port).popen)
            self.redis_url = f"redis://127.0.0.1:{port}/0"
        if self.nats_url is None and any(k in ("nats", "jetstream") for k in self.opts.kinds):
            port = free_port()
            argv = ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(self.workdir / "js")]
            wait_port("127.0.0.1", port, 10, self.fleet.spawn("nats", argv, port).popen)
            self.nats_url = f"nats://127.0.0.1:{port}"

    def gateway(self, kind: str, *settings: str, balanced: bool = True) -> GatewayUnderTest:
        """A gateway on ``kind`` (``settings``: ``--gw FIELD=VALUE``, or ``--set PATH=VALUE`` for a dotted
        config path), logging its connection events, behind a balancer."""
        url = self.nats_url if kind in ("nats", "jetstream") else self.redis_url
        return GatewayUnderTest(self, kind, url or "", settings, balanced)

    def stop(self) -> None:
        self.fleet.stop_all()


class GatewayUnderTest:
    """One gateway child process on a free port (and a balancer in front of it)."""

    def __init__(self, bench: Bench, kind: str, url: str, settings: tuple[str, ...], balanced: bool) -> None:
        self.bench, self.kind, self.url = bench, kind, url
        self.port = free_port()
        self.base = 0  # RSS before any client, bytes
        self.events = bench.workdir / f"events-{self.port}.bin"
        self.namespace = "cal" + uuid.uuid4().hex[:8]
        argv = [sys.executable, "-m", "reference_impl.system.gateway", "--port", str(self.port)]
        argv += ["--config", str(bench.config), "--gw", f"event_log={self.events}"]  # as the harness does
        argv += ["--backplane", kind, "--namespace", self.namespace]
        argv += ["--nats-url" if kind in ("nats", "jetstream") else "--redis-url", url]
        argv += ["--gw", f"send_buffer={bench.opts.send_buffer}"]
        for setting in settings:  # a dotted path is a config override, a name a GatewaySettings field
            argv += ["--set" if "." in setting.partition("=")[0] else "--gw", setting]
        name = f"gateway-{kind}-{self.port}"
        self.proc: Proc = bench.fleet.spawn(name, argv, self.port, secret=bench.secret)
        try:
            wait_port("127.0.0.1", self.port, 30, self.proc.popen)
        except LiveRunError as exc:
            lines = (bench.workdir / f"{name}.0.log").read_text(errors="replace").strip().splitlines()
            raise LiveRunError(
                f"the gateway on {kind} ({url or 'no URL'}) did not start: {lines[-1] if lines else exc}"
            ) from None
        self.lb_port = 0
        if balanced:
            self.lb_port = free_port()
            argv = [
                sys.executable,
                "-m",
                "reference_impl.system.balancer",
                "--listen",
                f"127.0.0.1:{self.lb_port}",
            ]
            argv += ["--upstream", f"g0=127.0.0.1:{self.port}"]
            argv += ["--socket-buffer", str(bench.opts.send_buffer)]  # as live.send_buffer has the harness
            balancer = bench.fleet.spawn(
                f"balancer-{kind}-{self.lb_port}", argv, self.lb_port, secret=bench.secret
            )
            wait_port("127.0.0.1", self.lb_port, 20, balancer.popen)
            self.balancer: Proc | None = balancer
        else:
            self.balancer = None

    @property
    def pid(self) -> int:
        return self.proc.popen.pid

    def token(self, sub: str, **claims: Any) -> str:
        from reference_impl.system.auth import mint_token

        return mint_token(self.bench.secret, sub, 600.0, **claims)

    def uri(self, sub: str, balanced: bool = False) -> str:
        port = self.lb_port if balanced else self.port
        return f"ws://127.0.0.1:{port}/ws?key={sub}&token={self.token(sub)}"

    def metrics(self) -> str | None:
        token = self.token("calibrate", rooms=None, scope="metrics")
        return http_get(f"http://127.0.0.1:{self.port}/metrics", 5.0, token)

    def accept_times(self) -> list[float]:
        from reference_impl.system.event_log import ACCEPT, read_events

        return sorted(t for t, kind in read_events(self.events) if kind == ACCEPT)

    def stop(self) -> None:
        for proc in (self.balancer, self.proc):
            if proc is not None:
                proc.kill()


def run_calibration(opts: CalibrateOptions, say: Callable[[str], None] = print) -> Path:
    """Measure this machine and write the overlay to ``opts.out``; every process started is stopped on
    return, on error, on Ctrl-C and on SIGTERM / SIGHUP."""
    from reference_impl.driver.calibrate_overlay import overlay_text
    from reference_impl.driver.calibrate_steps import measure_kind
    from reference_impl.driver.cpu_costs import measure_cpu

    opts.check()
    t0 = time.monotonic()
    report = say

    def say(line: str) -> None:
        report(f"[{time.monotonic() - t0:4.0f} s] {line}")

    workdir = Path(tempfile.mkdtemp(prefix="wssim-calibrate-"))
    bench = Bench(workdir, opts)
    atexit.register(bench.stop)
    results: dict[str, dict[str, float]] = {}
    cpu: dict[str, Any] = {}
    try:
        with terminate_on_signals():
            bench.start_servers()
            for kind in opts.kinds:
                gw = bench.gateway(kind)
                try:
                    results[kind] = run_async(measure_kind(gw, opts))
                finally:
                    gw.stop()
                say(f"{kind}: " + json.dumps({k: round(v, 6) for k, v in results[kind].items()}))
            if opts.cpu:
                cpu = measure_cpu(bench, opts.kinds[0], say)
            text = overlay_text(results, cpu, opts, bench)
    finally:
        bench.stop()
        atexit.unregister(bench.stop)
        shutil.rmtree(workdir, ignore_errors=True)
    opts.out.write_text(text)
    return opts.out
