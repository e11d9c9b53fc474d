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
# # 08 · When not to use WebSockets
#
# A WebSocket is the most capable real-time primitive — bidirectional, persistent, stateful — and
# the most expensive to keep open. Much "real-time" traffic needs less:
#
# - one-way server push → **SSE** (plain HTTP, built-in reconnect and `Last-Event-ID`);
# - updates every few minutes → **poll** or **long-poll** (cacheable, no connection tier);
# - request/response → plain HTTP.
#
# The four-part test: is the traffic **bidirectional**, **low-latency**, **high-frequency** *and*
# **server-initiated**? If any part is missing, a cheaper primitive usually wins.
#
# This notebook prices one user per month on each transport with the model in
# `wssim.analytic.transports` (memory held, HTTP requests, TLS handshakes, framing bytes, egress).
#
# **Look for:** that every held connection costs about the same (you pay for presence), that
# polling wins once minutes of staleness are fine, that long-poll loses as updates get frequent,
# and which transport the four-part test picks for a few familiar products.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
UPDATES_PER_MIN = 1.0  # server -> client updates per user per minute
UPSTREAM_PER_MIN = 0.0  # client -> server messages per user per minute (0 = pure server push)
MESSAGE_SIZE = 200  # bytes of payload
MAX_LATENCY_S = 2.0  # acceptable delay from an update to the user seeing it
PER_CONNECTION_KIB = 32  # server memory per open connection
NODE_PER_MONTH = 350.0  # USD per node
USERS = 1_000_000  # prices are shown per month for this many users
RATE_AXIS = [0.1, 0.3, 1, 3, 10, 30, 60, 120, 300, 600]  # updates/min, sweep 1
LATENCY_AXIS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800]  # seconds, sweep 2
SIM_USERS = 1_000  # the simulated dashboard of the slider cell

# %%
from wssim.lessons import transports
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import explore, slider

pricing = transports.Pricing(PER_CONNECTION_KIB, NODE_PER_MONTH, MESSAGE_SIZE, USERS)

# %% [markdown]
# ## 1. How fresh must the data be?
#
# Fix the update rate and relax the latency bound. Held connections (WebSocket, SSE, long-poll)
# cost the same whatever the bound — you pay for presence. A poller polls every
# `bound − RTT` seconds and holds nothing between polls.
#
# ### Exercise 08.1 · When does polling win?
#
# Users get `UPDATES_PER_MIN` update a minute. **Predict** how many seconds of staleness they
# must accept before a plain poll is cheaper than any held connection.

# %%
prediction_1 = None  # seconds of staleness

# %%
latency = transports.by_latency(pricing, UPDATES_PER_MIN, LATENCY_AXIS, UPSTREAM_PER_MIN)
title = f"{UPDATES_PER_MIN:g} update/min per user: price vs freshness"
transports.price_figure(latency, pricing, "max latency (s)", title).show()

# %%
reveal(
    "08.1",
    prediction_1,
    transports.poll_wins_from(latency, pricing),
    "s",
    why="The first bound on the chart's grid where the poll line drops below WebSocket and SSE.",
)

# %% [markdown]
# ## 2. How often does it change?
#
# Fix the latency bound at `MAX_LATENCY_S` and raise the update rate. Long-poll pays a full HTTP
# request per update; a held stream pays a few bytes of framing.

# %%
rate = transports.by_rate(pricing, RATE_AXIS, MAX_LATENCY_S, UPSTREAM_PER_MIN)
transports.price_figure(
    rate, pricing, "updates/min", f"Latency ≤ {MAX_LATENCY_S:g} s: price vs update rate"
).show()

# %% [markdown]
# ## 3. The four-part test on familiar products
#
# Bidirectional, low-latency, high-frequency *and* server-initiated? If any part is missing, a
# cheaper primitive usually wins.
#
# ### Exercise 08.2 · Live scores
#
# A live-scores feed pushes one update every 5 s to spectators, who never send anything back,
# and must arrive within a second. **Predict** the transport the test picks: `websocket`, `sse`,
# `long_poll` or `poll`.

# %%
prediction_2 = None  # a transport name

# %%
chosen = transports.picks(pricing)
chosen.style.format(precision=5, na_rep="rejected")

# %%
scores = chosen.loc["live scores (1 update/5 s, push)"]
reveal(
    "08.2", prediction_2, scores["pick"], why=f"Missing for a WebSocket: {scores['missing for a WebSocket']}."
)

# %% [markdown]
# ## What you should have seen

# %%
print(transports.findings(latency, rate, chosen, pricing))

# %% [markdown]
# ## Try it: sliders that simulate
#
# The `transports` scenario — a push-only dashboard of `SIM_USERS` users — run on all four
# transports (the WebSocket point through the event model, the others through the closed form).
# Each change re-runs it and redraws the price per million users; hover for requests/s and the
# median latency.

# %%
explore(
    transports.one_feed,
    transports.feed_figure,
    cfg=transports.dashboard(SIM_USERS),
    updates_per_min=slider(0.1, 30.0, 0.1, UPDATES_PER_MIN, "updates/min per user"),
    poll_interval_s=slider(5, 300, 5, 30, "poll interval (s)"),
)

# %% [markdown]
# ## Takeaway
#
# Run the four-part test before you build a connection tier. Push-only feeds want SSE; slow or
# cacheable data wants polling; request/response wants HTTP. Keep WebSockets for traffic that is
# bidirectional, frequent, latency-critical and pushed — chat, games, collaborative editing.
#
# ## For discussion
#
# Which of your own "real-time" features fail the four-part test — and who in your organisation
# decided how fresh their data must be?
