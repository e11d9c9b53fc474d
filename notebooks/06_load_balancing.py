# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Load balancing long-lived sockets
#
# Two questions decide whether the edge is boring:
#
# 1. **When the gateway set changes, how many sockets move?** A socket is pinned for its whole
#    life, so "moving" means a disconnect and a reconnect. Consistent hashing moves about `1/N`
#    of them when one of `N` gateways is added or removed; `hash mod N` moves about `(N−1)/N`.
# 2. **Who cuts quiet sockets?** Balancers, proxies and NAT boxes close connections they think are
#    idle (60 s is a common balancer default, 30 s on some corporate proxies). A ping interval
#    shorter than the *tightest* timeout on the path keeps every timer reset.
#
# **Look for:** the moved fraction on its closed form for each balancer, and the idle cuts falling
# to exactly zero once the ping interval drops below the timeout.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
GATEWAYS = 6  # before one is added
KEYS = 5_000  # routing keys for the direct balancer experiment
BALANCERS = ["consistent_hash", "rendezvous", "modulo"]
CLIENTS = 1_000
IDLE_TIMEOUT = "60s"  # the balancer's idle timeout
PATH_IDLE_TIMEOUT = "30s"  # a corporate proxy on the path ("null" for none)
PING_INTERVALS = [15, 25, 35, 45, 75, None]  # seconds; None = no pings
DURATION = "100s"
REPLICATIONS = 2

# %%
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

import wssim
from wssim.policies import HashRing, Keepalive, make_balancer, tightest

# %% [markdown]
# ## 1. Moved fraction, straight from the balancers
#
# The policy objects the simulator and the live L4 balancer share. Route `KEYS` keys over `N`
# gateways, add one gateway, count the keys whose gateway changed.


# %%
def moved_fraction(kind: str, n: int, keys: int = KEYS) -> float:
    """Share of ``keys`` routed to a different node after growing from ``n`` to ``n + 1`` nodes."""
    before = make_balancer(kind, [f"gw{i}" for i in range(n)])
    after = make_balancer(kind, [f"gw{i}" for i in range(n + 1)])
    return float(np.mean([before.pick(f"client-{k}") != after.pick(f"client-{k}") for k in range(keys)]))


ns = list(range(2, 11))
direct = pd.DataFrame([{"N": n, "balancer": k, "moved": moved_fraction(k, n)} for k in BALANCERS for n in ns])
fig = px.scatter(direct, x="N", y="moved", color="balancer", title="Keys that move when gateway N+1 joins")
n_grid = np.array(ns)
fig.add_scatter(x=n_grid, y=1 / (n_grid + 1), mode="lines", name="1/(N+1)", line={"dash": "dot"})
fig.add_scatter(x=n_grid, y=n_grid / (n_grid + 1), mode="lines", name="N/(N+1)", line={"dash": "dot"})
fig.update_layout(yaxis_title="fraction of connections moved", yaxis_tickformat=".0%")
fig.show()

# %% [markdown]
# ## 2. The same in the simulated fleet
#
# The `balancing` scenario adds a gateway mid-run; the model reports the share of connections
# whose gateway changed (`connections_moved_fraction`).

# %%
cfg = wssim.load_config("balancing", overrides=[f"gateways.count={GATEWAYS}", f"clients.count={CLIENTS}"])
vnodes = cfg.edge.virtual_nodes
spec = cfg.model_dump(mode="json")
spec["sweep"] = {"edge.balancer": BALANCERS}
moved_res = wssim.run(wssim.load_config(spec), replications=REPLICATIONS, progress=False)
assert not moved_res.failures, moved_res.failures
moved = moved_res.summary
moved_sim = moved.groupby("edge.balancer")["connections_moved_fraction"].agg(["mean", "sem"])
moved_sim = moved_sim.reindex(BALANCERS)
moved_sim

# %% [markdown]
# ## 3. Idle timeout vs ping interval

# %%
cfg = wssim.load_config(
    "idle_timeout",
    overrides=[
        f"clients.count={CLIENTS}",
        f"edge.idle_timeout={IDLE_TIMEOUT}",
        f"edge.path_idle_timeout={PATH_IDLE_TIMEOUT}",
        f"duration={DURATION}",
    ],
)
spec = cfg.model_dump(mode="json")
spec["sweep"] = {"gateways.keepalive.ping_interval": PING_INTERVALS}
idle_res = wssim.run(wssim.load_config(spec), replications=REPLICATIONS, progress=False)
assert not idle_res.failures, idle_res.failures
idle = idle_res.summary
idle["ping"] = idle["gateways.keepalive.ping_interval"].map(lambda v: "none" if pd.isna(v) else f"{v:.0f}s")
cuts = idle.groupby("ping", sort=False)["idle_timeout_disconnects"].mean()
path_timeout = tightest(cfg.edge.idle_timeout, cfg.edge.path_idle_timeout)
expected_cut = [not Keepalive(p).keeps_alive(path_timeout) for p in PING_INTERVALS]
fig = go.Figure(
    go.Bar(
        x=cuts.index,
        y=cuts.values,
        marker_color=["crimson" if e else "seagreen" for e in expected_cut],
    )
)
fig.update_layout(
    title=f"Idle-timeout disconnects by ping interval (tightest timeout on the path: {path_timeout:.0f} s)",
    xaxis_title="ping interval",
    yaxis_title="connections cut per run",
)
fig.show()

# %% [markdown]
# ## What you should have seen

# %%
n = GATEWAYS
for kind in BALANCERS:
    closed = n / (n + 1) if kind == "modulo" else 1 / (n + 1)
    print(
        f"- {kind}: simulated {moved_sim.loc[kind, 'mean']:.1%} moved "
        f"(direct {moved_fraction(kind, n):.1%}, closed form {closed:.1%})."
    )
share = HashRing(range(n + 1), vnodes=vnodes).shares()[n]
print(
    f"- The joining gateway owns {share:.1%} of this ring ({vnodes} virtual nodes per gateway): "
    "that is what consistent hashing moves here; 1/(N+1) is the average over ring layouts."
)
safe = [p for p, e in zip(PING_INTERVALS, expected_cut, strict=True) if not e]
print(
    f"- Pings every {', '.join(f'{p}s' for p in safe)} keep the {path_timeout:.0f} s timeout from firing: "
    f"{cuts[[f'{p}s' for p in safe]].sum():.0f} idle cuts in total."
)
cut = [p for p, e in zip(PING_INTERVALS, expected_cut, strict=True) if e and p is not None]
print(
    f"- Pings every {', '.join(f'{p}s' for p in cut)} come too late: "
    f"{cuts[[f'{p}s' for p in cut]].mean():,.0f} cuts per run on average; without pings "
    f"{cuts['none']:,.0f} ({CLIENTS:,} clients, each cut after every {path_timeout:.0f} s of silence)."
)

# %% [markdown]
# ## Optional: sliders

# %%
try:
    from ipywidgets import interact

    @interact(kind=BALANCERS, n=(2, 50))
    def _moved(kind: str = "consistent_hash", n: int = GATEWAYS) -> None:
        print(f"{moved_fraction(kind, n, 5_000):.1%} of connections move when gateway {n + 1} joins")
except ImportError:
    print("ipywidgets is not installed: edit the parameters cell and re-run instead.")

# %% [markdown]
# ## Takeaway
#
# Hash connections onto gateways with a consistent hash (or rendezvous): a deploy, a crash or a
# scale-out then disturbs `1/N` of the users, not all of them. And send pings more often than the
# tightest idle timeout on the path — raise the balancer's timeout well above the ping interval,
# because the proxy you do not control will not raise its own.
