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
# # 14 · Dead peers and keepalive: the sockets nobody closed
#
# Most clients that leave close their socket: a FIN reaches the gateway and it frees the socket at
# once. Some just vanish — a laptop lid closed, a phone handed from Wi-Fi to cellular — and no FIN
# ever arrives. The gateway's socket is **half-open**: it keeps the descriptor, the kernel buffers,
# the TLS state and the application's state, and keeps writing messages into it.
#
# - **without keepalive** nothing notices (here the balancer's idle timeout is off, as on a path
#   that never idles out): the dead socket is held until the gateway restarts;
# - **with pings** the gateway notices at the last answered ping plus the **pong timeout** (twice
#   the interval by default): a dead socket is held `timeout − interval/2` on average;
# - a faster ping costs a frame per connection per interval, on every live connection.
#
# **Look for:** how many dead sockets are still held at the end, the memory they pin, and the
# messages written into them.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 2_000
OFFLINE_RATE = "1/min"  # how often a connected client leaves ...
OFFLINE_MEAN = "30s"  # ... and how long it stays away
HALF_OPEN = 0.3  # share of departures that send no FIN
DURATION = "120s"
PINGS = [None, "45s", "25s", "10s"]  # keepalive ping intervals compared (None: no pings)
BLACKOUT_FRACTION = 0.5  # section 3: this share of the clients vanish at once ...
BLACKOUT_AT = "20s"  # ... at this time
BLACKOUT_MESSAGE = "32KiB"  # message size in section 3
BLACKOUT_MEMORY = "512MiB"  # memory of one gateway in section 3

# %%
from wssim.lessons import keepalive
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import explore, slider

cfg = keepalive.fleet(CLIENTS, OFFLINE_RATE, OFFLINE_MEAN, HALF_OPEN, DURATION)

# %% [markdown]
# ## 1. What a vanished client leaves behind
#
# The same departures under each ping interval: every client that leaves without a FIN leaves a
# socket on its gateway.
#
# ### Exercise 14.1 · Without pings
#
# With no keepalive and no idle timeout, **predict** how many of the half-open sockets are still
# held by the gateways at the end of the run.

# %%
prediction_1 = None  # sockets

# %% [markdown]
# ### Exercise 14.2 · The memory they pin
#
# A socket holds 8 KiB of kernel buffers, 20 KiB of TLS state and 4 KiB of application state.
# **Predict** the memory (MiB) the dead sockets still hold across the fleet at the end, without pings.

# %%
prediction_2 = None  # MiB

# %%
res = keepalive.settings(cfg, PINGS)
keepalive.memory_figure(res, cfg, "Socket memory of the largest gateway, per keepalive setting").show()
table = keepalive.costs(res, cfg)
table.round(2)

# %%
reveal(
    "14.1",
    prediction_1,
    table.loc["no pings", "half_open_leaked"],
    "sockets",
    why=f"All {table.loc['no pings', 'half_open_disappearances']:,.0f} of them: nothing ever notices.",
)

# %%
reveal(
    "14.2",
    prediction_2,
    table.loc["no pings", "leaked_bytes"] / 2**20,
    "MiB",
    why=f"{table.loc['no pings', 'half_open_leaked']:,.0f} sockets × "
    f"{keepalive.per_socket(cfg) / 1024:,.0f} KiB; their send queues hold what was written into them "
    "on top (the chart), for as long as the gateway runs.",
)

# %% [markdown]
# ## 2. The pong timeout
#
# A ping every `P` seconds and a pong timeout of `2P`: the gateway gives up on a socket `2P` after
# the last pong, so a dead socket is held between `P` and `2P`. Meanwhile every message for its room
# is written into it — and lost to the client, who will resume from its cursor when it returns.
#
# ### Exercise 14.3 · Pinging 2.5× as often
#
# **Predict** how many times fewer messages the gateways write into dead sockets with pings every
# 10 s than with pings every 25 s.

# %%
prediction_3 = None  # a factor, e.g. 2.0

# %%
reveal(
    "14.3",
    prediction_3,
    table.loc["pings every 25 s", "deliveries_to_dead_peers"]
    / table.loc["pings every 10 s", "deliveries_to_dead_peers"],
    "×",
    why=f"A dead socket is held {keepalive.held_closed_form(25):.1f} s on average at 25 s and "
    f"{keepalive.held_closed_form(10):.1f} s at 10 s (timeout − interval/2); those still held at the end "
    "cut the run's count short.",
)

# %% [markdown]
# ## 3. A blackout: dead sockets that eat the gateway
#
# A carrier NAT or a Wi-Fi access point loses `BLACKOUT_FRACTION` of the clients at once, without a
# FIN. Nothing reads their sockets, so everything written to them stays in their send queues — here
# unbounded — on gateways of `BLACKOUT_MEMORY`, in rooms publishing `BLACKOUT_MESSAGE` messages.
#
# ### Exercise 14.4 · The slow OOM
#
# Without pings, **predict** when the first gateway runs out of memory (seconds from the start;
# the clients vanish at `BLACKOUT_AT`).

# %%
prediction_4 = None  # seconds

# %%
dark = keepalive.blackout(2_000, BLACKOUT_FRACTION, BLACKOUT_AT, BLACKOUT_MESSAGE, BLACKOUT_MEMORY, "120s")
blackout = keepalive.settings(dark, [None, "25s"])
keepalive.memory_figure(blackout, dark, "Socket memory of the largest gateway after the blackout").show()
oom = keepalive.oom_table(blackout)
oom

# %%
reveal(
    "14.4",
    prediction_4,
    oom.loc["no pings", "first_oom_at_s"],
    "s",
    why=f"With pings every 25 s the largest gateway peaks at "
    f"{oom.loc['pings every 25 s', 'gateway_memory_peak_bytes'] / 2**20:,.0f} MiB and "
    f"{oom.loc['pings every 25 s', 'gateway_oom_crashes']:.0f} gateways crash: the keepalive frees the "
    "queues before they fill the headroom.",
)

# %% [markdown]
# ## What you should have seen

# %%
print(keepalive.findings(table, cfg))

# %% [markdown]
# ## Try it: sliders that simulate
#
# The ping interval (0: none), the pong timeout as a multiple of it and the share of departures
# without a FIN: each change re-runs the fleet (one replication, seconds) and redraws the socket
# memory of the largest gateway. Where does a shorter interval stop paying?

# %%
explore(
    keepalive.one_setting,
    keepalive.setting_figure,
    cfg=cfg,
    ping_s=slider(0, 120, 5, 25, "ping interval (s, 0 = none)"),
    timeout_factor=slider(1.5, 4, 0.5, 2, "pong timeout (× interval)"),
    half_open=slider(0, 1, 0.1, HALF_OPEN, "share without FIN"),
)

# %% [markdown]
# ## Takeaway
#
# A fleet without keepalive leaks a socket for every client that vanishes, and writes into it for
# as long as the gateway lives. Ping, and size the pong timeout: it is how long a dead socket keeps
# its memory and swallows messages. The lost messages are not lost for good only because the client
# resumes from its cursor — the replay window pays for the keepalive's slowness.
#
# ## For discussion
#
# Pings every 10 s reclaim dead sockets faster than every 25 s, at a frame per connection per
# interval. On a fleet of a million mobile clients, what would you set — and what else would you
# measure before deciding?
