"""User-facing errors. A ``ConfigError`` carries one human paragraph, printed by the CLI (exit code 2)."""

from __future__ import annotations


class ConfigError(Exception):
    """A config could not be loaded or validated.

    ``message`` is one human paragraph naming the file, line, dotted field path, what is allowed and,
    for a typo, the closest valid name. ``problems`` lists the individual problems it summarises.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems) if problems else [message]

    def __str__(self) -> str:
        return self.message


__all__ = ["ConfigError"]
