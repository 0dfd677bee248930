"""crypto.mpc.transcript: the chain binds the protocol, the session, the
party, every message, its direction, its counterpart and their order."""

from __future__ import annotations

import hashlib

import pytest

from crypto.encoding import encode
from crypto.hashing import digest
from crypto.mpc.transcript import NAME_LENGTH_MAX, Transcript

SESSION = b"session-1"


def test_a_transcript_chain_depends_on_order_direction_and_counterpart():
    start = Transcript.start("psi", SESSION, "initiator")
    assert start != Transcript.start("psi", SESSION, "responder") != Transcript.start("sum", SESSION, "responder")
    one = start.sent("responder", b"m1").received("responder", b"m2")
    assert one.message_count == 2
    assert one != start.received("responder", b"m2").sent("responder", b"m1")
    assert one != start.received("responder", b"m1").received("responder", b"m2")
    assert one != start.sent("regulator", b"m1").received("responder", b"m2")
    assert one == Transcript.start("psi", SESSION, "initiator").sent("responder", b"m1").received("responder", b"m2")
    with pytest.raises(ValueError):
        Transcript.start("psi", b"", "initiator")
    with pytest.raises(TypeError):
        start.sent("responder", "text")
    with pytest.raises(ValueError):
        start.received("x" * (NAME_LENGTH_MAX + 1), b"m")


def test_the_chain_is_the_documented_formula():
    head = digest("mpc/transcript/start", encode(["psi", SESSION, "initiator"]))
    head = digest("mpc/transcript/step", head + encode(["sent", "responder", hashlib.sha256(b"m1").digest()]))
    assert Transcript.start("psi", SESSION, "initiator").sent("responder", b"m1").head == head
