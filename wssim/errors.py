"""User-facing errors: a config (one human paragraph, with the YAML line of every problem) or a sweep.

``ConfigError.message`` is what the CLI prints before exiting with code 2. The helpers here find
where a dotted path sits in the YAML text (``yaml.compose`` keeps node marks) and join several
problems into one paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

MAX_SHOWN = 5

Path_ = tuple[str | int, ...]


class ConfigError(Exception):
    """A config could not be loaded or validated.

    ``message`` is one human paragraph naming the file, line, dotted field path, what is allowed and,
    for a typo, the closest valid name. ``problems`` lists the individual problems it summarises.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        message = _one_line(message)
        super().__init__(message)
        self.message = message
        self.problems = [_one_line(p) for p in problems] if problems else [message]

    def __str__(self) -> str:
        return self.message


class SweepError(Exception):
    """A sweep cannot start or continue (a bad resume directory, an unknown engine); ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Location:
    """Where a problem comes from (``line 12, column 3`` or ``--set a=b``) and its sort key."""

    where: str
    order: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Problem:
    """One problem: its text and where it comes from (``line 12, column 3`` or ``--set a=b``)."""

    text: str
    where: str = ""
    order: tuple[int, int] = (0, 0)

    def render(self) -> str:
        return f"{self.where}: {self.text}" if self.where else self.text


def paragraph(origin: str, problems: list[Problem]) -> str:
    """Join problems into one paragraph, e.g. ``config.yaml, line 3: unknown field ...``, in line order."""
    problems = sorted(problems, key=lambda p: p.order)
    if len(problems) == 1:
        only = problems[0]
        return f"{origin}, {only.render()}" if only.where else f"{origin}: {only.text}"
    shown = [f"({i}) {p.render()}" for i, p in enumerate(problems[:MAX_SHOWN], start=1)]
    more = len(problems) - MAX_SHOWN
    tail = f" ... and {more} more." if more > 0 else ""
    return f"{origin} has {len(problems)} problems: " + " ".join(_end(s) for s in shown) + tail


def raise_problems(origin: str, problems: list[Problem]) -> None:
    """Raise a ConfigError summarising ``problems`` (if any)."""
    if problems:
        raise ConfigError(paragraph(origin, problems), [p.render() for p in problems])


def _one_line(text: str) -> str:
    """Fold line breaks (YAML parser messages have them) so the message stays one paragraph."""
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()


def _end(sentence: str) -> str:
    return sentence if sentence.endswith((".", "?", "!")) else sentence + "."


@dataclass(frozen=True)
class Mark:
    """1-based line and column of a YAML key (or of a list item)."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}"


def yaml_marks(text: str) -> tuple[dict[Path_, Mark], list[tuple[Path_, Mark]]]:
    """Map every dotted path in the YAML text to the mark of its key; also list duplicate keys."""
    marks: dict[Path_, Mark] = {}
    duplicates: list[tuple[Path_, Mark]] = []
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return marks, duplicates

    def walk(node: yaml.Node, path: Path_) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key: Any = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                child = (*path, key)
                mark = Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if child in marks:
                    duplicates.append((child, mark))
                else:
                    marks[child] = mark
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*path, i)
                marks[child] = Mark(item.start_mark.line + 1, item.start_mark.column + 1)
                walk(item, child)

    walk(root, ())
    return marks, duplicates


def nearest_mark(marks: dict[Path_, Mark], path: Path_) -> Mark | None:
    """The mark of ``path`` or of its closest ancestor present in the YAML."""
    for end in range(len(path), 0, -1):
        key = tuple(str(p) if not isinstance(p, int) else p for p in path[:end])
        for candidate in (key, tuple(str(p) for p in key)):
            if candidate in marks:
                return marks[candidate]
    return None


__all__ = [
    "ConfigError",
    "Location",
    "Mark",
    "Problem",
    "SweepError",
    "nearest_mark",
    "paragraph",
    "raise_problems",
    "yaml_marks",
]
