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
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

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
from wssim.lessons import checklist
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import choice, explore, slider

design = checklist.Design.from_parameters(globals())  # the parameters above, as one object

# %% [markdown]
# ## Q1 · Do we even need WebSockets?
#
# Each user receives every message of their room: `5/min × 20 members` ≈ 1.7 updates/s, and
# sends 5/min. Run the four-part test and price the candidates.

# %%
q1 = checklist.transport(design)
q1.table

# %% [markdown]
# ## Q2 · The per-connection budget
#
# ### Exercise 09.1 · How many gateways?
#
# 32 KiB per connection on 32 GiB nodes, 70% planned for, the default conntrack table.
# **Predict** the number of gateway nodes for `USERS` users, one spare included.

# %%
prediction_1 = None  # nodes, spare included

# %%
sizing = checklist.sizing(design)
q2 = checklist.budget(design, sizing)
q2.figure.show()

# %%
reveal(
    "09.1",
    prediction_1,
    sizing.with_spare,
    "nodes",
    why=f"{sizing.per_node:,} per node: {sizing.binding} binds.",
)

# %% [markdown]
# ## Q3 · Kernel limits

# %%
q3 = checklist.kernel_limits(design, sizing)
q3.table

# %% [markdown]
# ## Q4 · The disconnect story
#
# Pings must beat the tightest idle timeout; the replay window must cover most offline periods
# (`miss = e^(−W/m)` for exponential offline times of mean `m`).

# %%
q4 = checklist.disconnects(design)
q4.figure.show()

# %% [markdown]
# ## The scaled-down fleet
#
# `USERS / SCALE` simulated clients on the fleet of Q2 (spare included), rooms of `ROOM_SIZE`,
# `MSGS_PER_USER_PER_MIN`. Every fleet-wide rate is scaled down with the clients — the admission
# rate per gateway too — so the scaled fleet has the same shape, and counts (messages,
# handshakes/s, attempts) scale back up by `SCALE`.
#
# ## Q5 · What does a dropped message cost?
#
# One gateway loses its backplane subscription for 10 s. Compare your backplane with the other
# side of the trade (at-most-once against durable).

# %%
q5 = checklist.dropped_messages(design, sizing)
q5.table

# %% [markdown]
# ## Q6 · What happens when a gateway dies?
#
# ### Exercise 09.2 · Back to whole
#
# Gateway 0 dies; its users reconnect with `BACKOFF` through the survivors' admission control
# (`ADMISSION_PER_GATEWAY` handshakes/s each). **Predict** how many seconds until the fleet
# holds everyone again.

# %%
prediction_2 = None  # seconds

# %%
q6 = checklist.gateway_dies(design, sizing)
q6.figure.show()
q6.table

# %%
reveal(
    "09.2",
    prediction_2,
    q6.table.loc[BACKOFF, "herd_convergence_s"],
    "s",
    why=f"{USERS / sizing.with_spare:,.0f} users, {ADMISSION_PER_GATEWAY * sizing.nodes:,}/s admitted.",
)

# %% [markdown]
# ## Q7 · How do slow consumers fail?

# %%
q7 = checklist.slow_consumers(design, sizing)
q7.table

# %% [markdown]
# ## What you should have seen — the design review

# %%
print(checklist.review([q1, q2, q3, q4, q5, q6, q7]))

# %% [markdown]
# ## Try it: sliders that simulate
#
# The crash of Q6 with another backoff or another admission rate per gateway: each change
# re-runs the scaled fleet (one replication, seconds) and redraws the connections at real scale.

# %%
explore(
    checklist.one_herd,
    checklist.herd_figure,
    d=design,
    backoff=choice(
        ["none", "constant", "exponential", "full_jitter", "equal_jitter", "decorrelated"], BACKOFF
    ),
    admission_per_gateway=slider(500, 10_000, 500, ADMISSION_PER_GATEWAY, "admission/s per gateway"),
)

# %% [markdown]
# ## Takeaway
#
# Every checklist answer is a number you can defend: the four-part test picks the transport, the
# per-connection budget sets nodes and cost, the limits are checked against the load *after* a
# node loss, pings beat the tightest timeout, the replay window comes from the offline-time
# distribution, the backplane from the cost of a lost message, and bounded queues turn slow
# consumers from an outage into a metric.
#
# ## For discussion
#
# Which of the seven answers would your team have got wrong without numbers — and which one
# would you re-check first when the product doubles?
