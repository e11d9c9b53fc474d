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

# %%
import numpy as np
import pandas as pd
from plotly.subplots import make_subplots

import wssim

cfg = wssim.load_config(
    "replay",
    overrides=[
        f"clients.count={CLIENTS}",
        f"clients.rooms.count={ROOMS}",
        f"clients.offline.mean={OFFLINE_MEAN}",
        f"clients.offline.rate={OFFLINE_RATE}",
        "clients.offline.distribution=exponential",
        f"clients.publish_rate={PUBLISH_RATE}",
        f"duration={DURATION}",
        "backplane.replay.max_messages=null",  # age window only, so the closed form applies
        "backplane.replay.max_per_resume=null",
    ],
)
spec = cfg.model_dump(mode="json")
spec["sweep"] = {"backplane.replay.max_age": [f"{w}s" for w in WINDOWS_S]}
res = wssim.run(wssim.load_config(spec), replications=REPLICATIONS, progress=False)
assert not res.failures, res.failures
s = res.summary
s["miss_fraction"] = s["replay_misses"] / s["resume_attempts"]  # a derived column ...
agg = res.aggregate(["miss_fraction"])  # ... aggregates like any metric: mean and Student-t 95% CI
miss = pd.DataFrame(
    {
        "W": agg["backplane.replay.max_age"].astype(float),
        "mean": agg["mean"],
        "ci95": agg["ci95_half_width"].fillna(0),
        "n": agg["n"],
    }
)
miss

# %% [markdown]
# ## 1. Miss fraction against the closed form
#
# `e^(−W/m)` assumes every offline period ends (so we see its resume) and that messages keep
# arriving while the client is away. A finite run sees fewer long periods — one that starts near
# the end never resumes — and the first missed message comes a little after the drop. Both are
# easy to put in numerically, next to the textbook curve.

# %%
m = cfg.clients.offline.mean
members = cfg.clients.count * cfg.clients.rooms.per_client / cfg.clients.rooms.count
online = 1 / (1 + cfg.clients.offline.rate * m)  # share of time a client is connected
lam = (members - 1) * cfg.clients.publish_rate * online  # messages/s into a room while I am away
horizon = cfg.duration - cfg.warmup


def miss_finite_run(w: float) -> float:
    """P(resume misses) for Exp(m) offline periods seen in a run of ``horizon`` seconds,
    when the first missed message arrives Exp(lam) after the drop."""
    d = np.linspace(0, horizon, 20_001)
    seen = np.exp(-d / m) * (horizon - d)  # density of the periods that end inside the run
    missed = np.where(d > w, 1 - np.exp(-lam * np.clip(d - w, 0, None)), 0.0)
    return float((seen * missed).sum() / seen.sum())


w_grid = np.linspace(0, max(WINDOWS_S) * 1.1, 200)
room_rate = cfg.clients.count * cfg.clients.publish_rate / cfg.clients.rooms.count  # msgs/s per room
buffer_bytes = cfg.clients.rooms.count * room_rate * w_grid * cfg.clients.message_size

fig = make_subplots(specs=[[{"secondary_y": True}]])
fig.add_scatter(x=w_grid, y=np.exp(-w_grid / m), name="e^(−W/m)", mode="lines")
fig.add_scatter(
    x=w_grid,
    y=[miss_finite_run(w) for w in w_grid],
    name="same, for this finite run",
    mode="lines",
    line={"dash": "dash"},
)
fig.add_scatter(
    x=miss["W"],
    y=miss["mean"],
    error_y={"type": "data", "array": miss["ci95"]},
    mode="markers",
    name="simulated misses / resumes (±95% CI)",
)
fig.add_scatter(
    x=w_grid,
    y=buffer_bytes / 2**20,
    name="replay buffer, all rooms (MiB)",
    line={"dash": "dot"},
    secondary_y=True,
)
fig.update_layout(title=f"Replay window vs offline time (mean m = {m:.0f} s)", xaxis_title="window W (s)")
fig.update_yaxes(title_text="fraction of resumes that must re-sync", secondary_y=False)
fig.update_yaxes(title_text="MiB", secondary_y=True)
fig.show()

# %% [markdown]
# ## What you should have seen

# %%
miss["closed_form"] = np.exp(-miss["W"] / m)
miss["finite_run"] = [miss_finite_run(w) for w in miss["W"]]
for row in miss.itertuples():
    print(
        f"- W = {row.W:>5.0f} s: model {row.mean:.3f} ± {row.ci95:.3f}; e^(−W/m) {row.closed_form:.3f}; "
        f"finite-run form {row.finite_run:.3f}"
    )
w_needed = -m * np.log(0.01)
print(
    f"- To serve 99% of resumes from the window you need W ≈ {w_needed:.0f} s (4.6 × m); "
    f"with these rooms that buffer holds ≈ {cfg.clients.rooms.count * room_rate * w_needed:,.0f} messages."
)
print(f"- Total resumes observed: {s['resume_attempts'].sum():,.0f}; resyncs: {s['resyncs'].sum():,.0f}.")

# %% [markdown]
# ## Optional: sliders

# %%
try:
    from ipywidgets import interact

    @interact(window=(1, 600), mean=(1, 600))
    def _miss(window: int = 60, mean: int = 30) -> None:
        print(f"miss fraction e^(-W/m) = {np.exp(-window / mean):.3%}")
except ImportError:
    print("ipywidgets is not installed: edit the parameters cell and re-run instead.")

# %% [markdown]
# ## Takeaway
#
# Size the replay window from your offline-time distribution, not from a round number: the miss
# fraction falls exponentially in `W/m`, the memory grows linearly in `W`. Past ~3–5 × the mean
# offline time, stop growing the window and make the snapshot re-sync path cheap instead.
