"""Human error messages: pydantic validation errors turned into one located sentence each.

A problem is located at a ``--set`` item or at the YAML line of its key (see :mod:`wssim.errors`).
"""

from __future__ import annotations

import difflib
import re
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from wssim.config.paths import (
    PathProblem,
    fault_model,
    is_model,
    resolve_path,
    split_path,
    unknown_field_text,
    unwrap,
    where_in,
)
from wssim.config.schema import FAULT_MODELS
from wssim.errors import Location, Mark, Path_, Problem, nearest_mark

_NAMED_PATH = re.compile(r"^`([a-z_]+(?:\.[a-z_0-9]+)*)`")
_SKIP_LOC_TAGS = {
    *FAULT_MODELS,
    "fixed-size",
    "size-distribution",
    "function-before",
    "function-after",
    "int",
    "float",
    "str",
    "bool",
    "none",
}


def _fmt_key(value: Any) -> str:
    return "null" if value is None else str(value)


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return f"`{text if len(text) <= 60 else text[:57] + '...'}`"


def kind_of(value: Any) -> str:
    """What a value is, in words: ``null``, ``a mapping``, ``a list`` or the value itself."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _shown(value)


def clean_loc(loc: tuple[Any, ...], raw: Any) -> list[str | int]:
    """Drop pydantic's union tags from an error location, keeping the data path."""
    out: list[str | int] = []
    node = raw
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        elif isinstance(part, str) and (part in _SKIP_LOC_TAGS or "[" in part):
            continue
        else:
            node = None
        out.append(part)
    return out


def _model_at(path: list[str | int], raw: Any) -> type[BaseModel] | None:
    try:
        ann = unwrap(resolve_path([str(p) for p in path], raw))
    except PathProblem:
        return None
    if get_origin(ann) in (Union, types.UnionType):
        node = raw
        for p in path:
            node = node[p] if isinstance(node, dict | list) else None
        return fault_model(node)
    return ann if is_model(ann) else None


def describe_error(err: Any, path: list[str | int], raw: Any, value: Any = None) -> str:
    """One human sentence for one pydantic error at a cleaned ``path``."""
    kind = err["type"]
    given = err.get("input", value)
    ctx = err.get("ctx") or {}
    dotted = ".".join(map(str, path))
    field = f"`{dotted}`" if dotted else "the config"
    if kind == "extra_forbidden":
        model = _model_at(path[:-1], raw)
        if model is not None:
            return unknown_field_text(str(path[-1]), model, path[:-1])
        return f"unknown field `{path[-1]}` {where_in(path[:-1])}"
    if kind == "invalid_key":
        where = ".".join(map(str, path[:-1]))
        place = f"in `{where}`" if where else "at top level"
        return f"key `{_fmt_key(given)}` {place} is not a field name; field names are text such as `count`"
    if kind == "missing":
        parent = ".".join(map(str, path[:-1]))
        return f"missing required field `{path[-1]}`" + (f" in `{parent}`" if parent else "")
    if kind == "literal_error":
        allowed = _literal_values(path, raw)
        text = f"{field} is {_shown(given)}, which is not allowed"
        close = difflib.get_close_matches(str(given), [str(a) for a in allowed], n=1, cutoff=0.5)
        text += f"; did you mean `{close[0]}`?" if close else "."
        return text + f" Allowed: {', '.join(map(str, allowed))}" if allowed else text
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        kinds = list(FAULT_MODELS)
        if kind == "union_tag_not_found":
            return f"{field} has no `kind`; every fault needs one of: {', '.join(kinds)}"
        tag = str(ctx.get("tag", ""))
        text = f"`{dotted}.kind` is `{tag}`, which is not a fault kind"
        close = difflib.get_close_matches(tag, kinds, n=1, cutoff=0.5)
        text += f"; did you mean `{close[0]}`?" if close else "."
        return text + f" Allowed: {', '.join(kinds)}"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("greater than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{field} must be {words} {ctx.get(key)}, got {_shown(given)}"
    types_ = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "a whole number",
        "float_parsing": "a number",
        "float_type": "a number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "a string (quote it in YAML)",
        "list_type": "a list",
        "dict_type": "a mapping",
        "finite_number": "a finite number",
    }
    if kind in types_:
        return f"{field} must be {types_[kind]}, got {kind_of(given)}"
    if kind in ("model_type", "model_attributes_type"):
        model = _model_at(path, raw)
        fields = f" with fields {', '.join(model.model_fields)}" if model else ""
        return f"{field} must be a mapping{fields}, got {kind_of(given)}"
    if kind in ("duration", "byte_size", "rate"):
        return f"{field}: {err['msg']}"
    message = str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{field}: {message}" if dotted else message


def _literal_values(path: list[str | int], raw: Any) -> list[Any]:
    try:
        ann = unwrap(resolve_path([str(p) for p in path], raw))
    except PathProblem:
        return []
    return list(get_args(ann)) if get_origin(ann) is Literal else []


def problems_from(
    exc: ValidationError,
    raw: Any,
    marks: dict[Path_, Mark],
    overridden: dict[tuple[str | int, ...], str],
) -> list[Problem]:
    """Located problems for a validation error of the raw config (one per distinct sentence)."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for err in exc.errors():
        path = clean_loc(err["loc"], raw)
        text = describe_error(err, path, raw)
        named = _NAMED_PATH.match(text) if not path else None
        if named:
            path = split_path(named.group(1))
        if text in seen:
            continue
        seen.add(text)
        location = locate(tuple(path), marks, overridden, err["type"] == "missing")
        problems.append(Problem(text, location.where, location.order))
    return problems


def locate(
    path: tuple[str | int, ...],
    marks: dict[Path_, Mark],
    overridden: dict[tuple[str | int, ...], str],
    missing: bool = False,
) -> Location:
    """Where a problem at ``path`` comes from: a ``--set`` item or the YAML line of its key."""
    for opath, item in overridden.items():
        n = min(len(opath), len(path))
        if n and tuple(opath[:n]) == tuple(path[:n]):
            return Location(f"--set {item}", (0, 0))
    mark = nearest_mark(marks, path[:-1] if missing else path)
    return Location(str(mark), (mark.line, mark.column)) if mark else Location("", (0, 0))
