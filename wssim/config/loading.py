"""Loading configs: YAML files (with line marks) or built-in scenarios, ``--set`` overrides, validation.

Every problem found is reported at once as one :class:`wssim.errors.ConfigError` paragraph.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from wssim.config.messages import kind_of, locate, problems_from
from wssim.config.paths import PathProblem, resolve_path, set_path, split_path
from wssim.config.schema import Config, Sweep
from wssim.config.sweeps import check_sweep_values, expand_points
from wssim.errors import ConfigError, Mark, Path_, Problem, raise_problems, yaml_marks
from wssim.notes import Note
from wssim.units import decimal_sizes, parse_bytes

SCENARIO_DIR = Path(__file__).parent.parent / "scenarios"  # wssim/scenarios (package data)


class YamlLoader(yaml.SafeLoader):
    """The safe YAML loader, also reading exponent floats without a dot or sign (``1e3``, ``1.5e-3``)."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    """Parse YAML text the way config files are read (safe, with exponent floats)."""
    return yaml.load(text, Loader=YamlLoader)


MAX_CHECKED_POINTS = 4096


def scenario_names() -> list[str]:
    """Names of the built-in scenarios (``wssim/scenarios/NAME.yaml``)."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def scenario_path(name: str) -> Path:
    """Path of a built-in scenario's YAML."""
    return SCENARIO_DIR / f"{name}.yaml"


def load_config(source: str | Path | dict[str, Any] | Config, overrides: list[str] | None = None) -> Config:
    """Load and validate a config from a YAML path, a built-in scenario name, a dict or a Config.

    ``overrides`` are ``path=value`` strings (``--set``; the value is parsed as YAML) applied before
    validation. Every sweep point is validated too (for grids up to 4096 points). Raises
    :class:`wssim.errors.ConfigError` with one human paragraph listing every problem found.
    """
    return load_config_with_notes(source, overrides)[0]


def load_config_with_notes(
    source: str | Path | dict[str, Any] | Config, overrides: list[str] | None = None
) -> tuple[Config, list[Note]]:
    """:func:`load_config`, and what is worth noting about how the config is written (a decimal size)."""
    marks: dict[Path_, Mark] = {}
    if isinstance(source, Config):
        source = source.model_dump(mode="json")
    if isinstance(source, dict):
        raw: Any = copy.deepcopy(source)
        origin = "config"
    else:
        path, origin = _resolve_source(source)
        raw, marks = _read_yaml(path, origin)
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{origin}: the top level must be a mapping of fields (name:, duration:, clients: ...), "
            f"got {kind_of(raw)}"
        )
    overridden = _apply_overrides(raw, overrides or [], problems)
    raise_problems(origin, problems)
    notes = _unit_notes(raw)

    raw_sweep = raw.pop("sweep", None)
    try:
        base = Config.model_validate(raw)
    except ValidationError as exc:
        problems.extend(problems_from(exc, raw, marks, overridden))
        base = None
    if raw_sweep is not None:
        base_raw = base.model_dump(mode="json") if base is not None else raw
        sweep_problems, normalised = check_sweep_values(raw_sweep, base_raw)
        for loc, problem in sweep_problems:
            location = locate(("sweep", *loc), marks, overridden)
            problems.append(Problem(problem.text, location.where, location.order))
        raw_sweep = normalised
    raise_problems(origin, problems)
    assert base is not None
    if raw_sweep is None:
        return base, notes
    config = base.model_copy(update={"sweep": Sweep(raw_sweep)})
    if config.sweep is not None and config.sweep.size() <= MAX_CHECKED_POINTS:
        expand_points(config, origin, locate(("sweep",), marks, overridden).where)
    return config, notes


def _unit_notes(raw: dict[str, Any]) -> list[Note]:
    """One note for every size written in decimal units (``4GB`` is 4×10⁹ bytes, 7 % less than 4GiB)."""
    found = decimal_sizes(raw)
    if not found:
        return []
    text = found[0][1]
    binary = f"{text[:-2].rstrip()}{text[-2]}iB"  # 4GB -> 4GiB
    shown = ", ".join(f"`{path}: {t}`" for path, t in found[:4]) + (" …" if len(found) > 4 else "")
    return [
        Note(
            f"{shown}: KB, MB, GB and TB are decimal units (powers of 1,000), so `{text}` is "
            f"{parse_bytes(text):,} bytes, {1 - parse_bytes(text) / parse_bytes(binary):.0%} less than "
            f"`{binary}` ({parse_bytes(binary):,} bytes). Write KiB, MiB, GiB or TiB for powers of 1,024.",
            topic="units",
        )
    ]


def _resolve_source(source: str | Path) -> tuple[Path, str]:
    path = Path(source)
    if path.is_file():
        return path, str(source)
    name = str(source)
    if scenario_path(name).is_file():
        return scenario_path(name), f"{name}.yaml (built-in scenario)"
    if path.is_dir():
        raise ConfigError(f"`{source}` is a directory; give a YAML config file or a built-in scenario name")
    scenarios = scenario_names()
    close = _close_name(path, scenarios)
    hint = f" Did you mean `{close}`?" if close else ""
    listed = ", ".join(scenarios) if scenarios else "none"
    raise ConfigError(
        f"config `{source}` not found: no such file and no built-in scenario of that name.{hint} "
        f"Give a path to a YAML file or one of the built-in scenarios: {listed}."
    )


def _close_name(path: Path, scenarios: list[str]) -> str | None:
    """A YAML file beside ``path`` or a scenario whose name is close to ``path``'s, or None.

    Names are compared without their extension, so the shared ``.yaml`` does not make every file look
    close (``nope.yaml`` is not ``empty.yaml``), while ``herd.yml`` finds ``herd.yaml``.
    """
    folder = path.parent
    candidates: dict[str, str] = {}  # name without extension -> what to type; files before scenarios
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.suffix in (".yaml", ".yml") and p.is_file():
                candidates.setdefault(p.stem, str(p) if str(folder) != "." else p.name)
    for name in scenarios:
        candidates.setdefault(name, name)
    close = difflib.get_close_matches(path.stem, list(candidates), n=1, cutoff=0.75)
    return candidates[close[0]] if close else None


def _read_yaml(path: Path, origin: str) -> tuple[Any, dict[Path_, Mark]]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{origin}: cannot read the file ({exc.__class__.__name__}: {exc})") from None
    try:
        raw = parse_yaml(text)
        marks, duplicates = yaml_marks(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_error_text(origin, exc)) from None
    if duplicates:
        problems = [
            Problem(f"duplicate key `{'.'.join(map(str, p))}` (it was already given above; keep one)", str(m))
            for p, m in duplicates
        ]
        raise_problems(origin, problems)
    if raw is None or raw == {}:
        d = Config()
        raise ConfigError(
            f"{origin} is empty: with no fields it would run every default ({d.clients.count:,} clients on "
            f"{d.gateways.count} gateways for {d.duration:g} s), which is almost certainly not what you "
            "meant. Write the fields that differ from "
            "the defaults (`name:`, `clients:`, `gateways:` …; docs/howto/write-a-config.md), or start "
            "from a built-in scenario (`wssim scenarios`)."
        )
    return raw, marks


def _yaml_error_text(origin: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{problem} ({context})" if context else problem
    return (
        f"{origin}{where}: not valid YAML: {detail}. Check the indentation (spaces, not tabs) and quote "
        f"values that contain `: ` or start with special characters."
    )


def _apply_overrides(raw: dict[str, Any], overrides: list[str], problems: list[Problem]) -> dict[Any, str]:
    """Apply ``path=value`` overrides to ``raw``; record problems. Returns path -> override text."""
    overridden: dict[tuple[str | int, ...], str] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        where = f"--set {item}"
        if not sep or not key:
            problems.append(Problem("expected `path=value`, e.g. `--set gateways.count=8`", where))
            continue
        try:
            value = parse_yaml(text) if text.strip() else None
        except yaml.YAMLError as exc:
            detail = getattr(exc, "problem", None) or str(exc)
            problems.append(Problem(f"the value is not valid YAML ({detail}); quote it", where))
            continue
        parts = split_path(key)
        if parts[0] != "sweep":
            try:
                resolve_path([str(p) for p in parts], raw)
            except PathProblem as exc:
                problems.append(Problem(f"cannot set `{key}`: {exc.text}", where))
                continue
        elif len(parts) == 1 and value is not None and not isinstance(value, dict):
            problems.append(
                Problem("`sweep` must be a mapping, e.g. `--set 'sweep={gateways.count: [2, 4]}'`", where)
            )
            continue
        if parts[0] == "sweep" and len(parts) > 1 and not isinstance(raw.get("sweep"), dict):
            raw["sweep"] = {}
        set_path(raw, parts, value)
        overridden[tuple(parts)] = item
    return overridden
