"""Verify a chain from its genesis file alone.

`ChainAuditor` takes blocks in height order (block, certificate, receipts)
and checks, for each: it extends the previous block's hash, its transaction
root and count match its transactions, its certificate holds 2f+1 valid
COMMIT signatures of the genesis validators for exactly this block, and the
roots it carries for its parent (receipts root) match the parent's receipts.
With re-execution it also recomputes every state root from genesis.
The first failure names the height and what failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.auth import verify_certificate
from consensus.config import validator_set_hash
from consensus.messages import Block, CommitCertificate, tx_root
from contracts.executor import BlockContext, Executor, Receipt, receipts_root
from contracts.genesis import Genesis, genesis_state
from contracts.state import DictState
from crypto import merkle
from node.ledger import state_root


class AuditFailure(Exception):
    def __init__(self, height: int, what: str) -> None:
        super().__init__(f"height {height}: {what}")
        self.height = height
        self.what = what


@dataclass(slots=True)
class AuditReport:
    blocks: int = 0
    txs: int = 0
    ok_receipts: int = 0
    state_root: bytes = b""


class ChainAuditor:
    def __init__(self, genesis: Genesis, reexecute: bool = False) -> None:
        self.genesis = genesis
        self.validators = genesis.validator_keys
        self.validator_set_hash = validator_set_hash(self.validators)
        self.reexecute = reexecute
        self.state = genesis_state(genesis)
        self.height = 0
        self.prev_hash = genesis.chain_id
        self.prev_receipts_root = merkle.EMPTY_ROOT
        self.prev_state_root = state_root(sorted(self.state.items()))
        self.prev_timestamp_ms = genesis.genesis_time_ms
        self.report = AuditReport(state_root=self.prev_state_root)

    def check(self, block: Block, certificate: CommitCertificate, receipts: tuple[Receipt, ...]) -> None:
        header = block.header
        height = self.height + 1
        fail = lambda what: AuditFailure(height, what)  # noqa: E731
        if header.height != height:
            raise fail(f"expected height {height}, block says {header.height}")
        if header.chain_id != self.genesis.chain_id:
            raise fail("block is for another chain")
        if header.prev_hash != self.prev_hash:
            raise fail("previous-hash link broken")
        if header.tx_count != len(block.txs) or header.tx_root != tx_root(block.txs):
            raise fail("transaction root does not match the transactions")
        if header.validator_set_hash != self.validator_set_hash:
            raise fail("validator set hash does not match genesis")
        if header.receipts_root != self.prev_receipts_root:
            raise fail("receipts root of the parent block does not match its receipts")
        if header.timestamp_ms < self.prev_timestamp_ms:
            raise fail("timestamp goes backwards")
        if self.reexecute and header.state_root != self.prev_state_root:
            raise fail("state root of the parent block differs from re-execution")
        block_hash = header.hash()
        if certificate.seq != height:
            raise fail("certificate is for another sequence number")
        problem = verify_certificate(certificate, block_hash, self.validators)
        if problem is not None:
            raise fail(f"commit certificate: {problem}")
        if len(receipts) != len(block.txs):
            raise fail("one receipt per transaction expected")
        if self.reexecute:
            self._reexecute(height, block, receipts)
        self.height, self.prev_hash = height, block_hash
        self.prev_receipts_root = receipts_root(receipts)
        self.prev_timestamp_ms = header.timestamp_ms
        self.report.blocks += 1
        self.report.txs += len(block.txs)
        self.report.ok_receipts += sum(1 for r in receipts if r.ok)

    def _reexecute(self, height: int, block: Block, receipts: tuple[Receipt, ...]) -> None:
        context = BlockContext(self.genesis.chain_id, height, block.header.timestamp_ms)
        result = Executor().execute(DictState(self.state), context, list(block.txs))
        if result.receipts != receipts:
            raise AuditFailure(height, "receipts differ from re-execution")
        for key, value in result.writes:
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        self.prev_state_root = state_root(sorted(self.state.items()))
        self.report.state_root = self.prev_state_root
