"""The interactive cell: controls that re-run a small simulation and redraw its chart.

``explore(simulate, draw, cfg=cfg, strategy=choice([...]), admission=slider(50, 400, 50, 100))`` shows
one control per :class:`Slider` or :class:`Choice` keyword, a progress bar and the chart; other keywords
(``cfg``) are passed to ``simulate`` unchanged. When a control is released, ``simulate(**fixed,
**values, progress=report)`` runs again (a few seconds: small fleets) while the bar follows the
simulated time, then ``draw(result, **values)`` replaces the chart in place.

Executed headless (CI, ``jupyter execute``) the cell runs the simulation once with the initial values
and shows its chart, so a static copy of the notebook still reads well. Without ipywidgets it does the
same and says how to get the controls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from IPython.display import display


@dataclass(frozen=True)
class Slider:
    """A numeric control: ``min`` to ``max`` in steps of ``step``, starting at ``value``."""

    min: float
    max: float
    step: float
    value: float
    description: str = ""

    def widget(self, name: str) -> Any:
        import ipywidgets as w

        integral = all(float(x).is_integer() for x in (self.min, self.max, self.step, self.value))
        kind = w.IntSlider if integral else w.FloatSlider
        cast = int if integral else float
        return kind(
            min=cast(self.min),
            max=cast(self.max),
            step=cast(self.step),
            value=cast(self.value),
            description=self.description or name,
            continuous_update=False,
            style={"description_width": "initial"},
        )


@dataclass(frozen=True)
class Choice:
    """A control that picks one of ``options``, starting at ``value``."""

    options: Sequence[Any]
    value: Any
    description: str = ""

    def widget(self, name: str) -> Any:
        import ipywidgets as w

        return w.Dropdown(
            options=list(self.options),
            value=self.value,
            description=self.description or name,
            style={"description_width": "initial"},
        )


def slider(min: float, max: float, step: float, value: float, description: str = "") -> Slider:
    """A slider from ``min`` to ``max`` (integers if every bound is whole)."""
    return Slider(min, max, step, value, description)


def choice(options: Sequence[Any], value: Any = None, description: str = "") -> Choice:
    """A drop-down over ``options`` (the first one unless ``value`` is given)."""
    return Choice(list(options), options[0] if value is None else value, description)


Control = Slider | Choice


class Explorer:
    """Controls, a progress bar and a chart that ``simulate`` and ``draw`` keep up to date."""

    def __init__(
        self,
        simulate: Callable[..., Any],
        draw: Callable[..., Any],
        controls: dict[str, Control],
        fixed: dict[str, Any] | None = None,
    ) -> None:
        self.simulate, self.draw, self.specs, self.fixed = simulate, draw, controls, fixed or {}
        self.values = {name: spec.value for name, spec in controls.items()}
        self.widgets: dict[str, Any] = {}
        self.bar: Any = None
        self.status: Any = None
        self.handle: Any = None
        self.figure: Any = None
        self.runs = 0

    def build(self) -> Any:
        """The ipywidgets box of controls, progress bar and status line (None without ipywidgets)."""
        try:
            import ipywidgets as w
        except ImportError:
            return None
        self.widgets = {name: spec.widget(name) for name, spec in self.specs.items()}
        for widget in self.widgets.values():
            widget.observe(self._changed, names="value")
        self.bar = w.FloatProgress(min=0.0, max=1.0, value=0.0, description="simulating")
        self.status = w.Label("")
        return w.VBox([w.HBox(list(self.widgets.values())), w.HBox([self.bar, self.status])])

    def _changed(self, change: dict[str, Any]) -> None:
        name = next(n for n, widget in self.widgets.items() if widget is change["owner"])
        self.values[name] = change["new"]
        self.rerun()

    def _progress(self, fraction: float) -> None:
        if self.bar is not None:
            self.bar.value = fraction
            self.status.value = f"{fraction:.0%} of the simulated time"

    def rerun(self) -> Any:
        """Simulate with the current values and redraw; a failure is shown in the status line."""
        started = time.perf_counter()
        self._progress(0.0)
        try:
            result = self.simulate(**self.fixed, **self.values, progress=self._progress)
            self.figure = self.draw(result, **self.values)
        except Exception as exc:  # a combination of values the model refuses: say so, keep the old chart
            if self.status is None:
                raise
            self.status.value = f"not simulated: {exc}"
            return self.figure
        self.runs += 1
        if self.status is not None:
            self.bar.value = 1.0
            self.status.value = f"simulated in {time.perf_counter() - started:.1f} s"
        if self.handle is None:
            self.handle = display(self.figure, display_id=True)
        else:
            self.handle.update(self.figure)
        return self.figure


def explore(simulate: Callable[..., Any], draw: Callable[..., Any], **kwargs: Any) -> None:
    """Show the controls among ``kwargs`` and the chart of ``simulate`` at their initial values; re-run
    on every change. Keywords that are not controls are fixed arguments of ``simulate``."""
    controls = {k: v for k, v in kwargs.items() if isinstance(v, Slider | Choice)}
    fixed = {k: v for k, v in kwargs.items() if k not in controls}
    explorer = Explorer(simulate, draw, controls, fixed)
    box = explorer.build()
    if box is None:
        print("ipywidgets is not installed (pip install -e '.[notebooks]'): the chart below does not move.")
    else:
        display(box)
    explorer.rerun()
