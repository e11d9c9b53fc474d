"""The gateway's CPU against queueing theory.

One gateway holds one room of ``m`` members; every publication is one job of ``m × c`` CPU-seconds
(``cpu.frame = c``, nothing else costs) on ``cores`` cores, and clients publish as Poisson processes,
so the publications reaching the CPU are a Poisson stream of rate ``λ``: an M/D/1 queue whose
service time is ``S = m·c / cores``.

1. **Mean wait** at ρ = λS = 0.5, 0.8, 0.9 matches Pollaczek–Khinchine, ``W = ρ S / (2 (1 − ρ))``
   (the same as ``ρ / (2μ(1 − ρ))`` with ``μ = 1/S``): the 99% t interval of
   ``gateway_cpu_wait_mean_s`` over replications contains it.
2. **Overload** (ρ = 1.5 on 2 cores): the queue grows by ``(λ·m·c − cores) / (m·c)`` jobs per second.
   Measured from the backlog series between 10 s and 30 s (seconds of work, divided by ``S``); the
   99% interval over replications contains the rate.
3. **Starvation disconnect**: with ``overflow: disconnect`` and a bound of ``L`` messages, the members
   are closed when a publication finds ``L`` jobs of their room ahead of it. The count of jobs is a
   random walk that rises by one at a time (skip-free) with drift ``g`` (above), so by Wald's identity
   the first passage to ``L + 1`` comes at ``E[T] = (L + 1 − E[D-fraction]) / g = (L + ½) / g`` after
   publishing starts (the job in service is half done on average). The 99% interval of
   ``first_slow_consumer_disconnect_s`` contains it.
4. **A herd of handshakes delays delivery**: ``k`` clients connect at once to a gateway of ``c`` cores
   with ``handshake_cost = h``: they cannot be admitted faster than ``c / h`` per second (the peak
   handshake rate, per 100 ms interval, is at most ``c/h`` plus one handshake), and a publication
   arriving ``x`` seconds into the herd waits ``W − x`` behind it (``W = k·h/c``). The herd's clients
   publish too once connected (``m0 + k·x/W`` clients publish at ``x``), so the publications of the
   window are a Poisson stream of that rate and their mean wait is
   ``∫(W − x)(m0 + k·x/W) dx / ∫(m0 + k·x/W) dx = W (m0/2 + k/6) / (m0 + k/2)`` (``W/2`` if the herd
   did not publish). The publications' own work adds at most ``ρ_max · W/2`` (``ρ_max`` their
   largest utilisation, with every member connected): a derived slack on top of the interval.
"""

from __future__ import annotations

import pytest

from tests.validation.intervals import mean_ci
from tests.validation.runs import make_config, metric, replicate

M, C = 100, 100e-6  # members, CPU-seconds per member
FREE = {"frame": C, "per_byte": 0, "backplane_message": 0, "ping": 0}
BASE = {
    "name": "validate-cpu",
    "seed": 29,
    "duration": "310s",
    "warmup": "10s",
    "interval": "1s",
    "clients": {"count": M, "connect_ramp": "1s", "rooms": {"count": 1}, "message_size": "200B"},
    "gateways": {"count": 1, "keepalive": {"ping_interval": None}, "cpu": {**FREE, "cores": 1}},
    "edge": {"idle_timeout": None},
    "backplane": {"kind": "in_memory"},
}


def publish_rate(rho: float, cores: int) -> float:
    """Per-client publish rate that loads ``cores`` to ``rho`` (all ``M`` clients publish)."""
    return rho * cores / (M * C) / M


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9])
def test_mean_wait_matches_pollaczek_khinchine(rho: float) -> None:
    s = M * C
    expected = rho * s / (2 * (1 - rho))
    runs = replicate(make_config(BASE, {"clients.publish_rate": publish_rate(rho, 1)}), 10)
    ci = mean_ci(metric(runs, "gateway_cpu_wait_mean_s"))
    print(f"rho {rho}: mean wait {ci} s, M/D/1 {expected:.6g} s")
    assert ci.contains(expected)


def backlog_at(result, t: float) -> float:
    ts = result.timeseries
    row = ts[(ts.series == "gateway_cpu_backlog_s") & (ts.time == t)]
    return float(row.value.iloc[0])


OVERLOAD = {"gateways.cpu.cores": 2, "clients.publish_rate": publish_rate(1.5, 2), "duration": "31s"}


@pytest.mark.slow
def test_an_overloaded_cpu_backlog_grows_at_the_predicted_rate() -> None:
    cores = 2
    lam = publish_rate(1.5, cores) * M
    growth = (lam * M * C - cores) / (M * C)  # jobs per second
    s = M * C / cores
    over = {**OVERLOAD, "gateways.send_queue.overflow": "unbounded"}
    runs = replicate(make_config(BASE, over), 10)
    rates = [(backlog_at(r, 30.0) - backlog_at(r, 10.0)) / 20.0 / s for r in runs]
    ci = mean_ci(rates)
    print(f"backlog growth {ci} jobs/s, predicted {growth:.6g}")
    assert ci.contains(growth)


@pytest.mark.slow
def test_the_first_starvation_disconnect_comes_when_the_backlog_passes_the_bound() -> None:
    cores, bound = 2, 1000
    lam = publish_rate(1.5, cores) * M
    growth = (lam * M * C - cores) / (M * C)
    over = {
        **OVERLOAD,
        "duration": "20s",
        "warmup": "0s",
        "clients.connect_ramp": "1ms",
        "gateways.handshake_cost": "0s",
        "gateways.send_queue": {"limit": bound, "overflow": "disconnect"},
    }
    runs = replicate(make_config(BASE, over), 20)
    expected = (bound + 0.5) / growth
    ci = mean_ci(metric(runs, "first_slow_consumer_disconnect_s"))
    print(f"first starvation disconnect {ci} s, predicted {expected:.6g} s")
    assert ci.contains(expected)


K, H, CORES, HERD_AT = 2000, 1e-3, 2, 5.0
WINDOW = K * H / CORES  # seconds of handshakes the herd brings


@pytest.mark.slow
def test_a_herd_of_handshakes_delays_the_delivery_of_the_clients_that_stayed() -> None:
    m0, frame, rate = 1000, 1e-6, 0.01  # publications: 10/s before the herd, 30/s with it connected
    herd = {
        "duration": f"{HERD_AT + WINDOW}s",
        "warmup": f"{HERD_AT}s",
        "interval": "100ms",
        "clients.count": m0,
        "clients.publish_rate": rate,
        "gateways.handshake_cost": H,
        "gateways.cpu": {**FREE, "frame": frame, "cores": CORES},
        "faults": [
            {
                "kind": "spike",
                "at": HERD_AT,
                "duration": "1ms",
                "publish_multiplier": 1.0,
                "connect_clients": K,
            }
        ],
    }
    runs = replicate(make_config(BASE, herd), 30)
    peak = max(metric(runs, "peak_handshake_rate"))
    assert peak <= CORES / H + 1 / 0.1  # admitted no faster than the cores serve handshakes
    rho_max = rate * (m0 + K) * (m0 + K) * frame / CORES
    expected = WINDOW * (m0 / 2 + K / 6) / (m0 + K / 2)
    ci = mean_ci(metric(runs, "gateway_cpu_wait_mean_s"))
    print(
        f"herd of {K}: publications waited {ci} s, predicted {expected:.6g} s (+ at most {rho_max:.3g} × W/2)"
    )
    assert ci.contains(expected, slack=rho_max * WINDOW / 2)
