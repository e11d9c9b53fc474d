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
CLIENTS = 600
GATEWAYS = 2
ROOMS = 10
PUBLISH_RATE = "2/min"  # per client -> every member of a room receives CLIENTS/ROOMS x this
MESSAGE_SIZE = "2KiB"
SLOW_FRACTION = 0.05  # share of clients that drain slowly
SLOW_DRAIN = "0.5/s"  # messages per second a slow client accepts
GATEWAY_MEMORY = "64MiB"  # tiny on purpose: the unbounded queue hits it within the run
QUEUE_LIMIT = 100  # messages, for the bounded policies
DURATION = "150s"
POLICIES = ["unbounded", "drop_oldest", "drop_newest", "conflate", "disconnect", "credit"]
REPLICATIONS = 2

# %%
import numpy as np
import plotly.express as px

import wssim

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
        f"gateways.send_queue.limit={QUEUE_LIMIT}",
        f"duration={DURATION}",
    ],
)
spec = cfg.model_dump(mode="json")
spec["sweep"] = {"gateways.send_queue.overflow": POLICIES}
res = wssim.run(wssim.load_config(spec), replications=REPLICATIONS, progress=False)

# %% [markdown]
# ## 1. The closed form: when does the unbounded queue run out of memory?

# %%
c = cfg.clients
per_conn = sum(
    getattr(cfg.gateways.per_connection, k) for k in ("kernel", "tls", "app")
)  # bytes held by an idle socket
conns_per_gw = c.count / cfg.gateways.count
free = cfg.gateways.memory - cfg.gateways.base_memory - conns_per_gw * per_conn
arrival = c.count * c.publish_rate * c.rooms.per_client / c.rooms.count  # msgs/s into one member
slow_per_gw = c.count * c.slow_consumers.fraction / cfg.gateways.count
growth = slow_per_gw * max(arrival - c.slow_consumers.drain_rate, 0.0) * c.message_size  # bytes/s
ramp = c.connect_ramp
t_oom = ramp + free / growth if growth > 0 else float("inf")
print(
    f"arrival {arrival:.2f} msg/s per member, slow drain {c.slow_consumers.drain_rate:.2f} msg/s, "
    f"{slow_per_gw:.0f} slow consumers per gateway -> queues grow {growth / 1024:.0f} KiB/s; "
    f"free memory {free / 2**20:.1f} MiB -> OOM at ≈ {t_oom:.0f} s (after a {ramp:.0f} s connect ramp)"
)

# %% [markdown]
# ## 2. Gateway memory over time, by overflow policy

# %%
ts = res.timeseries
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
fig.add_hline(y=cfg.gateways.memory, line_dash="dot", annotation_text="gateway memory")
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
unb = mem[mem["gateways.send_queue.overflow"] == "unbounded"]
over = unb[unb["value"] >= cfg.gateways.memory * 0.999]
t_sim = float(over["time"].min()) if len(over) else float("nan")
print(f"- Unbounded: {paid.loc['unbounded', 'gateway_oom_crashes']:.1f} OOM crashes per run.")
print(f"  Memory first hits the ceiling at {t_sim:.0f} s in the model; the closed form says ≈ {t_oom:.0f} s.")
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
print(f"- p99 queue depth: {np.round(paid['send_queue_depth_p99'].to_dict(), 1)}")

# %% [markdown]
# ## Optional: sliders

# %%
try:
    from ipywidgets import interact

    @interact(slow_fraction=(0.0, 0.2, 0.01), drain=(0.1, 5.0, 0.1))
    def _oom(slow_fraction: float = SLOW_FRACTION, drain: float = 0.5) -> None:
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
