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
import plotly.express as px

import wssim

cfg = wssim.load_config(
    "semantics",
    overrides=[
        f"clients.count={CLIENTS}",
        f"gateways.count={GATEWAYS}",
        f"clients.rooms.count={ROOMS}",
        f"clients.publish_rate={PUBLISH_RATE}",
        f"duration={OUTAGE_AT_S + OUTAGE_FOR_S + AFTER_S}s",
    ],
)
spec = cfg.model_dump(mode="json")
spec["faults"] = [
    {"kind": "subscription_outage", "at": f"{OUTAGE_AT_S}s", "duration": f"{OUTAGE_FOR_S}s", "gateways": 1}
]
spec["sweep"] = {"backplane.kind": KINDS}
cfg = wssim.load_config(spec)
outage = cfg.faults[0]
res = wssim.run(cfg, replications=REPLICATIONS, progress=False)
assert not res.failures, res.failures

# %% [markdown]
# ## 1. Deliveries per second through the outage

# %%
dl = res.series("deliveries")  # gateways summed, the backplane kind on every row
dl = dl[dl["replication"] == 0]
fig = px.line(
    dl,
    x="time",
    y="value",
    color="backplane.kind",
    facet_row="backplane.kind",
    category_orders={"backplane.kind": KINDS},
    height=750,
    title="Deliveries to clients per second, one panel per backplane (replication 0)",
    labels={"value": "", "time": "simulated time (s)"},
)
fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
fig.update_layout(showlegend=False)
fig.update_yaxes(range=[0, 1.05 * dl["value"].max()])
end = outage.at + outage.duration
fig.add_vrect(x0=outage.at, x1=end, fillcolor="grey", opacity=0.2, row="all", col="all")
fig.show()

# %% [markdown]
# ## 2. Lost, duplicated, late

# %%
cols = [
    "messages_published",
    "deliveries_expected",
    "deliveries_delivered",
    "messages_lost",
    "messages_duplicated",
    "latency_p50_s",
    "latency_p99_s",
]
table = res.summary.groupby("backplane.kind")[cols].mean().reindex(KINDS)
table["lost_fraction"] = table["messages_lost"] / table["deliveries_expected"]
fig = px.bar(
    table.reset_index(),
    x="backplane.kind",
    y="lost_fraction",
    title="Share of owed deliveries never received",
    hover_data=["messages_lost", "messages_duplicated", "latency_p99_s"],
)
fig.update_layout(yaxis_tickformat=".1%")
fig.show()
table.round(4)

# %% [markdown]
# ## What you should have seen

# %%
c = cfg.clients
publishes = c.count * c.publish_rate  # λ, publications per second
room_of_a_publish = 1 + (c.count - 1) / c.rooms.count  # members, counting the publisher
expected_lost = publishes * outage.duration * room_of_a_publish / cfg.gateways.count
print(
    f"- Closed form λ·D·m/G = {publishes:.0f}/s × {outage.duration:.0f} s × {room_of_a_publish:.1f} / "
    f"{cfg.gateways.count} ≈ {expected_lost:,.0f} deliveries lost by an at-most-once backplane."
)
for kind in KINDS:
    row = table.loc[kind]
    print(
        f"- {kind:>14}: lost {row['messages_lost']:>7,.0f} ({row['lost_fraction']:.1%} of what was owed), "
        f"duplicated {row['messages_duplicated']:>5,.0f}, p99 latency {row['latency_p99_s'] * 1000:,.1f} ms"
    )

# %% [markdown]
# ## Optional: sliders

# %%
try:
    from ipywidgets import interact

    @interact(outage_s=(1, 60), publish_per_min=(1, 60), gateways=(1, 50))
    def _lost(outage_s: int = 10, publish_per_min: int = 3, gateways: int = GATEWAYS) -> None:
        n = CLIENTS * publish_per_min / 60 * outage_s * room_of_a_publish / gateways
        print(f"an at-most-once backplane loses ~{n:,.0f} deliveries while one gateway is unsubscribed")
except ImportError:
    print("ipywidgets is not installed: edit the parameters cell and re-run instead.")

# %% [markdown]
# ## Takeaway
#
# Ask what one dropped message costs. Harmless (presence, typing, cursors): an at-most-once
# backplane is simpler and faster. Unacceptable (chat history, orders, notifications): a durable
# log with offset-based replay, and clients that de-duplicate by message id, because
# at-least-once means "sometimes twice".
