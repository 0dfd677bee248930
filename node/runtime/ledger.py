"""The block applier: executes committed blocks against stored state, and
the reads the API serves from what it stored (blocks, receipts, proofs).

The state root is the root of the authenticated state tree (crypto.smt),
updated per block from the block's write set at a cost of about
log2(number of keys) hashes per changed key; the new tree nodes go into the
same synced write batch as the block.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.config import ChainTip
from consensus.messages import Block, CommitCertificate
from consensus.validators import SETS_KEPT_MAX, ValidatorHistory, ValidatorSet
from contracts.executor import BlockContext, BlockResult, Executor, Receipt
from contracts.genesis import Genesis, genesis_state
from contracts.tx import Transaction
from crypto import encoding, merkle, smt
from node.runtime.storage import Storage, StoredBlock


class TreeReader:
    """The state tree's nodes in LevelDB."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def get(self, node_hash: bytes, /) -> bytes | None:
        return self.storage.tree_node(node_hash)


class StorageView:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def get(self, key: bytes) -> bytes | None:
        return self.storage.state_get(key)


@dataclass(frozen=True, slots=True)
class StateProof:
    """`key`'s value (None: absent) with its proof against the state root that
    block `header_height`'s certified header carries (the state after the
    block before it)."""

    key: bytes
    value: bytes | None
    header_height: int
    state_root: bytes
    proof: smt.Proof


class Ledger:
    def __init__(self, storage: Storage, genesis: Genesis, executor: Executor | None = None) -> None:
        self.storage = storage
        self.genesis = genesis
        self.executor = executor or Executor()
        self.view = StorageView(storage)
        self.tree = TreeReader(storage)
        tip = storage.tip()
        if tip is None:
            state = genesis_state(genesis)
            tree = smt.build(state)
            tip = ChainTip(0, genesis.chain_id, tree.root, merkle.EMPTY_ROOT, genesis.genesis_time_ms)
            storage.initialize(state, tree.new_nodes, tip, genesis.validator_keys)
        self.tip = tip

    def validator_keys(self) -> tuple[bytes, ...]:
        """Node keys of the validator set in force for the next block."""
        return tuple(key for _, key in encoding.decode(self.storage.state_get(b"gov/validators")))

    def validator_history(self) -> ValidatorHistory:
        """The sets that ordered the recent heights, the one in force next last."""
        entries = tuple((first, ValidatorSet(self.genesis.chain_id, keys))
                        for first, keys in self.storage.validator_sets(SETS_KEPT_MAX))
        return ValidatorHistory(entries)

    def node_keys(self) -> dict[str, bytes]:
        """Node keys by institution: genesis, then the validator sets governance wrote."""
        found = {i.id: i.node_key for i in self.genesis.institutions if i.node_key is not None}
        for raw_key in (b"gov/validators", b"gov/validators_pending"):
            raw = self.storage.state_get(raw_key)
            if raw is None:
                continue
            value = encoding.decode(raw)
            entries = value.get("set", []) if isinstance(value, dict) else value
            for institution, key in entries:
                found[institution] = key
        return found

    def apply(self, block: Block, certificate: CommitCertificate,
              txs: list[Transaction | bytes] | None = None) -> tuple[ChainTip, BlockResult]:
        """Execute and durably append the next block; return the new tip and result."""
        header = block.header
        assert header.height == self.tip.height + 1, "blocks are applied in order"
        assert header.prev_hash == self.tip.block_hash, "block does not extend the tip"
        context = BlockContext(self.genesis.chain_id, header.height, header.timestamp_ms)
        result = self.executor.execute(self.view, context, list(block.txs) if txs is None else txs)
        tree = smt.update(self.tree, self.tip.state_root, result.writes)
        new_tip = ChainTip(header.height, header.hash(), tree.root, result.receipts_root, header.timestamp_ms)
        self.storage.append_block(block, certificate, result.receipt_leaves, result.writes, new_tip,
                                  [receipt.tx_hash for receipt in result.receipts], tree.new_nodes,
                                  result.validators)
        self.tip = new_tip
        return new_tip, result

    # ------------------------------------------------------------------ reads

    def block(self, height: int) -> StoredBlock | None:
        return self.storage.block(height) if height > 0 else None

    def raw_block(self, height: int) -> tuple[bytes, bytes, list[bytes]] | None:
        """Block, certificate and receipt bytes as stored (for export)."""
        return self.storage.raw_block(height) if height > 0 else None

    def receipt(self, tx_hash: bytes) -> tuple[int, int, Receipt] | None:
        """(height, index, receipt) of a committed transaction."""
        location = self.storage.tx_location(tx_hash)
        if location is None:
            return None
        height, index = location
        return height, index, self.storage.block(height).receipts[index]

    def state_proof(self, key: bytes) -> StateProof | None:
        """`key` proved against the latest certified state root: the root after
        block h-1, carried by block h's header (h = tip); None before block 1."""
        height = self.tip.height
        if height == 0:
            return None
        header = self.storage.block(height).block.header
        return StateProof(key, smt.get(self.tree, header.state_root, key), height, header.state_root,
                          smt.prove(self.tree, header.state_root, key))
