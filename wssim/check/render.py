"""The review in the terminal: one row per item (verdict, evidence, fix), the probes, the fixes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from wssim.units import human

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}
MARK = {"pass": "✓", "warn": "!", "fail": "✗"}


def _evidence(item: Any) -> Text:
    text = Text()
    for i, check in enumerate(item.checks):
        if i:
            text.append("\n")
        text.append(f"{MARK[check.verdict]} ", style=STYLE[check.verdict])
        text.append(check.text)
        if check.basis != "arithmetic":
            text.append(f"  [{check.basis}]", style="dim")
    if item.note:
        text.append(f"\n{item.note}", style="dim italic")
    return text


def review_table(review: Any) -> Table:
    """The rich table: item and kind, verdict, every check's evidence, the fixes."""
    cfg = review.design
    counts = review.counts()
    title = (
        f"Design review: {review.name} ({cfg.clients.count:,} clients, {cfg.gateways.count} gateways) — "
        + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    )
    table = Table(title=title, title_style="bold", header_style="bold cyan", show_lines=True, expand=True)
    table.add_column("item", ratio=2)
    table.add_column("verdict", no_wrap=True)
    table.add_column("evidence", ratio=8)
    table.add_column("fix", ratio=3, overflow="fold")
    for n, item in enumerate(review.items, start=1):
        head = Text(f"{n}. {item.spec.title}\n", style="bold")
        head.append(item.spec.kind + (f" · probe {item.probe['name']}" if item.probe else ""), style="dim")
        verdict = Text(item.verdict.upper(), style=STYLE[item.verdict])
        fixes = Text(
            "\n".join(f.set_arg for f in item.changes) or "—", style="cyan" if item.changes else "dim"
        )
        table.add_row(head, verdict, _evidence(item), fixes)
    return table


def print_review(review: Any, console: Console, out: Path | None = None, strict: bool = False) -> None:
    """The table, how to re-run the probes, the command that applies every fix, where the files are."""
    console.print(review_table(review))
    probes = [item.probe for item in review.items if item.probe]
    if probes:
        console.print(
            "Dynamic items ran probes: short simulations of the design scaled down to "
            f"{probes[0]['simulated_clients']:,} clients (each stands for {probes[0]['scale']:,.4g}). "
            "Re-run one with:",
            soft_wrap=True,
        )
        for p in probes:
            console.print(f"  {p['command']}", style="dim", soft_wrap=True, highlight=False)
    elif review.quick:
        console.print("--quick: arithmetic only; the dynamic items' probes did not run.", style="dim")
    if review.fixes:
        checked = (
            " (probed: they pass)"
            if review.verified
            else ""
            if review.quick
            else " (probed: not all pass yet)"
        )
        console.print(f"Review the design with every fix applied{checked}:", soft_wrap=True)
        console.print(f"  {review.rerun()}", style="cyan", soft_wrap=True, highlight=False)
    verdict = review.verdict
    code = review.exit_code(strict)
    console.print(
        Text(f"{verdict.upper()}", style=STYLE[verdict])
        + Text(f" (exit {code}{', --strict' if strict else ''}) in {human(review.wall_s, 's')}"),
    )
    if out is not None:
        files = ", ".join(str(p) for p in sorted(out.glob("check.*")))
        console.print(f"Written: {files}", soft_wrap=True, highlight=False)
