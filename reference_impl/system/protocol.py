"""Wire protocol of the reference gateway: JSON text frames, one object per frame.

Client -> server ops: ``subscribe``, ``unsubscribe``, ``publish``, ``ack``, ``refresh``.
Server -> client ops: ``msg``, ``subscribed``, ``resumed``, ``resync``, ``gap``, ``refreshed``, ``error``.
Builders return plain dicts; :func:`encode` makes the frame text, :func:`decode` parses and validates it.

:func:`decode` is the gateway's only parser of untrusted text: it refuses what is not valid JSON
(``NaN`` and ``Infinity`` included), nesting deeper than Python's recursion limit, unknown ops, fields
of the wrong type, room names that are empty, longer than :data:`MAX_NAME` characters or hold control
characters, and negative resume offsets — each as a :class:`ProtocolError` with a one-line reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

WS_PATH = "/ws"
METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
SNAPSHOT_PREFIX = "/snapshot/"
GATEWAY_HEADER = "X-Gateway"  # on the 101 response: which gateway the client landed on

CLOSE_GOING_AWAY = 1001  # graceful drain: reconnect elsewhere
CLOSE_UNSUPPORTED = 1003  # a binary frame: the protocol is JSON text
CLOSE_INVALID_DATA = 1007  # a text frame that is not UTF-8 (closed by websockets itself)
CLOSE_POLICY = 1008  # slow consumer, token expired, memory budget
CLOSE_TOO_BIG = 1009  # frame over the size limit
CLOSE_INTERNAL = 1011  # keepalive: no pong in time
CLOSE_TRY_AGAIN = 1013  # over capacity

MAX_NAME = 200  # characters of a room name, message id, conflation key or epoch

CLIENT_OPS = frozenset({"subscribe", "unsubscribe", "publish", "ack", "refresh"})
SERVER_OPS = frozenset({"msg", "subscribed", "resumed", "resync", "gap", "refreshed", "error"})

# op -> required fields and their accepted types
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "subscribe": {"rooms": (list,)},
    "unsubscribe": {"rooms": (list,)},
    "publish": {"room": (str,), "body": (str,)},
    "ack": {"n": (int,)},
    "refresh": {"token": (str,)},
    "msg": {
        "room": (str,),
        "offset": (int,),
        "epoch": (str,),
        "id": (str,),
        "ts": (int, float),
        "body": (str,),
    },
    "subscribed": {"room": (str,), "epoch": (str,), "offset": (int,)},
    "resumed": {"room": (str,), "replayed": (int,)},
    "resync": {"room": (str,), "snapshot": (str,)},
    "gap": {"room": (str,), "dropped": (int,)},
    "refreshed": {"exp": (int, float)},
    "error": {"reason": (str,)},
}
_OPTIONAL: dict[str, dict[str, tuple[type, ...]]] = {
    "subscribe": {"resume": (dict,)},
    "publish": {"id": (str,), "ts": (int, float), "key": (str,)},
    "msg": {"from": (str,), "key": (str,)},
    "error": {"room": (str,)},
}
_NAMES = {"room", "id", "key", "epoch"}  # short identifiers: bounded length, no control characters

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class ProtocolError(ValueError):
    """A frame that is not valid JSON, has an unknown op, or lacks a required field."""


def encode(frame: Mapping[str, Any]) -> str:
    """Compact JSON text of one frame."""
    return _dumps(frame)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_name(what: str, value: str) -> None:
    """A room name, id, key or epoch: 1..MAX_NAME characters, none of them a control character."""
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise ProtocolError(f"{what} must be 1 to {MAX_NAME} printable characters")


def decode(data: str | bytes, *, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    """Parse and validate one frame; ``allowed`` restricts the ops (e.g. :data:`CLIENT_OPS`)."""
    try:
        frame = json.loads(data, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("frame is nested too deeply") from None
    if not isinstance(frame, dict):
        raise ProtocolError("frame must be a JSON object")
    op = frame.get("op")
    if op not in _FIELDS or (allowed is not None and op not in allowed):
        ops = sorted(allowed if allowed is not None else _FIELDS)
        raise ProtocolError(f"unknown op {op!r}; expected one of {', '.join(ops)}")
    for name, types in _FIELDS[op].items():
        value = frame.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise ProtocolError(f"{op}: field {name!r} is required and must be {types[0].__name__}")
    for name, types in _OPTIONAL.get(op, {}).items():
        value = frame.get(name)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise ProtocolError(f"{op}: field {name!r} must be {types[0].__name__}")
    _check_values(op, frame)
    return frame


def _check_values(op: str, frame: dict[str, Any]) -> None:
    """Names bounded and printable, numbers finite, cursors well-formed."""
    for name in _NAMES & frame.keys():
        if isinstance(frame[name], str) and (op in CLIENT_OPS or name == "room"):
            check_name(f"{op}: {name}", frame[name])
    ts = frame.get("ts")
    if isinstance(ts, float) and not math.isfinite(ts):
        raise ProtocolError(f"{op}: ts must be a finite number")
    if op in ("subscribe", "unsubscribe"):
        for room in frame["rooms"]:
            if not isinstance(room, str):
                raise ProtocolError(f"{op}: rooms must be a list of strings")
            check_name(f"{op}: room", room)
    if op == "subscribe" and frame.get("resume"):
        for room, cursor in frame["resume"].items():
            if not (
                isinstance(cursor, dict)
                and isinstance(cursor.get("epoch"), str)
                and len(cursor["epoch"]) <= MAX_NAME
                and isinstance(cursor.get("offset"), int)
                and not isinstance(cursor.get("offset"), bool)
                and cursor["offset"] >= 0
            ):
                raise ProtocolError(
                    f"subscribe: resume[{room[:MAX_NAME]!r}] must be {{'epoch': str, 'offset': int >= 0}}"
                )


# ---- client -> server ----
def subscribe(rooms: Iterable[str], resume: Mapping[str, tuple[str, int]] | None = None) -> dict[str, Any]:
    """Subscribe to rooms; ``resume`` maps room -> (epoch, last-seen offset)."""
    frame: dict[str, Any] = {"op": "subscribe", "rooms": list(rooms)}
    if resume:
        frame["resume"] = {r: {"epoch": e, "offset": int(o)} for r, (e, o) in resume.items()}
    return frame


def unsubscribe(rooms: Iterable[str]) -> dict[str, Any]:
    return {"op": "unsubscribe", "rooms": list(rooms)}


def publish(room: str, id: str, ts: float, body: str, key: str | None = None) -> dict[str, Any]:
    """A publication; ``key`` is the conflation key (the conflate policy keeps the latest per key)."""
    frame = {"op": "publish", "room": room, "id": id, "ts": ts, "body": body}
    if key is not None:
        frame["key"] = key
    return frame


def ack(n: int = 1) -> dict[str, Any]:
    return {"op": "ack", "n": n}


def refresh(token: str) -> dict[str, Any]:
    """A fresh token for this connection (same ``sub``): the connection outlives the old one's ``exp``."""
    return {"op": "refresh", "token": token}


# ---- server -> client ----
def msg(room: str, offset: int, epoch: str, id: str, ts: float, body: str) -> dict[str, Any]:
    return {"op": "msg", "room": room, "offset": offset, "epoch": epoch, "id": id, "ts": ts, "body": body}


def subscribed(room: str, epoch: str, offset: int) -> dict[str, Any]:
    return {"op": "subscribed", "room": room, "epoch": epoch, "offset": offset}


def resumed(room: str, replayed: int) -> dict[str, Any]:
    return {"op": "resumed", "room": room, "replayed": replayed}


def snapshot_path(room: str) -> str:
    return SNAPSHOT_PREFIX + room


def resync(room: str) -> dict[str, Any]:
    return {"op": "resync", "room": room, "snapshot": snapshot_path(room)}


def gap(room: str, dropped: int) -> dict[str, Any]:
    return {"op": "gap", "room": room, "dropped": dropped}


def refreshed(exp: float) -> dict[str, Any]:
    return {"op": "refreshed", "exp": exp}


def error(reason: str, room: str | None = None) -> dict[str, Any]:
    """A refused frame; ``room`` when the refusal concerns one room of it."""
    return (
        {"op": "error", "reason": reason} if room is None else {"op": "error", "reason": reason, "room": room}
    )
