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
# # 13 · History loss: the outage that empties the replay window
#
# Resuming clients are served from the backplane's history: a client sends its cursor (the last
# offset it saw in each room) and gets what it missed. That history lives somewhere. In Redis
# Streams it lives in the Redis that just restarted: after a backplane outage it comes back empty,
# and the offsets start again from zero.
#
# - **epochs** — a cursor is `(epoch, offset)`. When a room's history is lost the room starts a new
#   epoch; a cursor from the old epoch cannot be replayed (offset 5,000 of the old stream means
#   nothing in the new one), so the client is told to **resync**: fetch a full snapshot;
# - **the mass resync** — every resume after the outage is now a resync. When a gateway crashes
#   soon after, its whole herd asks for a snapshot at once, and the snapshot service serves
#   `SNAPSHOT_RATE` per second;
# - **a durable history** (JetStream) kept its streams through the same outage: the same cursors
#   are served from the window.
#
# **Look for:** the share of resumes the window served on each backplane, and the queue of
# snapshots after the crash.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 2_000
OUTAGE_AT = "20s"  # the backplane becomes unreachable ...
OUTAGE = "5s"  # ... for this long, then restarts
CRASH_AFTER = "5s"  # gateway 0 crashes this long after the backplane is back
SNAPSHOT_RATE = "100/s"  # snapshots the snapshot service serves, fleet-wide
OFFLINE_RATE = "1/min"  # clients also leave now and then (20 s away on average) and resume
DURATION = "60s"

# %%
from wssim.lessons import history_loss
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import choice, explore, slider

cfg = history_loss.fleet(CLIENTS, OUTAGE_AT, OUTAGE, CRASH_AFTER, SNAPSHOT_RATE, OFFLINE_RATE, DURATION)

# %% [markdown]
# ## 1. The same outage on a history that is lost and on one that is kept
#
# Both backplanes are unreachable for `OUTAGE`; their producers hold what gateways publish
# meanwhile and send it on return, so nothing published is lost. What differs is what comes back:
# Redis Streams restarts empty (new epoch in every room), JetStream with its streams.
#
# ### Exercise 13.1 · What the window still serves
#
# Clients resume all through the run: before the outage, after it, and the crashed gateway's herd.
# **Predict** the share of all resumes the replay window serves on Redis Streams.

# %%
prediction_1 = None  # a share, e.g. 0.9

# %%
res = history_loss.kinds(cfg)
table = history_loss.costs(res)
table.T

# %%
reveal(
    "13.1",
    prediction_1,
    table.loc["redis_streams", "served_fraction"],
    "fraction",
    why=f"JetStream served {table.loc['jetstream', 'served_fraction']:.0%}. On Redis Streams only "
    "the resumes before the restart were served: every later cursor is from the old epoch.",
)

# %% [markdown]
# ## 2. The mass resync
#
# The crashed gateway held about a quarter of the clients. After the history loss every one of
# them resyncs, and they all ask the snapshot service within the few seconds their backoff spreads
# them over.
#
# ### Exercise 13.2 · The queue at the snapshot service
#
# **Predict** the longest time a resyncing client waits for its snapshot on Redis Streams, the
# service serving `SNAPSHOT_RATE`.

# %%
prediction_2 = None  # seconds

# %%
history_loss.snapshots_figure(res, cfg).show()

# %%
reveal(
    "13.2",
    prediction_2,
    table.loc["redis_streams", "snapshot_wait_max_s"],
    "s",
    why=f"The whole herd of {history_loss.herd_size(cfg):,.0f} at the same instant would wait "
    f"{history_loss.queue_closed_form(cfg):.1f} s; full-jitter backoff spreads its arrivals.",
)

# %% [markdown]
# ### Exercise 13.3 · The bytes a resync costs
#
# Each snapshot is 64 KiB. **Predict** how many MiB of snapshots the clients fetch on Redis Streams.

# %%
prediction_3 = None  # MiB

# %%
reveal(
    "13.3",
    prediction_3,
    table.loc["redis_streams", "snapshot_bytes"] / 2**20,
    "MiB",
    why=f"{table.loc['redis_streams', 'resyncs']:,.0f} resyncs × 64 KiB; JetStream fetched "
    f"{table.loc['jetstream', 'snapshot_bytes'] / 2**20:,.0f} MiB.",
)

# %% [markdown]
# ## What you should have seen

# %%
print(history_loss.findings(table, cfg))

# %% [markdown]
# ## Try it: sliders that simulate
#
# The backplane, the outage's length, how soon the crash follows and the snapshot service's rate:
# each change re-runs the outage and the crash (one replication, seconds) and redraws the
# snapshots served per second. How fast must the snapshot service be for the herd not to queue?

# %%
explore(
    history_loss.one_outage,
    history_loss.outage_figure,
    cfg=cfg,
    kind=choice(history_loss.KINDS),
    outage_s=slider(1, 30, 1, 5, "outage (s)"),
    crash_after_s=slider(0, 30, 1, 5, "crash after (s)"),
    snapshot_rate=slider(25, 1000, 25, 100, "snapshots/s"),
)

# %% [markdown]
# ## Takeaway
#
# A replay window is only as durable as the store it lives in. Put an epoch in every cursor so a
# lost history is detected instead of silently replaying the wrong offsets, and size the snapshot
# service for the mass resync that follows a history loss — or keep the history in something that
# survives a restart.
#
# ## For discussion
#
# Your backplane lost its history and a gateway crashed right after. Would you rather every client
# resync at once, or have some of them wait — and how would the server tell them to?
