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
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

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
from wssim.lessons import balancing
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import explore, slider

# %% [markdown]
# ## 1. Moved fraction, straight from the balancers
#
# The policy objects the simulator and the live L4 balancer share. Route `KEYS` keys over `N`
# gateways, add one gateway, count the keys whose gateway changed.

# %%
balancing.moved_figure(BALANCERS, KEYS).show()

# %% [markdown]
# ## 2. The same in the simulated fleet
#
# The `balancing` scenario adds a gateway mid-run while clients drop off for a couple of seconds
# now and then. An open socket stays where it is: the model reports, of the clients that come back
# after the change, the share that landed on another gateway (`connections_moved_fraction`).
#
# ### Exercise 06.1 · Scale out with `hash mod N`
#
# `CLIENTS` clients on `GATEWAYS` gateways; one more joins. **Predict** the share of connections
# that move (disconnect and reconnect elsewhere) with the `modulo` balancer.

# %%
prediction_1 = None  # a fraction between 0 and 1

# %%
moved = balancing.moved_in_fleet(GATEWAYS, CLIENTS, BALANCERS, REPLICATIONS)
moved

# %%
reveal(
    "06.1",
    prediction_1,
    moved.loc["modulo", "mean"],
    "fraction",
    why=f"N/(N+1) = {balancing.closed_form('modulo', GATEWAYS):.1%}; consistent hashing moved "
    f"{moved.loc['consistent_hash', 'mean']:.1%}.",
)

# %% [markdown]
# ## 3. Idle timeout vs ping interval
#
# ### Exercise 06.2 · Pings that come too late
#
# The balancer cuts after `IDLE_TIMEOUT` of silence, a proxy on the path after
# `PATH_IDLE_TIMEOUT`. The gateway pings every 35 s. **Predict** how many idle cuts
# `CLIENTS` quiet clients suffer in `DURATION`.

# %%
prediction_2 = None  # connections cut per run

# %%
idle = balancing.idle_fleet(CLIENTS, IDLE_TIMEOUT, PATH_IDLE_TIMEOUT, DURATION)
cuts = balancing.idle_cuts(idle, PING_INTERVALS, REPLICATIONS)
timeout = balancing.path_timeout(idle)
balancing.cuts_figure(cuts, balancing.cut_expected(idle, PING_INTERVALS), timeout).show()

# %%
reveal(
    "06.2",
    prediction_2,
    cuts.get("35s", float("nan")),
    "cuts",
    why=f"The tightest timeout on the path is {timeout:.0f} s: a client silent that long is cut.",
)

# %% [markdown]
# ## What you should have seen

# %%
print(balancing.findings(moved, GATEWAYS, KEYS, cuts, PING_INTERVALS, idle))

# %% [markdown]
# ## Try it: sliders that simulate
#
# One ping interval (0 = no pings) behind one proxy timeout: each change re-runs the quiet fleet
# (one replication, seconds) and redraws the connections it holds. A sawtooth is a proxy cutting.

# %%
explore(
    balancing.one_path,
    balancing.path_figure,
    cfg=idle,
    ping_s=slider(0, 90, 5, 35, "ping interval (s, 0 = none)"),
    path_timeout_s=slider(10, 120, 5, 30, "proxy idle timeout (s)"),
)

# %% [markdown]
# ## Takeaway
#
# Hash connections onto gateways with a consistent hash (or rendezvous): a deploy, a crash or a
# scale-out then disturbs `1/N` of the users, not all of them. And send pings more often than the
# tightest idle timeout on the path — raise the balancer's timeout well above the ping interval,
# because the proxy you do not control will not raise its own.
#
# ## For discussion
#
# Where on your users' paths are idle timeouts you have never measured (hotel Wi-Fi, a corporate
# proxy, a carrier NAT)? What in your metrics would show them — and what would make you lower the
# ping interval for everyone?
