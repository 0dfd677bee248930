"""The mpc contract end to end: signed transactions through the real
executor, one block each, over tests/mpc_ledger.py's consortium. Sessions
are run as the participants' nodes would run them: real Pedersen
commitments, real node-key signatures over the attestation, real boxes
sealed to the recipients' X25519 keys. Then each rule's refusal, as a
failed receipt that changes nothing but the sender's nonce."""

from __future__ import annotations

import hashlib

import pytest

from contracts import mpc, mpc_state
from contracts.mpc_checks import _sum_opens, commit
from contracts.mpc_state import ALL
from contracts.schema import AMOUNT_MAX
from contracts.store import get
from mpc_ledger import (
    DEADLINE_BLOCKS, ROLES, Ledger, commit_records, mpc_public, scalar_bytes, seal, signatures, sum_inputs, transcripts_of,
    unseal,
)

A, B, C, D, E, F = "bank-a", "bank-b", "bank-c", "bank-d", "bank-e", "bank-f"
TRIO = [A, B, C]
VALUES = {A: [5, 0, 700], B: [1, 2, 0], C: [0, 0, 9]}  # zeros on purpose: a zero scalar needs care
SUM_PARAMS = {"length": 3, "value_max": 1000}


@pytest.fixture
def ledger() -> Ledger:
    return Ledger.fresh()


def committed_sum(ledger: Ledger, result_to=(ALL,), values=VALUES, opener: str = A):
    """A sum session over `values`' participants, opened and committed by all."""
    inputs = sum_inputs(values)
    participants = sorted(values)
    session = ledger.open(opener, "sum", participants, {**SUM_PARAMS, "length": len(values[participants[0]])},
                          list(result_to))
    for p in participants:
        ledger.ok(p, "mpc.commit", {"session": session, "commitment": inputs.commitment(p)})
    return session, inputs


def sum_result(ledger: Ledger, session: str, inputs, clear: dict | None = None, **change) -> dict:
    """mpc.result args for a clear sum, signed by every participant's node."""
    clear = clear or inputs.clear
    records = commit_records({p: inputs.commitment(p) for p in inputs.values})
    transcripts = transcripts_of(inputs.values)
    digest = mpc_state.clear_result_digest(clear)
    return {"session": session, **clear, "transcripts": transcripts,
            "signatures": signatures(ledger.chain_id, session, digest, records, transcripts), **change}


def psi_session(ledger: Ledger, protocol: str = "psi_cardinality", result_to=(ALL,), opener: str = A,
                pair=(A, B)) -> tuple[str, dict[str, list[bytes]]]:
    session = ledger.open(opener, protocol, list(pair), {"set_size_max": 100}, list(result_to))
    commitments = {p: [hashlib.sha256(f"set of {p}".encode()).digest()] for p in pair}
    for p in pair:
        output = ledger.ok(p, "mpc.commit", {"session": session, "commitment": commitments[p]})
        assert output["consented"] is True
    return session, commitments


# --- happy paths ---------------------------------------------------------------------------

def test_a_clear_sum_lands_with_its_attestation(ledger):
    session, inputs = committed_sum(ledger)
    record = ledger.session(session)
    assert session == "M000000000001" and record["status"] == "open" and record["opener"] == A
    assert record["commits"] == {A: 2, B: 3, C: 4}  # heights: opened at 1
    assert record["keys"] == {p: mpc_public(p) for p in TRIO}
    args = sum_result(ledger, session, inputs)
    output = ledger.ok(B, "mpc.result", args)
    record = ledger.session(session)
    assert inputs.totals == [6, 2, 709]
    assert record["status"] == "done" and record["closed_height"] == ledger.height
    assert record["result"] == {"clear": {"totals": [6, 2, 709], "blindings": inputs.blinding_sums}}
    attestation = record["attestation"]
    records = commit_records({p: inputs.commitment(p) for p in TRIO})
    assert attestation["commitment_root"] == output["commitment_root"] == mpc_state.commitment_root(records)
    assert attestation["transcript_root"] == mpc_state.transcript_root(args["transcripts"])
    assert attestation["result_digest"] == mpc_state.clear_result_digest(inputs.clear)
    assert attestation["signatures"] == args["signatures"]
    assert sorted(attestation["node_keys"]) == TRIO


def test_a_sum_sealed_to_the_regulator_opens_for_it_alone(ledger):
    session, inputs = committed_sum(ledger, result_to=["reg"])
    salt = bytes(range(32))
    content = mpc_state.sealed_content(inputs.clear, salt)
    commitment = mpc_state.sealed_result_commitment(inputs.clear, salt)
    records = commit_records({p: inputs.commitment(p) for p in TRIO})
    transcripts = transcripts_of(TRIO)
    args = {"session": session, "sealed": {"reg": seal("reg", content)}, "result_commitment": commitment,
            "transcripts": transcripts,
            "signatures": signatures(ledger.chain_id, session, commitment, records, transcripts)}
    ledger.ok(A, "mpc.result", args)
    record = ledger.session(session)
    assert record["attestation"]["result_digest"] == commitment
    box = mpc_state.visible_session(record, "reg", ("regulator",))["result"]["sealed"]["reg"]
    opened = mpc_state.opened_result(record, unseal("reg", box))
    assert opened == inputs.clear
    vectors = [mpc_state.commitment(ledger.state, session, p)["commitment"] for p in TRIO]
    assert _sum_opens(vectors, opened["totals"], [int.from_bytes(b, "little") for b in opened["blindings"]])
    assert mpc_state.opened_result(record, mpc_state.sealed_content(inputs.clear, bytes(32))) is None
    for bank in TRIO:  # a participant sees the session and the commitment, not the box
        view = mpc_state.visible_session(record, bank)
        assert view["result"] == {"sealed": {}, "commitment": commitment, "sealed_to": ["reg"]}


def test_a_psi_cardinality_lands_in_clear_after_both_consent(ledger):
    session, commitments = psi_session(ledger)
    records = commit_records(commitments)
    transcripts = transcripts_of([A, B])
    clear = {"count": 17}
    args = {"session": session, "count": 17, "transcripts": transcripts,
            "signatures": signatures(ledger.chain_id, session, mpc_state.clear_result_digest(clear), records,
                                     transcripts)}
    ledger.ok(A, "mpc.result", args)
    assert ledger.session(session)["result"] == {"clear": {"count": 17}}
    assert ledger.session(session)["commits"] == {A: 2, B: 3}  # the consents, with their heights


def test_a_psi_intersection_is_sealed_to_its_two_participants(ledger):
    session, commitments = psi_session(ledger, "psi_intersection", result_to=[A, B], opener="reg")
    clear = {"intersection": [b"customer-17", b"customer-42"]}
    salt = bytes([7]) * 32
    commitment = mpc_state.sealed_result_commitment(clear, salt)
    content = mpc_state.sealed_content(clear, salt)
    transcripts = transcripts_of([A, B])
    ledger.ok(B, "mpc.result", {
        "session": session, "sealed": {A: seal(A, content), B: seal(B, content)}, "result_commitment": commitment,
        "transcripts": transcripts,
        "signatures": signatures(ledger.chain_id, session, commitment, commit_records(commitments), transcripts)})
    record = ledger.session(session)
    for party in (A, B):
        box = mpc_state.visible_session(record, party)["result"]["sealed"][party]
        assert mpc_state.opened_result(record, unseal(party, box)) == clear
    assert mpc_state.visible_session(record, "reg", ("regulator",))["result"]["sealed"] == {}


def test_abort_after_the_deadline_names_who_did_not_commit(ledger):
    session = ledger.open(A, "sum", TRIO, SUM_PARAMS, deadline_blocks=3)
    ledger.ok(A, "mpc.commit", {"session": session, "commitment": sum_inputs(VALUES).commitment(A)})
    ledger.refused("deadline_not_passed", B, "mpc.abort", {"session": session})
    ledger.idle(ledger.session(session)["deadline_height"] - ledger.height - 1)
    ledger.refused("deadline_not_passed", B, "mpc.abort", {"session": session})  # at the deadline: not yet
    output = ledger.ok(B, "mpc.abort", {"session": session})
    assert output == {"session": session, "status": "aborted", "missing": {"commits": [B, C], "signatures": []}}
    record = ledger.session(session)
    assert (record["status"], record["missing"], record["closed_height"]) == ("aborted", output["missing"],
                                                                              ledger.height)
    ledger.refused("session_closed", C, "mpc.abort", {"session": session})


def test_a_regulator_aborts_a_session_whose_result_never_came(ledger):
    session, _ = committed_sum(ledger)
    ledger.idle(DEADLINE_BLOCKS)
    ledger.refused("not_participant", D, "mpc.abort", {"session": session})
    output = ledger.ok("reg", "mpc.abort", {"session": session})
    assert output["missing"] == {"commits": [], "signatures": TRIO}  # no signature reached the chain


def test_the_regulator_may_open_without_taking_part(ledger):
    session = ledger.open("reg", "sum", [B, C, D], SUM_PARAMS, ["reg"])
    assert ledger.session(session)["opener"] == "reg"
    assert mpc_state.session_parties(ledger.session(session)) == {B, C, D, "reg"}


# --- open: refusals ------------------------------------------------------------------------

def open_args(ledger: Ledger, **change) -> dict:
    return {"protocol": "sum", "participants": TRIO, "params": SUM_PARAMS, "deadline_height": ledger.height + 10,
            "result_to": [ALL], **change}


@pytest.mark.parametrize("change, detail", [
    ({"participants": [A, B]}, "a sum takes 3 to 16 participants (with 2, the total gives each the other's input)"),
    ({"participants": [B, A, C]}, "participants must be sorted and distinct"),
    ({"participants": [A, A, B]}, "participants must be sorted and distinct"),
    ({"participants": [f"m-{n:02d}" for n in range(17)]}, "participants length must be in [2, 16]"),
    ({"protocol": "psi_cardinality", "params": {"set_size_max": 5}}, "psi_cardinality takes exactly 2 participants"),
    ({"protocol": "vote"}, "protocol must be one of ['psi_cardinality', 'psi_intersection', 'sum', 'threshold']"),
    ({"protocol": "threshold"}, "params of threshold are exactly ['limit', 'value_max']"),
    ({"params": {"length": 3}}, "params of sum are exactly ['length', 'value_max']"),
    ({"params": {"length": 257, "value_max": 5}}, "params.length must be in [1, 256]"),
    ({"params": {"length": 0, "value_max": 5}}, "params.length must be at least 1"),
    ({"params": {"length": 1, "value_max": -1}}, "value must be in [0, 4611686018427387904]"),
    ({"params": {"length": 1, "value_max": AMOUNT_MAX // 2}},
     "params.value_max times the participants must be at most 2^62"),
    ({"protocol": "psi_cardinality", "participants": [A, B], "params": {"set_size_max": 10**6 + 1}},
     "params.set_size_max must be in [1, 1000000]"),
    ({"result_to": ["reg", ALL]}, 'result_to is ["*"] (all members, in clear) or sorted, distinct recipients'),
    ({"result_to": ["reg", A]}, 'result_to is ["*"] (all members, in clear) or sorted, distinct recipients'),
    ({"protocol": "psi_intersection", "participants": [A, B], "params": {"set_size_max": 5}},
     "a PSI intersection goes to its two participants only, sealed"),
    ({"protocol": "psi_intersection", "participants": [A, B], "params": {"set_size_max": 5}, "result_to": ["reg"]},
     "a PSI intersection goes to its two participants only, sealed"),
])
def test_malformed_opens_are_refused_at_admission(ledger, change, detail):
    assert ledger.refused("bad_args", A, "mpc.open", open_args(ledger, **change)) == detail


@pytest.mark.parametrize("who, change, code", [
    ("aud", {}, "not_permitted"),
    (D, {}, "not_participant"),
    (A, {"participants": [A, B, F]}, "no_mpc_key"),
    (A, {"participants": [A, B, E]}, "no_node_key"),
    (A, {"participants": [A, B, "reg"]}, "ineligible_participant"),
    (A, {"participants": [A, B, "bank-z"]}, "unknown_institution"),
    (A, {"result_to": ["aud"]}, "no_mpc_key"),
    (A, {"result_to": ["bank-z"]}, "unknown_institution"),
])
def test_opens_the_state_refuses(ledger, who, change, code):
    args = open_args(ledger, **change)
    detail = ledger.refused(code, who, "mpc.open", args)
    named = {who, *args["participants"], *args["result_to"]}
    assert all(iid in named for iid in [*ROLES, "bank-z"] if iid in detail.replace(",", " ").split()), detail


def test_a_deadline_must_lie_ahead_and_not_too_far(ledger):
    ledger.idle(5)
    for ahead in (-1, 0, mpc.MPC_DEADLINE_BLOCKS_MAX + 1):  # from the block the open lands in
        args = open_args(ledger, deadline_height=ledger.height + 1 + ahead)
        detail = ledger.refused("bad_deadline", A, "mpc.open", args)
        assert detail == "deadline_height must be above the current height and at most 10000 blocks ahead"
    ledger.ok(A, "mpc.open", open_args(ledger, deadline_height=ledger.height + 1 + mpc.MPC_DEADLINE_BLOCKS_MAX))
    ledger.ok(A, "mpc.open", open_args(ledger, deadline_height=ledger.height + 2))


def test_a_removed_recipient_is_refused(ledger):
    ledger.enact("remove_institution", id=E)
    ledger.refused("ineligible_recipient", A, "mpc.open", open_args(ledger, result_to=[E]))


# --- commit: refusals ---------------------------------------------------------------------

def test_commit_refusals(ledger):
    session = ledger.open(A, "sum", TRIO, SUM_PARAMS, deadline_blocks=10)
    good = sum_inputs(VALUES).commitment(A)
    ledger.refused("unknown_session", A, "mpc.commit", {"session": "M000000000009", "commitment": good})
    ledger.refused("not_participant", D, "mpc.commit", {"session": session, "commitment": good})
    ledger.refused("bad_commitment", A, "mpc.commit", {"session": session, "commitment": good[:2]})
    not_a_point = [good[0], good[1], bytes(32)]  # the zero encoding is a point of small order
    ledger.refused("bad_commitment", A, "mpc.commit", {"session": session, "commitment": not_a_point})
    identity = [good[0], good[1], commit(0, 0)]  # hides nothing: no honest blinding is 0
    ledger.refused("bad_commitment", A, "mpc.commit", {"session": session, "commitment": identity})
    off_curve = [good[0], good[1], b"\x02" + bytes(31)]
    ledger.refused("bad_commitment", A, "mpc.commit", {"session": session, "commitment": off_curve})
    ledger.ok(A, "mpc.commit", {"session": session, "commitment": good, "public": b"ephemeral x25519 key material"})
    assert mpc_state.commitment(ledger.state, session, A)["public"] == b"ephemeral x25519 key material"
    ledger.refused("already_committed", A, "mpc.commit", {"session": session, "commitment": good})
    ledger.idle(ledger.session(session)["deadline_height"] - ledger.height)
    ledger.refused("deadline_passed", B, "mpc.commit", {"session": session, "commitment": good})


def test_a_psi_commitment_is_one_hash(ledger):
    session = ledger.open(A, "psi_cardinality", [A, B], {"set_size_max": 10})
    ledger.refused("bad_commitment", A, "mpc.commit", {"session": session, "commitment": [bytes(32), bytes(32)]})


# --- result: refusals ---------------------------------------------------------------------

def test_a_result_before_every_commit_is_refused(ledger):
    session = ledger.open(A, "sum", TRIO, SUM_PARAMS)
    inputs = sum_inputs(VALUES)
    for p in (A, B):
        ledger.ok(p, "mpc.commit", {"session": session, "commitment": inputs.commitment(p)})
    ledger.refused("commits_missing", A, "mpc.result", sum_result(ledger, session, inputs))


def test_a_missing_signature_is_refused(ledger):
    session, inputs = committed_sum(ledger)
    args = sum_result(ledger, session, inputs)
    del args["signatures"][C]
    detail = ledger.refused("bad_attestation", A, "mpc.result", args)
    assert detail == "every participant signs, and only they"


@pytest.mark.parametrize("label", ["bank-d/node", "bank-c/client"])
def test_a_signature_by_another_key_is_refused(ledger, label):
    session, inputs = committed_sum(ledger)
    records = commit_records({p: inputs.commitment(p) for p in TRIO})
    transcripts = transcripts_of(TRIO)
    forged = signatures(ledger.chain_id, session, mpc_state.clear_result_digest(inputs.clear), records, transcripts,
                        {C: label})
    detail = ledger.refused("bad_attestation", A, "mpc.result", sum_result(ledger, session, inputs, signatures=forged))
    assert detail == "bank-c's signature does not verify under its node key"


def test_signatures_bind_the_transcript_root(ledger):
    session, inputs = committed_sum(ledger)
    args = sum_result(ledger, session, inputs)  # signed over transcripts_of(TRIO, "t")
    args["transcripts"] = transcripts_of(TRIO, "another exchange")
    ledger.refused("bad_attestation", A, "mpc.result", args)
    args["transcripts"] = {**transcripts_of(TRIO), D: bytes(32)}
    assert ledger.refused("bad_attestation", A, "mpc.result", args) == "transcripts name exactly the participants"


def test_signatures_bind_the_commitments_the_result_and_the_chain(ledger):
    session, inputs = committed_sum(ledger)
    records = commit_records({p: inputs.commitment(p) for p in TRIO})
    transcripts = transcripts_of(TRIO)
    digest = mpc_state.clear_result_digest(inputs.clear)
    other_commitments = {**records, A: {**records[A], "public": b"not what was committed"}}
    for signed in (signatures(ledger.chain_id, session, digest, other_commitments, transcripts),
                   signatures(bytes(32), session, digest, records, transcripts),
                   signatures(ledger.chain_id, "M000000000002", digest, records, transcripts),
                   signatures(ledger.chain_id, session, bytes(32), records, transcripts)):
        ledger.refused("bad_attestation", A, "mpc.result", sum_result(ledger, session, inputs, signatures=signed))
    ledger.ok(A, "mpc.result", sum_result(ledger, session, inputs))


def test_a_clear_sum_off_by_one_is_a_mismatch_though_signed(ledger):
    session, inputs = committed_sum(ledger)
    clear = {**inputs.clear, "totals": [6, 3, 709]}
    detail = ledger.refused("result_mismatch", A, "mpc.result", sum_result(ledger, session, inputs, clear))
    assert detail == "the totals and blindings do not open the sum of the commitments"
    blindings = list(inputs.blinding_sums)
    blindings[0] = scalar_bytes(int.from_bytes(blindings[0], "little") + 1)
    clear = {**inputs.clear, "blindings": blindings}
    ledger.refused("result_mismatch", A, "mpc.result", sum_result(ledger, session, inputs, clear))


def test_results_that_do_not_fit_the_session_are_refused(ledger):
    session, inputs = committed_sum(ledger)
    short = {"totals": inputs.totals[:2], "blindings": inputs.blinding_sums[:2]}
    ledger.refused("bad_result", A, "mpc.result", sum_result(ledger, session, inputs, short))
    too_big = {"totals": [3001, 0, 0], "blindings": inputs.blinding_sums}  # 3 parties x value_max 1000
    ledger.refused("bad_result", A, "mpc.result", sum_result(ledger, session, inputs, too_big))
    ledger.refused("bad_result", A, "mpc.result", sum_result(ledger, session, inputs, {"count": 3}))
    sealed = {k: v for k, v in sum_result(ledger, session, inputs).items() if k not in ("totals", "blindings")}
    sealed |= {"sealed": {"reg": bytes(100)}, "result_commitment": bytes(32)}
    assert ledger.refused("bad_result", A, "mpc.result", sealed) == "a clear sum gives totals and blindings, one " \
                                                                    "per element"
    sealed_session, sealed_inputs = committed_sum(ledger, result_to=["reg"])
    ledger.refused("bad_result", A, "mpc.result", sum_result(ledger, sealed_session, sealed_inputs))
    to_others = {"session": sealed_session, "sealed": {A: bytes(100)}, "result_commitment": bytes(32),
                 "transcripts": transcripts_of(TRIO), "signatures": {p: bytes(64) for p in TRIO}}
    assert ledger.refused("bad_result", A, "mpc.result", to_others) == \
        "sealed boxes go to exactly the session's recipients"


def test_a_count_above_the_set_size_is_refused(ledger):
    session, commitments = psi_session(ledger)
    args = {"session": session, "count": 101, "transcripts": transcripts_of([A, B]),
            "signatures": {A: bytes(64), B: bytes(64)}}
    assert ledger.refused("bad_result", A, "mpc.result", args) == "the count exceeds params.set_size_max"


def test_a_result_comes_once_from_a_participant_before_the_deadline(ledger):
    session, inputs = committed_sum(ledger)
    args = sum_result(ledger, session, inputs)
    ledger.refused("not_permitted", "reg", "mpc.result", args)
    ledger.refused("not_participant", D, "mpc.result", args)
    ledger.ok(C, "mpc.result", args)
    assert ledger.refused("session_closed", A, "mpc.result", args) == f"session {session} is done"
    late, late_inputs = committed_sum(ledger)
    ledger.idle(DEADLINE_BLOCKS)
    ledger.refused("deadline_passed", A, "mpc.result", sum_result(ledger, late, late_inputs))


@pytest.mark.parametrize("change", [
    {"count": 3},                                          # two forms at once
    {"totals": None},                                      # blindings without totals
    {"blindings": [bytes(32)] * 2},                        # lengths differ
    {"blindings": [b"\xff" * 32, bytes(32), bytes(32)]},   # not below the group order
])
def test_results_of_no_one_form_are_refused_at_admission(ledger, change):
    session, inputs = committed_sum(ledger)
    args = {k: v for k, v in {**sum_result(ledger, session, inputs), **change}.items() if v is not None}
    ledger.refused("bad_args", A, "mpc.result", args)


# --- PSI: the pair's rate limit -------------------------------------------------------------

def test_psi_sessions_per_pair_are_rate_limited():
    ledger = Ledger.fresh({"mpc_psi_per_pair_max": 2, "mpc_psi_window_blocks": 10})
    first = ledger.height + 1
    ledger.open(A, "psi_cardinality", [A, B], {"set_size_max": 5})
    ledger.open("reg", "psi_intersection", [A, B], {"set_size_max": 5}, [A, B])
    detail = ledger.refused("rate_limited", B, "mpc.open", {
        "protocol": "psi_cardinality", "participants": [A, B], "params": {"set_size_max": 5},
        "deadline_height": ledger.height + 5, "result_to": [ALL]})
    assert detail == "the pair bank-a, bank-b reached mpc_psi_per_pair_max PSI sessions within mpc_psi_window_blocks"
    ledger.open(A, "psi_cardinality", [A, C], {"set_size_max": 5})  # another pair
    ledger.open(A, "sum", TRIO, SUM_PARAMS)                         # sums are not limited
    ledger.idle(first + 10 - ledger.height - 2)
    again = open_args(ledger, protocol="psi_cardinality", participants=[A, B], params={"set_size_max": 5})
    ledger.refused("rate_limited", A, "mpc.open", again)  # the first's window ends with this block
    ledger.open(B, "psi_cardinality", [A, B], {"set_size_max": 5})
    assert get(ledger.state, mpc_state.psi_pair_key(A, B)) == [first + 1, first + 10]  # the first one expired


def test_an_opener_has_a_bounded_number_of_sessions_open():
    """A member cannot keep other banks' nodes busy with sessions without end:
    at most mpc_open_per_opener_max of the sessions it opened are open at
    once; one that ends (done or aborted) makes room."""
    ledger = Ledger.fresh({"mpc_open_per_opener_max": 2})
    first = ledger.open(A, "sum", TRIO, SUM_PARAMS, deadline_blocks=3)
    ledger.open(A, "sum", TRIO, SUM_PARAMS)
    detail = ledger.refused("too_many_open_sessions", A, "mpc.open", open_args(ledger))
    assert detail == "bank-a has mpc_open_per_opener_max sessions open"
    ledger.open("reg", "sum", TRIO, SUM_PARAMS)  # another opener
    ledger.idle(4)
    ledger.ok(B, "mpc.abort", {"session": first})
    ledger.open(A, "sum", TRIO, SUM_PARAMS)  # room again
    ledger.refused("too_many_open_sessions", A, "mpc.open", open_args(ledger))


def test_governance_sets_the_rate_limit(ledger):
    output = ledger.enact("set_parameter", name="mpc_psi_per_pair_max", value=1)
    assert output["status"] == "passed", output
    ledger.open(A, "psi_cardinality", [A, B], {"set_size_max": 5})
    ledger.refused("rate_limited", A, "mpc.open", open_args(ledger, protocol="psi_cardinality", participants=[A, B],
                                                            params={"set_size_max": 5}))


def test_rate_limit_parameters_have_ranges(ledger):
    for name, value in (("mpc_psi_per_pair_max", 0), ("mpc_psi_per_pair_max", 1025), ("mpc_psi_window_blocks", 0),
                        ("mpc_open_per_opener_max", 0), ("mpc_open_per_opener_max", 1025)):
        ledger.refused("bad_args", A, "governance.propose",
                       {"action": "set_parameter", "args": {"name": name, "value": value}})


# --- the switch ------------------------------------------------------------------------------

def test_governance_switches_the_contract(ledger):
    assert ledger.enact("disable_contract", contract="mpc")["status"] == "passed"
    ledger.refused("contract_disabled", A, "mpc.open", open_args(ledger))
    assert ledger.enact("enable_contract", contract="mpc")["status"] == "passed"
    ledger.ok(A, "mpc.open", open_args(ledger))


# --- queries --------------------------------------------------------------------------------

def test_sessions_page_by_number_and_filter_by_party(ledger):
    ids = [ledger.open(A, "sum", TRIO, SUM_PARAMS), ledger.open("reg", "sum", [B, C, D], SUM_PARAMS, ["reg"]),
           ledger.open(B, "psi_cardinality", [B, C], {"set_size_max": 5})]
    assert mpc_state.session_count(ledger.state) == 3
    assert mpc_state.sessions(ledger.state) == ids
    assert mpc_state.sessions(ledger.state, 2, 1) == ids[1:2]
    assert mpc_state.sessions(ledger.state, 4) == []
    assert mpc_state.sessions(ledger.state, institution=A) == ids[:1]
    assert mpc_state.sessions(ledger.state, institution="reg") == ids[1:2]
    assert mpc_state.sessions(ledger.state, institution=D) == ids[1:2]
    assert mpc_state.sessions(ledger.state, institution="aud") == []
    assert mpc_state.session(ledger.state, "M000000000009") is None


def test_what_others_see_of_a_session(ledger):
    session, inputs = committed_sum(ledger, values={B: [1], C: [2], D: [3]}, opener=B)
    ledger.ok(B, "mpc.result", sum_result(ledger, session, inputs))
    record = ledger.session(session)
    outsider = mpc_state.visible_session(record, A, ("member", "validator"))
    assert "params" not in outsider and "keys" not in outsider
    assert outsider["result"] == record["result"]  # a clear result is for all members
    assert outsider["attestation"] == record["attestation"] and outsider["participants"] == [B, C, D]
    assert mpc_state.visible_session(record, B) == record
    assert mpc_state.visible_session(record, "aud", ("auditor",)) == record


def test_details_name_rules_not_figures(ledger):
    """A refusal names no state figure the transaction did not carry: the
    bound it broke is named by its parameter, not its value."""
    ledger = Ledger.fresh({"mpc_psi_per_pair_max": 3, "mpc_psi_window_blocks": 777})
    for _ in range(3):
        ledger.open(A, "psi_cardinality", [A, B], {"set_size_max": 5})
    detail = ledger.refused("rate_limited", A, "mpc.open", open_args(ledger, protocol="psi_cardinality",
                                                                     participants=[A, B], params={"set_size_max": 5}))
    assert "3" not in detail and "777" not in detail
    session, inputs = committed_sum(ledger)
    clear = {"totals": [6, 2, 710], "blindings": inputs.blinding_sums}
    detail = ledger.refused("result_mismatch", A, "mpc.result", sum_result(ledger, session, inputs, clear))
    assert not any(ch.isdigit() for ch in detail)


def test_commitments_of_zero_values_and_blindings_open(ledger):
    """v = 0 and r = 0 are committed as the identity's share, never refused."""
    assert commit(0, 5) != commit(5, 0)
    assert _sum_opens([[commit(0, 5)], [commit(7, 0)]], [7], [5])  # the identity (0, 0) is no commitment: refused
