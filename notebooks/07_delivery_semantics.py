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
# Here the backplane becomes unreachable for a while in the middle of the run. Fire-and-forget
# backplanes lose what was published during the outage; durable ones hand it over when the
# gateways reconnect — late, and sometimes twice.
#
# **Look for:** messages lost per backplane kind, the delivery-rate dip and the catch-up burst
# after the outage, and the latency price of durability.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 600
PUBLISH_RATE = "6/min"  # per client
OUTAGE_AT = "30s"
OUTAGE_FOR = "15s"
DURATION = "90s"
KINDS = ["redis_pubsub", "nats", "redis_streams", "jetstream", "kafka"]
REPLICATIONS = 2

# %%
import plotly.express as px

import wssim

cfg = wssim.load_config(
    "semantics",
    overrides=[f"clients.count={CLIENTS}", f"clients.publish_rate={PUBLISH_RATE}", f"duration={DURATION}"],
)
spec = cfg.model_dump(mode="json")
spec["faults"] = [{"kind": "backplane_outage", "at": OUTAGE_AT, "duration": OUTAGE_FOR}]
spec["sweep"] = {"backplane.kind": KINDS}
cfg = wssim.load_config(spec)
outage = cfg.faults[0]
res = wssim.run(cfg, replications=REPLICATIONS, progress=False)

# %% [markdown]
# ## 1. Deliveries per second through the outage

# %%
ts = res.timeseries
dl = ts[(ts["series"] == "deliveries") & (ts["replication"] == 0)]
dl = dl.groupby(["backplane.kind", "time"])["value"].sum().reset_index()
fig = px.line(
    dl,
    x="time",
    y="value",
    color="backplane.kind",
    category_orders={"backplane.kind": KINDS},
    title="Deliveries to clients (replication 0)",
    labels={"value": "deliveries/s", "time": "simulated time (s)"},
)
end = outage.at + outage.duration
fig.add_vrect(x0=outage.at, x1=end, fillcolor="grey", opacity=0.2, annotation_text="outage")
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
share_in_outage = outage.duration / cfg.duration
for kind in KINDS:
    row = table.loc[kind]
    print(
        f"- {kind:>14}: lost {row['messages_lost']:>8,.0f} ({row['lost_fraction']:.1%}), "
        f"duplicated {row['messages_duplicated']:>6,.0f}, p99 latency {row['latency_p99_s'] * 1000:,.1f} ms"
    )
print(
    f"- The outage covered {share_in_outage:.0%} of the run; an at-most-once backplane loses about that "
    "share of the traffic, a durable one close to none."
)

# %% [markdown]
# ## Optional: sliders

# %%
try:
    from ipywidgets import interact

    @interact(outage_s=(1, 60), publish_per_min=(1, 60))
    def _lost(outage_s: int = 15, publish_per_min: int = 6) -> None:
        n = CLIENTS * publish_per_min / 60 * outage_s
        print(f"an at-most-once backplane drops ~{n:,.0f} publications during a {outage_s} s outage")
except ImportError:
    print("ipywidgets is not installed: edit the parameters cell and re-run instead.")

# %% [markdown]
# ## Takeaway
#
# Ask what one dropped message costs. Harmless (presence, typing, cursors): an at-most-once
# backplane is simpler and faster. Unacceptable (chat history, orders, notifications): a durable
# log with offset-based replay, and clients that de-duplicate by message id, because
# at-least-once means "sometimes twice".
