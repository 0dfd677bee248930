"""Verify a chain from its genesis file alone.

`ChainAuditor` takes blocks in height order (block, certificate, receipt
bytes) and checks for each: it extends the previous block's hash; its
transaction root and count match its transactions; its commit certificate
holds a quorum of valid COMMIT signatures of the validator set in force at
that height; the receipts root it carries for its parent matches the
parent's receipts; every MPC attestation and abort holds (node.audit.mpc).
With re-execution it also replays every transaction
from genesis, compares receipts byte for byte (the executor's receipt
leaves against the stored bytes, nothing decoded), recomputes every state
root with the authenticated state tree, and takes the validator set in
force next from the executor's block result, as the node does.

Signatures may have been checked ahead on other cores
(node.audit.signatures): `check` then takes what was found, which only
spares checking again what was found valid.

Without re-execution there is no block result: the set a governance
receipt schedules (read by the governance contract's own
`scheduled_validator_set`) becomes the candidate, and the set changes at the
first header whose validator-set hash is the candidate's. Every header's
validator-set hash must match the set in force. The first failure names
the height and what failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from consensus.auth import verify_certificate
from consensus.validators import ValidatorSet
from consensus.messages import Block, CommitCertificate, tx_root
from contracts import governance
from contracts.executor import BlockContext, Executor
from contracts.genesis import Genesis, genesis_state
from contracts.genesis_bulk import BulkStateError, with_bulk_records
from contracts.state import DictState
from crypto import encoding, keys, merkle, smt
from node.audit.mpc import MpcAuditFailure, MpcAuditor
from node.audit.signatures import CheckedSignatures


class AuditFailure(Exception):
    def __init__(self, height: int, what: str) -> None:
        super().__init__(f"height {height}: {what}")
        self.height = height
        self.what = what


@dataclass(slots=True)
class AuditReport:
    blocks: int = 0
    txs: int = 0
    validator_changes: int = 0
    state_root: bytes = b""


SCHEDULE_MARK = b"validator_set"  # the key under which a governance receipt's output names a set


def scheduled_validator_set(raw_receipt: bytes) -> tuple[bytes, ...] | None:
    """The validator set a receipt schedules, if it is a passing governance vote that does."""
    if SCHEDULE_MARK not in raw_receipt:
        return None  # cheap skip: an output that names a set holds this key's UTF-8 bytes, as its encoding does
    try:
        fields = encoding.decode(raw_receipt)
    except encoding.DecodeError:
        return None
    if not isinstance(fields, list) or len(fields) != 4 or fields[1] != "ok":
        return None
    return governance.scheduled_validator_set(fields[3])


class ChainAuditor:
    def __init__(self, genesis: Genesis, reexecute: bool = False,
                 bulk_records: Iterable[tuple[bytes, bytes]] | None = None) -> None:
        """`bulk_records`: with re-execution, the records of the bulk state
        file the genesis names, if it names one (node.audit.verify.bulk_records).
        They join the genesis state, which re-execution holds in memory with
        its tree: about 1 GB a million records, so it suits small ones."""
        self.genesis = genesis
        self.validators = ValidatorSet(genesis.chain_id, genesis.validator_keys)
        self.candidate: ValidatorSet | None = None  # without re-execution: the set last scheduled
        self.reexecute = reexecute
        self.height = 0
        self.prev_hash = genesis.chain_id
        self.prev_receipts_root = merkle.EMPTY_ROOT
        self.prev_timestamp_ms = genesis.genesis_time_ms
        self.state = DictState()
        self.tree: dict[bytes, bytes] = {}
        self.prev_state_root = b""
        if reexecute:
            self.state = DictState(self._genesis_state(bulk_records))
            built = smt.build(self.state.items)
            self.tree = dict(built.new_nodes)
            self.prev_state_root = built.root
        self.report = AuditReport(state_root=self.prev_state_root)
        self.mpc = MpcAuditor(genesis.chain_id)

    def _genesis_state(self, bulk_records: Iterable[tuple[bytes, bytes]] | None) -> dict[bytes, bytes]:
        state = genesis_state(self.genesis)
        bulk = self.genesis.bulk_state
        if bulk is None:
            return state
        if bulk_records is None:
            raise AuditFailure(0, f"the genesis takes {bulk.keys:,} state records from {bulk.file}: "
                                  "re-execution needs that file beside the genesis file")
        try:
            return dict(with_bulk_records(state, bulk_records))
        except BulkStateError as exc:
            raise AuditFailure(0, f"bulk state {bulk.file}: {exc}") from None

    def check(self, block: Block, certificate: CommitCertificate, receipts: list[bytes],
              checked: CheckedSignatures | None = None) -> None:
        """Audit the next block; AuditFailure on the first thing that does not hold."""
        height = self.height + 1
        self._follow_candidate(block)
        self._check_header(height, block)
        block_hash = block.header.hash()
        if certificate.seq != height:
            raise AuditFailure(height, "certificate is for another sequence number")
        problem = verify_certificate(certificate, block_hash, self.validators,
                                     keys.verify if checked is None else checked.verify)
        if problem is not None:
            raise AuditFailure(height, f"commit certificate: {problem}")
        if len(receipts) != len(block.txs):
            raise AuditFailure(height, "one receipt per transaction expected")
        if self.reexecute:
            self._reexecute(height, block, receipts,
                            list(block.txs) if checked is None else checked.executor_txs(block.txs))
        else:
            for raw in receipts:
                scheduled = scheduled_validator_set(raw)
                if scheduled is not None:
                    self.candidate = ValidatorSet(self.genesis.chain_id, scheduled)
        try:
            self.mpc.check_block(block.txs, receipts)
        except MpcAuditFailure as exc:
            raise AuditFailure(height, str(exc)) from None
        self.height, self.prev_hash = height, block_hash
        self.prev_receipts_root = merkle.root(receipts)
        self.prev_timestamp_ms = block.header.timestamp_ms
        self.report.blocks += 1
        self.report.txs += len(block.txs)

    def _follow_candidate(self, block: Block) -> None:
        """Without re-execution: switch to the scheduled set at the first
        header that names it (its certificate must then hold under it)."""
        if self.candidate is not None and block.header.validator_set_hash == self.candidate.hash:
            self._switch(self.candidate)

    def _switch(self, validators: ValidatorSet) -> None:
        self.validators, self.candidate = validators, None
        self.report.validator_changes += 1

    def _check_header(self, height: int, block: Block) -> None:
        header = block.header
        problems = (
            (header.height != height, f"expected height {height}, block says {header.height}"),
            (header.chain_id != self.genesis.chain_id, "block is for another chain"),
            (header.prev_hash != self.prev_hash, "previous-hash link broken"),
            (header.tx_count != len(block.txs) or header.tx_root != tx_root(block.txs),
             "transaction root does not match the transactions"),
            (header.validator_set_hash != self.validators.hash,
             "validator set hash does not match the set in force"),
            (header.receipts_root != self.prev_receipts_root,
             "receipts root of the parent block does not match its receipts"),
            (header.timestamp_ms < self.prev_timestamp_ms, "timestamp goes backwards"),
            (self.reexecute and header.state_root != self.prev_state_root,
             "state root of the parent block differs from re-execution"),
        )
        for failed, what in problems:
            if failed:
                raise AuditFailure(height, what)

    def _reexecute(self, height: int, block: Block, receipts: list[bytes], txs: list) -> None:
        """Execute `txs` (the block's, each as bytes or as an already verified
        Transaction) and compare what comes out with what the chain says."""
        context = BlockContext(self.genesis.chain_id, height, block.header.timestamp_ms)
        result = Executor().execute(self.state, context, txs)
        if list(result.receipt_leaves) != receipts:
            index = next(i for i, (leaf, raw) in enumerate(zip(result.receipt_leaves, receipts)) if leaf != raw)
            raise AuditFailure(height, f"receipt {index} differs from re-execution")
        self.state.apply(result.writes)
        if result.validators is not None:
            self._switch(ValidatorSet(self.genesis.chain_id, result.validators))
        update = smt.update(self.tree, self.prev_state_root, result.writes)
        self.tree.update(update.new_nodes)
        for node_hash in update.obsolete:
            self.tree.pop(node_hash, None)
        self.prev_state_root = update.root
        self.report.state_root = update.root
