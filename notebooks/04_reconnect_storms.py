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
# # 04 · Reconnect storms: the thundering herd
#
# A gateway dies and every client it held reconnects. If they all retry on the same tick, the
# handshake spike can knock over the gateways that are left — and the one that comes back — and
# the storm feeds itself. The client's backoff strategy decides how wide the herd is spread:
#
# | strategy | next delay |
# |---|---|
# | `none` | reconnect at once |
# | `constant` | `base` |
# | `exponential` | `min(cap, base·2^attempt)` — synchronized: everyone on the same ticks |
# | `full_jitter` | `random(0, min(cap, base·2^attempt))` |
# | `equal_jitter` | half of the exponential delay + a random half |
# | `decorrelated` | `min(cap, random(base, 3·previous))` |
#
# Marc Brooker's *Exponential Backoff And Jitter* compared these against a contended resource:
# un-jittered exponential backoff was the worst of the backoffs; the jittered variants did far
# less work, with full jitter the cheapest and equal jitter slightly behind.
#
# **Look for:** the shape of the handshake-rate curve after the crash, the peak handshake rate
# against the gateways' accept capacity, and how long each strategy takes to converge.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 4_000
GATEWAYS = 4
CRASH_AT = "20s"  # gateway 0 crashes here and comes back 10 s later
DURATION = "60s"
ADMISSION = "100/s"  # handshakes each gateway admits per second (503 + Retry-After beyond)
BASE = "1s"
CAP = "30s"
STRATEGIES = ["none", "constant", "exponential", "full_jitter", "equal_jitter", "decorrelated"]
REPLICATIONS = 2

# %%
import numpy as np
import pandas as pd
import plotly.express as px

import wssim
from wssim.policies import Backoff

cfg = wssim.load_config(
    "herd",
    overrides=[
        f"clients.count={CLIENTS}",
        f"gateways.count={GATEWAYS}",
        f"duration={DURATION}",
        f"clients.reconnect.base={BASE}",
        f"clients.reconnect.cap={CAP}",
        f"gateways.admission.handshake_rate={ADMISSION}",
    ],
)
spec = cfg.model_dump(mode="json")
spec["faults"] = [{**f, "at": CRASH_AT} if f["kind"] == "gateway_crash" else f for f in spec["faults"]]
cfg = wssim.load_config(spec)
crash_at = next(f.at for f in cfg.faults if f.kind == "gateway_crash")
cfg.faults

# %% [markdown]
# ## 1. Before simulating: the delays themselves
#
# The same `Backoff` objects the simulator and the live clients use. For a herd of clients, draw
# the total wait before each client's third attempt.

# %%
rng = np.random.default_rng(7)
rows = []
for strategy in STRATEGIES:
    policy = Backoff(strategy, base=cfg.clients.reconnect.base, cap=cfg.clients.reconnect.cap)
    for _ in range(2_000):
        seq = policy.sequence(rng)
        rows.append({"strategy": strategy, "wait before attempt 3 (s)": sum(next(seq) for _ in range(3))})
delays = pd.DataFrame(rows)
fig = px.histogram(
    delays,
    x="wait before attempt 3 (s)",
    color="strategy",
    facet_row="strategy",
    nbins=60,
    height=700,
    category_orders={"strategy": STRATEGIES},
    title="When does a client make its third attempt?",
)
fig.update_yaxes(matches=None, title="")
fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
fig.update_layout(showlegend=False)
fig.show()

# %% [markdown]
# ## 2. Simulate the crash under each strategy

# %%
spec = cfg.model_dump(mode="json")
spec["sweep"] = {"clients.reconnect.strategy": STRATEGIES}
res = wssim.run(wssim.load_config(spec), replications=REPLICATIONS, progress=False)
assert not res.failures, res.failures
hs = res.series("handshakes")  # gateways summed, the strategy on every row
hs = hs[hs["replication"] == 0]
fig = px.line(
    hs,
    x="time",
    y="value",
    color="clients.reconnect.strategy",
    facet_row="clients.reconnect.strategy",
    category_orders={"clients.reconnect.strategy": STRATEGIES},
    height=900,
    title="Handshakes/s around the crash, one panel per strategy (replication 0)",
    labels={"value": "", "time": "simulated time (s)"},
)
fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
fig.update_layout(showlegend=False)
per_gateway = cfg.gateways.admission.handshake_rate or 1 / cfg.gateways.handshake_cost
accept_capacity = per_gateway * (cfg.gateways.count - 1)  # what the surviving gateways admit per second
fig.add_hline(y=accept_capacity, line_dash="dot", row="all", col="all")  # what the survivors admit
fig.add_vline(x=crash_at, line_dash="dash", row="all", col="all")
fig.update_xaxes(range=[crash_at - 2, crash_at + 15])
fig.update_yaxes(range=[0, 1.05 * hs["value"].max()])
fig.show()

# %% [markdown]
# ## 3. Peak, convergence and work, mean ± 95% confidence interval over replications
#
# `Results.plot` draws a metric against a sweep parameter with its confidence interval.

# %%
metrics = ["peak_handshake_rate", "herd_convergence_s", "reconnect_attempts"]
agg = res.aggregate(metrics)  # one row per (strategy, metric): mean, std, Student-t 95% CI
stats = agg.pivot(index="clients.reconnect.strategy", columns="metric", values="mean").reindex(STRATEGIES)
half = agg.pivot(index="clients.reconnect.strategy", columns="metric", values="ci95_half_width")
stats = stats.join(half.add_suffix("_ci95"))
res.plot("peak_handshake_rate", x="clients.reconnect.strategy").show()
res.plot("herd_convergence_s", x="clients.reconnect.strategy").show()
res.plot("reconnect_attempts", x="clients.reconnect.strategy").show()
stats.round(2)

# %% [markdown]
# ## What you should have seen

# %%
by_peak = stats["peak_handshake_rate"].sort_values()
by_conv = stats["herd_convergence_s"].sort_values()
print("- Ranking by peak handshake rate (lowest first): " + " < ".join(by_peak.index))
print("- Ranking by convergence time (fastest first):   " + " < ".join(by_conv.index))
by_work = stats["reconnect_attempts"].sort_values()
print("- Ranking by reconnect attempts (least work):     " + " < ".join(by_work.index))
peak_none, peak_fj = stats.loc["none", "peak_handshake_rate"], stats.loc["full_jitter", "peak_handshake_rate"]
ratio = peak_none / peak_fj
work = stats["reconnect_attempts"]
jitter_beats_exp = all(work[k] < work["exponential"] for k in ("full_jitter", "equal_jitter", "decorrelated"))
full_beats_equal = work["full_jitter"] <= work["equal_jitter"]
print(
    "- Brooker: every jittered strategy does less work than plain exponential backoff "
    f"(model: {'yes' if jitter_beats_exp else 'no'}), and full jitter no more than equal jitter "
    f"(model: {'yes' if full_beats_equal else 'no'}); full and decorrelated jitter are close "
    f"({work['full_jitter']:.0f} vs {work['decorrelated']:.0f} attempts)."
)
print(f"- 'none' peaks at {peak_none:,.0f}/s, full jitter at {peak_fj:,.0f}/s ({ratio:.1f}x lower).")
print(
    f"- Clients on the crashed gateway: about {CLIENTS / GATEWAYS:,.0f} (1/{GATEWAYS} of the fleet); "
    f"full jitter reconverges in {stats.loc['full_jitter', 'herd_convergence_s']:.1f} s "
    f"± {stats.loc['full_jitter', 'herd_convergence_s_ci95']:.1f} s."
)

# %% [markdown]
# ## Optional: sliders

# %%
try:
    from ipywidgets import interact

    @interact(strategy=STRATEGIES, base=(0.1, 5.0, 0.1), cap=(5, 120, 5))
    def _delays(strategy: str = "full_jitter", base: float = 1.0, cap: float = 30.0) -> None:
        seq = Backoff(strategy, base=base, cap=cap).sequence(np.random.default_rng(1))
        print([round(next(seq), 2) for _ in range(8)])
except ImportError:
    print("ipywidgets is not installed: edit the parameters cell and re-run instead.")

# %% [markdown]
# ## Takeaway
#
# The jitter is what matters, not the exponent: un-jittered backoff keeps the herd in lock-step
# and every retry tick is a fresh spike. Mandate exponential backoff with full jitter and a cap of
# 30–60 s in every client, and size the accept capacity for `1/N` of the fleet arriving over
# the first backoff window.
