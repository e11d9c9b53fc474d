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
# # 12 · The edge during a crash: health checks, L4 or L7, sticky sessions
#
# Between the clients and the gateways sits a load balancer, and a crash is where its settings
# show. Three of them, each measured on the same crash of one gateway out of four:
#
# - **health checks** — until the balancer notices the gateway is gone it keeps sending new
#   connections there; they are refused and the clients back off further. How long it takes is set
#   by the probe interval and the number of failures in a row (`fall`); a *passive* check also takes
#   the gateway out at the first refused connection;
# - **L4 or L7** — an L4 balancer passes TCP through; an L7 one terminates TLS, so it holds every
#   client's TLS session and the buffers of two sockets per connection;
# - **sticky sessions** — the balancer remembers where each client went. After the crash the
#   clients stay where the herd put them: what does the restarted gateway get?
#
# **Look for:** the connection attempts that hit the dead gateway, where the TLS memory moved, and
# the restarted gateway's connections.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 2_000
GATEWAYS = 4
CRASH_AT = "20s"  # gateway 0 crashes; it restarts 10 s later
DURATION = "60s"
INTERVALS = ["1s", "5s"]  # health-check probe intervals compared (out after 2 failures)
REPLICATIONS = 2
OFFLINE_RATE = "2/min"  # for the sticky-session run: clients leave now and then ...
OFFLINE_MEAN = "10s"  # ... and come back through the balancer
STICKY_DURATION = "120s"

# %%
from wssim.lessons import edge
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import choice, explore, slider

cfg = edge.fleet(CLIENTS, GATEWAYS, CRASH_AT, DURATION, "0/s", OFFLINE_MEAN)

# %% [markdown]
# ## 1. Health checks: how long the balancer keeps sending clients to a dead gateway
#
# The balancer probes every gateway in rounds, `interval` apart; two failures in a row take a
# gateway out of the pool. A crashed gateway refuses its probe at once, so the crash is noticed
# after one to two intervals — and meanwhile the herd of its clients, hashed straight back to it,
# is refused.
#
# ### Exercise 12.1 · Attempts sent to a dead gateway
#
# With probes every 5 s (`INTERVALS[-1]`) and no passive check, **predict** how many connection
# attempts the balancer sends to the crashed gateway before it takes it out.

# %%
prediction_1 = None  # connection attempts

# %% [markdown]
# ### Exercise 12.2 · Time to notice
#
# **Predict** the mean time from the crash until the balancer takes the gateway out, with probes
# every 5 s and `fall = 2`.

# %%
prediction_2 = None  # seconds

# %%
res = edge.health_checks(cfg, INTERVALS, REPLICATIONS)
edge.attempts_figure(res).show()
health = edge.health_table(res)
health.round(2)

# %%
slow = health.index[len(INTERVALS) - 1]
reveal(
    "12.1",
    prediction_1,
    health.loc[slow, "connects_to_dead_gateway"],
    "attempts",
    why=f"With the passive check: {health.iloc[-1]['connects_to_dead_gateway']:,.0f}. "
    "The first refusal takes the gateway out.",
)

# %%
reveal(
    "12.2",
    prediction_2,
    health.loc[slow, "health_check_detection_s"],
    "s",
    why="Closed form (fall − 1 + U)·interval, U uniform: mean "
    f"{edge.detection_closed_form(cfg, health.loc[slow, edge.INTERVAL]):.1f} s.",
)

# %% [markdown]
# ## 2. L4 or L7: where the TLS state lives
#
# Behind an L4 balancer each gateway holds its clients' TLS sessions. An L7 balancer terminates TLS
# itself: it pays a TLS handshake per connect — the whole herd goes through it — and holds, per
# connection, the TLS session and the kernel buffers of both of its sockets.
#
# ### Exercise 12.3 · The balancer's memory
#
# **Predict** the peak memory (MiB) one L7 balancer node holds for `CLIENTS` connections, at
# 20 KiB of TLS and 8 KiB of kernel buffers per socket.

# %%
prediction_3 = None  # MiB

# %%
layers = edge.layers(cfg)
layers

# %%
reveal(
    "12.3",
    prediction_3,
    layers.loc["L7", "edge_memory_peak_bytes"] / 2**20,
    "MiB",
    why="tls + 2 × kernel per connection, every client at once: "
    f"{edge.edge_memory_closed_form(cfg) / 2**20:,.1f} "
    "MiB. Behind L7 each gateway holds 20 KiB less per socket.",
)

# %% [markdown]
# ## 3. Sticky sessions: where the clients go after the restart
#
# Now clients also leave and come back (`OFFLINE_RATE`, `OFFLINE_MEAN`). With consistent hashing a
# returning client is hashed again, so the restarted gateway gets its own clients back as they
# return. A sticky balancer sends each client where it went last.
#
# ### Exercise 12.4 · The restarted gateway's share
#
# **Predict** the connections the restarted gateway holds at the end of the run with sticky
# sessions, as a share of a fair `1/GATEWAYS` (1.0 = its full share).

# %%
prediction_4 = None  # a share, e.g. 0.5

# %%
sticky_cfg = edge.configure(cfg, [f"duration={STICKY_DURATION}", f"clients.offline.rate={OFFLINE_RATE}"])
sticky = edge.stickiness(sticky_cfg)
edge.gateways_figure(sticky, "Connections per gateway: the crash (dashed), the restart (dotted)").show()

# %%
reveal(
    "12.4",
    prediction_4,
    edge.restarted_share(sticky, "sticky"),
    "fraction",
    why=f"Consistent hashing gave it back {edge.restarted_share(sticky, 'consistent_hash'):.0%}: "
    "a returning client is hashed again.",
)

# %% [markdown]
# ## What you should have seen

# %%
print(edge.findings(health, cfg, layers, sticky))

# %% [markdown]
# ## Try it: sliders that simulate
#
# The probe interval, how many failures take a gateway out, the passive check and the balancer:
# each change re-runs the crash (one replication, seconds) and redraws the connections of every
# gateway. Which setting shortens the herd most?

# %%
explore(
    edge.one_crash,
    edge.crash_figure,
    cfg=sticky_cfg,
    interval_s=slider(0.5, 10, 0.5, 1, "probe interval (s)"),
    fall=slider(1, 5, 1, 2, "failures to take out"),
    passive=choice(["passive off", "passive on"]),
    balancer=choice(["consistent_hash", "sticky"]),
)

# %% [markdown]
# ## Takeaway
#
# A crash is noticed one or two probe intervals late, and every connection sent meanwhile is
# refused and pushed further into backoff: probe often, and turn on the passive check. An L7
# balancer moves the TLS state and every handshake of the herd onto the balancer — size it for
# that. Sticky sessions keep clients where the herd left them: the restarted gateway stays empty
# until something rebalances.
#
# ## For discussion
#
# Sticky sessions buy affinity that a WebSocket fleet with a backplane does not need. When would
# you still want them — and what would you use to rebalance a gateway that came back empty?
