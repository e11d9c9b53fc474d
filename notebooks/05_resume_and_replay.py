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
# # 05 · Resume and replay: how long a window?
#
# Every message carries a monotonic offset. A reconnecting client sends the last offset it saw
# and the gateway replays the gap from a bounded buffer — if the gap is still in it. Otherwise the
# client must re-sync: fetch a snapshot over plain HTTP, then resume the live stream.
#
# With an **age window `W`** and offline periods that are exponential with mean `m`, a resume
# misses the window with probability **e^(−W/m)**. The window costs memory: every room keeps
# `W × publish rate` messages.
#
# **Look for:** the simulated miss fraction on the exponential curve, and the knee where a
# longer window buys little but still costs memory linearly.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 400
ROOMS = 20  # rooms of CLIENTS/ROOMS members: messages keep flowing while one member is away
OFFLINE_MEAN = "30s"  # mean offline period (exponential)
OFFLINE_RATE = "1/min"  # how often a connected client drops
WINDOWS_S = [10, 30, 60, 120]  # replay window W (max age), seconds
PUBLISH_RATE = "3/min"  # per client -> about one message per second per room
DURATION = "300s"  # long against the offline periods, or the long ones are cut off by the end
REPLICATIONS = 3
HIT_TARGET = 0.99  # exercise 05.2: the share of resumes the window must serve

# %%
from wssim.lessons import replay
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import explore, slider

cfg = replay.fleet(CLIENTS, ROOMS, OFFLINE_MEAN, OFFLINE_RATE, PUBLISH_RATE, DURATION)
m = cfg.clients.offline.mean

# %% [markdown]
# ## 1. Miss fraction against the closed form
#
# `e^(−W/m)` assumes every offline period ends (so we see its resume) and that messages keep
# arriving while the client is away. A finite run sees fewer long periods — one that starts near
# the end never resumes — and the first missed message comes a little after the drop. Both are
# easy to put in numerically, next to the textbook curve.
#
# ### Exercise 05.1 · A window twice the mean absence
#
# Offline periods average `OFFLINE_MEAN`; the window keeps the last 60 s. **Predict** the share
# of resumes that miss the window and must re-sync from a snapshot.

# %%
prediction_1 = None  # a fraction between 0 and 1

# %%
table = replay.misses(cfg, WINDOWS_S, REPLICATIONS)
replay.miss_figure(cfg, table, max(WINDOWS_S) * 1.1).show()
table.round(3)

# %%
nearest = table.iloc[(table["W"] - 60).abs().argmin()]
reveal(
    "05.1",
    prediction_1,
    nearest["mean"],
    "fraction",
    why=f"At W = {nearest['W']:.0f} s; the textbook e^(−W/m) says {nearest['closed_form']:.3f}.",
)

# %% [markdown]
# ### Exercise 05.2 · How long a window?
#
# **Predict** the window `W` (seconds) that serves `HIT_TARGET` of resumes when absences average
# `OFFLINE_MEAN`, and how many messages it keeps across all rooms.

# %%
prediction_2 = None  # seconds

# %%
w_needed = replay.window_for(HIT_TARGET, m)
reveal(
    "05.2",
    prediction_2,
    w_needed,
    "s",
    why=f"W = −m·ln(1 − {HIT_TARGET:g}) = {w_needed / m:.1f} × m; "
    f"the buffers then hold {replay.buffer_messages(cfg, w_needed):,.0f} messages.",
)

# %% [markdown]
# ## What you should have seen

# %%
print(replay.findings(cfg, table))

# %% [markdown]
# ## Try it: sliders that simulate
#
# One window and one mean absence: each change re-runs the fleet (one replication, a few
# seconds) and puts the simulated miss fraction on the curve. Where is the knee?

# %%
explore(
    replay.one_window,
    replay.window_figure,
    cfg=cfg,
    window_s=slider(5, 240, 5, 60, "window W (s)"),
    offline_mean_s=slider(5, 120, 5, int(m), "mean absence m (s)"),
)

# %% [markdown]
# ## Takeaway
#
# Size the replay window from your offline-time distribution, not from a round number: the miss
# fraction falls exponentially in `W/m`, the memory grows linearly in `W`. Past ~3–5 × the mean
# offline time, stop growing the window and make the snapshot re-sync path cheap instead.
#
# ## For discussion
#
# Your mobile users' absences are long-tailed (a flight, a weekend), not exponential. What does a
# heavy tail do to the miss fraction of a fixed window, and what would you change — the window,
# the snapshot path, or both?
