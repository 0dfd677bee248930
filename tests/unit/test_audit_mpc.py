"""The auditor checks every MPC attestation again from the blocks and
receipts alone (node.audit.mpc), without re-executing: sessions are run
through the real contract (tests/mpc_ledger.py), every block's
transactions and receipts are kept as the chain stores them, and then
audited; receipts a dishonest quorum could certify are forged to show each
check fails."""

from __future__ import annotations

import pytest

from contracts import governance, mpc_state
from contracts.mpc_state import ALL
from crypto import encoding
from mpc_ledger import Ledger, commit_records, seal, signatures, sum_inputs, transcripts_of
from node.audit.mpc import MpcAuditFailure, MpcAuditor

A, B, C = "bank-a", "bank-b", "bank-c"
VALUES = {A: [5, 0, 700], B: [1, 2, 0], C: [0, 0, 9]}
SUM_PARAMS = {"length": 3, "value_max": 1000}


class RecordingLedger(Ledger):
    """Keeps each block as (transaction wires, receipt wires)."""

    def block(self, txs):
        receipts = super().block(txs)
        self.blocks.append(([tx.wire() for tx in txs], [encoding.encode(r.to_wire()) for r in receipts]))
        return receipts


@pytest.fixture
def ledger() -> RecordingLedger:
    chain = RecordingLedger.fresh()
    chain.blocks = []
    return chain


def audit(ledger: RecordingLedger, blocks=None) -> MpcAuditor:
    auditor = MpcAuditor(ledger.chain_id)
    for txs, receipts in blocks if blocks is not None else ledger.blocks:
        auditor.check_block(txs, receipts)
    return auditor


def run_sum(ledger: Ledger, result_to=(ALL,)) -> str:
    inputs = sum_inputs(VALUES)
    session = ledger.open(A, "sum", [A, B, C], SUM_PARAMS, list(result_to))
    for p in (A, B, C):
        ledger.ok(p, "mpc.commit", {"session": session, "commitment": inputs.commitment(p)})
    records = commit_records({p: inputs.commitment(p) for p in VALUES})
    transcripts = transcripts_of(VALUES)
    if result_to == (ALL,):
        digest, result = mpc_state.clear_result_digest(inputs.clear), inputs.clear
    else:
        salt = bytes(range(32))
        digest = mpc_state.sealed_result_commitment(inputs.clear, salt)
        result = {"sealed": {"reg": seal("reg", mpc_state.sealed_content(inputs.clear, salt))},
                  "result_commitment": digest}
    ledger.ok(B, "mpc.result", {"session": session, **result, "transcripts": transcripts,
                                "signatures": signatures(ledger.chain_id, session, digest, records, transcripts)})
    return session


def run_psi(ledger: Ledger) -> str:
    session = ledger.open(A, "psi_cardinality", [A, B], {"set_size_max": 100})
    commitments = {p: [bytes([i]) * 32] for i, p in enumerate((A, B))}
    for p in (A, B):
        ledger.ok(p, "mpc.commit", {"session": session, "commitment": commitments[p]})
    records, transcripts = commit_records(commitments), transcripts_of((A, B))
    digest = mpc_state.clear_result_digest({"count": 7})
    ledger.ok(A, "mpc.result", {"session": session, "count": 7, "transcripts": transcripts,
                                "signatures": signatures(ledger.chain_id, session, digest, records, transcripts)})
    return session


def run_abort(ledger: Ledger) -> str:
    inputs = sum_inputs(VALUES)
    session = ledger.open(C, "sum", [A, B, C], SUM_PARAMS, deadline_blocks=2)
    ledger.ok(A, "mpc.commit", {"session": session, "commitment": inputs.commitment(A)})
    ledger.idle(3)
    assert ledger.ok(C, "mpc.abort", {"session": session})["missing"]["commits"] == [B, C]
    return session


def forged(ledger: RecordingLedger, tx_type: str, change) -> list:
    """The recorded blocks with the receipt of the last successful `tx_type` rewritten by `change(output)`."""
    blocks = [(list(txs), list(receipts)) for txs, receipts in ledger.blocks]
    for txs, receipts in reversed(blocks):
        for index, wire in enumerate(txs):
            fields = encoding.decode(receipts[index])
            if tx_type.encode() in wire and fields[1] == "ok":
                fields[3] = change(dict(fields[3]))
                receipts[index] = encoding.encode(fields)
                return blocks
    raise AssertionError(f"no successful {tx_type}")


def test_every_kind_of_session_is_checked_and_counted(ledger):
    run_sum(ledger)
    run_sum(ledger, result_to=("reg",))
    run_psi(ledger)
    run_abort(ledger)
    report = audit(ledger).report
    assert (report.results, report.aborted, report.signatures) == (3, 1, 3 + 3 + 2)
    assert report.by_protocol == {"psi_cardinality": 1, "sum": 2}
    assert "3 results (1 psi_cardinality, 2 sum)" in report.summary()


def test_refused_mpc_transactions_are_not_taken_for_results(ledger):
    session = run_sum(ledger)
    ledger.refused("session_closed", A, "mpc.abort", {"session": session})
    assert audit(ledger).report.results == 1


@pytest.mark.parametrize("name", ["result_digest", "commitment_root", "transcript_root"])
def test_a_receipt_whose_roots_or_digest_are_not_the_chains_fails(ledger, name):
    run_sum(ledger)
    blocks = forged(ledger, "mpc.result", lambda out: {**out, name: bytes(32)})
    with pytest.raises(MpcAuditFailure, match=name.replace("_", " ")):
        audit(ledger, blocks)


def test_a_signature_under_another_key_fails(ledger):
    run_psi(ledger)
    blocks = forged(ledger, "mpc.result", lambda out: {**out, "node_keys": {A: out["node_keys"][B],
                                                                             B: out["node_keys"][A]}})
    with pytest.raises(MpcAuditFailure, match="bank-a's signature does not verify"):
        audit(ledger, blocks)


def test_a_receipt_without_every_node_key_fails(ledger):
    run_psi(ledger)
    blocks = forged(ledger, "mpc.result", lambda out: {k: v for k, v in out.items() if k != "node_keys"})
    with pytest.raises(MpcAuditFailure, match="every participant's signature and node key"):
        audit(ledger, blocks)


def test_a_clear_sum_that_does_not_open_the_commitments_fails_though_signed(ledger):
    """The contract refuses it (result_mismatch); a quorum that certified
    it as done anyway is caught by the auditor's own Pedersen check."""
    inputs = sum_inputs(VALUES)
    session = ledger.open(A, "sum", [A, B, C], SUM_PARAMS)
    for p in (A, B, C):
        ledger.ok(p, "mpc.commit", {"session": session, "commitment": inputs.commitment(p)})
    wrong = {**inputs.clear, "totals": [6, 2, 710]}
    records, transcripts = commit_records({p: inputs.commitment(p) for p in VALUES}), transcripts_of(VALUES)
    digest = mpc_state.clear_result_digest(wrong)
    args = {"session": session, **wrong, "transcripts": transcripts,
            "signatures": signatures(ledger.chain_id, session, digest, records, transcripts)}
    assert ledger.send(B, "mpc.result", args).code == "result_mismatch"
    receipts = ledger.blocks[-1][1]
    node_keys = {p: governance.institution_keys(ledger.state, p)["node_key"] for p in (A, B, C)}
    receipts[0] = encoding.encode([encoding.decode(receipts[0])[0], "ok", "", {
        "session": session, "status": "done", "result_digest": digest,
        "commitment_root": mpc_state.commitment_root(records),
        "transcript_root": mpc_state.transcript_root(transcripts), "node_keys": node_keys}])
    with pytest.raises(MpcAuditFailure, match="total 2 does not open"):
        audit(ledger)


def test_an_abort_that_names_the_wrong_parties_fails(ledger):
    run_abort(ledger)
    blocks = forged(ledger, "mpc.abort", lambda out: {**out, "missing": {"commits": [C], "signatures": []}})
    with pytest.raises(MpcAuditFailure, match="has no commit from"):
        audit(ledger, blocks)


def test_a_result_for_a_session_never_opened_fails(ledger):
    run_psi(ledger)
    blocks = [block for block in ledger.blocks if not any(b"mpc.open" in wire for wire in block[0])]
    with pytest.raises(MpcAuditFailure, match="not open on this chain"):
        audit(ledger, blocks)
