"""The block applier: executes committed blocks against stored state, and
the reads the API serves from what it stored (blocks, receipts, proofs).

The state root is the root of the authenticated state tree (crypto.smt),
updated per block from the block's write set at a cost of about
log2(number of keys) hashes per changed key; the new tree nodes go into the
same synced write batch as the block.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from consensus.config import ChainTip
from consensus.messages import Block, BlockHeader, CommitCertificate
from consensus.validators import SETS_KEPT_MAX, ValidatorHistory, ValidatorSet
from contracts.executor import NONCE_UNUSED_CODES, BlockContext, BlockResult, Executor, Receipt
from contracts.genesis import Genesis, client_key_key, genesis_state
from contracts.governance import NodeEntry, node_directory
from contracts.tx import Transaction, TxError, decode_tx
from crypto import encoding, merkle, smt
from node.runtime.layout import INDEX_ALL, IndexedTx, index_by_institution, index_by_type
from node.runtime.storage import STORED_BYTES_MAX, Storage, StorageError, StoredBlock


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


class BlockReads:
    """The committed state as one block's execution reads it: each key is
    looked up once (in the storage's cache, else LevelDB) and then served
    from a plain dict for the rest of the block, which holds at most the
    keys the block reads and is dropped with it."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.read: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        try:
            return self.read[key]
        except KeyError:
            value = self.read[key] = self.storage.state_get(key)
            return value


def _tx_type(tx: Transaction | bytes) -> str | None:
    if isinstance(tx, Transaction):
        return tx.type
    try:
        return decode_tx(tx).type
    except TxError:
        return None


@dataclass(frozen=True, slots=True)
class TxQuery:
    """Which transactions an auditor asks for: sent by `institution` (the
    sender's, as the block result names it) and of `type`, each when given,
    in heights first_height..last_height, after position `after` (a cursor:
    height and index); at most `count_max` found and `scan_max` index
    entries read."""

    institution: str | None
    type: str | None
    first_height: int
    last_height: int
    after: tuple[int, int] | None
    count_max: int
    scan_max: int


@dataclass(frozen=True, slots=True)
class FoundTx:
    height: int
    index: int
    institution: str | None
    type: str | None


@dataclass(frozen=True, slots=True)
class IncludedTx:
    """A found transaction with what proves it: its bytes and Merkle proof
    against the transaction root of block `height`'s header, its receipt's
    canonical bytes (a receipts-root leaf) and proof against the receipts
    root of block height + 1's header, and the proof of what its sender's
    key (key/<sender>) held in the state block `height`'s header certifies
    (the state the block began from; None: an undecodable transaction)."""

    found: FoundTx
    tx: bytes
    tx_proof: list[bytes]
    receipt: bytes
    receipt_proof: list[bytes]
    sender_proof: smt.Proof | None


@dataclass(frozen=True, slots=True)
class CertifiedHeader:
    """A block's header and its commit certificate as stored (canonical bytes)."""

    header: BlockHeader
    certificate: bytes


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
        # told after each block's write: its transactions' types (None: undecodable), whether each
        # succeeded, and the seconds the synced LevelDB write took (the node's metrics)
        self.on_written: Callable[[Iterable[str | None], Iterable[bool], float], None] | None = None
        tip = storage.tip()
        if tip is None:
            if genesis.bulk_state is not None:  # millions of records, maybe: loaded offline, never here
                raise StorageError(f"the genesis takes {genesis.bulk_state.keys:,} state records from "
                                   f"{genesis.bulk_state.file}: load them into this data folder first "
                                   "(node.devtools.bulk_state.initialize_data_folder)")
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

    def node_directory(self) -> list[NodeEntry]:
        """Every node the committed state lets in: institution, node key, endpoint."""
        return node_directory(self.view)

    def apply(self, block: Block, certificate: CommitCertificate, txs: list[Transaction | bytes] | None = None,
              snapshot_after: Callable[[ChainTip, BlockResult], bytes | None] | None = None,
              ) -> tuple[ChainTip, BlockResult]:
        """Execute and durably append the next block; return the new tip and result.
        `snapshot_after`, if given, is called with them once the block is executed
        and before it is written; the consensus snapshot it returns, if any, is
        written in the block's batch (one synced write for both)."""
        header = block.header
        assert header.height == self.tip.height + 1, "blocks are applied in order"
        assert header.prev_hash == self.tip.block_hash, "block does not extend the tip"
        context = BlockContext(self.genesis.chain_id, header.height, header.timestamp_ms)
        txs = list(block.txs) if txs is None else txs
        result = self.executor.execute(BlockReads(self.storage), context, txs)
        tree = smt.update(self.tree, self.tip.state_root, result.writes)
        new_tip = ChainTip(header.height, header.hash(), tree.root, result.receipts_root, header.timestamp_ms)
        senders = result.senders or (None,) * len(txs)
        types = result.types or tuple(_tx_type(tx) for tx in txs)
        indexed = [IndexedTx(receipt.tx_hash, sender, tx_type, receipt.code not in NONCE_UNUSED_CODES)
                   for receipt, sender, tx_type in zip(result.receipts, senders, types)]
        snapshot = None if snapshot_after is None else snapshot_after(new_tip, result)
        started = time.perf_counter()
        self.storage.append_block(block, certificate, result.receipt_leaves, result.writes, new_tip, indexed,
                                  tree.new_nodes, result.validators, snapshot)
        written_s = time.perf_counter() - started
        self.tip = new_tip
        if self.on_written is not None:
            self.on_written((entry.type for entry in indexed), (receipt.ok for receipt in result.receipts),
                            written_s)
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

    def tx_sender(self, tx_hash: bytes) -> str | None:
        """The institution that sent a committed transaction (the inclusion the index locates: storage, t:)."""
        location = self.storage.tx_location(tx_hash)
        indexed = None if location is None else self.storage.indexed_tx(*location)
        return None if indexed is None else indexed[0]

    def tx_senders(self, height: int) -> list[str | None]:
        """The institution that sent each transaction of block `height`, in
        block order (None: an unknown key or an undecodable transaction), as
        the block result named them. Reads LevelDB only: safe on a worker thread."""
        return [institution for _, _, institution, _ in self.storage.indexed_txs(INDEX_ALL, (height, 0), height)]

    def find_txs(self, query: TxQuery) -> tuple[list[FoundTx], tuple[int, int] | None]:
        """The transactions that match `query`, in chain order, from the index
        that reads fewest entries (by institution, else by type, else all);
        and the cursor to go on from, None once the range is exhausted.
        Reads LevelDB only: safe on a worker thread."""
        if query.institution is not None:
            prefix = index_by_institution(query.institution)
        elif query.type is not None:
            prefix = index_by_type(query.type)
        else:
            prefix = INDEX_ALL
        start = (query.first_height, 0)
        if query.after is not None:
            start = max(start, (query.after[0], query.after[1] + 1))
        found: list[FoundTx] = []
        scanned = 0
        for height, index, institution, tx_type in self.storage.indexed_txs(prefix, start, query.last_height):
            scanned += 1
            if query.type is None or tx_type == query.type:
                found.append(FoundTx(height, index, institution, tx_type))
            if len(found) >= query.count_max or scanned >= query.scan_max:
                return found, (height, index)
        return found, None

    def tx_inclusions(self, found: list[FoundTx]) -> tuple[list[IncludedTx], dict[int, CertifiedHeader]]:
        """Each found transaction with its proofs, and the certified headers
        they are proved against (blocks h and h + 1 for each found height h).
        Every found height must be below the tip (its receipts are certified
        by the next header). Reads LevelDB only: safe on a worker thread."""
        by_height: dict[int, list[FoundTx]] = {}
        for tx in found:
            by_height.setdefault(tx.height, []).append(tx)
        headers: dict[int, CertifiedHeader] = {}
        proved: list[IncludedTx] = []
        for height, txs in by_height.items():
            raw_block, raw_certificate, receipts = self.storage.raw_block(height)
            block = Block.from_wire(encoding.decode(raw_block, STORED_BYTES_MAX))
            headers[height] = CertifiedHeader(block.header, raw_certificate)
            wanted = [tx.index for tx in txs]
            tx_proofs = merkle.inclusion_proofs(list(block.txs), wanted)
            receipt_proofs = merkle.inclusion_proofs(receipts, wanted)
            for tx, tx_proof, receipt_proof in zip(txs, tx_proofs, receipt_proofs):
                raw = block.txs[tx.index]
                proved.append(IncludedTx(tx, raw, tx_proof, receipts[tx.index], receipt_proof,
                                         self._sender_proof(block.header.state_root, raw)))
        for height in by_height:
            if height + 1 not in headers:
                headers[height + 1] = self._certified_header(height + 1)
        return proved, headers

    def _sender_proof(self, state_root: bytes, raw_tx: bytes) -> smt.Proof | None:
        try:
            sender = decode_tx(raw_tx).sender
        except TxError:
            return None
        return smt.prove(self.tree, state_root, client_key_key(sender))

    def _certified_header(self, height: int) -> CertifiedHeader:
        raw_block, raw_certificate = self.storage.raw_certified_block(height)
        return CertifiedHeader(Block.from_wire(encoding.decode(raw_block, STORED_BYTES_MAX)).header, raw_certificate)

    def state_proof(self, key: bytes) -> StateProof | None:
        """`key` proved against the latest certified state root: the root after
        block h-1, carried by block h's header (h = tip); None before block 1."""
        height = self.tip.height
        if height == 0:
            return None
        header = self.storage.block(height).block.header
        return StateProof(key, smt.get(self.tree, header.state_root, key), height, header.state_root,
                          smt.prove(self.tree, header.state_root, key))
