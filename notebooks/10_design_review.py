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
# # 10 · Design review: a design someone brings, fixed item by item
#
# The closing exercise of the day. A team brings a design in the config language of `wssim run`
# and asks for a review. `wssim check` reads it against every item of the senior checklist and
# answers, per item, with a verdict, the evidence as numbers and the change that fixes it. Here the
# same review runs from Python, one item at a time, so you can watch each fix land and see what it
# does to the other items.
#
# The design to start from is `data/designs/bad.yaml`, "the design in a hurry": 2,000,000 clients
# on 2 gateways, `fd_limit: 1024`, unbounded send queues, 90 s pings behind a 30 s proxy, no backoff
# jitter, no resume, Redis Pub/Sub for messages that must not be lost, no alert, and deploys that
# kill. It passes `wssim validate`: the schema is happy, the checklist is not.
#
# **Look for:** which fixes turn several items green at once, which items only a simulation can
# judge, and what the crash of the busiest gateway costs once the fleet is fixed.
#
# **Exercises:** predict, then run, then compare. Write your prediction in the cell under each
# question *before* running the cells below it; the `reveal` cell then shows your number and, when
# you click it, the model's.

# %% tags=["parameters"]
# ---- Parameters: change a value, then Run All --------------------------------------------------
DESIGN = "bad"  # a design of data/designs/ (good, bad, chat, live-scores) or a path to your own
OVERRIDES = []  # --set style changes before the review, e.g. ["gateways.count=4"]
MAX_CLIENTS = 1000  # simulated clients in the crash probe (the design is scaled down to this)
REPLICATIONS = 1

# %%
from wssim.lessons import design_review
from wssim.lessons.exercises import reveal
from wssim.lessons.widgets import explore, slider

brought = design_review.load(DESIGN, OVERRIDES)
print(f"{brought.name}: {brought.clients.count:,} clients on {brought.gateways.count} gateways")

# %% [markdown]
# ## 1. The review, as the team would get it
#
# `wssim check DESIGN --quick` runs the arithmetic of every item: static items (transport, budget,
# kernel, disconnects) are nothing but arithmetic; dynamic items (dropped messages, a gateway dies,
# slow consumers, deploys, a spike) also run a short simulation — a *probe* — in a full review.
# Each row names the fields to change and values that pass **together**.
#
# ### Exercise 10.1 · How many gateways?
#
# 2,000,000 clients at 32 KiB each, 16 GiB gateways planned at 70% of their memory, one core each
# for the fan-out (`gateways.cpu`), and one gateway you must be able to lose. **Predict** the
# gateway count the review asks for.

# %%
prediction_1 = None  # gateways

# %%
review = design_review.verdicts(brought)
review

# %% [markdown]
# ## 2. Fixing it one item at a time
#
# Apply the changes of the first item, review again, then the next item's, and so on. Fixes
# interact: more gateways shrink every per-node number, a durable backplane brings a replay window
# that must be sized, a bounded queue decides what a slow reader costs.
#
# ### Exercise 10.2 · The first fix alone
#
# The first item's fix swaps the transport. **Predict** how many of the nine items still fail after
# that fix alone.

# %%
prediction_2 = None  # items failing

# %%
steps, fixed = design_review.walk(brought)
design_review.walk_figure(steps).show()
steps[["changes", "failing"]]

# %%
reveal(
    "10.1",
    prediction_1,
    int(design_review.change(steps, "gateways.count") or brought.gateways.count),
    "gateways",
    why="Memory asks for 8; the busiest gateway's one core within 70% at peak fan-out asks for more.",
)

# %%
reveal(
    "10.2",
    prediction_2,
    int(steps["failing"].iloc[1]),
    "items",
    why="A transport does not raise an fd limit, bound a queue or add a gateway: each item has its own fix.",
)

# %% [markdown]
# ## 3. What only a simulation can say: the busiest gateway dies
#
# The arithmetic gives a floor for the herd (its clients over the survivors' admission rate). The
# probe simulates it: the fixed design scaled down to `MAX_CLIENTS` clients, every capacity the fleet
# shares scaled with them, the busiest gateway crashed once everyone is connected.
#
# ### Exercise 10.3 · Whole again after
#
# **Predict** how many seconds after the crash the fixed fleet holds its connections again (the
# design promises 60 s; the backoff cap is 30 s).

# %%
prediction_3 = None  # seconds

# %%
probe = design_review.crash(fixed, max_clients=MAX_CLIENTS, replications=REPLICATIONS)
design_review.crash_figure(probe).show()
design_review.crash_table(probe)

# %%
reveal(
    "10.3",
    prediction_3,
    design_review.convergence(probe),
    "s",
    why="The herd's floor is short with this many survivors; the tail is the jittered backoff's cap.",
)

# %% [markdown]
# ## What you should have seen

# %%
print(design_review.findings(brought, steps, probe))

# %% [markdown]
# ## Try it: sliders that simulate
#
# The gateway count and the backoff cap of the fixed design: each change re-runs the crash probe
# (seconds) and redraws the connections. How few gateways still hold the fleet — and what does a
# shorter cap buy, against what the herd then costs the survivors?

# %%
explore(
    design_review.crash,
    design_review.crash_figure,
    config=fixed,
    max_clients=MAX_CLIENTS,
    gateways=slider(4, 16, 1, fixed.gateways.count, "gateways"),
    cap_s=slider(5, 60, 5, fixed.clients.reconnect.cap, "backoff cap (s)"),
)

# %% [markdown]
# ## Takeaway
#
# A design review is arithmetic first: most of the checklist is decided by numbers in the config
# (bytes per connection, fd and conntrack limits, ping against timeouts, the backplane's semantics).
# Fix those, then let the simulation judge what arithmetic cannot: the herd after a crash, the
# deploys, the spike. Run `wssim check` in the CI of your design repository so the review happens
# every time the design changes.
#
# ## For discussion
#
# The review judges the design against what it promises (loss budget, p99 latency, reconnect
# within N seconds, monthly budget) and the guide's defaults where it is silent. Which of those
# promises would your product owner sign — and which did your own design never state?
