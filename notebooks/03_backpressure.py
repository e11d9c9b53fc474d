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

# %%
import numpy as np
import plotly.express as px

import wssim
from wssim.metrics import METRICS

cfg = wssim.load_config(
    "backpressure",
    overrides=[
        f"clients.count={CLIENTS}",
        f"gateways.count={GATEWAYS}",
        f"clients.rooms.count={ROOMS}",
        f"clients.publish_rate={PUBLISH_RATE}",
        f"clients.message_size={MESSAGE_SIZE}",
        f"clients.slow_consumers.fraction={SLOW_FRACTION}",
        f"clients.slow_consumers.drain_rate={SLOW_DRAIN}",
        f"gateways.memory={GATEWAY_MEMORY}",
        f"gateways.base_memory={BASE_MEMORY}",
        f"gateways.send_queue.limit={QUEUE_LIMIT}",
        f"duration={DURATION}",
    ],
)
spec = cfg.model_dump(mode="json")
spec["sweep"] = {"gateways.send_queue.overflow": POLICIES}
res = wssim.run(wssim.load_config(spec), replications=REPLICATIONS, progress=False)
assert not res.failures, res.failures

# %% [markdown]
# ## 1. The closed form: when does the unbounded queue run out of memory?

# %%
c = cfg.clients
pc = cfg.gateways.per_connection
per_conn = pc.kernel + pc.tls + pc.app  # bytes held by an idle socket
conns_per_gw = c.count / cfg.gateways.count
free = cfg.gateways.memory - cfg.gateways.base_memory - conns_per_gw * per_conn
arrival = c.count * c.publish_rate * c.rooms.per_client / c.rooms.count  # msgs/s into one member
slow_per_gw = c.count * c.slow_consumers.fraction / cfg.gateways.count
growth = slow_per_gw * max(arrival - c.slow_consumers.drain_rate, 0.0) * c.message_size  # bytes/s
ramp = c.connect_ramp
t_oom = ramp + free / growth if growth > 0 else float("inf")
bounded_worst = slow_per_gw * QUEUE_LIMIT * c.message_size  # every slow queue full, average gateway
print(
    f"arrival {arrival:.2f} msg/s per member, slow drain {c.slow_consumers.drain_rate:.2f} msg/s, "
    f"{slow_per_gw:.0f} slow consumers per gateway -> queues grow {growth / 1024:.0f} KiB/s; "
    f"free memory {free / 2**20:.1f} MiB -> OOM at ≈ {t_oom:.0f} s (after a {ramp:.0f} s connect ramp)"
)
print(
    f"bounded: {slow_per_gw:.1f} full queues × {QUEUE_LIMIT} × {c.message_size / 1024:.0f} KiB = "
    f"{bounded_worst / 2**20:.1f} MiB, which must fit in the {free / 2**20:.1f} MiB free (with room for "
    "the gateway that gets more than its share of slow clients)"
)

# %% [markdown]
# ## 2. Gateway memory over time, by overflow policy

# %%
ts = res.timeseries.merge(res.points(), on="point")  # add the sweep values to every row
mem = ts[ts["series"] == "memory_bytes"]
mem = mem.groupby(["gateways.send_queue.overflow", "replication", "time"])["value"].max().reset_index()
mem = mem[mem["replication"] == 0]
fig = px.line(
    mem,
    x="time",
    y="value",
    color="gateways.send_queue.overflow",
    category_orders={"gateways.send_queue.overflow": POLICIES},
    title="Largest gateway memory (replication 0)",
    labels={"value": "bytes", "time": "simulated time (s)"},
)
fig.add_hline(
    y=cfg.gateways.memory,
    line_dash="dot",
    annotation_text="gateway memory",
    annotation_position="bottom left",
)
fig.add_vline(x=t_oom, line_dash="dash", annotation_text="closed-form t_OOM")
fig.show()

# %% [markdown]
# ## 3. What each policy pays

# %%
cost_cols = [
    "gateway_oom_crashes",
    "messages_dropped_overflow",
    "messages_conflated",
    "slow_consumer_disconnects",
    "send_queue_depth_p99",
    "gateway_memory_peak_bytes",
]
paid = res.summary.groupby("gateways.send_queue.overflow")[cost_cols].mean().reindex(POLICIES)
# What each column means, from the metric definitions both engines share:
print("\n".join(f"{name:<27} [{METRICS[name].unit}] {METRICS[name].meaning}" for name in cost_cols))
paid.round(1)

# %%
long = paid[["messages_dropped_overflow", "messages_conflated", "slow_consumer_disconnects"]].reset_index()
long = long.melt(id_vars="gateways.send_queue.overflow", var_name="price", value_name="count")
fig = px.bar(
    long,
    x="gateways.send_queue.overflow",
    y="count",
    color="price",
    barmode="group",
    log_y=True,
    title="The price of staying up (mean per run, log scale)",
)
fig.show()

# %% [markdown]
# ## What you should have seen

# %%
unbounded_runs = res.summary.loc[res.summary["gateways.send_queue.overflow"] == "unbounded", "point"]
run_ids = [r for r in res.markers if int(r.split("-")[0][1:]) in set(unbounded_runs)]
first_oom: dict[tuple[str, str], float] = {}
for rid in run_ids:
    for t, label in res.markers[rid]:
        if label.endswith(" oom"):
            first_oom.setdefault((rid, label), t)
per_run_first = [min(t for (r, _), t in first_oom.items() if r == rid) for rid in run_ids if first_oom]
t_first = float(np.mean(per_run_first))
window = ts[
    (ts["series"] == "memory_bytes")
    & (ts["gateways.send_queue.overflow"] == "unbounded")
    & (ts["time"] >= ramp + 1)
    & (ts["time"] <= t_first - 2)
]
slopes = window.groupby(["replication", "label"]).apply(
    lambda g: np.polyfit(g["time"], g["value"], 1)[0] if len(g) > 2 else np.nan, include_groups=False
)
print(f"- Unbounded: {paid.loc['unbounded', 'gateway_oom_crashes']:.1f} OOM crashes per run.")
print(
    f"  Queues grew {slopes.mean() / 1024:,.0f} KiB/s per gateway before the first crash "
    f"(closed form: {growth / 1024:,.0f} KiB/s for an average gateway)."
)
print(
    f"  The first gateway died at {t_first:.0f} s on average, each gateway's first OOM came at "
    f"{np.mean(list(first_oom.values())):.0f} s; the closed form says ≈ {t_oom:.0f} s."
)
print(
    "  The first to die holds more than its share of slow clients; they reconnect to the survivors, "
    "which then fill faster — a cascade."
)
bounded = paid.drop(index="unbounded")
print(
    f"- Bounded policies: {bounded['gateway_oom_crashes'].sum():.0f} OOM crashes in total, peak memory "
    f"≤ {bounded['gateway_memory_peak_bytes'].max() / 2**20:.1f} MiB "
    f"(ceiling {cfg.gateways.memory / 2**20:.0f} MiB)."
)
print(
    f"- Prices: drop_oldest dropped {paid.loc['drop_oldest', 'messages_dropped_overflow']:.0f}, "
    f"conflate merged {paid.loc['conflate', 'messages_conflated']:.0f}, "
    f"disconnect closed {paid.loc['disconnect', 'slow_consumer_disconnects']:.0f} slow sockets."
)
print(f"- p99 send-queue depth by policy: {paid['send_queue_depth_p99'].round(1).to_dict()}")

# %% [markdown]
# ## Optional: sliders

# %%
try:
    from ipywidgets import interact

    @interact(slow_fraction=(0.0, 0.2, 0.01), drain=(0.1, 5.0, 0.1))
    def _oom(slow_fraction: float = SLOW_FRACTION, drain: float = c.slow_consumers.drain_rate) -> None:
        g = c.count * slow_fraction / cfg.gateways.count * max(arrival - drain, 0.0) * c.message_size
        print(f"queues grow {g / 1024:.0f} KiB/s -> OOM after {free / g:.0f} s" if g else "no growth")
except ImportError:
    print("ipywidgets is not installed: edit the parameters cell and re-run instead.")

# %% [markdown]
# ## Takeaway
#
# An unbounded send queue is a timer set to `free memory ÷ growth`. Bound every queue, choose the
# overflow policy per stream (conflate for state, disconnect-and-resume when every message
# matters, credit when clients can acknowledge), and alert on p99 send-queue depth: it rises long
# before memory does.
