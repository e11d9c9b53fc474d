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
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

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
BIG_TLS_KIB = 40  # exercise 01.2: a TLS library that keeps more per session
ROOM_SIZE = 10  # members per room, for the CPU's share of the budget
MESSAGE_RATES = [0.1, 0.3, 1, 3, 10, 30, 100]  # messages each member publishes per minute

# The simulated demo fleet: limits scaled down so a laptop can cross them in seconds.
SIM_GATEWAYS = 2
SIM_FD_LIMIT = 500  # per gateway -> the fleet holds at most SIM_GATEWAYS * SIM_FD_LIMIT sockets
SIM_CONNTRACK_MAX = 1_400  # edge conntrack table
SIM_CLIENTS = [400, 800, 1_200, 1_600, 2_000]
SIM_DURATION = "20s"  # connect ramp 10 s, then hold
REPLICATIONS = 2

# %%
from wssim.lessons import budget
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import explore, slider

node = budget.Node(NODE_MEMORY_GIB, BASE_MEMORY_GIB, HEADROOM, FD_LIMIT, CONNTRACK_MAX, GATEWAY_PER_MONTH)

# %% [markdown]
# ## 1. The arithmetic: bytes per connection → node capacity → fleet
#
# `ConnectionBudget` is the same object the simulator uses to charge memory per socket. A node
# holds connections until the first of three ceilings: its memory (after headroom), its
# file-descriptor limit, and the conntrack table in front of it.
#
# ### Exercise 01.1 · Which ceiling binds first?
#
# One 64 GiB node, 32 KiB per connection, 70% of the memory planned for, a million file
# descriptors, the default conntrack table. **Predict** which limit stops it first: `memory`,
# `file descriptors` or `conntrack`.

# %%
prediction_1 = None  # "memory", "file descriptors" or "conntrack"

# %%
ours = budget.plan(USERS, KERNEL_KIB, TLS_KIB, APP_KIB, node)
budget.ceilings_figure(ours, node).show()
budget.table(ours)

# %%
reveal("01.1", prediction_1, ours["binding"].split(" (")[0], text=f"{ours['binding']}")

# %% [markdown]
# The footprint is the lever. Sweep it over the range the field guides quote (10–50 KiB per
# connection) for a few node sizes:

# %%
budget.footprint_figure(USERS, node, ours["bytes_per_connection"] / 1024).show()

# %% [markdown]
# ### Exercise 01.2 · A heavier TLS library
#
# Your TLS library keeps `BIG_TLS_KIB` per session instead of `TLS_KIB`. **Predict** how many
# nodes the fleet needs now (it needs the number printed above today).

# %%
prediction_2 = None  # nodes

# %%
heavy = budget.plan(USERS, KERNEL_KIB, BIG_TLS_KIB, APP_KIB, node)
reveal(
    "01.2",
    prediction_2,
    heavy["nodes"],
    "nodes",
    why=f"{heavy['connection_ram_gib']:,.0f} GiB of RAM, but {heavy['binding']} binds per node.",
)

# %% [markdown]
# ## 2. Where the hard limits bite: a tiny simulated fleet
#
# The `budget` scenario with its limits shrunk so a laptop crosses them in seconds. Two fleets:
# one whose gateways have only `SIM_FD_LIMIT` descriptors each (no conntrack on the path), and
# one with plenty of descriptors behind an edge whose conntrack table holds `SIM_CONNTRACK_MAX`
# entries. Both sweep the number of clients across their limit.
#
# ### Exercise 01.3 · Out of file descriptors
#
# The fd-limited fleet has `SIM_GATEWAYS` gateways of `SIM_FD_LIMIT` descriptors. When
# `max(SIM_CLIENTS)` clients try to connect, **predict** the most sockets it ever holds.

# %%
prediction_3 = None  # connections

# %%
by_clients = budget.limits_fleet(
    SIM_GATEWAYS, SIM_FD_LIMIT, SIM_CONNTRACK_MAX, SIM_CLIENTS, SIM_DURATION, REPLICATIONS
)
budget.limits_figure(by_clients, SIM_GATEWAYS, SIM_FD_LIMIT, SIM_CONNTRACK_MAX).show()
by_clients

# %%
fd_fleet = by_clients.loc["fd-limited"]
reveal(
    "01.3",
    prediction_3,
    fd_fleet["connections_peak"].max(),
    "connections",
    why=f"{fd_fleet['emfile_rejections'].max():,.0f} accepts failed with EMFILE at the most clients.",
)

# %% [markdown]
# ## Traffic: when the CPU binds before memory
#
# Memory and file descriptors count sockets; the CPU counts what they do. Each connection receives
# every message of its room (`ROOM_SIZE` members on average; clients pick rooms at random, so a
# member's room holds it and `ROOM_SIZE` others on average), and every frame costs the gateway's CPU
# (7.7 µs for 100 bytes on the reference gateway, more with compression, whose compressor state also
# takes memory). The lowest line binds.

# %%
from wssim.config import load_config
from wssim.lessons import cpu

gateway = load_config(
    "quickstart",
    [
        f"gateways.memory={NODE_MEMORY_GIB}GiB",
        f"gateways.base_memory={BASE_MEMORY_GIB}GiB",
        f"gateways.fd_limit={FD_LIMIT}",
        f"costs.headroom={HEADROOM}",
    ],
)
limits = cpu.by_rate(gateway, MESSAGE_RATES, ROOM_SIZE)
cpu.limits_figure(limits)

# %% [markdown]
# ## What you should have seen

# %%
print(budget.findings(ours, node, USERS, by_clients, SIM_GATEWAYS * SIM_FD_LIMIT))
print(cpu.findings(limits, ROOM_SIZE))

# %% [markdown]
# ## Try it: sliders that simulate
#
# One small fleet with both limits. Each change re-runs it (one replication, seconds) and redraws
# the connections it holds against both ceilings; the title counts what was refused.

# %%
explore(
    budget.one_fleet,
    budget.fleet_figure,
    gateways=SIM_GATEWAYS,
    duration=SIM_DURATION,
    clients=slider(200, 3_000, 100, 1_600, "clients"),
    fd_limit=slider(100, 1_500, 100, SIM_FD_LIMIT, "fd limit per gateway"),
    conntrack_max=slider(200, 3_000, 100, SIM_CONNTRACK_MAX, "conntrack_max"),
)

# %% [markdown]
# ## Takeaway
#
# Measure the per-connection footprint on your real stack (TLS and compression can triple it),
# multiply by peak concurrency, and plan against the **smallest** of memory-with-headroom, the fd
# limit, conntrack and — once clients talk — the CPU their messages cost. Raise `nofile` and
# `nf_conntrack_max` (or bypass conntrack) before launch: both fail at an exact number, and
# conntrack fails silently.
#
# ## For discussion
#
# Raising conntrack lets one node hold three times as many sockets: would you run a third as
# many, bigger nodes? What does losing one of them cost you?
