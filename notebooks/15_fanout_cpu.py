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
# # 15 · Fan-out CPU: when a big room saturates a gateway
#
# Memory and sockets size the gateway tier while rooms are small. In a big room — a live event,
# a company-wide channel — every publication costs each gateway one backplane read plus **one
# frame write per local member**: a thousand members on a gateway make a thousand writes per
# message. The gateway's CPU becomes the limit, and past it nothing fails loudly: frames wait for
# the CPU, the backlog grows, and so does every member's latency.
#
# - **the knee** — a gateway's CPU is busy all the time once `clients × rate × CPU per
#   publication = cores`; below it the latency is milliseconds, above it the backlog never drains;
# - **room size** — the same messages in smaller rooms cost proportionally fewer writes;
# - **cores** — a second core doubles the rate the knee sits at.
#
# **Look for:** where the CPU reaches 100%, what the latency does past it, and how room size moves
# the knee.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 4_000
GATEWAYS = 4
DURATION = "40s"
RATES_PER_MIN = [0.5, 1, 2, 4]  # messages per client per minute, all in one room
ROOMS = [1, 10, 100]  # the same traffic split over this many rooms ...
ROOMS_RATE_PER_MIN = 2  # ... at this rate

# %%
from wssim.lessons import fanout_cpu
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import explore, slider

cfg = fanout_cpu.fleet(CLIENTS, GATEWAYS, 1, DURATION)

# %% [markdown]
# ## 1. One big room, more and more messages
#
# Everybody is in one room; each gateway holds a quarter of its members. Writing one frame costs
# about 7.6 µs of CPU (the reference gateway's `broadcast()`, measured), receiving a backplane
# message 8.8 µs, and a gateway has one core.
#
# ### Exercise 15.1 · Where is the knee?
#
# **Predict** the lowest of the rates in `RATES_PER_MIN` (messages per client per minute) at which
# a gateway's CPU is busy for whole seconds at a time.

# %%
prediction_1 = None  # messages per client per minute

# %% [markdown]
# ### Exercise 15.2 · Past the knee
#
# **Predict** the p99 publish-to-client latency at `RATES_PER_MIN[-1]` messages per client per
# minute.

# %%
prediction_2 = None  # seconds

# %%
table = fanout_cpu.rates(cfg, RATES_PER_MIN)
fanout_cpu.rates_figure(table, cfg).show()
table

# %%
reveal(
    "15.1",
    prediction_1,
    fanout_cpu.first_saturated(table),
    "per min",
    why="Closed form cores / (clients × CPU per publication): "
    f"{fanout_cpu.saturation_rate(cfg) * 60:.2f}/min, "
    f"at {fanout_cpu.cpu_per_publication(cfg) * 1e3:.2f} ms of CPU per publication per gateway.",
)

# %%
reveal(
    "15.2",
    prediction_2,
    table["latency_p99_s"].iloc[-1],
    "s",
    why=f"Below the knee it was {table['latency_p99_s'].iloc[0] * 1e3:.0f} ms: past it the backlog grows for "
    "as long as the rate lasts, so the latency grows with the run.",
)

# %% [markdown]
# ## 2. The same traffic in smaller rooms
#
# Split the clients over more rooms at the same messages per client: each publication now reaches
# fewer members per gateway.
#
# ### Exercise 15.3 · Rooms of 40
#
# **Predict** the busiest gateway's peak CPU utilisation with the clients in `ROOMS[-1]` rooms, at
# `ROOMS_RATE_PER_MIN` messages per client per minute.

# %%
prediction_3 = None  # a share, e.g. 0.5

# %%
sizes = fanout_cpu.room_sizes(cfg, ROOMS, ROOMS_RATE_PER_MIN)
sizes

# %%
reveal(
    "15.3",
    prediction_3,
    sizes["gateway_cpu_utilisation_peak"].iloc[-1],
    "fraction",
    why=f"In one room it was {sizes['gateway_cpu_utilisation_peak'].iloc[0]:.0%}: the writes per message "
    "shrink with the members per gateway, the backplane reads do not.",
)

# %% [markdown]
# ## What you should have seen

# %%
print(fanout_cpu.findings(table, sizes, cfg))

# %% [markdown]
# ## Try it: sliders that simulate
#
# The publish rate, the number of rooms and the gateway's cores: each change re-runs the fleet
# (one replication, seconds) and redraws the busiest gateway's CPU backlog. How many cores does one
# room of everybody need at 4 messages per client per minute?

# %%
explore(
    fanout_cpu.one_fleet,
    fanout_cpu.fleet_figure,
    cfg=cfg,
    per_min=slider(0.5, 8, 0.5, 2, "msgs per client per min"),
    rooms=slider(1, 100, 1, 1, "rooms"),
    cores=slider(1, 8, 1, 1, "cores per gateway"),
)

# %% [markdown]
# ## Takeaway
#
# A big room turns every message into thousands of writes on every gateway. Know the knee —
# `cores / (clients × CPU per publication)` — before a live event finds it for you: past it the
# latency does not degrade gracefully, it grows for as long as the load lasts. Watch CPU
# utilisation and the fan-out backlog, not only memory and connections.
#
# ## For discussion
#
# A keynote puts 200,000 people in one room. Would you add cores, add gateways, batch the frames,
# or give that room a different delivery path altogether — and how would you decide before the day?
