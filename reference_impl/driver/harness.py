"""Run a scenario live: real gateway processes, the L4 balancer, real Redis/NATS, thousands of clients.

:func:`run_live` maps a :class:`wssim.config.Config` onto processes on loopback, injects its faults on a
wall-clock timeline, and feeds the same :class:`wssim.metrics.Recorder` as the simulator, so the summary
metrics mean the same thing in both engines (``wssim run --engine live``, ``wssim crosscheck``).

Mapping (see ``docs/howto/live-runs.md``):

* gateways: ``gateways.count`` processes when it is at most :data:`MAX_DIRECT_GATEWAYS`, otherwise
  ``live.gateway_processes``; at most 19,000 connections per process (descriptor limit).
* backplane kind: see :func:`live_backplane` (``none`` = per-gateway in-process, ``in_memory`` with
  several gateways = Redis Streams); ``kafka`` and ``managed`` are simulated only.
* backplane: a private ``redis-server`` / ``nats-server -js`` on a free port (so an outage can really
  kill it); ``WSSIM_REDIS_URL`` / ``WSSIM_NATS_URL`` select an existing server instead.
* balancer: one process per 9,000 clients, sharing one port (``SO_REUSEPORT``).
* clients: ``max(live.loadgen_processes, ceil(count / 9000))`` load-generator processes.
* time: every scenario duration and rate is scaled by ``live.time_scale`` (wall seconds per scenario
  second); time series are reported in scenario seconds, latencies in wall seconds.
* faults: ``gateway_crash`` = SIGKILL (restarted after ``restart_delay``); ``deploy`` = rolling SIGTERM
  (the gateway drains with close 1001) or SIGKILL, restarted on the same port; ``remove_gateways`` =
  SIGTERM/SIGKILL, ``add_gateways`` = new processes joined to the balancer; ``subscription_outage`` =
  SIGUSR1/SIGUSR2 (the gateway drops / restores its backplane connection); ``backplane_outage`` = the
  private server is killed and restarted after ``duration`` (Redis without persistence loses its state);
  ``spike`` = publish rate multiplier and extra clients.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from reference_impl.driver import accounting
from reference_impl.driver.cpu_time import CpuTimes
from reference_impl.driver.loadgen import (
    MAX_CLIENTS_PER_PROCESS,
    ClientPlan,
    PublishPlan,
    WorkerSpec,
    offline_periods,
    release_workers,
    room_name,
    start_workers,
)
from reference_impl.system.auth import mint_token
from reference_impl.system.settings import SECRET_ENV
from wssim.config import Config, load_config
from wssim.lifetime import terminate_on_signals
from wssim.metrics import Recorder, RunResult
from wssim.policies import Reader, Reconnector
from wssim.policies.reader import NEVER_STALLS
from wssim.randomness import Stream, draws_generator, generator
from wssim.schedule import Schedule
from wssim.sim.edge import ring_salt
from wssim.sim.roomtable import memberships

MAX_DIRECT_GATEWAYS = 8
LIVE_KINDS = ("none", "in_memory", "redis_pubsub", "redis_streams", "nats", "jetstream")
STARTUP_MARGIN = 0.3  # wall seconds between every load generator being ready and scenario time 0
MAX_CONNECTIONS_PER_GATEWAY = 19_000  # under the 20,000 descriptor limit, with room for the backplane
MAX_LIVE_CLIENTS = 60_000  # 2 cores: beyond this the load generator, not the fleet, is measured
SOURCE_SPLIT = 20_000  # above this many clients each load generator binds its own 127.0.0.x address
COUNTED_AT_GATEWAYS = (
    "backplane_deliveries",
    "backplane_deliveries_discarded",
    "messages_dropped_overflow",
    "messages_conflated",
    "slow_consumer_disconnects",
)

LEVELS = ("memory_bytes", "connections", "queued_messages", "cpu_seconds")  # not summed over gateways


class LiveRunError(RuntimeError):
    """The live run cannot be done as configured (unsupported backplane, a process did not start)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``host:port`` accepts a TCP connection; raise :class:`LiveRunError` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LiveRunError(f"process {proc.args[:4]} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.05)
    raise LiveRunError(f"nothing listens on {host}:{port} after {timeout:g} s")


def http_get(url: str, timeout: float = 1.0, token: str | None = None, method: str = "GET") -> str | None:
    """Body of a request on loopback (no proxies), with a bearer ``token``; None on any failure."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with opener.open(request, timeout=timeout) as r:
            return r.read().decode()
    except Exception:
        return None


def gateway_count(config: Config) -> int:
    """How many gateway processes a live run of ``config`` starts."""
    if config.gateways.count <= MAX_DIRECT_GATEWAYS:
        return config.gateways.count
    return config.live.gateway_processes


def live_backplane(config: Config) -> str:
    """The backplane a live run uses for ``config.backplane.kind``.

    ``none``: every gateway keeps its own in-process backplane, so a message reaches only the clients of
    the gateway it was published on. ``in_memory`` with several gateways: an in-process backplane cannot
    span processes, so Redis Streams (durable, ordered, with a replay window) stands in for it.
    """
    kind = config.backplane.kind
    if kind == "none" or (kind == "in_memory" and gateway_count(config) == 1):
        return "in_memory"
    if kind == "in_memory":
        return "redis_streams"
    return kind


def scaled_gateway_config(config: Config, kind: str) -> dict[str, Any]:
    """The config the gateways read: its durations multiplied by ``time_scale`` (rates divided)."""
    s = config.live.time_scale
    raw = config.without_sweep().model_dump(mode="json")
    raw["faults"] = []
    raw["backplane"]["kind"] = kind
    ka = raw["gateways"]["keepalive"]
    for k in ("ping_interval", "timeout"):
        if ka.get(k) is not None:
            ka[k] = ka[k] * s
    adm = raw["gateways"]["admission"]
    adm["burst"] = config.gateways.admission.effective_burst()  # a count: not scaled
    if adm.get("handshake_rate") is not None:
        adm["handshake_rate"] = adm["handshake_rate"] / s
    adm["retry_after"] = adm["retry_after"] * s
    raw["gateways"]["drain_timeout"] = raw["gateways"]["drain_timeout"] * s
    rp = raw["backplane"]["replay"]
    if rp.get("max_age") is not None:
        rp["max_age"] = rp["max_age"] * s
    return raw


def balancer_options(config: Config, replication: int = 0) -> list[str]:
    """The live balancer's options for ``config.edge``, durations scaled by ``live.time_scale``.

    ``edge.health_check`` maps one to one onto the balancer's HTTP health check (interval, timeout,
    fall, rise, passive). Without one (the simulator's instant detection) the balancer checks as fast
    as it sensibly can: every 50 ms, one failure, and passively on every refused connection.
    """
    edge, s = config.edge, config.live.time_scale
    timeouts = [t for t in (edge.idle_timeout, edge.path_idle_timeout) if t]
    idle = min(timeouts) * s if timeouts else 0.0
    args = ["--policy", edge.balancer, "--vnodes", str(edge.virtual_nodes), "--idle-timeout", str(idle)]
    args += ["--ring-salt", ring_salt(config, replication)]
    hc = edge.health_check
    if hc is None:
        check = ("0.05", "1", "1", "1", "--passive")
    else:
        passive = "--passive" if hc.passive else "--no-passive"
        check = (str(hc.interval * s), str(hc.timeout * s), str(hc.fall), str(hc.rise), passive)
    interval, timeout, fall, rise, passive = check
    args += ["--check", "http", "--check-interval", interval, "--check-timeout", timeout]
    if config.live.send_buffer is not None:  # the proxy must not hold a slow reader's backlog either
        args += ["--socket-buffer", str(int(config.live.send_buffer))]
    return [*args, "--fall", fall, "--rise", rise, passive]


def scheduled_plans(schedule: Schedule) -> list[ClientPlan]:
    """The plan of every client that arrives in ``schedule``: its rooms, arrival, role, offline episodes."""
    episodes: dict[int, list[tuple[float, float, bool]]] = {}
    for cid in np.unique(schedule.offline_client).tolist():
        episodes[cid] = schedule.offline_of(cid)
    rooms, connect, slow = schedule.rooms.tolist(), schedule.connect_at.tolist(), schedule.slow.tolist()
    return [
        ClientPlan(i, [room_name(r) for r in rooms[i]], connect[i], episodes.get(i, []), slow[i])
        for i in range(schedule.clients)
        if not math.isnan(connect[i])
    ]


# --------------------------------------------------------------------------------------- processes
@dataclass
class Proc:
    """A child process the harness started (its own session, so its whole group can be killed)."""

    name: str
    popen: subprocess.Popen
    port: int = 0
    instance: int = 0

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


@dataclass
class Fleet:
    """Every process of one live run; :meth:`stop_all` ends them all (also from atexit)."""

    workdir: Path
    host: str = "127.0.0.1"
    procs: list[Proc] = field(default_factory=list)
    workers: list[Any] = field(default_factory=list)  # subprocess.Popen of the load generators
    lock: threading.Lock = field(default_factory=threading.Lock)

    closed: bool = False

    def spawn(
        self, name: str, args: list[str], port: int = 0, instance: int = 0, secret: str | None = None
    ) -> Proc:
        """Start a child in its own session (``secret`` in its environment, never on its command
        line); refused once :meth:`stop_all` has begun."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if secret is not None:
            env[SECRET_ENV] = secret
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(var, None)
        with self.lock, open(self.workdir / f"{name}.{instance}.log", "wb") as log:
            if self.closed:  # a fault thread must not start anything once the run is being torn down
                raise LiveRunError(f"the run is over: not starting {name}")
            popen = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
            proc = Proc(name, popen, port, instance)
            self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """SIGKILL every process group started (idempotent)."""
        with self.lock:
            self.closed = True
            procs = list(self.procs)
        for w in self.workers:
            with contextlib.suppress(Exception):
                if w.poll() is None:
                    os.killpg(w.pid, signal.SIGKILL)
        for p in procs:
            if p.alive():
                p.signal(signal.SIGKILL)
        for p in [*procs, *self.workers]:
            with contextlib.suppress(Exception):
                (p.popen if isinstance(p, Proc) else p).wait(5)


class LiveRun:
    """One live run of one config; :func:`run_live` is the entry point."""

    def __init__(
        self,
        config: Config,
        replication: int,
        workdir: Path,
        settle: float | None,
        schedule: Schedule | None = None,
    ) -> None:
        self.cfg = config
        self.schedule = schedule
        self.rep = replication
        self.s = config.live.time_scale
        self.host = config.live.host
        self.fleet = Fleet(workdir, self.host)
        self.workdir = workdir
        if config.backplane.kind not in LIVE_KINDS:
            raise LiveRunError(
                f"backplane.kind {config.backplane.kind!r} has no live implementation "
                f"(live kinds: {', '.join(LIVE_KINDS)}); kafka and managed are simulated only"
            )
        if config.transport.kind != "websocket":
            raise LiveRunError(
                f"transport.kind {config.transport.kind!r} is simulated only; live runs use websocket"
            )
        self.kind = live_backplane(config)
        n_clients = config.clients.count + sum(getattr(f, "connect_clients", 0) for f in config.faults)
        per_gateway = n_clients / gateway_count(config)
        if per_gateway > MAX_CONNECTIONS_PER_GATEWAY:
            raise LiveRunError(
                f"{n_clients} clients on {gateway_count(config)} gateway processes is {per_gateway:.0f} "
                f"connections each; one process holds at most {MAX_CONNECTIONS_PER_GATEWAY} here (file "
                "descriptor limit 20,000): raise live.gateway_processes or lower clients.count"
            )
        if n_clients > MAX_LIVE_CLIENTS:
            raise LiveRunError(
                f"{n_clients} clients is more than this machine runs live ({MAX_LIVE_CLIENTS}); "
                "lower clients.count (e.g. --set clients.count=5000) and compare rates, not totals"
            )
        self.namespace = f"wssim{os.getpid()}x{int(time.time() * 1000) % 10**9}"
        # a fresh token key per run, in the children's environment only: never logged, never on disk
        self.secret = secrets.token_urlsafe(32)
        ttl = 3600.0 + config.duration * self.s
        self.ops_token = mint_token(self.secret, "wssim-harness", ttl, rooms=None, scope="admin metrics")
        base = config.clients.reconnect.base * self.s
        self.settle = settle if settle is not None else min(10.0, max(2.0, 4 * base))
        self.gateways: dict[str, Proc] = {}
        self.instances: dict[str, int] = {}
        self.gw_snapshots: dict[tuple[str, int], dict[str, float]] = {}
        self.cpu = CpuTimes(config.interval)
        self.balancers: list[tuple[Proc, int]] = []  # (process, admin port)
        self.bal_port = 0
        self.backplane_url: str | None = None
        self.backplane_server: tuple[list[str], Proc] | None = None
        self.rec = Recorder(interval=config.interval, warmup=config.warmup)
        self.t0 = 0.0
        self.fault_log: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self.errors: list[str] = []
        self.gateways_peak = 0
        self.kills: dict[tuple[str, int], float] = {}  # (gateway, instance) -> wall time it was killed
        self.first_crash: float | None = None  # wall time of the first gateway crash (herd convergence)
        self.pool_change: float | None = None  # wall time of the first add or remove (moved fraction)

    # -- clock ---------------------------------------------------------------------------------
    def wall(self, t: float) -> float:
        return self.t0 + t * self.s

    def scn(self, wall: float) -> float:
        return (wall - self.t0) / self.s

    # -- backplane server ----------------------------------------------------------------------
    def start_backplane(self) -> None:
        if self.kind == "in_memory":
            return
        redis = self.kind.startswith("redis")
        env_url = os.environ.get("WSSIM_REDIS_URL" if redis else "WSSIM_NATS_URL")
        binary = shutil.which("redis-server" if redis else "nats-server")
        if env_url or binary is None:
            self.backplane_url = env_url or ("redis://127.0.0.1:6379/0" if redis else "nats://127.0.0.1:4222")
            return
        port = free_port(self.host)
        if redis:
            args = [binary, "--port", str(port), "--bind", self.host, "--save", "", "--appendonly", "no"]
            args += ["--protected-mode", "no", "--dir", str(self.workdir)]
            self.backplane_url = f"redis://{self.host}:{port}/0"
        else:
            store = self.workdir / "jetstream"
            store.mkdir(exist_ok=True)
            args = [binary, "-js", "-a", self.host, "-p", str(port), "-sd", str(store)]
            self.backplane_url = f"nats://{self.host}:{port}"
        proc = self.fleet.spawn("backplane", args, port)
        self.backplane_server = (args, proc)
        wait_port(self.host, port, 10, proc.popen)

    def restart_backplane(self) -> None:
        if self.backplane_server is None:
            return
        args, old = self.backplane_server
        proc = self.fleet.spawn("backplane", args, old.port, old.instance + 1)
        self.backplane_server = (args, proc)
        with contextlib.suppress(LiveRunError):
            wait_port(self.host, old.port, 10, proc.popen)

    # -- gateways ------------------------------------------------------------------------------
    def start_gateway(self, name: str, port: int | None = None, wait: bool = True) -> Proc:
        port = port or free_port(self.host)
        instance = self.instances.get(name, -1) + 1
        self.instances[name] = instance
        args = [
            sys.executable,
            "-m",
            "reference_impl.system.gateway",
            "--port",
            str(port),
            "--host",
            self.host,
        ]
        args += ["--id", name, "--backplane", self.kind, "--namespace", self.namespace]
        args += ["--config", str(self.workdir / "gateway-config.yaml")]
        args += ["--gw", f"event_log={self.event_log(name, instance)}"]
        if self.cfg.live.send_buffer is not None:
            args += ["--gw", f"send_buffer={int(self.cfg.live.send_buffer)}"]
        if self.backplane_url:
            args += [
                "--nats-url" if self.kind in ("nats", "jetstream") else "--redis-url",
                self.backplane_url,
            ]
        proc = self.fleet.spawn(name, args, port, instance, secret=self.secret)
        self.gateways[name] = proc
        if wait:
            wait_port(self.host, port, 20, proc.popen)
        return proc

    def event_log(self, name: str, instance: int) -> Path:
        """Where gateway ``name`` (its ``instance``-th process) logs its connection events."""
        return self.workdir / f"events-{name}.{instance}.bin"

    def kill(self, proc: Proc) -> None:
        """SIGKILL a gateway process, noting when: the sockets it still held are gone at that moment."""
        self.kills.setdefault((proc.name, proc.instance), time.time())
        proc.kill()

    def start_gateways(self) -> None:
        raw = scaled_gateway_config(self.cfg, self.kind)
        (self.workdir / "gateway-config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        procs = [self.start_gateway(f"g{i}", wait=False) for i in range(gateway_count(self.cfg))]
        for p in procs:
            wait_port(self.host, p.port, 30, p.popen)

    # -- balancer ------------------------------------------------------------------------------
    def start_balancers(self, n_clients: int) -> None:
        self.bal_port = free_port(self.host)
        n = max(1, math.ceil(n_clients / MAX_CLIENTS_PER_PROCESS))
        for i in range(n):
            admin = free_port(self.host)
            ready = self.workdir / f"balancer-{i}.ready"
            args = [
                sys.executable,
                "-m",
                "reference_impl.system.balancer",
                "--listen",
                f"{self.host}:{self.bal_port}",
            ]
            args += ["--admin", f"{self.host}:{admin}", *balancer_options(self.cfg, self.rep)]
            args += ["--ready-file", str(ready)] + (["--reuse-port"] if n > 1 else [])
            for name, p in self.gateways.items():
                args += ["--upstream", f"{name}={self.host}:{p.port}"]
            proc = self.fleet.spawn("balancer", args, self.bal_port, i, secret=self.secret)
            self.balancers.append((proc, admin))
        for i, (proc, _) in enumerate(self.balancers):
            ready = self.workdir / f"balancer-{i}.ready"
            deadline = time.monotonic() + 20
            while not ready.exists():
                if proc.popen.poll() is not None or time.monotonic() > deadline:
                    raise LiveRunError(f"balancer {i} did not start (see {self.workdir}/balancer.{i}.log)")
                time.sleep(0.05)

    def balancer_call(self, path: str, method: str = "GET") -> list[dict[str, Any]]:
        """Every balancer's answer to an admin request (JSON)."""
        out = []
        for _, admin in self.balancers:
            body = http_get(f"http://{self.host}:{admin}{path}", token=self.ops_token, method=method)
            if body:
                with contextlib.suppress(ValueError):
                    out.append(json.loads(body))
        return out

    # -- clients -------------------------------------------------------------------------------
    def plan_clients(self) -> tuple[list[ClientPlan], list[tuple[float, float, float]]]:
        """Every client's plan (the schedule's, when playing one) and the publish-rate spikes."""
        spikes = [(f.at, f.duration, f.publish_multiplier) for f in self.cfg.faults if f.kind == "spike"]
        if self.schedule is not None:
            plans, slow = scheduled_plans(self.schedule), self.schedule.slow.tolist()
        else:
            plans = self.drawn_plans()
            slow = [p.slow for p in plans]
        phases = self.stall_phases(slow)
        for p in plans:
            p.stall_phase = phases[p.cid]
        return plans, spikes

    def stall_phases(self, slow: list[bool]) -> list[float]:
        """Each client's stall phase, as the simulator draws it: one uniform per slow consumer (every
        one, arrived or not), in client order, from the slow consumers' stream."""
        phases = [NEVER_STALLS] * len(slow)
        reader = Reader.from_config(self.cfg, slow=True)
        if reader is not None and reader.stalls:
            draws = draws_generator(self.cfg.seed, self.rep, Stream.SLOW_CONSUMERS)
            for i in np.flatnonzero(slow).tolist():
                phases[i] = reader.phase(draws.random())
        return phases

    def drawn_plans(self) -> list[ClientPlan]:
        """Plans drawn from the named random streams (arrivals, rooms, slow consumers, offline)."""
        cfg, rep = self.cfg, self.rep
        c = cfg.clients
        extra = [(f.at, f.duration, f.connect_clients) for f in cfg.faults if f.kind == "spike"]
        n = c.count + sum(int(e[2]) for e in extra)
        rng = generator(cfg.seed, rep, Stream.ARRIVALS)
        if c.arrival == "poisson" and c.count:
            gaps = rng.exponential(c.connect_ramp / c.count if c.connect_ramp > 0 else 0.0, c.count)
            connect = np.minimum(np.cumsum(gaps), c.connect_ramp)
        else:
            connect = rng.uniform(0.0, c.connect_ramp, c.count) if c.connect_ramp > 0 else np.zeros(c.count)
        for at, dur, k in extra:
            connect = np.concatenate([connect, at + rng.uniform(0.0, max(dur, 1e-9), int(k))])
        rooms = memberships(cfg, generator(cfg.seed, rep, Stream.ROOMS), n).tolist()
        slow = generator(cfg.seed, rep, Stream.SLOW_CONSUMERS).random(n) < c.slow_consumers.fraction
        off_rng = generator(cfg.seed, rep, Stream.OFFLINE)
        o = c.offline
        plans = []
        for i in range(n):
            periods = offline_periods(
                off_rng,
                float(connect[i]) + 1e-6,
                cfg.duration,
                o.rate,
                o.mean,
                o.distribution,
                o.half_open_fraction,
            )
            plans.append(
                ClientPlan(i, [room_name(x) for x in rooms[i]], float(connect[i]), periods, bool(slow[i]))
            )
        return plans

    def worker_specs(
        self, plans: list[ClientPlan], spikes: list[tuple[float, float, float]]
    ) -> list[WorkerSpec]:
        """One load generator per 9,000 clients (at least ``live.loadgen_processes``), clients dealt out
        round-robin, each publishing on behalf of its own clients."""
        cfg = self.cfg
        n_workers = max(cfg.live.loadgen_processes, math.ceil(len(plans) / MAX_CLIENTS_PER_PROCESS))
        n_workers = max(1, min(n_workers, len(plans)))
        shares = [plans[w::n_workers] for w in range(n_workers)]
        scheduled = self.scheduled_publishes(shares)
        common = dict(
            url=f"ws://{self.host}:{self.bal_port}/ws",
            t0=0.0,  # set by the start signal
            time_scale=self.s,
            end=cfg.duration + self.settle / self.s,
            reconnect=Reconnector.from_config(cfg),
            token_ttl=cfg.live.token_ttl,
            seed=cfg.seed,
            replication=self.rep,
            reader=Reader.from_config(cfg, slow=False),
            slow_reader=Reader.from_config(cfg, slow=True),
            scheduled=self.schedule is not None,
            last_attempt=cfg.duration if self.schedule is not None else None,
        )
        return [
            WorkerSpec(
                index=w,
                clients=mine,
                publish=self.publish_plan(mine, spikes, scheduled[w] if scheduled else None),
                source_host=f"127.0.0.{2 + w}" if len(plans) > SOURCE_SPLIT else None,
                **common,  # type: ignore[arg-type]
            )
            for w, mine in enumerate(shares)
        ]

    def publish_plan(
        self,
        mine: list[ClientPlan],
        spikes: list[tuple[float, float, float]],
        scheduled: list[tuple[float, int, str]] | None,
    ) -> PublishPlan | None:
        """How one load generator publishes for its clients: the schedule's publications, or drawn."""
        cfg, c = self.cfg, self.cfg.clients
        if c.publish_rate <= 0 and not scheduled:
            return None
        via = "ws" if self.kind == "in_memory" else "backplane"
        max_age = cfg.backplane.replay.max_age
        bp = {
            "kind": self.kind,
            "url": self.backplane_url,
            "namespace": self.namespace,
            "max_messages": cfg.backplane.replay.max_messages,
            "max_age": None if max_age is None else max_age * self.s,
        }
        return PublishPlan(
            rate=c.publish_rate * sum(1 for p in mine if p.rooms),
            start=0.0,
            stop=cfg.duration,
            via=via,
            size=int(c.message_size),
            spikes=spikes,
            backplane=bp if via == "backplane" else None,
            periodic=c.publish_arrivals == "periodic",
            scheduled=scheduled,
        )

    def scheduled_publishes(
        self, shares: list[list[ClientPlan]]
    ) -> list[list[tuple[float, int, str]]] | None:
        """The schedule's publications dealt to the load generator of their client (None: no schedule)."""
        if self.schedule is None:
            return None
        worker = {p.cid: w for w, share in enumerate(shares) for p in share}
        out: list[list[tuple[float, int, str]]] = [[] for _ in shares]
        s = self.schedule
        columns = (s.publish_time.tolist(), s.publish_room.tolist(), s.publish_client.tolist())
        for t, room, cid in zip(*columns, strict=True):
            out[worker.get(cid, 0)].append((t, cid, room_name(room)))
        return out

    # -- faults --------------------------------------------------------------------------------
    def fault_targets(self, names: list[str]) -> list[list[str]]:
        """The gateways each fault of the config hits: the schedule's, else drawn as the simulator draws
        them (a crash without ``gateway`` starts at a random one from the faults stream)."""
        if self.schedule is not None:
            return [[names[t] for t in f.get("targets", [])] for f in self.schedule.faults]
        rng = generator(self.cfg.seed, self.rep, Stream.FAULTS)
        targets: list[list[str]] = []
        for f in self.cfg.faults:
            hit: list[str] = []
            if f.kind == "gateway_crash":
                first = f.gateway if f.gateway is not None else int(rng.integers(len(names)))
                hit = [names[(first + k) % len(names)] for k in range(min(f.count, len(names)))]
            elif f.kind == "subscription_outage":
                hit = names[: f.gateways]
            targets.append(hit)
        return targets

    def fault_actions(self) -> list[tuple[float, str, Callable[[], None]]]:
        """(scenario time, label, action) for every fault of the config, in time order."""
        names = sorted(self.gateways, key=lambda n: int(n[1:]))
        actions: list[tuple[float, str, Callable[[], None]]] = []
        next_id = len(names)
        for f, hit in zip(self.cfg.faults, self.fault_targets(names), strict=True):
            if f.kind == "gateway_crash":
                actions += [(f.at, f"crash {n}", partial(self.crash, n, f.restart)) for n in hit]
            elif f.kind == "deploy":  # each drain runs in its own thread: the rolling schedule keeps pace
                actions += [
                    (f.at + i * f.interval, f"deploy {n}", partial(self.drain_restart, n, f.drain))
                    for i, n in enumerate(names)
                ]
            elif f.kind == "remove_gateways":
                actions += [(f.at, f"remove {n}", partial(self.drain_restart, n, f.drain, False))
                            for n in names[-f.count :]]  # fmt: skip
            elif f.kind == "add_gateways":
                for name in (f"g{next_id + k}" for k in range(f.count)):
                    actions.append((f.at, f"add {name}", partial(self.add_gateway, name)))
                next_id += f.count
            elif f.kind == "subscription_outage":
                actions.append((f.at, "subscription outage", partial(self.signal, hit, signal.SIGUSR1)))
                restored = partial(self.signal, hit, signal.SIGUSR2)
                actions.append((f.at + f.duration, "subscription restored", restored))
            elif f.kind == "backplane_outage":
                actions += self.backplane_outage(f.at, f.duration, names)
            elif f.kind == "spike":
                actions.append((f.at, "spike", lambda: None))
            elif f.kind == "half_open":  # its clients vanish through the schedule's offline episodes
                actions.append((f.at, "half-open clients", lambda: None))
        return sorted(actions, key=lambda a: a[0])

    def crash(self, name: str, restart: bool) -> None:
        """SIGKILL gateway ``name``; with ``restart``, start it again on its port after the delay."""
        proc = self.gateways[name]
        self.kill(proc)
        self.first_crash = self.first_crash or self.kills[(proc.name, proc.instance)]
        if restart:
            delay = self.cfg.gateways.restart_delay
            self.later(delay, f"restart {name}", lambda: self.start_gateway(name, proc.port, False))

    def drain_restart(self, name: str, drain: bool, restart: bool = True) -> None:
        """Drain (SIGTERM) or kill gateway ``name``; restart it on its port, or (scale-in) take it out of
        the balancers first and leave it stopped."""
        proc = self.gateways[name]
        if not restart:
            self.pool_change = self.pool_change or time.time()
            self.balancer_call(f"/remove?name={name}", "POST")
        if drain:
            proc.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(self.cfg.gateways.drain_timeout * self.s + 5)
        self.kill(proc)
        if restart:
            self.start_gateway(name, proc.port, False)

    def add_gateway(self, name: str) -> None:
        """Start a new gateway and join it to every balancer."""
        proc = self.start_gateway(name)
        self.pool_change = self.pool_change or time.time()
        self.balancer_call(f"/add?name={name}&addr={self.host}:{proc.port}", "POST")

    def signal(self, names: list[str], signum: int) -> None:
        for n in names:
            self.gateways[n].signal(signum)

    def backplane_outage(
        self, at: float, duration: float, names: list[str]
    ) -> list[tuple[float, str, Callable[[], None]]]:
        """Kill the private server and restart it; with an external one, cut every gateway's link."""
        if self.backplane_server is not None:
            down = lambda: self.backplane_server and self.backplane_server[1].kill()  # noqa: E731
            return [
                (at, "backplane down", down),
                (at + duration, "backplane restarted", self.restart_backplane),
            ]
        return [
            (at, "backplane cut", partial(self.signal, names, signal.SIGUSR1)),
            (at + duration, "backplane restored", partial(self.signal, names, signal.SIGUSR2)),
        ]

    def later(self, delay: float, label: str, action: Callable[[], None]) -> None:
        """Run ``action`` after ``delay`` scenario seconds, in a thread."""

        def run() -> None:
            if not self._stop.wait(delay * self.s):
                self.fire(label, action)

        threading.Thread(target=run, daemon=True).start()

    def fire(self, label: str, action: Callable[[], None]) -> None:
        t = self.scn(time.time())
        self.fault_log.append((t, label))
        self.rec.mark(t, label)
        try:
            action()
        except Exception as exc:
            self.errors.append(f"{label}: {exc!r}")

    def run_faults(self, actions: list[tuple[float, str, Callable[[], None]]]) -> None:
        for at, label, action in actions:
            if self._stop.wait(max(0.0, self.wall(at) - time.time())):
                return
            threading.Thread(target=self.fire, args=(label, action), daemon=True).start()

    # -- monitoring ----------------------------------------------------------------------------
    def monitor(self) -> None:
        """At every interval's edge from scenario time 0: the gateways' metrics (memory, queues, counters,
        CPU time); their connections come from their event logs afterwards."""
        step = self.cfg.interval
        k = 0
        while not self._stop.wait(max(0.0, self.wall(k * step) - time.time())):
            self.scrape_gateways()
            k = max(k + 1, math.ceil(self.scn(time.time()) / step))

    def scrape_gateways(self) -> None:
        """One ``/metrics`` scrape of every live gateway; its CPU time is taken at the request's midpoint."""
        from reference_impl.system.gateway_metrics import scrape

        t = self.scn(time.time())
        alive = sum(1 for p in list(self.gateways.values()) if p.alive())
        self.gateways_peak = max(self.gateways_peak, alive)
        for name, proc in list(self.gateways.items()):
            if not proc.alive():
                continue
            url = f"http://{self.host}:{proc.port}/metrics"
            sent = time.time()
            body = http_get(url, timeout=0.5, token=self.ops_token)
            if body is None:
                continue
            snap = scrape(body)
            self.gw_snapshots[(name, proc.instance)] = snap
            if "cpu_seconds" in snap:
                read_at = self.scn((sent + time.time()) / 2)
                self.cpu.sample(name, proc.instance, read_at, snap["cpu_seconds"])
            if "memory_bytes" in snap:
                self.rec.gauge("memory_bytes", t, snap["memory_bytes"], label=name)
                self.rec.peak("gateway_memory_peak_bytes", snap["memory_bytes"])
            if "queued_messages" in snap:
                self.rec.gauge("queued_messages", t, snap["queued_messages"], label=name)

    def gateway_totals(self) -> dict[str, float]:
        """Counters summed over every gateway process instance (last scrape of each)."""
        out: dict[str, float] = {}
        for snap in self.gw_snapshots.values():
            for k, v in snap.items():
                if k.startswith("bucket:") or k in LEVELS:
                    continue
                if k in ("send_queue_depth_max", "gateway_memory_peak_bytes", "connections_peak"):
                    out[k] = max(out.get(k, 0.0), v)
                else:
                    out[k] = out.get(k, 0.0) + v
        return out

    def depth_p99(self) -> float:
        """Upper bound of the histogram bucket holding the 99th percentile of sampled queue depths."""
        buckets: dict[float, float] = {}
        for snap in self.gw_snapshots.values():
            for k, v in snap.items():
                if k.startswith("bucket:"):
                    le = float(k[7:]) if k[7:] != "+Inf" else math.inf
                    buckets[le] = buckets.get(le, 0.0) + v
        if not buckets or buckets.get(math.inf, 0.0) <= 0:
            return math.nan
        total = buckets[math.inf]
        for le in sorted(buckets):
            if buckets[le] >= 0.99 * total:
                return le
        return math.nan

    # -- the run -------------------------------------------------------------------------------
    def run(self, progress: Callable[[float], None] | None) -> RunResult:
        """Start everything, play the scenario on the wall clock, then account for what happened."""
        wall_start = time.time()
        plans, workers = self.launch()
        self.play(workers, progress)
        self.ledger = self.account(plans, workers)
        self.record_gateways()
        self.record_balancers()
        if progress is not None:
            progress(1.0)
        info = {
            "engine": "live",
            "wall_s": time.time() - wall_start,
            "replication": self.rep,
            "seed": self.cfg.seed,
            "gateway_processes": gateway_count(self.cfg),
            "loadgen_processes": len(workers),
            "balancer_processes": len(self.balancers),
            "backplane": self.kind,
            "backplane_url": self.backplane_url,
            "time_scale": self.s,
            "t0": self.t0,  # wall clock (Unix time) of scenario time 0
            "schedule": self.schedule is not None,
            "faults": self.fault_log,
            "errors": self.errors,
            "order_violations": self.ledger.order_violations,
        }
        return self.rec.result(**info)

    def launch(self) -> tuple[list[ClientPlan], list[tuple[Any, str, int]]]:
        """Backplane, gateways, balancers, load generators; scenario time 0 once every one is ready."""
        self.start_backplane()
        self.start_gateways()
        plans, spikes = self.plan_clients()
        self.start_balancers(len(plans))
        workers = start_workers(
            self.worker_specs(plans, spikes), self.workdir, self.secret
        )  # wait for the signal
        self.fleet.workers = [p for p, _, _ in workers]
        try:
            self.t0 = release_workers(workers, STARTUP_MARGIN)
        except RuntimeError as exc:
            raise LiveRunError(f"{exc} (see {self.workdir}/loadgen-*.log)") from None
        return plans, workers

    def play(self, workers: list[tuple[Any, str, int]], progress: Callable[[float], None] | None) -> None:
        """Inject the faults and scrape the gateways until the load generators finish (or time runs out)."""
        actions = self.fault_actions()
        for target, args in ((self.run_faults, (actions,)), (self.monitor, ())):
            threading.Thread(target=target, args=args, daemon=True).start()
        total = self.cfg.duration + self.settle / self.s
        deadline = self.wall(self.cfg.duration) + self.settle + 30.0
        while any(p.poll() is None for p, _, _ in workers) and time.time() < deadline:
            if progress is not None:
                progress(min(1.0, max(0.0, self.scn(time.time()) / total)))
            time.sleep(0.25)
        self._stop.set()

    def account(self, plans: list[ClientPlan], workers: list[tuple[Any, str, int]]) -> accounting.Ledger:
        """The clients' records merged into a ledger, recorded as the shared metrics."""
        from reference_impl.driver.loadgen import collect_workers

        assignments: dict[str, str] = {}
        for part in self.balancer_call("/assignments"):
            assignments.update(part)
        records = collect_workers(workers, timeout=0.0)
        self.errors += [f"loadgen {r.index}: {r.error}" for r in records if r.error]
        ledger = accounting.build_ledger(records, plans, self.t0, self.s)
        accounting.record(ledger, self.rec, self.t0, self.s)
        ledger.assignments = assignments
        return ledger

    def record_gateways(self) -> None:
        """Connection events from the gateways' logs; counters from their last /metrics scrape; the CPU
        metrics from their CPU time read every interval (:mod:`reference_impl.driver.cpu_time`)."""
        logs = {
            (name, i): self.event_log(name, i) for name, n in self.instances.items() for i in range(n + 1)
        }
        events = accounting.gateway_events(logs, self.kills)
        accounting.record_gateways(events, self.rec, self.t0, self.s, self.cfg.duration)
        if self.first_crash is not None and self.ledger is not None:
            conv = accounting.herd_convergence(self.ledger.events, self.first_crash)
            self.rec.set("herd_convergence_s", conv / self.s if conv == conv else conv)
        if self.pool_change is not None and self.ledger is not None:
            moved, back = accounting.moved_after(self.ledger.events, self.pool_change)
            self.rec.count("pool_change_reconnects", back)
            self.rec.set("connections_moved_fraction", moved / back if back else math.nan)
        self.rec.set("gateways_peak", float(self.gateways_peak))
        totals = self.gateway_totals()
        for name in COUNTED_AT_GATEWAYS:
            self.rec.count(name, totals.get(name, 0.0))
        for name in ("send_queue_depth_max", "gateway_memory_peak_bytes"):
            if name in totals:
                self.rec.peak(name, totals[name])
        self.rec.set("send_queue_depth_p99", self.depth_p99())
        self.cpu.record(self.rec, self.cfg.duration, self.cfg.warmup, self.s)

    def record_balancers(self) -> None:
        """Idle-timeout cuts."""
        stats = self.balancer_call("/stats")
        self.rec.count(
            "idle_timeout_disconnects", float(sum(s.get("counters", {}).get("idle_cuts", 0) for s in stats))
        )


def run_live(
    config: Config | str | Path | dict[str, Any],
    replication: int = 0,
    progress: Callable[[float], None] | None = None,
    *,
    settle: float | None = None,
    keep_dir: str | Path | None = None,
    return_ledger: bool = False,
    schedule: str | Path | Schedule | None = None,
) -> RunResult | tuple[RunResult, accounting.Ledger]:
    """Run ``config`` live on loopback and return the same :class:`RunResult` as the simulator.

    ``settle`` is the wall time clients get after the last publish to reconnect and catch up
    (default: 4 x the scaled backoff base, between 2 and 10 s). ``schedule`` (a :mod:`wssim.schedule`
    file the simulator wrote for this config) is played instead of drawing the clients and faults.
    Everything started is stopped on return, on error and on Ctrl-C; the run is bounded by its
    duration x ``time_scale`` plus about a minute.
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    cfg = cfg.without_sweep()
    if schedule is not None and not isinstance(schedule, Schedule):
        schedule = Schedule.read(schedule)
    if schedule is not None:
        schedule.check_fits(cfg)
    workdir = Path(tempfile.mkdtemp(prefix="wssim-live-", dir=keep_dir))
    run = LiveRun(cfg, replication, workdir, settle, schedule)
    atexit.register(run.fleet.stop_all)
    try:
        with terminate_on_signals():  # SIGTERM, SIGHUP: the same teardown as Ctrl-C
            result = run.run(progress)
    finally:
        run._stop.set()
        run.fleet.stop_all()
        atexit.unregister(run.fleet.stop_all)
        if keep_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return (result, run.ledger) if return_ledger else result
