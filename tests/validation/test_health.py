"""Health checks: how long a balancer keeps a crashed gateway, and how long a restarted one waits.

A balancer node probes every gateway in rounds ``interval`` apart (a probe of a dead process is refused
at once, so rounds do not stretch). The crash falls somewhere in a round's interval; the first failing
probe is the next round, ``U·interval`` later with ``U`` uniform on ``(0, 1]`` because the node's phase
is independent of the crash; ``fall − 1`` more rounds make the decision. So the detection delay is

    D = (fall − 1 + U)·interval  ∈  ((fall − 1)·interval, fall·interval],   E[D] = (fall − ½)·interval,

and likewise a restarted gateway rejoins ``(rise − 1 + U')·interval`` after it starts. The bounds are
exact (every sample must lie inside them); the mean is checked with the 99% t interval over the
samples, which are independent (each balancer node of each replication draws its own phase).
"""

from __future__ import annotations

from tests.validation.intervals import mean_ci
from tests.validation.runs import make_config

INTERVAL, FALL, RISE = 2.0, 3, 2
NODES, REPLICATIONS = 8, 12

BASE = {
    "name": "health",
    "seed": 11,
    "duration": "40s",
    "clients": {"count": 40, "connect_ramp": "1s", "rooms": {"count": 1, "per_client": 1}},
    "gateways": {"count": 3, "restart_delay": "10.3s"},
    "edge": {
        "idle_timeout": None,
        "nodes": NODES,
        "health_check": {"interval": f"{INTERVAL}s", "fall": FALL, "rise": RISE},
    },
    "backplane": {"kind": "in_memory"},
    "faults": [{"kind": "gateway_crash", "at": "10s", "gateway": 1}],
}


def samples() -> tuple[list[float], list[float]]:
    """Detection and rejoin delays of every balancer node over the replications."""
    from wssim.sim.simulate import build_world

    cfg = make_config(BASE)
    detections: list[float] = []
    rejoins: list[float] = []
    for rep in range(REPLICATIONS):
        w = build_world(cfg, rep)
        w.env.run(until=cfg.duration)
        detections += w.edge.health.detections
        rejoins += w.edge.health.rejoins
    return detections, rejoins


def test_detection_and_rejoin_delays_match_the_probe_rounds() -> None:
    detections, rejoins = samples()
    assert len(detections) == len(rejoins) == NODES * REPLICATIONS
    for name, values, runs in (("detection", detections, FALL), ("rejoin", rejoins, RISE)):
        low, high = (runs - 1) * INTERVAL, runs * INTERVAL
        assert all(low < v <= high + 1e-9 for v in values), (name, min(values), max(values))
        ci = mean_ci(values)
        print(f"{name}: {ci} against (runs − ½)·interval = {(runs - 0.5) * INTERVAL}")
        assert ci.contains((runs - 0.5) * INTERVAL), (name, str(ci))
