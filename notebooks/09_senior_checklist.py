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
# # 09 · Capstone: the senior checklist for 2M users
#
# The brief: a chat product with **2,000,000 concurrent users**, each sending **5 messages a
# minute** into rooms of about 20 people. Design the real-time tier and defend it with numbers.
#
# The seven checklist questions, each answered below from the model:
#
# 1. Do we even need WebSockets?
# 2. What is the per-connection budget — nodes, RAM, cost?
# 3. Are the kernel limits raised (fds, conntrack, ephemeral ports)?
# 4. What is the disconnect story (pings vs idle timeouts, backoff, replay window)?
# 5. What does a dropped message cost — which backplane?
# 6. What happens when a gateway dies?
# 7. How do slow consumers fail?
#
# Questions 1–4 and 7 are arithmetic on the same objects the simulator uses; 5 and 6 run a
# scaled-down fleet (`SCALE` real users per simulated client) and scale the counts back up.
#
# **Workshop use:** teams change the parameters cell (their design) and re-run; the closing cell
# prints the seven answers as a design review.

# %% tags=["parameters"]
# ---- Parameters: your design — change a number, then Run All -----------------------------------
USERS = 2_000_000  # concurrent connections at peak
MSGS_PER_USER_PER_MIN = 5.0
ROOM_SIZE = 20  # members per chat room
MESSAGE_SIZE = 200  # bytes
MAX_LATENCY_S = 0.5  # chat must feel live

KERNEL_KIB = 8  # per-connection footprint: socket buffers
TLS_KIB = 20  # TLS session state
APP_KIB = 4  # connection object, subscriptions, auth context
NODE_MEMORY_GIB = 32
BASE_MEMORY_GIB = 1
HEADROOM = 0.7
FD_LIMIT = 1_048_576  # nofile per gateway process
CONNTRACK_MAX = 262_144  # nf_conntrack_max per node (default); None if you bypass conntrack (NOTRACK)
EPHEMERAL_PORTS = 28_232  # per (source IP, backplane IP:port)
BACKPLANE_CONNS_PER_GATEWAY = 64  # connections each gateway opens to the backplane (pool + subscriptions)
GATEWAY_PER_MONTH = 350.0  # USD

ADMISSION_PER_GATEWAY = 3_000  # handshakes/s a gateway admits (503 + Retry-After beyond)
PING_INTERVAL_S = 25.0
LB_IDLE_TIMEOUT_S = 300.0  # raised from a 60 s default
PATH_IDLE_TIMEOUT_S = 30.0  # the tightest proxy on the path you do not control
BACKOFF = "full_jitter"  # reconnect strategy
OFFLINE_MEAN_S = 30.0  # typical disconnect length (handoffs, lid closes)
REPLAY_HIT_TARGET = 0.99  # share of resumes the window must serve
BACKPLANE = "redis_streams"  # your choice; compared with redis_pubsub below

SLOW_FRACTION = 0.01  # clients that cannot keep up
SLOW_DRAIN_PER_S = 0.5  # what they accept
QUEUE_LIMIT = 500  # bounded send queue, messages

SCALE = 1_000  # real users per simulated client in the scaled-down runs
REPLICATIONS = 2

# %%
import math

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

import wssim
from wssim.analytic.transports import Requirement, recommend
from wssim.policies import Backoff, ConnectionBudget, Keepalive, tightest

KiB, GiB = 1024, 1024**3
answers: dict[str, str] = {}

# %% [markdown]
# ## Q1 · Do we even need WebSockets?
#
# Each user receives every message of their room: `5/min × 20 members` ≈ 1.7 updates/s, and
# sends 5/min. Run the four-part test and price the candidates.

# %%
req = Requirement(
    update_rate=MSGS_PER_USER_PER_MIN / 60 * ROOM_SIZE,
    upstream_rate=MSGS_PER_USER_PER_MIN / 60,
    max_latency=MAX_LATENCY_S,
    message_size=MESSAGE_SIZE,
)
rec = recommend(req)
q1 = pd.Series(rec.usd_per_user_month).mul(USERS).rename("USD/month for all users")
q1 = pd.concat([q1, pd.Series(rec.rejected, name="rejected because")], axis=1)
verdict = "passes" if rec.test.needs_websocket else "fails: " + ", ".join(rec.test.missing())
answers["1. Need WebSockets?"] = f"{rec.kind} — the four-part test {verdict}"
q1

# %% [markdown]
# ## Q2 · The per-connection budget

# %%
budget = ConnectionBudget(kernel=KERNEL_KIB * KiB, tls=TLS_KIB * KiB, app=APP_KIB * KiB)
ceil = budget.ceilings(NODE_MEMORY_GIB * GiB, BASE_MEMORY_GIB * GiB, FD_LIMIT, headroom=HEADROOM)
limits = {"memory": ceil["memory"], "fds": ceil["fds"]}
if CONNTRACK_MAX is not None:
    limits["conntrack"] = CONNTRACK_MAX
per_node = min(limits.values())
binding = min(limits, key=limits.get)
nodes = math.ceil(USERS / per_node)
nodes_n1 = nodes + 1  # survive one gateway loss without overload
ram_gib = USERS * budget.bytes / GiB
answers["2. Budget"] = (
    f"{budget.bytes / KiB:.0f} KiB/conn × {USERS:,} = {ram_gib:,.0f} GiB; {per_node:,} per node "
    f"({binding} binds) → {nodes} nodes + 1 spare = ${nodes_n1 * GATEWAY_PER_MONTH:,.0f}/month"
)
fig = px.bar(
    x=list(limits),
    y=list(limits.values()),
    labels={"x": "ceiling", "y": "connections per node"},
    title=f"Per-node ceilings on a {NODE_MEMORY_GIB} GiB gateway (after {HEADROOM:.0%} headroom)",
)
fig.add_hline(y=USERS / nodes_n1, line_dash="dot", annotation_text="load per node, all up")
fig.add_hline(y=USERS / nodes, line_dash="dash", annotation_text="load per node, one down")
fig.show()

# %% [markdown]
# ## Q3 · Kernel limits

# %%
conns_after_loss = USERS / nodes  # the spare is gone: the worst steady load per node
conns_per_node = conns_after_loss  # size the rest (queues, memory) for that worst case too
checks = pd.DataFrame(
    [
        ("nofile (fds per process)", conns_after_loss, FD_LIMIT),
        ("nf_conntrack_max", conns_after_loss, CONNTRACK_MAX if CONNTRACK_MAX is not None else math.inf),
        ("ephemeral ports to the backplane", BACKPLANE_CONNS_PER_GATEWAY, EPHEMERAL_PORTS),
    ],
    columns=["limit", "needed per node (one node down)", "configured"],
)
checks["ok"] = checks["needed per node (one node down)"] <= checks["configured"]
answers["3. Kernel limits"] = "; ".join(
    f"{r.limit}: {'ok' if r.ok else 'RAISE IT'}" for r in checks.itertuples(index=False)
)
checks

# %% [markdown]
# ## Q4 · The disconnect story
#
# Pings must beat the tightest idle timeout; the replay window must cover most offline periods
# (`miss = e^(−W/m)` for exponential offline times of mean `m`).

# %%
path_timeout = tightest(LB_IDLE_TIMEOUT_S, PATH_IDLE_TIMEOUT_S)
pings_ok = Keepalive(PING_INTERVAL_S).keeps_alive(path_timeout)
window_s = -OFFLINE_MEAN_S * math.log(1 - REPLAY_HIT_TARGET)
rooms = USERS / ROOM_SIZE
publish_rate = USERS * MSGS_PER_USER_PER_MIN / 60  # messages/s into the backplane
replay_gib = publish_rate * window_s * MESSAGE_SIZE / GiB
delays = Backoff(BACKOFF, base=1.0, cap=30.0).sequence(np.random.default_rng(1))
answers["4. Disconnects"] = (
    f"ping {PING_INTERVAL_S:.0f}s vs tightest timeout {path_timeout:.0f}s: {'ok' if pings_ok else 'CUTS'}; "
    f"replay window {window_s:.0f}s ({replay_gib:.2f} GiB of history at {publish_rate:,.0f} msg/s); "
    f"backoff {BACKOFF}"
)
w = np.linspace(0, 5 * OFFLINE_MEAN_S, 100)
fig = go.Figure(go.Scatter(x=w, y=np.exp(-w / OFFLINE_MEAN_S), name="miss fraction"))
fig.add_vline(x=window_s, line_dash="dot", annotation_text=f"W for {REPLAY_HIT_TARGET:.0%} hits")
fig.update_layout(
    title="Replay window vs resumes that must re-sync", xaxis_title="W (s)", yaxis_title="e^(−W/m)"
)
fig.show()

# %% [markdown]
# ## The scaled-down fleet
#
# `USERS / SCALE` simulated clients on the fleet of Q2 (spare included), rooms of `ROOM_SIZE`,
# `MSGS_PER_USER_PER_MIN`. Every fleet-wide rate is scaled down with the clients — the admission
# rate per gateway too — so the scaled fleet has the same shape, and counts (messages,
# handshakes/s, attempts) scale back up by `SCALE`.

# %%
sim_clients = max(200, USERS // SCALE)
scale = USERS / sim_clients
admission = ADMISSION_PER_GATEWAY / scale  # per gateway, in the scaled fleet
common = {
    "clients": {
        "count": sim_clients,
        "connect_ramp": "5s",
        "rooms": {"count": max(1, sim_clients // ROOM_SIZE), "per_client": 1},
        "publish_rate": f"{MSGS_PER_USER_PER_MIN}/min",
        "message_size": f"{MESSAGE_SIZE}B",
        "reconnect": {"strategy": BACKOFF, "base": "1s", "cap": "30s"},
    },
    "gateways": {"count": nodes_n1, "keepalive": {"ping_interval": f"{PING_INTERVAL_S}s"}},
    "edge": {"balancer": "consistent_hash"},
}

# %% [markdown]
# ## Q5 · What does a dropped message cost?
#
# One gateway loses its backplane subscription for 10 s. Compare your backplane with an
# at-most-once one.

# %%
at_most_once = BACKPLANE in ("redis_pubsub", "nats")
other_kind = "redis_streams" if at_most_once else "redis_pubsub"  # the other side of the trade
kinds = [BACKPLANE, other_kind]
q5_cfg = wssim.load_config(
    {
        "name": "capstone-semantics",
        "duration": "40s",
        **common,
        "backplane": {"kind": BACKPLANE},
        "faults": [{"kind": "subscription_outage", "at": "20s", "duration": "10s", "gateways": 1}],
        "sweep": {"backplane.kind": kinds},
    }
)
q5 = wssim.run(q5_cfg, replications=REPLICATIONS, progress=False)
assert not q5.failures, q5.failures
lost = q5.summary.groupby("backplane.kind")[["messages_lost", "deliveries_expected"]].mean()
lost["lost per outage (real scale)"] = lost["messages_lost"] * scale
lost["lost fraction"] = lost["messages_lost"] / lost["deliveries_expected"]
answers["5. Dropped messages"] = (
    f"{BACKPLANE} loses {lost.loc[BACKPLANE, 'lost per outage (real scale)']:,.0f} deliveries in a 10 s "
    f"subscription outage ({other_kind}: {lost.loc[other_kind, 'lost per outage (real scale)']:,.0f})"
)
lost

# %% [markdown]
# ## Q6 · What happens when a gateway dies?

# %%
ramp = 1.2 * sim_clients / (admission * nodes_n1)  # seconds to connect everyone through admission
crash_at = ramp + 10
survivors = ADMISSION_PER_GATEWAY * nodes  # what the gateways left after one crash admit per second
floor_s = USERS / nodes_n1 / survivors  # the fastest the survivors can take the herd back
other_backoff = "full_jitter" if BACKOFF == "none" else "none"
q6_cfg = wssim.load_config(
    {
        "name": "capstone-herd",
        "duration": f"{crash_at + max(60, 4 * floor_s):.0f}s",
        **common,
        "clients": {**common["clients"], "connect_ramp": f"{ramp:.0f}s", "publish_rate": "0/s"},
        "gateways": {
            **common["gateways"],
            "handshake_cost": f"{0.5 / admission:.4f}s",  # the CPU is not the bottleneck, admission is
            "admission": {"handshake_rate": f"{admission:.4f}/s", "retry_after": "1s"},
        },
        "backplane": {"kind": "in_memory"},
        "faults": [
            {"kind": "gateway_crash", "at": f"{crash_at:.0f}s", "gateway": 0, "count": 1, "restart": True}
        ],
        "sweep": {"clients.reconnect.strategy": [BACKOFF, other_backoff]},
    }
)
q6 = wssim.run(q6_cfg, replications=REPLICATIONS, progress=False)
assert not q6.failures, q6.failures
herd = q6.summary.groupby("clients.reconnect.strategy")[["herd_convergence_s", "reconnect_attempts"]].mean()
herd["reconnect attempts (real scale)"] = herd["reconnect_attempts"] * scale
conn = q6.series("connections")  # gateways summed, the strategy on every row
conn = conn[conn["replication"] == 0].assign(value=lambda d: d["value"] * scale)
fig = px.line(
    conn,
    x="time",
    y="value",
    color="clients.reconnect.strategy",
    line_shape="hv",
    title="Connections held around a gateway crash (real scale)",
    labels={"value": "connections", "time": "s"},
)
fig.add_vline(x=crash_at, line_dash="dash", annotation_text="gateway 0 crashes")
fig.update_xaxes(range=[crash_at - 10, crash_at + max(60, 4 * floor_s)])
fig.update_yaxes(range=[0.95 * USERS * (1 - 1 / nodes_n1), 1.01 * USERS])
fig.show()
answers["6. Gateway dies"] = (
    f"1/{nodes_n1} of users (~{USERS / nodes_n1:,.0f}) reconnect; "
    f"the {nodes} survivors admit {survivors:,}/s, "
    f"so ≥ {floor_s:.0f} s; {BACKOFF}: whole again after {herd.loc[BACKOFF, 'herd_convergence_s']:.0f} s "
    f"with {herd.loc[BACKOFF, 'reconnect attempts (real scale)']:,.0f} attempts "
    f"({other_backoff}: {herd.loc[other_backoff, 'reconnect attempts (real scale)']:,.0f})"
)
herd

# %% [markdown]
# ## Q7 · How do slow consumers fail?

# %%
arrival = MSGS_PER_USER_PER_MIN / 60 * ROOM_SIZE  # messages/s into each member's queue
slow_per_node = conns_per_node * SLOW_FRACTION
growth = slow_per_node * max(arrival - SLOW_DRAIN_PER_S, 0) * MESSAGE_SIZE  # bytes/s per node, unbounded
free = NODE_MEMORY_GIB * GiB - BASE_MEMORY_GIB * GiB - conns_per_node * budget.bytes
t_oom = free / growth if growth else math.inf
bounded = slow_per_node * QUEUE_LIMIT * MESSAGE_SIZE
answers["7. Slow consumers"] = (
    f"unbounded queues OOM a node in {t_oom / 60:,.0f} min ({growth / 2**20:.1f} MiB/s); "
    f"a {QUEUE_LIMIT}-message bound caps them at {bounded / 2**20:,.0f} MiB per node"
)
pd.Series(
    {
        "slow consumers per node": slow_per_node,
        "arrival msg/s per member": arrival,
        "queue growth per node (MiB/s)": growth / 2**20,
        "free memory per node (GiB)": free / GiB,
        "time to OOM (min)": t_oom / 60,
        "bounded worst case (MiB)": bounded / 2**20,
    }
).round(2)

# %% [markdown]
# ## What you should have seen — the design review

# %%
for question, answer in answers.items():
    print(f"{question:<22} {answer}")

# %% [markdown]
# ## Optional: sliders
# The arithmetic of Q2 and Q7 with sliders (with `ipywidgets` installed).

# %%
try:
    from ipywidgets import interact

    @interact(node_gib=[16, 32, 64, 128], kib=(8, 64, 4), slow=(0.0, 0.05, 0.005))
    def _review(node_gib: int = NODE_MEMORY_GIB, kib: int = 32, slow: float = SLOW_FRACTION) -> None:
        b = ConnectionBudget(kernel=kib * KiB, tls=0, app=0)
        cap = b.node_capacity(node_gib * GiB, BASE_MEMORY_GIB * GiB, FD_LIMIT, HEADROOM)
        n = math.ceil(USERS / min(cap, CONNTRACK_MAX or cap))
        g = USERS / n * slow * max(arrival - SLOW_DRAIN_PER_S, 0) * MESSAGE_SIZE
        room = node_gib * GiB - USERS / n * b.bytes
        print(f"{n} nodes, ${(n + 1) * GATEWAY_PER_MONTH:,.0f}/month", end="; ")
        print(f"unbounded queues OOM after {room / g / 60:,.0f} min" if g else "no queue growth")
except ImportError:
    print("ipywidgets is not installed: edit the parameters cell and re-run instead.")

# %% [markdown]
# ## Takeaway
#
# Every checklist answer is a number you can defend: the four-part test picks the transport, the
# per-connection budget sets nodes and cost, the limits are checked against the load *after* a
# node loss, pings beat the tightest timeout, the replay window comes from the offline-time
# distribution, the backplane from the cost of a lost message, and bounded queues turn slow
# consumers from an outage into a metric.
