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
# # 04 · Reconnect storms: the thundering herd
#
# A gateway dies and every client it held reconnects. If they all retry on the same tick, the
# handshake spike can knock over the gateways that are left — and the one that comes back — and
# the storm feeds itself. The client's backoff strategy decides how wide the herd is spread:
#
# | strategy | next delay |
# |---|---|
# | `none` | reconnect at once |
# | `constant` | `base` |
# | `exponential` | `min(cap, base·2^attempt)` — synchronized: everyone on the same ticks |
# | `full_jitter` | `random(0, min(cap, base·2^attempt))` |
# | `equal_jitter` | half of the exponential delay + a random half |
# | `decorrelated` | `min(cap, random(base, 3·previous))` |
#
# Marc Brooker's *Exponential Backoff And Jitter* compared these against a contended resource:
# un-jittered exponential backoff was the worst of the backoffs; the jittered variants did far
# less work, with full jitter the cheapest and equal jitter slightly behind.
#
# **Look for:** the shape of the handshake-rate curve after the crash, the peak handshake rate
# against the gateways' accept capacity, and how long each strategy takes to converge.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the simulation below it; the `reveal` cell then shows your number and,
# when you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 4_000
GATEWAYS = 4
CRASH_AT = "20s"  # gateway 0 crashes here and comes back 10 s later
DURATION = "60s"
ADMISSION = "100/s"  # handshakes each gateway admits per second (503 + Retry-After beyond)
BASE = "1s"
CAP = "30s"
STRATEGIES = ["none", "constant", "exponential", "full_jitter", "equal_jitter", "decorrelated"]
REPLICATIONS = 2

# %%
from wssim.lessons import storms
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import choice, explore, slider

cfg = storms.herd(CLIENTS, GATEWAYS, CRASH_AT, DURATION, ADMISSION, BASE, CAP)
cfg.faults

# %% [markdown]
# ## 1. Before simulating: the delays themselves
#
# The same `Backoff` objects the simulator and the live clients use. For a herd of clients, draw
# the total wait before each client's third attempt.

# %%
storms.delays_figure(STRATEGIES, cfg).show()

# %% [markdown]
# ### Exercise 04.1 · How tall is the spike?
#
# Gateway 0 holds about a quarter of the clients. With `none` they all retry at once; the three
# survivors admit `ADMISSION` handshakes each per second and answer the rest with 503 +
# `Retry-After`. **Predict** the fleet's peak handshake rate (handshakes/s, all gateways counted)
# with `none`.

# %%
prediction_1 = None  # handshakes per second

# %% [markdown]
# ### Exercise 04.2 · Who does the least work?
#
# Brooker counted the calls each strategy makes against a contended resource. **Predict** which
# strategy makes the fewest reconnect attempts here.

# %%
prediction_2 = None  # a strategy name, e.g. "exponential"

# %% [markdown]
# ## 2. Simulate the crash under each strategy

# %%
res = storms.storm(cfg, STRATEGIES, REPLICATIONS)
table = storms.stats(res, STRATEGIES)  # mean and 95% CI half-width of each metric, per strategy
storms.handshakes_figure(res, cfg, STRATEGIES).show()

# %%
reveal(
    "04.1",
    prediction_1,
    table.loc["none", "peak_handshake_rate"],
    "handshakes/s",
    why=f"The survivors admit {storms.accept_capacity(cfg):,.0f}/s; the rest are refused and retry.",
)

# %%
reveal("04.2", prediction_2, table["reconnect_attempts"].idxmin())

# %% [markdown]
# ## 3. Peak, convergence and work, mean ± 95% confidence interval over replications
#
# `Results.plot` draws a metric against a sweep parameter with its confidence interval.

# %%
for metric in storms.METRICS:
    res.plot(metric, x=storms.PARAM).show()
table.round(2)

# %% [markdown]
# ## What you should have seen

# %%
print(storms.findings(table, CLIENTS, GATEWAYS))

# %% [markdown]
# ## Try it: sliders that simulate
#
# Pick a strategy, the admission rate per gateway and the fleet size. Each change re-runs the
# crash (one replication, a few seconds) and redraws the handshakes; the dotted line is what the
# survivors admit. Try `none` with more admission: does the spike shrink or grow?

# %%
explore(
    storms.one_storm,
    storms.storm_figure,
    cfg=cfg,
    strategy=choice(STRATEGIES),
    admission=slider(50, 400, 50, 100, "admission/s per gateway"),
    gateways=slider(2, 8, 1, GATEWAYS, "gateways"),
)

# %% [markdown]
# ## Takeaway
#
# The jitter is what matters, not the exponent: un-jittered backoff keeps the herd in lock-step
# and every retry tick is a fresh spike. Mandate exponential backoff with full jitter and a cap of
# 30–60 s in every client, and size the accept capacity for `1/N` of the fleet arriving over
# the first backoff window.
#
# ## For discussion
#
# The backoff runs in clients: some of them are apps your users will not update for months. What
# is your server-side defence if a client ships with `none`, and how would you see it coming?
