"""MPC attestations checked again by the auditor, from the chain alone.

The contract checks a session's result when it executes `mpc.result`; an
auditor who does not re-execute still checks every attestation itself,
from the certified blocks and their receipts, with code of its own:

- the commitment root, recomputed from the `mpc.commit` transactions that
  succeeded in earlier blocks (each commit's receipt names its
  participant), must be the root the result's receipt names;
- the transcript root, recomputed from the result's transcript hashes;
- the result digest: of the clear result in the transaction, or the sealed
  result's commitment;
- every participant's signature over the attestation
  (contracts.mpc_state.attestation_bytes), under the node key the
  result's receipt names for it, in the MPC attestation domain;
- a clear sum: its totals and blindings open the sum of every
  participant's commitments (crypto.mpc.pedersen, not the contract's
  wrapper);
- an abort: the participants it names as not having committed are
  exactly those without a successful commit.

What this trusts: that the node keys a receipt names were the
participants' keys at that height. A receipt is certified by a quorum of
validators (its root is in the next header), as every receipt an auditor
reads without re-execution is; with re-execution the receipt is also
recomputed, and so are the keys, from governance state.

Bounded: only the sessions still open are kept (at most the open
sessions the contract allows), each with at most MPC_PARTIES_MAX commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts import mpc_state
from contracts.tx import TxError, decode_tx
from crypto import encoding, keys
from crypto.mpc import pedersen

OK = "ok"
MPC_TYPES = ("mpc.open", "mpc.commit", "mpc.result", "mpc.abort")


class MpcAuditFailure(Exception):
    """An attestation or abort that does not hold; the message says which and why."""


@dataclass(slots=True)
class MpcReport:
    results: int = 0
    aborted: int = 0
    signatures: int = 0
    by_protocol: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        protocols = ", ".join(f"{count} {name}" for name, count in sorted(self.by_protocol.items()))
        return (f"mpc: {self.results} results ({protocols or 'none'}), every attestation verified "
                f"({self.signatures} signatures, commitment and transcript roots, clear sums open their "
                f"commitments); {self.aborted} sessions aborted, their missing parties confirmed")


@dataclass(slots=True)
class _Session:
    protocol: str
    participants: list[str]
    result_to: list[str]
    commits: dict[str, dict] = field(default_factory=dict)  # participant -> {"commitment", "public"}


class MpcAuditor:
    def __init__(self, chain_id: bytes) -> None:
        self.chain_id = chain_id
        self.open: dict[str, _Session] = {}
        self.report = MpcReport()

    def check_block(self, txs, receipts: list[bytes]) -> None:
        """Follow one block's MPC transactions; MpcAuditFailure on the first that does not hold."""
        for wire, raw in zip(txs, receipts):
            if b"mpc." not in wire:
                continue  # cheap skip: every MPC transaction names its type in its body
            try:
                tx = decode_tx(wire)
                tx_hash, code, _detail, output = encoding.decode(raw)
            except (TxError, encoding.DecodeError, ValueError, TypeError):
                continue  # the chain audit proper judges malformed transactions and receipts
            if tx.type in MPC_TYPES and code == OK and isinstance(output, dict):
                getattr(self, "_" + tx.type.split(".")[1])(tx.args, output)

    # ------------------------------------------------------------ each type

    def _open(self, args: dict, output: dict) -> None:
        self.open[output["session"]] = _Session(args["protocol"], list(args["participants"]),
                                                list(args["result_to"]))

    def _commit(self, args: dict, output: dict) -> None:
        session = self._session(output["session"])
        session.commits[output["participant"]] = {"commitment": list(args["commitment"]),
                                                  "public": args.get("public")}

    def _result(self, args: dict, output: dict) -> None:
        session_id = output["session"]
        session = self._session(session_id)
        if sorted(session.commits) != session.participants:
            raise MpcAuditFailure(f"session {session_id}: a result before every participant committed")
        commit_root = mpc_state.commitment_root(session.commits)
        transcripts_root = mpc_state.transcript_root(args["transcripts"])
        if "sealed" in args:
            digest = args["result_commitment"]
        elif session.protocol == mpc_state.SUM:
            digest = mpc_state.clear_result_digest({"totals": list(args["totals"]),
                                                   "blindings": list(args["blindings"])})
        else:
            digest = mpc_state.clear_result_digest({"count": args["count"]})
        for name, mine in (("result digest", digest), ("commitment root", commit_root),
                           ("transcript root", transcripts_root)):
            if output.get(name.replace(" ", "_")) != mine:
                raise MpcAuditFailure(f"session {session_id}: the receipt's {name} is not the one recomputed "
                                      f"from the chain")
        self._check_signatures(session_id, session, args["signatures"], output.get("node_keys"),
                               mpc_state.attestation_bytes(self.chain_id, session_id, digest, commit_root,
                                                           transcripts_root))
        if "totals" in args:
            self._check_clear_sum(session_id, session, args["totals"], args["blindings"])
        self.report.results += 1
        self.report.by_protocol[session.protocol] = self.report.by_protocol.get(session.protocol, 0) + 1
        del self.open[session_id]

    def _abort(self, args: dict, output: dict) -> None:
        session_id = output["session"]
        session = self._session(session_id)
        missing = [p for p in session.participants if p not in session.commits]
        if output.get("missing", {}).get("commits") != missing:
            raise MpcAuditFailure(f"session {session_id}: the abort names {output.get('missing')}, but the chain "
                                  f"has no commit from {missing}")
        self.report.aborted += 1
        del self.open[session_id]

    # ------------------------------------------------------------ checks

    def _session(self, session_id: str) -> _Session:
        session = self.open.get(session_id)
        if session is None:
            raise MpcAuditFailure(f"session {session_id}: a receipt for a session that is not open on this chain")
        return session

    def _check_signatures(self, session_id: str, session: _Session, signatures: dict, node_keys, attested) -> None:
        if not isinstance(node_keys, dict) or sorted(node_keys) != session.participants \
                or sorted(signatures) != session.participants:
            raise MpcAuditFailure(f"session {session_id}: the result does not carry every participant's "
                                  f"signature and node key")
        for participant in session.participants:
            if not keys.verify(node_keys[participant], keys.MPC_ATTEST_DOMAIN, attested, signatures[participant]):
                raise MpcAuditFailure(f"session {session_id}: {participant}'s signature does not verify")
            self.report.signatures += 1

    def _check_clear_sum(self, session_id: str, session: _Session, totals: list, blindings: list) -> None:
        order = pedersen.GROUP_ORDER
        for index, (total, blinding) in enumerate(zip(totals, blindings, strict=True)):
            column = [session.commits[p]["commitment"][index] for p in session.participants]
            if not pedersen.verify_sum(column, total % order, int.from_bytes(blinding, "little") % order):
                raise MpcAuditFailure(f"session {session_id}: total {index} does not open the participants' "
                                      f"commitments")
