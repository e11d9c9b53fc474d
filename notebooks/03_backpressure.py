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
# # 03 · Backpressure: slow consumers and the send queue
#
# Every socket has a send queue. When a client drains slower than messages arrive (a phone on a
# train, a throttled background tab) its queue grows — in the **gateway's** memory. A few slow
# consumers can take down a gateway that serves thousands of healthy sockets.
#
# An unbounded queue grows at `Σ (arrival − drain) × message size` over the slow consumers of a
# gateway, so it runs out of memory after
#
# **t_OOM = free memory ÷ Σ (arrival − drain) · size**.
#
# Bounded queues choose what to give up instead: the oldest message, the newest one, all but the
# latest value per key (conflate), the slow client itself (disconnect), or the sender's freedom to
# send ahead of the client's credit.
#
# **Look for:** the unbounded line climbing to the memory ceiling near the closed-form time while
# every bounded policy stays flat, and what each policy pays for it (drops, conflations,
# disconnects).
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 500
GATEWAYS = 4
ROOMS = 10  # rooms of CLIENTS/ROOMS members
PUBLISH_RATE = "6/min"  # per client -> every member receives CLIENTS/ROOMS x this
MESSAGE_SIZE = "16KiB"
SLOW_FRACTION = 0.05  # share of clients that drain slowly
SLOW_DRAIN = "2/s"  # messages per second a slow client accepts
GATEWAY_MEMORY = "80MiB"  # tiny on purpose: the unbounded queues reach it within the run
BASE_MEMORY = "64MiB"  # used before the first connection
QUEUE_LIMIT = 40  # messages, for the bounded policies
DURATION = "60s"
POLICIES = ["unbounded", "drop_oldest", "drop_newest", "conflate", "disconnect", "credit"]
REPLICATIONS = 2
CPU_MEMBERS = 100  # one room on one gateway, every member reading fast, 10 ms of CPU a publication
CPU_LOADS = [0.5, 0.9, 1.2, 1.5]  # publications' CPU offered, per core

# %%
from wssim.lessons import backpressure
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import choice, explore, slider

cfg = backpressure.fleet(
    clients=CLIENTS,
    gateways=GATEWAYS,
    rooms=ROOMS,
    publish_rate=PUBLISH_RATE,
    message_size=MESSAGE_SIZE,
    slow_fraction=SLOW_FRACTION,
    slow_drain=SLOW_DRAIN,
    gateway_memory=GATEWAY_MEMORY,
    base_memory=BASE_MEMORY,
    queue_limit=QUEUE_LIMIT,
    duration=DURATION,
)

# %% [markdown]
# ## 1. The closed form: when does the unbounded queue run out of memory?
#
# ### Exercise 03.1 · The timer
#
# Every member receives `CLIENTS/ROOMS × PUBLISH_RATE` messages; a slow one drains `SLOW_DRAIN`.
# The rest piles up in the gateway's memory, 16 KiB a message. **Predict** when the first
# gateway runs out of memory with unbounded queues (seconds from the start; clients connect over
# the first 10 s).

# %%
prediction_1 = None  # seconds

# %%
closed = backpressure.time_to_oom(cfg)
{k: round(v, 2) for k, v in closed.items()}

# %% [markdown]
# `growth_bytes_per_s` is `slow consumers per gateway × (arrival − drain) × message size`;
# `t_oom_s` adds `free memory ÷ growth` to the connect ramp. `bounded_worst_bytes` is every slow
# queue full at its bound, which must fit in the free memory.
#
# ## 2. Gateway memory over time, by overflow policy
#
# ### Exercise 03.2 · Does a bound save the gateway?
#
# **Predict** how many OOM crashes the five bounded policies have *in total* (all of them,
# `REPLICATIONS` runs each).

# %%
prediction_2 = None  # crashes

# %%
res = backpressure.policies(cfg, POLICIES, REPLICATIONS)
backpressure.memory_figure(res, cfg, POLICIES, closed["t_oom_s"]).show()

# %%
first = backpressure.first_ooms(res)
reveal(
    "03.1",
    prediction_1,
    sum(first) / len(first) if first else float("inf"),
    "s",
    why=f"The closed form for an average gateway says {closed['t_oom_s']:.0f} s; the first to die has more "
    "than its share of slow clients.",
)

# %%
table = backpressure.paid(res, POLICIES)
reveal(
    "03.2", prediction_2, table.drop(index="unbounded")["gateway_oom_crashes"].sum() * REPLICATIONS, "crashes"
)

# %% [markdown]
# ## 3. What each policy pays

# %%
print(backpressure.meanings())
backpressure.price_figure(table).show()
table.round(1)

# %% [markdown]
# ## 4. When the gateway's CPU is the slow reader
#
# A slow reader is not the only way a backlog forms. Every publication to a room costs the gateway a
# frame per member; offered more than its core serves, the publications waiting for the CPU grow by
# `g = (offered − 1) / service time` per second, and that queue is every member's backlog, fast
# readers included. Past the send-queue bound the overflow policy acts on them as on a slow reader:
# with `disconnect` the first comes after `(QUEUE_LIMIT + ½) / g` seconds.

# %%
from wssim.lessons import cpu_starvation

starved = cpu_starvation.starvation(CPU_MEMBERS, CPU_LOADS, QUEUE_LIMIT, REPLICATIONS)
cpu_starvation.starvation_figure(starved).show()
print(cpu_starvation.starvation_findings(starved, QUEUE_LIMIT))

# %% [markdown]
# ## What you should have seen

# %%
print(backpressure.findings(res, table, closed, cfg))

# %% [markdown]
# ## Try it: sliders that simulate
#
# One policy, one share of slow clients, one queue bound: each change re-runs the fleet (one
# replication, seconds) and redraws every gateway's memory. Find the bound at which a bounded
# policy crashes too.

# %%
explore(
    backpressure.one_policy,
    backpressure.policy_figure,
    cfg=cfg,
    policy=choice(POLICIES, "drop_oldest"),
    slow_fraction=slider(0.0, 0.2, 0.01, SLOW_FRACTION, "slow share"),
    queue_limit=slider(10, 500, 10, QUEUE_LIMIT, "queue bound (messages)"),
)

# %% [markdown]
# ## Takeaway
#
# An unbounded send queue is a timer set to `free memory ÷ growth`. Bound every queue, choose the
# overflow policy per stream (conflate for state, disconnect-and-resume when every message
# matters, credit when clients can acknowledge), and alert on p99 send-queue depth: it rises long
# before memory does. A gateway short of CPU fills every member's queue at once: size fan-out
# against the cores, not only against the slowest reader.
#
# ## For discussion
#
# Which overflow policy would you choose for a stock ticker, a chat room and a collaborative
# document — and where would you set the `send_queue_depth_p99` alert so it fires before memory?
