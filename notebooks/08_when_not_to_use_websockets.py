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
# # 08 · When not to use WebSockets
#
# A WebSocket is the most capable real-time primitive — bidirectional, persistent, stateful — and
# the most expensive to keep open. Much "real-time" traffic needs less:
#
# - one-way server push → **SSE** (plain HTTP, built-in reconnect and `Last-Event-ID`);
# - updates every few minutes → **poll** or **long-poll** (cacheable, no connection tier);
# - request/response → plain HTTP.
#
# The four-part test: is the traffic **bidirectional**, **low-latency**, **high-frequency** *and*
# **server-initiated**? If any part is missing, a cheaper primitive usually wins.
#
# This notebook prices one user per month on each transport with the model in
# `wssim.analytic.transports` (memory held, HTTP requests, TLS handshakes, framing bytes, egress).
#
# **Look for:** that every held connection costs about the same (you pay for presence), that
# polling wins once minutes of staleness are fine, that long-poll loses as updates get frequent,
# and which transport the four-part test picks for a few familiar products.

# %% tags=["parameters"]
# ---- Parameters: change a number, then Run All ------------------------------------------------
UPDATES_PER_MIN = 1.0  # server -> client updates per user per minute
UPSTREAM_PER_MIN = 0.0  # client -> server messages per user per minute (0 = pure server push)
MESSAGE_SIZE = 200  # bytes of payload
MAX_LATENCY_S = 2.0  # acceptable delay from an update to the user seeing it
PER_CONNECTION_KIB = 32  # server memory per open connection
NODE_PER_MONTH = 350.0  # USD per node
USERS = 1_000_000  # prices are shown per month for this many users
RATE_AXIS = [0.1, 0.3, 1, 3, 10, 30, 60, 120, 300, 600]  # updates/min, sweep 1
LATENCY_AXIS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800]  # seconds, sweep 2

# %%
from dataclasses import replace

import pandas as pd
import plotly.express as px

from wssim.analytic.transports import (
    TRANSPORTS,
    Overheads,
    Prices,
    Requirement,
    recommend,
    transport_cost,
    usd_per_user_month,
)

overheads = replace(Overheads(), per_connection_bytes=PER_CONNECTION_KIB * 1024)
prices = replace(Prices(), node_per_month=NODE_PER_MONTH)
PRICE = f"USD/month per {USERS:,} users"


def price_all(updates_per_min: float, max_latency: float, upstream_per_min: float = UPSTREAM_PER_MIN) -> list:
    """Monthly price for ``USERS`` users and the resource figures of every transport."""
    req = Requirement(
        update_rate=updates_per_min / 60,
        upstream_rate=upstream_per_min / 60,
        max_latency=max_latency,
        message_size=MESSAGE_SIZE,
    )
    rows = []
    for kind in TRANSPORTS:
        cost = transport_cost(kind, req, overheads)
        rows.append(
            {
                "updates/min": updates_per_min,
                "max latency (s)": max_latency,
                "transport": kind,
                PRICE: usd_per_user_month(cost, prices) * USERS,
                "requests/s": cost.requests_per_s,
                "handshakes/s": cost.handshakes_per_s,
                "bytes down/s": cost.bytes_down_per_s,
                "memory (KiB)": cost.server_memory_bytes / 1024,
            }
        )
    return rows


def line(frame: pd.DataFrame, x: str, title: str):
    """One log-log price curve per transport."""
    fig = px.line(
        frame,
        x=x,
        y=PRICE,
        color="transport",
        markers=True,
        log_x=True,
        log_y=True,
        category_orders={"transport": list(TRANSPORTS)},
        hover_data=["requests/s", "handshakes/s", "bytes down/s", "memory (KiB)"],
        title=title,
    )
    return fig


# %% [markdown]
# ## 1. How fresh must the data be?
#
# Fix the update rate and relax the latency bound. Held connections (WebSocket, SSE, long-poll)
# cost the same whatever the bound — you pay for presence. A poller polls every
# `bound − RTT` seconds and holds nothing between polls.

# %%
by_latency = pd.DataFrame([r for lat in LATENCY_AXIS for r in price_all(UPDATES_PER_MIN, lat)])
line(by_latency, "max latency (s)", f"{UPDATES_PER_MIN:g} update/min per user: price vs freshness").show()

# %% [markdown]
# ## 2. How often does it change?
#
# Fix the latency bound at `MAX_LATENCY_S` and raise the update rate. Long-poll pays a full HTTP
# request per update; a held stream pays a few bytes of framing.

# %%
by_rate = pd.DataFrame([r for u in RATE_AXIS for r in price_all(u, MAX_LATENCY_S)])
line(by_rate, "updates/min", f"Latency ≤ {MAX_LATENCY_S:g} s: price vs update rate").show()

# %% [markdown]
# ## 2. The four-part test on familiar products

# %%
products = {
    "dashboard tile (1 update/min, push)": Requirement(1 / 60, 0.0, 5.0, 300),
    "notifications (1 per 10 min, push)": Requirement(1 / 600, 0.0, 10.0, 400),
    "live scores (1 update/5 s, push)": Requirement(0.2, 0.0, 1.0, 150),
    "chat (5 msgs/user/min, both ways)": Requirement(5 / 60 * 20, 5 / 60, 0.5, 200),
    "multiplayer game (20/s, both ways)": Requirement(20.0, 20.0, 0.1, 64),
    "order lookup (request/response)": Requirement(0.01, 0.01, 1.0, 500, server_initiated=False),
}
rows = []
for name, req in products.items():
    rec = recommend(req, overheads, prices)
    rows.append(
        {
            "product": name,
            "pick": rec.kind,
            "missing for a WebSocket": ", ".join(rec.test.missing()) or "—",
            **{f"{k} $/user/mo": v for k, v in rec.usd_per_user_month.items()},
        }
    )
picks = pd.DataFrame(rows).set_index("product")
picks.style.format(precision=5, na_rep="rejected")

# %% [markdown]
# ## What you should have seen

# %%
lat_wide = by_latency.pivot(index="max latency (s)", columns="transport", values=PRICE)
held = lat_wide[["websocket", "sse"]].min(axis=1)
poll_wins = lat_wide.index[lat_wide["poll"] < held]
if len(poll_wins):
    print(
        f"- At {UPDATES_PER_MIN:g} update/min, polling is cheaper than any held connection once "
        f"{poll_wins.min():g} s of staleness is acceptable "
        f"(${lat_wide.loc[poll_wins.min(), 'poll']:,.0f} vs ${held.loc[poll_wins.min()]:,.0f} per month)."
    )
else:
    print(
        f"- At {UPDATES_PER_MIN:g} update/min polling never beats a held connection "
        f"up to {max(LATENCY_AXIS)} s of staleness."
    )
rate_wide = by_rate.pivot(index="updates/min", columns="transport", values=PRICE)
ratio = (rate_wide["sse"] / rate_wide["websocket"]).agg(["min", "max"])
print(
    f"- SSE and WebSocket cost within {ratio['min']:.2f}–{ratio['max']:.2f}x of each other at every rate: "
    "both are held sockets. SSE wins on operations (plain HTTP through proxies, CDNs and balancers)."
)
lp = rate_wide["long_poll"] / rate_wide["websocket"]
print(
    f"- Long-poll costs {lp.iloc[0]:.1f}x a WebSocket at {RATE_AXIS[0]:g} updates/min "
    f"and {lp.iloc[-1]:.1f}x at {RATE_AXIS[-1]:g}/min."
)
for name, row in picks.iterrows():
    print(f"- {name}: {row['pick']}")

# %% [markdown]
# ## Optional: sliders

# %%
try:
    from ipywidgets import interact

    @interact(updates_per_min=(0.1, 600.0), max_latency=(1, 1800), upstream_per_min=(0.0, 60.0))
    def _price(updates_per_min: float = 1.0, max_latency: float = 2.0, upstream_per_min: float = 0.0) -> None:
        for row in price_all(updates_per_min, max_latency, upstream_per_min):
            print(f"{row['transport']:>10}: ${row[PRICE]:,.0f} {PRICE}")
except ImportError:
    print("ipywidgets is not installed: edit the parameters cell and re-run instead.")

# %% [markdown]
# ## Takeaway
#
# Run the four-part test before you build a connection tier. Push-only feeds want SSE; slow or
# cacheable data wants polling; request/response wants HTTP. Keep WebSockets for traffic that is
# bidirectional, frequent, latency-critical and pushed — chat, games, collaborative editing.
