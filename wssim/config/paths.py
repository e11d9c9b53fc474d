"""Dotted paths into the config schema: resolve a path to its annotation, list every path, set a value.

Paths are written as in YAML and ``--set``: ``gateways.send_queue.limit``, ``faults.0.at``.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from wssim.config.schema import FAULT_MODELS, Config, StrictModel, Sweep


class PathProblem(Exception):
    """A dotted path does not exist in the schema; ``depth`` is how many parts were valid."""

    def __init__(self, text: str, depth: int) -> None:
        super().__init__(text)
        self.text = text
        self.depth = depth


def unwrap(ann: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` from an annotation."""
    while True:
        origin = get_origin(ann)
        if origin is Annotated:
            ann = get_args(ann)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(ann) if a is not type(None)]
            if len(members) != 1:
                return ann
            ann = members[0]
        else:
            return ann


def is_model(ann: Any) -> bool:
    """Whether an (unwrapped) annotation is a pydantic model class."""
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def fault_model(raw: Any) -> type[StrictModel] | None:
    """The fault model named by a raw fault mapping's `kind`, or None."""
    kind = raw.get("kind") if isinstance(raw, dict) else None
    return FAULT_MODELS.get(kind) if isinstance(kind, str) else None


def where_in(prefix: list[str | int]) -> str:
    """``in `a.b``` for a path prefix, or ``at top level``."""
    return f"in `{'.'.join(map(str, prefix))}`" if prefix else "at top level"


def unknown_field_text(name: str, model: type[BaseModel], prefix: list[str | int]) -> str:
    """The sentence for an unknown field: a close name here or elsewhere, and the allowed fields."""
    allowed = list(model.model_fields)
    text = f"unknown field `{name}` {where_in(prefix)}"
    close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
    if close:
        text += f"; did you mean `{close[0]}`?"
    else:
        here = ".".join(map(str, prefix))
        elsewhere = [p for p in all_paths() if p.endswith(f".{name}")]
        elsewhere.sort(key=lambda p: not p.startswith(here))
        if elsewhere:
            text += f"; did you mean `{elsewhere[0]}`?"
    return text + ("" if text.endswith("?") else ".") + f" Allowed: {', '.join(allowed)}"


def resolve_path(parts: list[str], raw: Any = None) -> Any:
    """The annotation at a dotted path (as parts) of :class:`Config`.

    ``raw`` (the config's data) picks list items and fault kinds.
    Raises :class:`PathProblem` for a path that does not exist.
    """
    ann: Any = Config
    node = raw
    done: list[str | int] = []
    for depth, part in enumerate(parts):
        current = unwrap(ann)
        if current is Sweep:
            return Any
        if get_origin(current) is list:
            if not str(part).isdigit():
                raise PathProblem(f"`{'.'.join(map(str, done))}` is a list: use an index such as `.0`", depth)
            index = int(part)
            size = len(node) if isinstance(node, list) else 0
            if index >= size:
                raise PathProblem(
                    f"`{'.'.join(map(str, done))}` has {size} item(s); index {index} does not exist", depth
                )
            node = node[index]
            ann = get_args(current)[0]
            done.append(index)
            continue
        if get_origin(current) in (Union, types.UnionType):  # the fault union: pick the member by kind
            current = fault_model(node)
            if current is None:
                raise PathProblem(f"`{'.'.join(map(str, done))}` has no valid `kind`", depth)
        if not is_model(current):
            raise PathProblem(f"`{'.'.join(map(str, done))}` is a value, it has no field `{part}`", depth)
        field = current.model_fields.get(part)
        if field is None:
            raise PathProblem(unknown_field_text(part, current, done), depth)
        ann = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        node = node.get(part) if isinstance(node, dict) else None
        done.append(part)
    return ann


def all_paths(model: type[BaseModel] | None = None, prefix: str = "") -> list[str]:
    """Every dotted leaf path of the schema (fault fields as ``faults.N.FIELD``)."""
    model = model or Config
    paths: list[str] = []
    for name, field in model.model_fields.items():
        ann = unwrap(field.annotation)
        dotted = f"{prefix}{name}"
        if is_model(ann) and ann is not Sweep:
            paths.extend(all_paths(ann, dotted + "."))
        elif name == "faults" and model is Config:
            for fault in FAULT_MODELS.values():
                paths.extend(p for p in all_paths(fault, "faults.N.") if p not in paths)
        else:
            paths.append(dotted)
    return paths


def split_path(path: str) -> list[str | int]:
    """``"faults.0.at"`` -> ``["faults", 0, "at"]``; ``sweep.<dotted>`` keeps the swept path whole."""
    parts = path.split(".")
    if parts[0] == "sweep" and len(parts) > 1:
        return ["sweep", ".".join(parts[1:])]
    return [int(p) if p.isdigit() else p for p in parts]


def set_path(raw: dict[str, Any], parts: list[str | int], value: Any) -> None:
    """Set ``value`` at ``parts`` in a raw (dict/list) config, creating missing mappings."""
    node: Any = raw
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
            continue
        if not isinstance(node.get(part), dict | list):
            node[part] = {}
        node = node[part]
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
