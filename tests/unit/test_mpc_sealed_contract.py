"""The mpc contract's sealed bundles to non-participants: a threshold check
(its verdict sealed to the regulator) and a PSI count sealed to recipients,
end to end through the real executor over tests/mpc_ledger.py's
consortium, as in test_mpc_contract.py; then each rule's refusal, the size
rule at its bounds, and the rate limit a threshold check counts under."""

from __future__ import annotations

import hashlib

import pytest

from contracts import mpc, mpc_state
from contracts.mpc_state import ALL, bundle_box, bundle_commitment
from contracts.schema import AMOUNT_MAX
from contracts.store import get
from crypto import encoding
from mpc_ledger import Ledger, commit_records, seal, signatures, sum_inputs, transcripts_of, unseal

A, B, C, D = "bank-a", "bank-b", "bank-c", "bank-d"
TRIO = [A, B, C]
THRESHOLD_PARAMS = {"limit": 1500, "value_max": 1000}  # b = 12: limits below 4096


@pytest.fixture
def ledger() -> Ledger:
    return Ledger.fresh()


def sealed_result(ledger: Ledger, session: str, commitments: dict[str, list[bytes]], senders: list[str],
                  recipients: list[str], **change) -> dict:
    """mpc.result args: each sender's message sealed to each recipient, bundled, signed by every participant."""
    boxes = {r: bundle_box({s: seal(r, f"{s}'s double-blinded set".encode()) for s in senders}) for r in recipients}
    commitment = bundle_commitment(boxes)
    transcripts = transcripts_of(sorted(commitments))
    return {"session": session, "sealed": boxes, "result_commitment": commitment, "transcripts": transcripts,
            "signatures": signatures(ledger.chain_id, session, commitment, commit_records(commitments), transcripts),
            **change}


def committed_threshold(ledger: Ledger, params=THRESHOLD_PARAMS, result_to=("reg",)) -> tuple[str, dict]:
    session = ledger.open("reg", "threshold", TRIO, params, list(result_to))
    inputs = sum_inputs({A: [400 + 2**45], B: [250], C: [351]})  # A, the comparator, adds its offset
    commitments = {p: inputs.commitment(p) for p in TRIO}
    for p in TRIO:
        output = ledger.ok(p, "mpc.commit", {"session": session, "commitment": commitments[p]})
        assert "consented" not in output
    return session, commitments


def committed_psi(ledger: Ledger, result_to=("reg",), set_size_max: int = 100) -> tuple[str, dict]:
    session = ledger.open(A, "psi_cardinality", [A, B], {"set_size_max": set_size_max}, list(result_to))
    commitments = {p: [hashlib.sha256(f"set of {p}".encode()).digest()] for p in (A, B)}
    for p in (A, B):
        ledger.ok(p, "mpc.commit", {"session": session, "commitment": commitments[p]})
    return session, commitments


# --- happy paths ---------------------------------------------------------------------------

def test_a_threshold_verdict_lands_sealed_to_the_regulator(ledger):
    session, commitments = committed_threshold(ledger)
    record = ledger.session(session)
    assert record["protocol"] == "threshold" and record["params"] == THRESHOLD_PARAMS
    assert sorted(record["keys"]) == [*TRIO, "reg"]
    args = sealed_result(ledger, session, commitments, [A, B], ["reg"])  # the comparator and the evaluator
    ledger.ok(C, "mpc.result", args)
    record = ledger.session(session)
    assert record["status"] == "done" and record["attestation"]["result_digest"] == args["result_commitment"]
    box = mpc_state.visible_session(record, "reg", ("regulator",))["result"]["sealed"]["reg"]
    assert sorted(encoding.decode(box)) == [A, B]
    assert unseal("reg", encoding.decode(box)[B]) == b"bank-b's double-blinded set"
    for bank in [*TRIO, D]:  # no bank sees the box, participant or not
        assert mpc_state.visible_session(record, bank)["result"] == {
            "sealed": {}, "commitment": args["result_commitment"], "sealed_to": ["reg"]}
    assert "params" not in mpc_state.visible_session(record, D)  # the limit is for the session's parties


def test_a_psi_count_lands_sealed_to_two_recipients(ledger):
    session, commitments = committed_psi(ledger, result_to=[C, "reg"], set_size_max=88)
    ledger.ok(B, "mpc.result", sealed_result(ledger, session, commitments, [A, B], [C, "reg"]))
    record = ledger.session(session)
    for recipient in (C, "reg"):
        roles = ("regulator",) if recipient == "reg" else ()
        assert list(mpc_state.visible_session(record, recipient, roles)["result"]["sealed"]) == [recipient]
    for bank in (A, B):
        assert mpc_state.visible_session(record, bank)["result"]["sealed"] == {}


# --- refusals --------------------------------------------------------------------------------

def open_args(ledger: Ledger, **change) -> dict:
    return {"protocol": "threshold", "participants": TRIO, "params": THRESHOLD_PARAMS,
            "deadline_height": ledger.height + 10, "result_to": ["reg"], **change}


NOT_TO_PARTICIPANTS = "a threshold check's verdict is sealed to recipients none of whom is a participant"
PSI_NOT_TO_PARTICIPANTS = ("a PSI count not for all is sealed to recipients none of whom is a participant (its two "
                           'parties learn it from a count for all, result_to ["*"])')
TOO_BIG = ("the sealed sets do not fit one transaction: the set size times the recipients is too large (with one "
           "recipient, at most 184 elements)")


@pytest.mark.parametrize("change, detail", [
    ({"participants": [A, B]}, "a threshold check takes 3 to 16 participants (as its secure sum)"),
    ({"params": {"value_max": 5}}, "params of threshold are exactly ['limit', 'value_max']"),
    ({"params": {"value_max": 5, "limit": 1, "length": 1}}, "params length must be in [1, 2]"),
    ({"params": {"value_max": 0, "limit": 0}}, "params.value_max must be at least 1"),
    ({"params": {"value_max": AMOUNT_MAX + 1, "limit": 0}}, "value must be in [0, 4611686018427387904]"),
    ({"params": {"value_max": 1000, "limit": 4096}},
     "params.limit must be below 2^b, b the bit length of value_max times the participants: no sum reaches it, so "
     "the answer would always be no"),
    ({"result_to": [ALL]}, NOT_TO_PARTICIPANTS),
    ({"result_to": [B]}, NOT_TO_PARTICIPANTS),
    ({"result_to": [C, "reg"]}, NOT_TO_PARTICIPANTS),
    ({"params": {"value_max": AMOUNT_MAX, "limit": 0}, "result_to": ["aud", "reg"]}, TOO_BIG),  # w = 105, twice
    ({"protocol": "psi_cardinality", "participants": [A, B], "params": {"set_size_max": 10}, "result_to": [A]},
     PSI_NOT_TO_PARTICIPANTS),
    ({"protocol": "psi_cardinality", "participants": [A, B], "params": {"set_size_max": 10}, "result_to": [A, B]},
     PSI_NOT_TO_PARTICIPANTS),
    ({"protocol": "psi_cardinality", "participants": [A, B], "params": {"set_size_max": 185}}, TOO_BIG),
    ({"protocol": "psi_cardinality", "participants": [A, B], "params": {"set_size_max": 89},
      "result_to": [C, "reg"]}, TOO_BIG),
])
def test_malformed_opens_are_refused_at_admission(ledger, change, detail):
    assert ledger.refused("bad_args", A, "mpc.open", open_args(ledger, **change)) == detail


def test_the_bounds_are_accepted_exactly(ledger):
    assert mpc.PSI_SEALED_SET_MAX == 184
    ledger.ok(A, "mpc.open", open_args(ledger, params={"value_max": 1000, "limit": 4095}))
    ledger.ok(A, "mpc.open", open_args(ledger, params={"value_max": 1000, "limit": 0}))
    ledger.ok(A, "mpc.open", open_args(ledger, params={"value_max": AMOUNT_MAX, "limit": AMOUNT_MAX}))
    ledger.ok(A, "mpc.open", open_args(ledger, participants=[f"bank-{x}" for x in "abcd"],
                                       params={"value_max": AMOUNT_MAX, "limit": 0}))
    psi = {"protocol": "psi_cardinality", "participants": [A, B]}
    ledger.ok(A, "mpc.open", open_args(ledger, **psi, params={"set_size_max": 184}))
    ledger.ok(C, "mpc.open", open_args(ledger, protocol="psi_cardinality", participants=[C, D],
                                       params={"set_size_max": 88}, result_to=[A, "reg"]))


def test_a_threshold_commitment_is_one_point(ledger):
    session = ledger.open(A, "threshold", TRIO, THRESHOLD_PARAMS, ["reg"])
    point = sum_inputs({A: [5, 6]}).commitment(A)
    ledger.refused("bad_commitment", A, "mpc.commit", {"session": session, "commitment": point})
    ledger.refused("bad_commitment", A, "mpc.commit", {"session": session, "commitment": [bytes(32)]})
    ledger.ok(A, "mpc.commit", {"session": session, "commitment": point[:1]})


def test_a_sealed_result_must_commit_to_its_boxes(ledger):
    session, commitments = committed_threshold(ledger)
    good = sealed_result(ledger, session, commitments, [A, B], ["reg"])
    swapped = {**good, "sealed": {"reg": bundle_box({A: seal("reg", b"another"), B: seal("reg", b"set")})}}
    assert ledger.refused("bad_result", A, "mpc.result", swapped) == \
        "the result_commitment is not the digest of the sealed boxes"
    ledger.refused("bad_result", A, "mpc.result", {**good, "sealed": {"aud": good["sealed"]["reg"]}})
    clear = {k: v for k, v in good.items() if k not in ("sealed", "result_commitment")}
    assert ledger.refused("bad_result", A, "mpc.result", {**clear, "count": 1}) == \
        f"session {session}'s result is sealed to its recipients"
    psi_session, psi_commitments = committed_psi(ledger)
    psi = sealed_result(ledger, psi_session, psi_commitments, [A, B], ["reg"])
    ledger.refused("bad_result", B, "mpc.result", {**psi, "result_commitment": bytes(32)})
    ledger.ok(A, "mpc.result", good)
    ledger.ok(B, "mpc.result", psi)


def test_a_threshold_check_counts_as_a_psi_session_of_its_first_two():
    ledger = Ledger.fresh({"mpc_psi_per_pair_max": 1})
    ledger.open("reg", "threshold", TRIO, THRESHOLD_PARAMS, ["reg"])
    assert get(ledger.state, mpc_state.psi_pair_key(A, B)) == [ledger.height]
    detail = ledger.refused("rate_limited", A, "mpc.open", open_args(ledger, participants=[A, B, D]))
    assert detail == "the pair bank-a, bank-b reached mpc_psi_per_pair_max PSI sessions within mpc_psi_window_blocks"
    ledger.refused("rate_limited", A, "mpc.open", open_args(ledger, protocol="psi_cardinality", participants=[A, B],
                                                            params={"set_size_max": 5}, result_to=[ALL]))
    ledger.open("reg", "threshold", [A, C, D], THRESHOLD_PARAMS, ["reg"])  # another pair runs the comparison
