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
# # 01 · The connection budget
#
# A WebSocket fleet is sized by **how many sockets are open at once**, not by requests per
# second. Every open socket holds kernel buffers, TLS state, an application object and a file
# descriptor until the client goes away, so the bill is set by presence, not by traffic.
#
# This notebook turns *bytes per connection × peak connections* into nodes, RAM and dollars,
# then runs a deliberately tiny simulated fleet to show **where the hard limits bite**: the
# per-process file-descriptor limit (`EMFILE`) and the edge's conntrack table (silently dropped
# SYNs).
#
# **Look for:** how steeply the node count grows with the per-connection footprint, which ceiling
# binds first on one node, and that the simulated rejections start *exactly* at the configured
# limits.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
USERS = 2_000_000  # peak concurrent connections to plan for
KERNEL_KIB = 8  # socket send/receive buffers per connection
TLS_KIB = 20  # TLS session state per connection (a live session is ~10-40 KiB)
APP_KIB = 4  # connection object, subscriptions, auth context, empty send queue
NODE_MEMORY_GIB = 64  # RAM of one gateway node
BASE_MEMORY_GIB = 2  # process + OS before the first connection
HEADROOM = 0.7  # plan to use this share of the connection memory (GC, bursts, send buffers)
FD_LIMIT = 1_048_576  # nofile per gateway process
CONNTRACK_MAX = 262_144  # nf_conntrack_max on the connection path (the common default)
GATEWAY_PER_MONTH = 350.0  # USD per gateway node per month

# The simulated demo fleet: limits scaled down so a laptop can cross them in seconds.
SIM_GATEWAYS = 2
SIM_FD_LIMIT = 500  # per gateway -> the fleet holds at most SIM_GATEWAYS * SIM_FD_LIMIT sockets
SIM_CONNTRACK_MAX = 1_400  # edge conntrack table
SIM_CLIENTS = [400, 800, 1_200, 1_600, 2_000]
SIM_DURATION = "20s"  # connect ramp 10 s, then hold
REPLICATIONS = 2

# %%
import math

import pandas as pd
import plotly.express as px

import wssim
from wssim.policies import ConnectionBudget

KiB, GiB = 1024, 1024**3

# %% [markdown]
# ## 1. The arithmetic: bytes per connection → node capacity → fleet
#
# `ConnectionBudget` is the same object the simulator uses to charge memory per socket. A node
# holds connections until the first of three ceilings: its memory (after headroom), its
# file-descriptor limit, and the conntrack table in front of it.


# %%
def plan(users: int, kernel_kib: float, tls_kib: float, app_kib: float, node_gib: float) -> dict:
    """Fleet size for ``users`` concurrent sockets with the given per-connection footprint."""
    budget = ConnectionBudget(kernel=int(kernel_kib * KiB), tls=int(tls_kib * KiB), app=int(app_kib * KiB))
    ceiling = budget.ceilings(int(node_gib * GiB), int(BASE_MEMORY_GIB * GiB), FD_LIMIT, headroom=HEADROOM)
    per_node = min(ceiling["memory"], ceiling["fds"], CONNTRACK_MAX)
    nodes = math.ceil(users / per_node)
    return {
        "bytes_per_connection": budget.bytes,
        "capacity_by_memory": ceiling["memory"],
        "capacity_by_fds": ceiling["fds"],
        "capacity_by_conntrack": CONNTRACK_MAX,
        "connections_per_node": per_node,
        "nodes": nodes,
        "connection_ram_gib": users * budget.bytes / GiB,
        "cost_per_month_usd": nodes * GATEWAY_PER_MONTH,
    }


ours = plan(USERS, KERNEL_KIB, TLS_KIB, APP_KIB, NODE_MEMORY_GIB)
pd.Series(ours).to_frame("value").style.format("{:,.1f}")

# %%
ceilings = pd.DataFrame(
    {
        "limit": ["memory (with headroom)", "file descriptors (with headroom)", "conntrack"],
        "connections": [ours["capacity_by_memory"], ours["capacity_by_fds"], CONNTRACK_MAX],
    }
)
fig = px.bar(
    ceilings,
    x="limit",
    y="connections",
    color="limit",
    title=f"One {NODE_MEMORY_GIB} GiB node: which ceiling binds first?",
    text_auto=".3s",
)
fig.update_layout(showlegend=False, yaxis_title="connections per node")
fig.show()

# %% [markdown]
# The footprint is the lever. Sweep it over the range the field guides quote (10–50 KiB per
# connection) for a few node sizes:

# %%
rows = []
for node_gib in (16, 32, 64, 128):
    for kib in range(8, 66, 2):
        p = plan(USERS, kib * 0.25, kib * 0.625, kib * 0.125, node_gib)  # keep the mix, scale the total
        rows.append({"KiB per connection": kib, "node RAM": f"{node_gib} GiB", **p})
sweep_plan = pd.DataFrame(rows)
fig = px.line(
    sweep_plan,
    x="KiB per connection",
    y="nodes",
    color="node RAM",
    line_shape="hv",
    title=f"Gateway nodes for {USERS:,} concurrent connections",
    hover_data=["connections_per_node", "cost_per_month_usd"],
)
fig.add_vline(x=ours["bytes_per_connection"] / KiB, line_dash="dot", annotation_text="your footprint")
fig.show()

# %% [markdown]
# ## 2. Where the hard limits bite: a tiny simulated fleet
#
# The `budget` scenario with its limits shrunk so a laptop crosses them in seconds. Two fleets:
# one whose gateways have only `SIM_FD_LIMIT` descriptors each (no conntrack on the path), and
# one with plenty of descriptors behind an edge whose conntrack table holds `SIM_CONNTRACK_MAX`
# entries. Both sweep the number of clients across their limit.

# %%
base = wssim.load_config("budget", overrides=[f"gateways.count={SIM_GATEWAYS}", f"duration={SIM_DURATION}"])
spec = base.model_dump(mode="json")
spec["sweep"] = {
    "clients.count": SIM_CLIENTS,
    "zip": {"gateways.fd_limit": [SIM_FD_LIMIT, 1_000_000], "edge.conntrack_max": [None, SIM_CONNTRACK_MAX]},
}
limits = wssim.run(wssim.load_config(spec), replications=REPLICATIONS, progress=False)
assert not limits.failures, limits.failures
runs = limits.summary.copy()
runs["fleet"] = ["fd-limited" if c != c else "conntrack-limited" for c in runs["edge.conntrack_max"]]
cols = ["connections_peak", "emfile_rejections", "conntrack_drops", "gateway_memory_peak_bytes"]
by_clients = runs.groupby(["fleet", "clients.count"])[cols].mean()
by_clients

# %%
shown = by_clients[["connections_peak", "emfile_rejections", "conntrack_drops"]].reset_index()
shown = shown.melt(id_vars=["fleet", "clients.count"], var_name="what", value_name="count")
fig = px.line(
    shown,
    x="clients.count",
    y="count",
    color="what",
    facet_col="fleet",
    category_orders={"fleet": ["fd-limited", "conntrack-limited"]},
    markers=True,
    title="Crossing the limits in the simulated fleet",
    labels={"clients.count": "clients trying to connect"},
)
fd_ceiling = SIM_GATEWAYS * SIM_FD_LIMIT
fig.add_vline(x=fd_ceiling, line_dash="dot", annotation_text="gateways × fd_limit", col=1)
fig.add_vline(x=SIM_CONNTRACK_MAX, line_dash="dot", annotation_text="conntrack_max", col=2)
fig.show()

# %% [markdown]
# ## What you should have seen

# %%
fd_fleet, ct_fleet = by_clients.loc["fd-limited"], by_clients.loc["conntrack-limited"]
first_emfile = fd_fleet.index[fd_fleet["emfile_rejections"] > 0].min()
first_conntrack = ct_fleet.index[ct_fleet["conntrack_drops"] > 0].min()
print(
    f"- One connection costs {ours['bytes_per_connection'] / KiB:.0f} KiB, so {USERS:,} sockets need "
    f"{ours['connection_ram_gib']:,.0f} GiB of RAM before a single message is buffered."
)
binding = ceilings.loc[ceilings["connections"].idxmin(), "limit"]
print(
    f"- A {NODE_MEMORY_GIB} GiB node holds {ours['connections_per_node']:,} connections "
    f"(binding limit: {binding}); the fleet needs {ours['nodes']} nodes, "
    f"about ${ours['cost_per_month_usd']:,.0f}/month."
)
print(
    f"- fd-limited fleet: the ceiling is {fd_ceiling:,} sockets; EMFILE rejections first appear at "
    f"{first_emfile:,} clients and it never holds more than {fd_fleet['connections_peak'].max():,.0f}."
)
print(
    f"- conntrack-limited fleet: the table holds {SIM_CONNTRACK_MAX:,} entries; SYN drops first appear at "
    f"{first_conntrack:,} clients and it never holds more than {ct_fleet['connections_peak'].max():,.0f} "
    "— nothing is logged on the gateways, the clients just time out."
)
mem = by_clients["gateway_memory_peak_bytes"].max()
print(f"- Largest gateway memory in these runs: {mem / 2**20:,.0f} MiB, all of it presence (no traffic).")

# %% [markdown]
# ## Optional: sliders
# With `ipywidgets` installed this cell gives sliders over the arithmetic (not needed for CI).

# %%
try:
    from ipywidgets import interact

    @interact(kib=(8, 64, 2), node_gib=[16, 32, 64, 128], users=(100_000, 5_000_000, 100_000))
    def _budget(kib: int = 32, node_gib: int = 64, users: int = USERS) -> None:
        p = plan(users, kib * 0.25, kib * 0.625, kib * 0.125, node_gib)
        nodes, cost = p["nodes"], p["cost_per_month_usd"]
        print(f"{p['connections_per_node']:,} per node -> {nodes} nodes, ${cost:,.0f}/month")
except ImportError:
    print("ipywidgets is not installed: edit the parameters cell and re-run instead.")

# %% [markdown]
# ## Takeaway
#
# Measure the per-connection footprint on your real stack (TLS and compression can triple it),
# multiply by peak concurrency, and plan against the **smallest** of memory-with-headroom, the fd
# limit and conntrack. Raise `nofile` and `nf_conntrack_max` (or bypass conntrack) before launch:
# both fail at an exact number, and conntrack fails silently.
