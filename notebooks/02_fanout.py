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
# # 02 · Fan-out: how the backplane reaches the gateways
#
# Alice is on gateway A, Bob on gateway B: every message crosses a pub/sub backplane. How the
# gateways subscribe decides how much backplane traffic one publish costs:
#
# - **broadcast** — every gateway gets every message and throws away what it cannot deliver;
# - **channel per room** — a gateway subscribes only to rooms it holds members for;
# - **sharded** — rooms hashed onto a fixed number of shard channels;
# - **registry** — a shared registry says which gateways hold a recipient; the publisher targets them.
#
# With rooms of `m` members spread uniformly over `G` gateways, a room touches on average
# **G·(1−(1−1/G)^m)** gateways: that is the floor any interest-based topology can reach.
#
# **Look for:** broadcast costing `G` deliveries per publish whatever the room size; the waste
# fraction of each topology for huge rooms, tiny rooms and direct messages; the simulated points
# sitting on the closed-form curve.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
GATEWAYS = 8
CLIENTS = 800
PUBLISH_RATE = "3/min"  # per client
DURATION = "15s"
ROOM_SIZES = [1, 2, 4, 8, 16, 32]  # mean members per room for the closed-form check
REPLICATIONS = 2
BIG_ROOM = 5_000  # members of one room, all on one gateway (section 3)
BIG_ROOM_LOADS = [0.25, 0.5, 0.75, 0.9, 1.1, 1.5]  # offered CPU load of its publications
BIG_ROOM_DURATION = "20s"

# %%
from wssim.lessons import fanout
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import choice, explore, slider

base = fanout.fleet(GATEWAYS, CLIENTS, PUBLISH_RATE, DURATION)

# %% [markdown]
# ## 1. Three traffic shapes × four topologies
#
# *Few huge rooms* (8 rooms), *many tiny rooms* (3 members each), and *direct 1:1 messages*.
#
# ### Exercise 02.1 · What broadcast throws away
#
# With broadcast every gateway receives every publish and discards what it cannot deliver. For
# direct 1:1 messages on `GATEWAYS` gateways, **predict** the share of broadcast's backplane
# deliveries that are discarded (a fraction, e.g. 0.5).

# %%
prediction_1 = None  # a fraction between 0 and 1

# %%
table = fanout.shapes_grid(base, REPLICATIONS)
fanout.shapes_figure(table, GATEWAYS).show()
table.unstack("shape").round(2)

# %%
reveal(
    "02.1",
    prediction_1,
    table.loc[("direct 1:1", "broadcast"), "fanout_waste_fraction"],
    "fraction",
    why="A direct message has one recipient on one gateway; broadcast hands it to every gateway.",
)

# %% [markdown]
# ## 2. The closed form against the model
#
# Channel-per-room, sweeping the mean room size `m = clients / rooms`.
#
# ### Exercise 02.2 · How many gateways does a room reach?
#
# A room of about 8 members, spread over `GATEWAYS` gateways, on channel-per-room. **Predict**
# how many gateways one publish to it reaches.

# %%
prediction_2 = None  # gateways per publish

# %%
points = fanout.room_curve(base, ROOM_SIZES, REPLICATIONS)
fanout.curve_figure(points, CLIENTS, GATEWAYS).show()
points.round(3)

# %%
nearest = points.iloc[(points["m"] - 8).abs().argmin()]
reveal(
    "02.2",
    prediction_2,
    nearest["mean"],
    "gateways",
    why=f"Rooms of {nearest['m']:.0f}; the textbook G·(1−(1−1/G)^m) says {nearest['rooms_of_m']:.2f}.",
)

# %% [markdown]
# ## 3. The gateway writes every frame: a big room fills its CPU
#
# The backplane hands a publication to a gateway once; the gateway then writes one frame per local
# member (7.7 µs each on the reference gateway). A room of `BIG_ROOM` on one gateway costs it tens
# of milliseconds per publication: past the rate where that fills the cores, publications queue
# and the latency grows for as long as the rate lasts.

# %%
big = fanout.big_room(BIG_ROOM, BIG_ROOM_LOADS, BIG_ROOM_DURATION)
fanout.big_room_figure(big).show()
big.round(3)

# %% [markdown]
# ## What you should have seen

# %%
print(fanout.findings(table, points, CLIENTS, GATEWAYS))
print(fanout.big_room_findings(big, BIG_ROOM))

# %% [markdown]
# ## Try it: sliders that simulate
#
# One topology, one fleet size, one room size: each change re-runs the fleet (one replication,
# seconds) and compares the simulated deliveries per publish with the closed form and with `G`.
# Where does channel-per-room stop being cheaper than broadcast?

# %%
explore(
    fanout.one_topology,
    fanout.topology_figure,
    base=base,
    topology=choice(fanout.TOPOLOGIES, "channel_per_room"),
    gateways=slider(2, 32, 1, GATEWAYS, "gateways"),
    room_size=slider(1, 100, 1, 8, "members per room"),
)

# %% [markdown]
# ## Takeaway
#
# Broadcast is `G` deliveries per publish forever; it is only acceptable when rooms are so large
# that every gateway holds a member anyway. Interest routing (channel per room or a registry)
# tracks `G·(1−(1−1/G)^m)`, which is tiny for small rooms and direct messages. Pick the topology
# from your fan-out shape: few huge rooms, many tiny ones, or 1:1. And count the gateway's side:
# every member of a room is a frame to write, so a big room's publish rate is bounded by the cores
# of the gateways holding it, whatever the backplane does.
#
# ## For discussion
#
# Your product has a few huge rooms (a live event) *and* many 1:1 conversations. One topology for
# both, or two — and what does a registry cost you that channels do not?
