"""``check.html``: the review as a self-contained page (plotly.js inline), with the evidence charts.

Top: the verdict per item and the fixes. Then one section per item: its question, every check (verdict,
evidence, the rule's source, arithmetic or probe), its fixes, the probe's re-run command and its charts.
It uses the run report's style (:mod:`wssim.report`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from wssim.check.charts import item_charts
from wssim.report import CSS, _figure_html

PAGE_CSS = """
.badge.warn { background:#fef9c3; color:#854d0e; }
td.mono, code.fix { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
pre.cmd { background:#0f172a; color:#e2e8f0; border-radius: 10px; padding: 12px 16px; white-space: pre-wrap;
  font-size: 12px; }
.source { color: var(--muted); font-size: 12px; }
"""
BADGE = {"pass": "ok", "warn": "warn", "fail": "bad"}


def _e(text: Any) -> str:
    return html.escape(str(text))


def _badge(verdict: str) -> str:
    return f'<span class="badge {BADGE[verdict]}">{verdict.upper()}</span>'


def _fixes(fixes: list[Any]) -> str:
    if not fixes:
        return "<span class='muted'>—</span>"
    return "<br>".join(f"<code class='fix' title='{_e(f.reason)}'>{_e(f.set_arg)}</code>" for f in fixes)


def _overview(review: Any) -> str:
    rows = "".join(
        f"<tr><td><a href='#{item.spec.id}'>{n}. {_e(item.spec.title)}</a></td><td>{item.spec.kind}</td>"
        f"<td>{_badge(item.verdict)}</td><td>{_e(item.summary())}</td><td>{_fixes(item.changes)}</td></tr>"
        for n, item in enumerate(review.items, start=1)
    )
    head = "<tr><th>item</th><th>kind</th><th>verdict</th><th>evidence (worst check)</th><th>fix</th></tr>"
    return f"<table class='data'><thead>{head}</thead><tbody>{rows}</tbody></table>"


def _checks(item: Any) -> str:
    rows = "".join(
        f"<tr><td>{_badge(c.verdict)}</td><td>{_e(c.text)}<div class='source'>{_e(c.source)}</div></td>"
        f"<td class='mono'>{_e(c.basis)}</td></tr>"
        for c in item.checks
    )
    return (
        f"<table class='data'><thead><tr><th>verdict</th><th>evidence and rule</th><th>basis</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _section(review: Any, item: Any, n: int, charts: list[dict[str, Any]]) -> str:
    spec = item.spec
    parts = [
        f"<section id='{spec.id}'><h2>{n}. {_e(spec.title)} {_badge(item.verdict)}</h2>",
        f"<p class='muted'>{_e(spec.question)} ({spec.kind})</p>",
        _checks(item),
    ]
    if item.note:
        parts.append(f"<p class='muted'>{_e(item.note)}</p>")
    if item.changes:
        parts.append(f"<h3>Fix</h3><p>{_fixes(item.changes)}</p>")
    if item.probe:
        p = item.probe
        parts.append(
            f"<h3>Probe {_e(p['name'])}</h3><p class='muted'>{_e(p['title'])}. {p['simulated_clients']:,} "
            f"simulated clients, each standing for {p['scale']:,.4g}; {p['replications']} replications. "
            f"Re-run:</p><pre class='cmd'>{_e(p['command'])}</pre>"
        )
    if charts:
        divs = "".join(
            f"<div class='chart'>{_figure_html(c, f'{spec.id}-{i}')}</div>" for i, c in enumerate(charts)
        )
        parts.append(f"<div class='grid'>{divs}</div>")
    return "".join(parts) + "</section>"


def build_page(review: Any) -> str:
    """The whole page as one HTML string."""
    from plotly.offline import get_plotlyjs

    cfg = review.design
    counts = ", ".join(f"{n} {v}" for v, n in review.counts().items() if n)
    meta = [
        ("clients", f"{cfg.clients.count:,}"),
        ("gateways", cfg.gateways.count),
        ("transport", cfg.transport.kind),
        ("backplane", f"{cfg.backplane.kind} {cfg.backplane.topology}"),
        ("verdict", f"{review.verdict.upper()} ({counts})"),
        ("review", "quick" if review.quick else "full"),
    ]
    meta_html = "".join(f"<div><span>{_e(k)}</span><b>{_e(v)}</b></div>" for k, v in meta)
    sections = "".join(
        _section(review, item, n, item_charts(review, item.spec.id)) for n, item in enumerate(review.items, 1)
    )
    fixes = f"<h3>Every fix at once</h3><pre class='cmd'>{_e(review.rerun())}</pre>" if review.fixes else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wssim design review: {_e(review.name)}</title>
<style>{CSS}{PAGE_CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head><body>
<header><div class="wrap"><h1>wssim design review <span>{_e(review.name)}</span></h1>
<p class="desc">{_e(cfg.description)}</p><div class="meta">{meta_html}</div></div></header>
<main class="wrap">
<section><h2>Verdict</h2><p class="muted">Static items are arithmetic on the config; dynamic items also
ran a probe, a short simulation derived from the design. Every verdict is explained by the numbers in its
section and the source of its rule.</p>{_overview(review)}{fixes}</section>
{sections}
</main>
<footer class="wrap">Generated by <code>wssim check</code>. Beside this page: check.json (the same review as
data) and probes/ (each probe's config).</footer>
<script>window.addEventListener("load", () => document.querySelectorAll(".plotly-graph-div")
  .forEach((d) => window.Plotly && Plotly.Plots.resize(d)));</script>
</body></html>
"""


def write_page(review: Any, folder: Path) -> Path:
    """Write ``folder/check.html`` (atomically) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "check.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(build_page(review), encoding="utf-8")
    tmp.replace(path)
    return path
