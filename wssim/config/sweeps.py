"""Sweeps: check every swept path and value against the schema, and expand a sweep into its points."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from wssim.config.messages import clean_loc, describe_error
from wssim.config.paths import PathProblem, resolve_path, set_path, split_path
from wssim.config.schema import Config, sweep_shape_problems
from wssim.errors import Problem, raise_problems

_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _adapter(ann: Any) -> TypeAdapter[Any]:
    key = repr(ann)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = TypeAdapter(ann)
    return _ADAPTERS[key]


def check_sweep_values(
    root: Any, base: dict[str, Any]
) -> tuple[list[tuple[tuple[str | int, ...], Problem]], dict[str, Any]]:
    """Check every sweep path exists and every value validates there.

    Returns (location under ``sweep``, problem) pairs and the sweep with values normalised to JSON.
    """
    shape = sweep_shape_problems(root)
    problems: list[tuple[tuple[str | int, ...], Problem]] = [(loc, Problem(text)) for loc, text in shape]
    if not isinstance(root, dict) or not root:
        return problems, root
    broken = {loc[0] for loc, _ in shape if loc}
    normalised: dict[str, Any] = {}
    for key, values in root.items():
        if key in broken:
            normalised[key] = values
            continue
        entries = values.items() if key == "zip" else [(key, values)]
        out: dict[str, list[Any]] = {}
        for path, vals in entries:
            loc: tuple[str | int, ...] = ("zip", path) if key == "zip" else (path,)
            out[path] = vals
            if path == "sweep" or str(path).startswith("sweep."):
                problems.append((loc, Problem(f"sweep path `{path}`: a sweep cannot sweep itself")))
                continue
            try:
                ann = resolve_path(split_path(path), base)
            except PathProblem as exc:
                problems.append((loc, Problem(f"sweep path `{path}` does not exist: {exc.text}")))
                continue
            adapter = _adapter(ann)
            good: list[Any] = []
            for i, value in enumerate(vals):
                try:
                    good.append(adapter.dump_python(adapter.validate_python(value), mode="json"))
                except ValidationError as exc:
                    for err in exc.errors():
                        text = describe_error(err, [*split_path(path), *err["loc"]], base, value)
                        lead = f"sweep value {i + 1} of `{path}`"
                        rest = text.removeprefix(f"`{path}`")
                        sentence = lead + rest if rest != text else f"{lead}: {text}"
                        problems.append(((*loc, i), Problem(sentence)))
            out[path] = good
        normalised[key] = out if key == "zip" else out[key]
    return problems, normalised


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its index, the swept values (dotted path -> value) and the full config."""

    index: int
    params: dict[str, Any]
    config: Config


def expand_sweep(config: Config) -> list[SweepPoint]:
    """Expand a config's sweep into points (cartesian product over axes in YAML order; `zip:` is one axis).

    Each point's config has the sweep removed and the point's values applied; ``params`` maps dotted
    path -> value (normalised: SI numbers). No sweep gives one point with empty params.
    Raises :class:`ConfigError` if a combination of values is invalid.
    """
    return expand_points(config, "config", "")


def expand_points(config: Config, origin: str, where: str) -> list[SweepPoint]:
    """:func:`expand_sweep`, reporting invalid points as coming from ``origin`` at ``where``."""
    if config.sweep is None:
        return [SweepPoint(0, {}, config)]
    base = config.model_dump(mode="json", exclude={"sweep"})
    groups = config.sweep.groups()
    points: list[SweepPoint] = []
    failing: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, combo in enumerate(itertools.product(*[range(len(group[0][1])) for group in groups])):
        raw = copy.deepcopy(base)
        params: dict[str, Any] = {}
        for group, i in zip(groups, combo, strict=True):
            for path, values in group:
                params[path] = values[i]
                set_path(raw, split_path(path), values[i])
        try:
            points.append(SweepPoint(index, params, Config.model_validate(raw)))
        except ValidationError as exc:
            for err in exc.errors():
                text = describe_error(err, clean_loc(err["loc"], raw), raw)
                failing.setdefault(text, []).append((index, params))
    problems = []
    for text, where_bad in failing.items():
        index, params = where_bad[0]
        shown = ", ".join(f"{k}={v}" for k, v in params.items())
        more = f" and {len(where_bad) - 1} other point(s)" if len(where_bad) > 1 else ""
        problems.append(Problem(f"sweep point {index} ({shown}){more} would be invalid: {text}", where))
    raise_problems(origin, problems)
    return points
