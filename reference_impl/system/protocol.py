"""Wire protocol of the reference gateway: JSON text frames, one object per frame.

Client -> server ops: ``subscribe``, ``unsubscribe``, ``publish``, ``ack``.
Server -> client ops: ``msg``, ``subscribed``, ``resumed``, ``resync``, ``gap``, ``error``.
Builders return plain dicts; :func:`encode` makes the frame text, :func:`decode` parses and validates it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

WS_PATH = "/ws"
METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
SNAPSHOT_PREFIX = "/snapshot/"

CLOSE_GOING_AWAY = 1001  # graceful drain: reconnect elsewhere
CLOSE_POLICY = 1008  # slow consumer closed by the disconnect policy
CLOSE_TOO_BIG = 1009  # frame over the size limit
CLOSE_TRY_AGAIN = 1013  # over capacity

CLIENT_OPS = frozenset({"subscribe", "unsubscribe", "publish", "ack"})
SERVER_OPS = frozenset({"msg", "subscribed", "resumed", "resync", "gap", "error"})

# op -> required fields and their accepted types
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "subscribe": {"rooms": (list,)},
    "unsubscribe": {"rooms": (list,)},
    "publish": {"room": (str,), "body": (str,)},
    "ack": {"n": (int,)},
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
    "error": {"reason": (str,)},
}
_OPTIONAL: dict[str, dict[str, tuple[type, ...]]] = {
    "subscribe": {"resume": (dict,)},
    "publish": {"id": (str,), "ts": (int, float), "key": (str,)},
}

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class ProtocolError(ValueError):
    """A frame that is not valid JSON, has an unknown op, or lacks a required field."""


def encode(frame: Mapping[str, Any]) -> str:
    """Compact JSON text of one frame."""
    return _dumps(frame)


def decode(data: str | bytes, *, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    """Parse and validate one frame; ``allowed`` restricts the ops (e.g. :data:`CLIENT_OPS`)."""
    try:
        frame = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None
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
    if op in ("subscribe", "unsubscribe") and not all(isinstance(r, str) for r in frame["rooms"]):
        raise ProtocolError(f"{op}: rooms must be a list of strings")
    if op == "subscribe" and frame.get("resume"):
        for room, cursor in frame["resume"].items():
            if not (
                isinstance(cursor, dict)
                and isinstance(cursor.get("epoch"), str)
                and isinstance(cursor.get("offset"), int)
            ):
                raise ProtocolError(f"subscribe: resume[{room!r}] must be {{'epoch': str, 'offset': int}}")
    return frame


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


def error(reason: str) -> dict[str, Any]:
    return {"op": "error", "reason": reason}
