"""Verify a chain from its genesis file alone.

`ChainAuditor` takes blocks in height order (block, certificate, receipt
bytes) and checks for each: it extends the previous block's hash; its
transaction root and count match its transactions; its commit certificate
holds 2f+1 valid COMMIT signatures of the validator set in force at that
height; the receipts root it carries for its parent matches the parent's
receipts. The validator set is followed through governance: a passing vote
whose receipt schedules a new set (keys and effective height) switches the
set after the effective block, exactly as the executor does, and every
header's validator-set hash must agree. With re-execution it also replays
every transaction from genesis, compares receipts byte for byte and
recomputes every state root with the authenticated state tree.
The first failure names the height and what failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from consensus.auth import verify_certificate
from consensus.config import validator_set_hash
from consensus.messages import Block, CommitCertificate, tx_root
from contracts.executor import BlockContext, Executor
from contracts.genesis import Genesis, genesis_state
from contracts.state import DictState
from crypto import encoding, merkle, smt


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


def scheduled_validator_set(raw_receipt: bytes) -> tuple[tuple[bytes, ...], int] | None:
    """The validator set (keys) and effective height a governance receipt schedules, if any."""
    try:
        _, code, _, output = msgpack.unpackb(raw_receipt, raw=False)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    if code != "ok" or not isinstance(output, dict) or output.get("status") != "passed":
        return None
    result = output.get("result")
    if not isinstance(result, dict) or "validator_set" not in result:
        return None
    return tuple(key for _, key in result["validator_set"]), result["effective_height"]


class ChainAuditor:
    def __init__(self, genesis: Genesis, reexecute: bool = False) -> None:
        self.genesis = genesis
        self.validators = genesis.validator_keys
        self.pending: tuple[tuple[bytes, ...], int] | None = None
        self.reexecute = reexecute
        self.height = 0
        self.prev_hash = genesis.chain_id
        self.prev_receipts_root = merkle.EMPTY_ROOT
        self.prev_timestamp_ms = genesis.genesis_time_ms
        self.state = DictState()
        self.tree: dict[bytes, bytes] = {}
        self.prev_state_root = b""
        if reexecute:
            self.state = DictState(genesis_state(genesis))
            built = smt.build(self.state.items)
            self.tree = dict(built.new_nodes)
            self.prev_state_root = built.root
        self.report = AuditReport(state_root=self.prev_state_root)

    def check(self, block: Block, certificate: CommitCertificate, receipts: list[bytes]) -> None:
        height = self.height + 1
        self._check_header(height, block)
        block_hash = block.header.hash()
        if certificate.seq != height:
            raise AuditFailure(height, "certificate is for another sequence number")
        problem = verify_certificate(certificate, block_hash, self.validators)
        if problem is not None:
            raise AuditFailure(height, f"commit certificate: {problem}")
        if len(receipts) != len(block.txs):
            raise AuditFailure(height, "one receipt per transaction expected")
        if self.reexecute:
            self._reexecute(height, block, receipts)
        for raw in receipts:
            scheduled = scheduled_validator_set(raw)
            if scheduled is not None:
                self.pending = scheduled
        if self.pending is not None and self.pending[1] == height:
            self.validators, self.pending = self.pending[0], None
            self.report.validator_changes += 1
        self.height, self.prev_hash = height, block_hash
        self.prev_receipts_root = merkle.root(receipts)
        self.prev_timestamp_ms = block.header.timestamp_ms
        self.report.blocks += 1
        self.report.txs += len(block.txs)

    def _check_header(self, height: int, block: Block) -> None:
        header = block.header
        problems = (
            (header.height != height, f"expected height {height}, block says {header.height}"),
            (header.chain_id != self.genesis.chain_id, "block is for another chain"),
            (header.prev_hash != self.prev_hash, "previous-hash link broken"),
            (header.tx_count != len(block.txs) or header.tx_root != tx_root(block.txs),
             "transaction root does not match the transactions"),
            (header.validator_set_hash != validator_set_hash(self.validators),
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

    def _reexecute(self, height: int, block: Block, receipts: list[bytes]) -> None:
        context = BlockContext(self.genesis.chain_id, height, block.header.timestamp_ms)
        result = Executor().execute(self.state, context, list(block.txs))
        for index, receipt in enumerate(result.receipts):
            try:
                stored = encoding.decode(receipts[index])
            except encoding.DecodeError:
                stored = None
            if receipt.to_wire() != stored:
                raise AuditFailure(height, f"receipt {index} differs from re-execution")
        self.state.apply(result.writes)
        update = smt.update(self.tree, self.prev_state_root, result.writes)
        self.tree.update(update.new_nodes)
        for node_hash in update.obsolete:
            self.tree.pop(node_hash, None)
        self.prev_state_root = update.root
        self.report.state_root = update.root
