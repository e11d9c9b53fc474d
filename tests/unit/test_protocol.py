"""Frame builders round-trip through encode/decode; invalid frames raise ProtocolError."""

from __future__ import annotations

import pytest

from reference_impl.system import protocol as p


@pytest.mark.parametrize(
    "frame",
    [
        p.subscribe(["a", "b"]),
        p.subscribe(["a"], resume={"a": ("ep1", 41)}),
        p.unsubscribe(["a"]),
        p.publish("a", "id1", 1.5, "hello"),
        p.ack(3),
        p.msg("a", 7, "ep", "id1", 2.0, "x"),
        p.subscribed("a", "ep", 0),
        p.resumed("a", 5),
        p.resync("a"),
        p.gap("a", 2),
        p.error("nope"),
        p.error("nope", room="a"),
        p.refresh("t.o.k"),
        p.refreshed(1e9),
    ],
)
def test_round_trip(frame: dict) -> None:
    assert p.decode(p.encode(frame)) == frame


def test_resume_shape_matches_contract() -> None:
    frame = p.subscribe(["r"], resume={"r": ("e", 3)})
    assert frame["resume"] == {"r": {"epoch": "e", "offset": 3}}
    assert p.resync("r")["snapshot"] == "/snapshot/r"


def test_encode_is_compact() -> None:
    assert p.encode(p.ack(1)) == '{"op":"ack","n":1}'


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1]",
        '{"op":"nope"}',
        '{"op":"ack"}',
        '{"op":"ack","n":true}',
        '{"op":"publish","room":1,"body":"x"}',
        '{"op":"subscribe","rooms":[1]}',
        '{"op":"subscribe","rooms":["a"],"resume":{"a":{"epoch":"e"}}}',
        '{"op":"subscribe","rooms":["a"],"resume":{"a":{"epoch":"e","offset":-1}}}',
        '{"op":"subscribe","rooms":["a"],"resume":{"a":{"epoch":"e","offset":true}}}',
        '{"op":"publish","room":"r","body":"b","ts":NaN}',
        '{"op":"publish","room":"r","body":"b","ts":Infinity}',
        '{"op":"publish","room":"r","body":"b","ts":1e999}',
        '{"op":"subscribe","rooms":[""]}',
        '{"op":"subscribe","rooms":["a\\u0000b"]}',
        '{"op":"publish","room":"' + "r" * 201 + '","body":"b"}',
        '{"op":"publish","room":"r","body":"b","id":"' + "i" * 201 + '"}',
        '{"op":"refresh","token":7}',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_invalid_frames(text: str) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode(text)


def test_allowed_restricts_ops() -> None:
    with pytest.raises(p.ProtocolError, match="unknown op"):
        p.decode(p.encode(p.msg("a", 1, "e", "i", 0.0, "b")), allowed=p.CLIENT_OPS)
    assert p.decode(b'{"op":"ack","n":1}', allowed=p.CLIENT_OPS)["n"] == 1


def test_publish_key_is_optional_and_typed() -> None:
    assert "key" not in p.publish("r", "i", 0.0, "b")
    assert p.decode(p.encode(p.publish("r", "i", 0.0, "b", key="k")))["key"] == "k"
    with pytest.raises(p.ProtocolError):
        p.decode('{"op":"publish","room":"r","body":"b","key":3}')
