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
# # 11 · The gateway tier: why sockets live on their own
#
# The most important structural decision at scale: do not terminate WebSockets in the
# application servers. A thin gateway tier holds the sockets, authenticates them and shuttles
# frames to and from the backplane; the business logic lives behind it in stateless services.
# Three reasons, each measured here:
#
# - **deploy cadence** — every restart of the tier that holds the sockets disconnects its users;
#   app code ships several times a day, a gateway rarely;
# - **how a deploy ends a connection** — *draining* (close 1001, spread over a timeout) against
#   *killing* the process: the same users move, but not the same herd;
# - **independent scaling** — the gateway tier is sized by open connections (memory), the app
#   tier by requests; coupled, you over-provision one to satisfy the other.
#
# **Look for:** how many times one rolling deploy disconnects a user, the handshake spikes of a
# kill against the ripple of a drain, and which load moves gateway memory.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 2_000
GATEWAYS = 4
DEPLOY_AT = "20s"  # the rolling deploy starts; one gateway every INTERVAL
INTERVAL = "30s"
DRAIN_TIMEOUT = "20s"  # a draining gateway closes its sockets spread over this long
DURATION = "160s"
REPLICATIONS = 2
APP_DEPLOYS_PER_DAY = 6  # how often the application ships
GATEWAY_DEPLOYS_PER_WEEK = 1  # how often a thin gateway tier ships
SIZING_CLIENTS = [1_000, 2_000, 4_000]  # connections grown at a fixed message rate ...
SIZING_RATES = ["2/min", "4/min", "8/min"]  # ... and messages per client grown at fixed connections

# %%
from wssim.lessons import gateway_tier
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import choice, explore, slider

cfg = gateway_tier.fleet(CLIENTS, GATEWAYS, DEPLOY_AT, INTERVAL, DRAIN_TIMEOUT, DURATION)

# %% [markdown]
# ## 1. A rolling deploy, drained and killed
#
# Every gateway restarts once, one every `INTERVAL`. Draining takes the gateway out of the
# balancer and closes its sockets over `DRAIN_TIMEOUT`; killing drops them all at once. Either
# way the clients reconnect (full jitter) and resume from the replay window.
#
# ### Exercise 11.1 · How often is a user disconnected?
#
# **Predict** how many times one draining rolling deploy of `GATEWAYS` gateways disconnects the
# average user (1 = each user once).

# %%
prediction_1 = None  # disconnects per user

# %% [markdown]
# ### Exercise 11.2 · The herd a kill makes
#
# Killing a gateway drops its quarter of the clients at once. **Predict** the fleet's peak
# handshake rate (handshakes/s) during the killing deploy.

# %%
prediction_2 = None  # handshakes per second

# %%
res = gateway_tier.deploys(cfg, REPLICATIONS)
gateway_tier.handshakes_figure(res).show()
table = gateway_tier.costs(res)
table.round(3)

# %%
reveal(
    "11.1",
    prediction_1,
    gateway_tier.disconnects_per_user(table, CLIENTS),
    "per user",
    why="A client drained onto a gateway that is deployed later is drained again.",
)

# %%
reveal(
    "11.2",
    prediction_2,
    table.loc["kill", "peak_handshake_rate"],
    "handshakes/s",
    why=f"Draining peaks at {table.loc['drain', 'peak_handshake_rate']:,.0f}/s: the same users, spread out.",
)

# %% [markdown]
# ## 2. Why the sockets get their own tier
#
# Whatever holds the sockets disconnects its users at every deploy. Put them in the app servers
# and the app's deploy cadence becomes your users' disconnect rate; give them a thin tier of
# their own and it deploys on its own, rare, schedule.

# %%
coupled = gateway_tier.coupling(
    gateway_tier.disconnects_per_user(table, CLIENTS), APP_DEPLOYS_PER_DAY, GATEWAY_DEPLOYS_PER_WEEK
)
gateway_tier.coupling_figure(coupled).show()
coupled.round(1)

# %% [markdown]
# ## 3. What the gateway tier is sized by
#
# Grow one load at a time on a steady fleet: the number of connections at a fixed message rate
# per client, then the message rate at a fixed number of connections. Gateway memory follows
# connections — presence — far more than traffic. (The gateways' CPU, which follows traffic, is
# not modelled in this chapter.)
#
# ### Exercise 11.3 · Four times the traffic
#
# **Predict** how much the largest gateway's memory grows (×) when every client sends 4× as many
# messages, the connections unchanged.

# %%
prediction_3 = None  # a factor, e.g. 2.0

# %%
sizing = gateway_tier.sizing_runs(cfg, SIZING_CLIENTS, SIZING_RATES)
gateway_tier.sizing_figure(sizing).show()
sizing.round(2)

# %%
reveal(
    "11.3",
    prediction_3,
    gateway_tier.growth(sizing, "messages per client"),
    "×",
    why=f"4× the connections grew it {gateway_tier.growth(sizing, 'connections'):.2f}×.",
)

# %% [markdown]
# ## What you should have seen

# %%
print(gateway_tier.findings(table, CLIENTS, coupled, sizing))

# %% [markdown]
# ## Try it: sliders that simulate
#
# Drain or kill, the drain timeout and the pace of the rollout: each change re-runs the deploy
# (one replication, seconds) and redraws the handshakes. How slow must a drain be before it stops
# mattering?

# %%
explore(
    gateway_tier.one_deploy,
    gateway_tier.deploy_figure,
    cfg=cfg,
    drain=choice(["drain", "kill"]),
    drain_timeout_s=slider(1, 60, 1, 20, "drain timeout (s)"),
    interval_s=slider(5, 60, 5, 30, "seconds between gateways"),
)

# %% [markdown]
# ## Takeaway
#
# Keep the sockets in a thin tier of their own: the app ships as often as it likes, the gateways
# rarely, and each gateway deploy drains instead of kills. Size that tier by open connections and
# memory; size the services behind it by requests.
#
# ## For discussion
#
# A rolling deploy disconnects some users more than once. How would you deploy so that each user
# moves exactly once — and is it worth the spare capacity it needs?
