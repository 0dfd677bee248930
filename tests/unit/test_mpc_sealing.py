"""node.mpc.sealing, pure: what the senders seal, the coordinator's bundle,
each participant's check of it before signing, and the recipient's
opening of a sealed PSI count and of a threshold verdict (real protocol
messages, real X25519 boxes), including what a cheating party or a wrong
key gives: an error that says so, not a crash."""

from __future__ import annotations

import pytest
from nacl import bindings

from contracts import mpc_state
from crypto import encoding
from crypto.mpc import threshold
from crypto.mpc.psi import PsiParty
from crypto.mpc.psi_messages import Role, Variant
from node.mpc.sealing import (SealError, bundle, checked_bundle, open_bundle, recipient_count, recipient_verdict,
                              seal_to_recipients)

A, B, C, REG, AUD = "bank-a", "bank-b", "bank-c", "reg", "aud"
KEYS = {name: bindings.crypto_box_keypair() for name in (A, B, C, REG, AUD)}  # (public, secret)


def record(protocol: str, participants: list[str], recipients=(REG,), session: str = "M000000000042") -> dict:
    return {"id": session, "protocol": protocol, "participants": participants, "result_to": list(recipients),
            "keys": {name: KEYS[name][0] for name in [*participants, *recipients]}}


def run_bundle(session: dict, messages: dict[str, bytes]) -> tuple[dict, dict]:
    """Each sender's sealed messages, and the coordinator's bundle of them."""
    sealed = {sender: seal_to_recipients(session, message) for sender, message in messages.items()}
    return sealed, bundle(session, sealed)


def psi_messages(session_id: bytes, ours: list[bytes], theirs: list[bytes]) -> dict[str, bytes]:
    first = PsiParty(session_id, Role.INITIATOR, ours, Variant.CARDINALITY_TO_REGULATOR)
    second = PsiParty(session_id, Role.RESPONDER, theirs, Variant.CARDINALITY_TO_REGULATOR)
    one, two = first.first_message(), second.first_message()
    return {A: first.respond(two).to_regulator, B: second.respond(one).to_regulator}


def test_a_psi_count_sealed_to_two_recipients_opens_for_each():
    session = record("psi_cardinality", [A, B], recipients=(AUD, REG))
    messages = psi_messages(session["id"].encode(), [b"ann", b"bob", b"cem"], [b"bob", b"cem", b"dee", b"eve"])
    sealed, proposal = run_bundle(session, messages)
    assert sorted(proposal["sealed"]) == [AUD, REG]
    assert proposal["result_commitment"] == mpc_state.bundle_commitment(proposal["sealed"])
    for recipient in (AUD, REG):
        assert recipient_count(session, proposal["sealed"][recipient], KEYS[recipient]) == 2
        assert open_bundle(session, proposal["sealed"][recipient], KEYS[recipient]) == messages
    assert checked_bundle(session, proposal, B, sealed[B]) == proposal
    with pytest.raises(SealError, match="does not open"):
        open_bundle(session, proposal["sealed"][REG], KEYS[A])  # a party cannot open the regulator's box


def test_a_threshold_verdict_is_sealed_by_the_comparator_and_the_evaluator_only():
    session = record("threshold", [A, B, C])
    bits, offset, total, limit = 12, 1234567, 2000, 1999
    sid = session["id"].encode()
    evaluator = threshold.evaluator_party(sid, total + offset, bits)
    comparator = threshold.comparator_party(sid, limit, offset, bits)
    first_e, first_c = evaluator.first_message(), comparator.first_message()
    messages = {B: evaluator.respond(first_c).to_regulator, A: comparator.respond(first_e).to_regulator}
    sealed, proposal = run_bundle(session, messages)
    assert sorted(encoding.decode(proposal["sealed"][REG])) == [A, B]
    assert recipient_verdict(session, proposal["sealed"][REG], KEYS[REG]) is True
    assert checked_bundle(session, proposal, B, sealed[B]) == proposal  # the evaluator finds its own
    assert checked_bundle(session, proposal, C, None) == proposal       # another bank checks the form only
    swapped = {**messages, A: messages[B], B: messages[A]}  # each sent under the other's name
    with pytest.raises(SealError, match="no verdict: message for another session, variant or sender"):
        recipient_verdict(session, run_bundle(session, swapped)[1]["sealed"][REG], KEYS[REG])


def test_a_cheating_count_is_reported_not_raised_as_a_crash():
    session = record("threshold", [A, B, C])
    sid, bits = session["id"].encode(), 12
    evaluator = threshold.evaluator_party(sid, 0b1011, bits)
    cheat = PsiParty(threshold.psi_session_id(sid), Role.RESPONDER, threshold.evaluator_set(0b1011, bits),
                     Variant.CARDINALITY_TO_REGULATOR)
    first_e, first_c = evaluator.first_message(), cheat.first_message()
    messages = {B: evaluator.respond(first_c).to_regulator, A: cheat.respond(first_e).to_regulator}
    with pytest.raises(SealError, match="a participant cheated"):
        recipient_verdict(session, run_bundle(session, messages)[1]["sealed"][REG], KEYS[REG])


def test_a_participant_refuses_a_bundle_it_should_not_sign():
    session = record("psi_cardinality", [A, B], recipients=(AUD, REG))
    sealed, proposal = run_bundle(session, {A: b"a's set", B: b"b's set"})
    others = seal_to_recipients(session, b"not b's set")
    forged = bundle(session, {A: sealed[A], B: others})
    cases = {
        "the coordinator sent no sealed bundle": {"count": 3},
        "the bundle does not hold one box for each recipient": {**proposal, "sealed": {REG: proposal["sealed"][REG]}},
        "aud's box does not hold our sealed message": forged,
        "reg's box does not hold one sealed message from each sender": {
            **proposal, "sealed": {**proposal["sealed"], REG: mpc_state.bundle_box({A: sealed[A][REG]})}},
        "reg's box is not a bundle": {**proposal, "sealed": {**proposal["sealed"], REG: b"\xc1"}},
        "the bundle's commitment is not its digest": {**proposal, "result_commitment": bytes(32)},
    }
    for detail, proposed in cases.items():
        with pytest.raises(SealError, match=detail):
            checked_bundle(session, proposed, B, sealed[B])
    with pytest.raises(SealError, match="do not name every recipient"):
        bundle(session, {A: sealed[A], B: {REG: sealed[B][REG]}})
    with pytest.raises(SealError, match="not bytes"):
        bundle(session, {A: sealed[A], B: {AUD: "text", REG: sealed[B][REG]}})
