"""Property tests for the transaction wire form: `decode_tx` reads the outer
list of a well-formed transaction from its byte layout, and must take
exactly what the strict decoder takes, and the same (body, signature)."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings, strategies as st

from contracts import tx as txmod
from contracts.tx import TX_SIZE_MAX, TxError, decode_tx
from crypto import encoding

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def strict_parts(wire: bytes) -> tuple[bytes, bytes] | None:
    """(body, signature) as the strict decoder reads a transaction's outer list; None if it refuses it."""
    try:
        body, signature = txmod._decode_outer(wire)
    except TxError:
        return None
    return body, signature


wires = st.builds(
    lambda body, signature: encoding.encode([body, signature]),
    st.binary(min_size=0, max_size=600),
    st.one_of(st.binary(min_size=64, max_size=64), st.binary(max_size=80)),
)


@st.composite
def mutated(draw):
    data = bytearray(draw(wires))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        if not data:
            break
        position = draw(st.integers(min_value=0, max_value=len(data) - 1))
        choice = draw(st.sampled_from(["flip", "cut", "insert"]))
        if choice == "flip":
            data[position] = draw(st.integers(min_value=0, max_value=255))
        elif choice == "cut":
            del data[position]
        else:
            data.insert(position, draw(st.integers(min_value=0, max_value=255)))
    return bytes(data)


@SETTINGS
@given(st.one_of(wires, mutated(), st.binary(max_size=120)))
def test_the_layout_reader_takes_exactly_what_the_strict_decoder_takes(wire):
    assert txmod._split_wire(wire) == strict_parts(wire)


def test_a_body_of_256_bytes_or_more_has_a_two_byte_length_and_is_read_alike():
    for size in (255, 256, 300, TX_SIZE_MAX - 80):
        wire = encoding.encode([bytes(size), bytes(64)])
        assert txmod._split_wire(wire) == strict_parts(wire) == (bytes(size), bytes(64))
    padded = b"\x92\xc5\x00\x05" + bytes(5) + b"\xc4\x40" + bytes(64)  # bin16 for 5 bytes: not the shortest
    assert txmod._split_wire(padded) is None and strict_parts(padded) is None


@SETTINGS
@given(st.binary(min_size=1, max_size=40))
def test_a_decoded_transaction_keeps_the_very_wire_bytes(junk_args):
    body = encoding.encode([bytes(32), bytes(32), 7, "settlement.pay", {"memo": junk_args}])
    wire = encoding.encode([body, bytes(64)])
    tx = decode_tx(wire)
    assert tx.wire() == wire and tx.body == body and tx.signature == bytes(64)
    forged = dataclasses.replace(tx, signature=b"\x01" * 64)  # a copy carries its own wire bytes
    assert forged.wire() == encoding.encode([body, b"\x01" * 64]) and decode_tx(forged.wire()) == forged
