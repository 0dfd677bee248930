"""Peer bytes become messages only through `decode_message`, which bounds
their shape before building anything."""

from __future__ import annotations

import msgpack
import pytest

from consensus.messages import MESSAGE_ELEMENTS_MAX, MessageError, Status, decode_message, encode_message


def test_a_message_round_trips():
    assert decode_message(encode_message(Status(3, 7))) == Status(3, 7)


def test_an_element_heavy_message_is_refused_before_it_is_built():
    """Two million zeros fit in a 2 MB frame: they would be two million objects."""
    junk = msgpack.packb(["status", 0, [0] * (2 * MESSAGE_ELEMENTS_MAX)])
    assert len(junk) < 3 * 1024 * 1024
    with pytest.raises(MessageError, match="elements|values"):
        decode_message(junk)


def test_a_deeply_nested_message_is_refused():
    value: list = []
    for _ in range(40):
        value = [value]
    with pytest.raises(MessageError):
        decode_message(msgpack.packb(["status", 0, value]))
