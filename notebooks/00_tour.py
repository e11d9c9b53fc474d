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
# # 00 · A tour: the fleet, a run, and how to read what it says
#
# wssim simulates a WebSocket fleet event by event: clients connect through a load balancer
# (the *edge*) to a tier of *gateways* that hold their sockets; gateways exchange messages through
# a pub/sub *backplane*; every connection has a bounded *send queue*; and *faults* — a crash, a
# deploy, an outage — happen on a timeline. Each run reports the same named metrics, with units,
# that the live reference implementation reports for real sockets.
#
# This notebook takes one small fleet through the whole loop: what it is made of, one run, how to
# read its numbers and charts, and why one run is not enough — replications, confidence
# intervals, and how to compare two designs fairly.
#
# **Look for:** the crash in the connections chart, which metrics moved and which stayed at
# zero, and how the confidence interval narrows as replications are added.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
CLIENTS = 2_000
GATEWAYS = 4
CRASH_AT = "40s"  # gateway 0 crashes here
DURATION = "80s"
REPLICATIONS = 16  # for the confidence intervals of section 3
METRIC = "herd_convergence_s"  # a noisy metric: how long until the fleet is whole again after the crash
SHOWN = [2, 4, 8, 16]  # intervals over the first n replications
COMPARED = ["exponential", "full_jitter"]  # two backoff strategies, compared in section 4

# %%
from wssim.lessons import tour
from wssim.lessons.exercises import reveal
from wssim.lessons.runs import simulate
from wssim.lessons.widgets import choice, explore, slider

cfg = tour.fleet(CLIENTS, GATEWAYS, CRASH_AT, DURATION)

# %% [markdown]
# ## 1. The fleet
#
# A config is a small YAML file (this one is the built-in `quickstart`, resized); everything not
# written takes a documented default. `wssim validate` checks one; `wssim run` runs it.

# %%
tour.components(cfg)

# %% [markdown]
# ### Exercise 00.1 · Who has to reconnect?
#
# At `CRASH_AT` gateway 0 of `GATEWAYS` dies and every socket on it drops. **Predict** how many
# clients it held at that moment.

# %%
prediction_1 = None  # clients

# %% [markdown]
# ## 2. One run, and how to read it
#
# `simulate` runs the config once (in this process, seconds); `res.summary` has one row per run,
# `res.timeseries` every sampled series.

# %%
res = simulate(cfg)
res.plot_timeseries("connections").show()

# %%
reveal("00.1", prediction_1, tour.orphans(res), "clients", why="The balancer spread the clients evenly.")

# %% [markdown]
# Every metric has a unit and a one-line meaning (the metrics reference lists them all). Read the
# rows that moved as a design review; the ones that stayed at zero are often the good news.

# %%
moved, zero = tour.readout(res)
print("zero:", ", ".join(zero))
moved

# %% [markdown]
# ## 3. One run is one draw: replications and confidence intervals
#
# Clients arrive, back off and retry at random. Run the same config again with other random
# streams (a *replication*) and the numbers move. The mean over `n` replications comes with a 95%
# confidence interval (Student t), which narrows like `1/√n`.
#
# ### Exercise 00.2 · Four times the replications
#
# Over the first 4 replications `METRIC` has some interval `± h`. **Predict** the half-width
# over 16 replications, as a multiple of `h` (e.g. 0.25).

# %%
prediction_2 = None  # a multiple of the 4-replication half-width

# %%
runs = tour.replicate(cfg, REPLICATIONS)
values = runs.summary[METRIC].to_list()
tour.intervals_figure(values, SHOWN, METRIC).show()
tour.shrinking(values, SHOWN).round(3)

# %%
widths = tour.shrinking(values, [4, 16]).set_index("replications")["ci95_half_width"]
reveal(
    "00.2",
    prediction_2,
    widths[16] / widths[4],
    "× h",
    why="1/√n predicts 0.5, and the t quantile falls too (3.18 at n = 4, 2.13 at n = 16); "
    "but the spread is itself estimated from few runs.",
)

# %% [markdown]
# ## 4. Comparing two designs: common random numbers
#
# Replication `r` of every sweep point shares its random streams, so two designs face the same
# arrivals and draws. The *paired* difference (`diff_vs_point0` in `aggregate.csv`) is then far
# more precise than two separate intervals suggest.

# %%
pair = tour.replicate(cfg, REPLICATIONS // 2, sweep={tour.STRATEGY: COMPARED})
pairs = tour.paired(pair, METRIC)
pairs.round(3)

# %% [markdown]
# ## What you should have seen

# %%
print(tour.findings(res, values, SHOWN, METRIC, pairs))

# %% [markdown]
# ## Try it: sliders that simulate
#
# Pick a backoff strategy and a number of replications: each change re-runs the crash that many
# times and shows every replication and the interval. Which strategy needs more replications for
# the same precision?

# %%
explore(
    tour.spread,
    tour.spread_figure,
    cfg=cfg,
    replications=slider(2, 12, 1, 4, "replications"),
    strategy=choice(["none", "exponential", "full_jitter", "decorrelated"], "full_jitter"),
)

# %% [markdown]
# ## Takeaway
#
# A run is a sample, not an answer: read its numbers with their units and meanings, look at the
# time series around each fault, and report a mean with its confidence interval over
# replications. Compare designs on the same random streams and read the paired difference.
#
# ## For discussion
#
# Which number from this run would you put in a design document, and with how many replications
# behind it — and what would make you distrust it?
