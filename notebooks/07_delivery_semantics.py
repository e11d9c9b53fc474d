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
# # 07 · Delivery semantics: what does a dropped message cost?
#
# The backplane you pick *is* your delivery guarantee:
#
# | backplane | guarantee | replay |
# |---|---|---|
# | Redis Pub/Sub, NATS core | at-most-once | none: a gateway that is away misses what was published |
# | Redis Streams | at-least-once within a bounded window | by stream id |
# | NATS JetStream | at-least-once (configurable) | persistent, by sequence |
# | Kafka | at-least-once, ordered per partition | durable, the offset is the cursor |
#
# Here one gateway loses its backplane subscription for `D` seconds in the middle of the run (a
# network blip, a broker failover). A fire-and-forget backplane forgets every message published
# meanwhile: with `λ` publications per second and `m/G` members per room on that gateway, about
# `λ·D·m/G` deliveries are gone for good. A durable one lets the gateway resume from its offset and
# deliver the backlog when the subscription returns — late, so the outage shows up as latency.
#
# **Look for:** messages lost per backplane kind against `λ·D·m/G`, the dip in the delivery rate
# and the catch-up burst when the subscription returns, and the p99 latency: for the durable kinds
# it is the age of the backlog they delivered.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 1_000
GATEWAYS = 4
ROOMS = 50
PUBLISH_RATE = "3/min"  # per client
OUTAGE_AT_S = 20
OUTAGE_FOR_S = 10  # D: how long gateway 0 is unsubscribed
AFTER_S = 15  # simulated time after the subscription returns (the gap is detected then)
KINDS = ["redis_pubsub", "nats", "redis_streams", "jetstream", "kafka"]
REPLICATIONS = 2

# %%
from wssim.lessons import semantics
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import choice, explore, slider

cfg = semantics.fleet(CLIENTS, GATEWAYS, ROOMS, PUBLISH_RATE, OUTAGE_AT_S, OUTAGE_FOR_S, AFTER_S)

# %% [markdown]
# ### Exercise 07.1 · What Redis Pub/Sub forgets
#
# `CLIENTS` clients publish `PUBLISH_RATE` each into `ROOMS` rooms; gateway 0 of `GATEWAYS` is
# unsubscribed for `OUTAGE_FOR_S` seconds. **Predict** how many deliveries Redis Pub/Sub loses
# for good.

# %%
prediction_1 = None  # deliveries

# %% [markdown]
# ### Exercise 07.2 · The price of not losing them
#
# A durable backplane (Kafka) redelivers the backlog when the subscription returns. **Predict**
# Kafka's p99 publish-to-client latency over this run (seconds).

# %%
prediction_2 = None  # seconds

# %% [markdown]
# ## 1. Deliveries per second through the outage

# %%
res = semantics.kinds(cfg, KINDS, REPLICATIONS)
semantics.deliveries_figure(res, cfg, KINDS).show()

# %% [markdown]
# ## 2. Lost, duplicated, late

# %%
by_kind = semantics.table(res, KINDS)
semantics.lost_figure(by_kind).show()
by_kind.round(4)

# %%
reveal(
    "07.1",
    prediction_1,
    by_kind.loc["redis_pubsub", "messages_lost"],
    "deliveries",
    why=f"The closed form λ·D·m/G says {semantics.expected_lost(cfg):,.0f}.",
)

# %%
reveal(
    "07.2",
    prediction_2,
    by_kind.loc["kafka", "latency_p99_s"],
    "s",
    why="Nothing is lost: the backlog arrives when the subscription returns, as old as the outage.",
)

# %% [markdown]
# ## What you should have seen

# %%
print(semantics.findings(by_kind, cfg))

# %% [markdown]
# ## Try it: sliders that simulate
#
# One backplane kind, one outage length: each change re-runs the fleet (one replication,
# seconds) and redraws the deliveries per second. Watch the hole (at-most-once) turn into a
# catch-up burst (durable).

# %%
explore(
    semantics.one_kind,
    semantics.kind_figure,
    cfg=cfg,
    kind=choice(KINDS),
    outage_s=slider(1, 30, 1, OUTAGE_FOR_S, "outage (s)"),
)

# %% [markdown]
# ## Takeaway
#
# Ask what one dropped message costs. Harmless (presence, typing, cursors): an at-most-once
# backplane is simpler and faster. Unacceptable (chat history, orders, notifications): a durable
# log with offset-based replay, and clients that de-duplicate by message id, because
# at-least-once means "sometimes twice".
#
# ## For discussion
#
# For presence and typing indicators, is a catch-up burst of stale updates after an outage
# better or worse than losing them? Which of your streams would you put on which backplane?
