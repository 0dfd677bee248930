"""LevelDB (plyvel) storage: one database per node, keyspaces by prefix.

    m:chain_id            chain id this folder belongs to
    m:tip                 [height, block hash, state root, receipts root, timestamp]
    m:layout              the layout below ("2"); node.runtime.layout says why it is so and
                          moves a folder of layout 1 to it when the folder is opened
    l:snapshot            the replica's consensus snapshot (what it signed, its view)
    z:<height><kind>      the block's own rows: b the block (header and transactions), c its
                          commit certificate, r its receipts (each as its canonical bytes, the
                          receipts-root leaves), x its [state root, receipts root]
    h:<block hash>        height
    t:<tx hash>           [height, index] of the inclusion that used the transaction's nonce (at
                          most one can), else of its first inclusion (see `append_block`)
    a:<height>            the transaction index of a block: [sender's institution, type] of each
                          of its transactions (None for what is unknown or undecodable)
    i:<institution>\0<height>   the same, only the transactions the institution sent
    y:<type>\0<height>          the same, only the transactions of that type
    s:<state key>         state value (for direct reads by the contracts)
    n:<node hash>         node of the authenticated state tree (crypto.smt); old nodes
                          are kept so values can be proved against older headers
    e:<height>            the validator set (node keys, replica order) in force from
                          this height on, written with the block that activated it

A committed block with everything it changes is written in ONE synced write
batch, so a crash at any instant leaves either the whole block or none of it.
Every batch is a plyvel transaction: one whose building raises part way (a
value that cannot be encoded, a KeyboardInterrupt) is dropped, not written
as far as it got.

State reads go through `StateCache`, a bounded write-through cache of the
values read or written lately (absent keys too): a block's transactions
read the same few accounts, nonce windows and registry records over and
over, and each would otherwise be a LevelDB get whose cost grows with the
database. The cache changes only after the batch that wrote a value is on
disk, so it never holds a value the store does not.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import plyvel

from consensus.config import ChainTip
from consensus.messages import Block, CommitCertificate
from contracts.executor import Receipt
from crypto import encoding
from node.runtime.layout import (
    BLOCK, CERTIFICATE, INDEX_ALL, LAYOUT, LAYOUT_KEY, RECEIPTS, ROOTS, IndexedTx, chain_key, height_key, index_rows,
    row_entries, row_height, upgrade_from_1,
)


STORED_BYTES_MAX = 64 * 1024 * 1024  # a stored block or its receipts, read back from our own database


# LevelDB's memory: its block cache (LEVELDB_CACHE_BYTES), two write buffers (the one being filled and
# the one being written out), and the index and Bloom filter of each open table file (about 50 KB a 2 MB
# table): at most LEVELDB_OPEN_FILES_MAX of them; about 65 MB in all at most.
LEVELDB_CACHE_BYTES = 8 * 1024 * 1024
LEVELDB_OPEN_FILES_MAX = 500
LEVELDB_BLOOM_BITS = 10  # per key: a lookup of an absent key (a new transaction's hash) skips nearly every file
# Every flushed write buffer spans the whole key space (each block adds keys under every prefix, and the
# hash-keyed ones land anywhere), so each flush makes LevelDB merge it with all of level 1 and then on down:
# CPU per transaction that grows with the database. Buffers four times LevelDB's default flush a quarter as
# often: measured offline over 180,000 payments, compaction CPU fell from about 55 to 23 us a transaction.
LEVELDB_WRITE_BUFFER_BYTES = 16 * 1024 * 1024

STATE_CACHE_BYTES_MAX = 16 * 1024 * 1024  # state values kept in memory: keys, values and ENTRY_BYTES each
STATE_CACHE_ENTRY_BYTES = 160             # what one cached entry costs beyond its key and value (dict, objects)
STATE_CACHE_VALUE_BYTES_MAX = 64 * 1024   # larger values are read from LevelDB each time, never kept

LEVELDB_CURRENT = "CURRENT"           # every LevelDB folder has one
LEVELDB_LOCK_TEXT = "lock "          # in LevelDB's "IO error: lock <folder>/LOCK: ..." when another process holds it


class StorageError(RuntimeError):
    """The data folder cannot be used (wrong chain, corrupt)."""


@dataclass(frozen=True, slots=True)
class StoredBlock:
    block: Block
    certificate: CommitCertificate | None
    receipts: tuple[Receipt, ...]
    state_root: bytes
    receipts_root: bytes


_ABSENT = object()  # a key the cache does not know (a cached None is a key the state does not hold)


class StateCache:
    """Recently used state values by key (None: the key is absent), least
    recently used first out, at most `bytes_max` bytes counted as key, value
    and STATE_CACHE_ENTRY_BYTES per entry. Read on worker threads as well as
    the event loop: a lock guards it, and a value read from LevelDB is kept
    only if no block was written meanwhile (`generation`), so a read that
    raced a block's write cannot put back the value the block replaced."""

    def __init__(self, bytes_max: int) -> None:
        self.bytes_max = bytes_max
        self.entries: OrderedDict[bytes, bytes | None] = OrderedDict()
        self.size = 0
        self.generation = 0  # blocks written
        self.lock = threading.Lock()

    def lookup(self, key: bytes) -> tuple[object, int]:
        """The cached value (or _ABSENT) and the generation it was looked up in."""
        with self.lock:
            value = self.entries.get(key, _ABSENT)
            if value is not _ABSENT:
                self.entries.move_to_end(key)
            return value, self.generation

    def keep(self, key: bytes, value: bytes | None, generation: int) -> None:
        """Keep what LevelDB returned for `key` in `generation`, unless a block was written since."""
        with self.lock:
            if generation == self.generation:
                self._put(key, value)

    def written(self, writes: list[tuple[bytes, bytes | None]]) -> None:
        """A block's writes are on disk: they replace what the cache held."""
        with self.lock:
            self.generation += 1
            for key, value in writes:
                self._put(key, value)

    def _put(self, key: bytes, value: bytes | None) -> None:
        old = self.entries.pop(key, _ABSENT)
        if old is not _ABSENT:
            self.size -= self._cost(key, old)
        if value is not None and len(value) > STATE_CACHE_VALUE_BYTES_MAX:
            return
        self.entries[key] = value
        self.size += self._cost(key, value)
        while self.size > self.bytes_max:
            evicted, evicted_value = self.entries.popitem(last=False)
            self.size -= self._cost(evicted, evicted_value)

    @staticmethod
    def _cost(key: bytes, value: bytes | None) -> int:
        return len(key) + (0 if value is None else len(value)) + STATE_CACHE_ENTRY_BYTES


class Storage:
    def __init__(self, path: Path, chain_id: bytes, create: bool = True) -> None:
        """Open the data folder `path` (made when absent, unless `create` is
        false: then a folder that holds no LevelDB is refused)."""
        if not create and not (Path(path) / LEVELDB_CURRENT).is_file():
            raise StorageError(f"{path} is not a node's data folder (it holds no LevelDB)")
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            self.db = plyvel.DB(str(path), create_if_missing=create, bloom_filter_bits=LEVELDB_BLOOM_BITS,
                                lru_cache_size=LEVELDB_CACHE_BYTES, max_open_files=LEVELDB_OPEN_FILES_MAX,
                                write_buffer_size=LEVELDB_WRITE_BUFFER_BYTES)
        except plyvel.IOError as exc:
            if LEVELDB_LOCK_TEXT in str(exc):  # LevelDB's lock file: held by another process (or handle)
                raise StorageError(f"the data folder {path} is in use by a running node") from None
            raise StorageError(f"cannot open LevelDB at {path}: {exc}") from None
        except plyvel.Error as exc:
            raise StorageError(f"cannot open LevelDB at {path}: {exc}") from None
        stored = self.db.get(b"m:chain_id")
        if stored is not None and stored != chain_id:
            self.db.close()
            raise StorageError(f"{path} holds chain {stored.hex()[:16]}…, not {chain_id.hex()[:16]}…")
        self._upgrade_layout(path)
        self.chain_id = chain_id
        self.state_cache = StateCache(STATE_CACHE_BYTES_MAX)

    def _upgrade_layout(self, path: Path) -> None:
        """Refuse a folder in a layout this node does not know; move one in layout 1 (it has a tip and no
        layout row) to LAYOUT first (node.runtime.layout)."""
        stored = self.db.get(LAYOUT_KEY)
        if stored == LAYOUT:
            return
        if stored is not None:
            self.db.close()
            raise StorageError(f"{path} is in storage layout {stored.decode(errors='replace')!r}, "
                               f"this node reads layout {LAYOUT.decode()}")
        try:
            if self.db.get(b"m:tip") is not None:
                upgrade_from_1(self.db)
            self.db.put(LAYOUT_KEY, LAYOUT, sync=True)
        except BaseException:
            self.db.close()  # not left locked: what was moved stays moved, opening the folder again goes on
            raise

    def close(self) -> None:
        if not self.db.closed:
            self.db.close()

    # ----------------------------------------------------------------- writes

    def initialize(self, state: dict[bytes, bytes], tree_nodes, tip: ChainTip,
                   validators: tuple[bytes, ...]) -> None:
        """Write the genesis state, its tree, the tip and the genesis validator
        set, once, in one synced batch."""
        assert self.tip() is None, "storage already initialized"
        with self.db.write_batch(sync=True, transaction=True) as batch:
            batch.put(b"e:" + height_key(tip.height + 1), encoding.encode(list(validators)))
            for key, value in state.items():
                batch.put(b"s:" + key, value)
            for node_hash, node in tree_nodes:
                batch.put(b"n:" + node_hash, node)
            batch.put(b"m:chain_id", self.chain_id)
            batch.put(b"m:tip", self._tip_bytes(tip))
        self.state_cache.written(list(state.items()))

    def put_genesis_part(self, state: Iterable[tuple[bytes, bytes]], tree_nodes) -> None:
        """Write part of a genesis state too large for one batch (a bulk state:
        node.devtools.bulk_state) before `initialize`, unsynced: the folder is
        no node's until `initialize` writes its tip (the loader builds it
        aside and moves it into place only then)."""
        assert self.tip() is None, "storage already initialized"
        with self.db.write_batch(transaction=True) as batch:
            for key, value in state:
                batch.put(b"s:" + key, value)
            for node_hash, node in tree_nodes:
                batch.put(b"n:" + node_hash, node)

    def compact(self) -> None:
        """Compact the whole database now (after a bulk load: LevelDB's levels
        are left far over their sizes by a fast load, and a node opening it
        would spend its first minutes compacting under load). Every key
        starts with a letter, so the range below holds them all."""
        self.db.compact_range(start=b"\x00", stop=b"\xff")

    def append_block(
        self, block: Block, certificate: CommitCertificate, receipts: tuple[bytes, ...],
        writes: list[tuple[bytes, bytes | None]], tip: ChainTip, txs: list[IndexedTx],
        tree_nodes=(), validators_next: tuple[bytes, ...] | None = None, snapshot: bytes | None = None,
    ) -> None:
        """Apply one executed block atomically and durably, its transactions'
        index entries (`txs`, in block order) with it; `validators_next`,
        when the block changed the set, is the set in force from the next block;
        `snapshot`, when given, replaces the consensus snapshot in the same batch.
        A location (t:) is read first only for an inclusion that did not use its nonce (one that did
        is the only one that can): a get of an absent key that passes several table files charges
        LevelDB's seek count, and one per transaction kept LevelDB compacting, at a cost that grew."""
        height = tip.height
        with self.db.write_batch(sync=True, transaction=True) as batch:
            if snapshot is not None:
                batch.put(b"l:snapshot", snapshot)
            if validators_next is not None:
                batch.put(b"e:" + height_key(height + 1), encoding.encode(list(validators_next)))
            for node_hash, node in tree_nodes:
                batch.put(b"n:" + node_hash, node)
            batch.put(chain_key(height, BLOCK), encoding.encode(block.to_wire()))
            batch.put(chain_key(height, CERTIFICATE), encoding.encode(certificate.to_wire()))
            batch.put(chain_key(height, RECEIPTS), encoding.encode(list(receipts)))
            batch.put(chain_key(height, ROOTS), encoding.encode([tip.state_root, tip.receipts_root]))
            batch.put(b"h:" + tip.block_hash, height_key(height))
            located = set()  # in this block already: its first place stands, unless a later one used its nonce
            for index, tx in enumerate(txs):
                if tx.nonce_used or (tx.tx_hash not in located and self.db.get(b"t:" + tx.tx_hash) is None):
                    batch.put(b"t:" + tx.tx_hash, encoding.encode([height, index]))
                located.add(tx.tx_hash)
            for key, value in index_rows(height, enumerate((tx.institution, tx.type) for tx in txs)):
                batch.put(key, value)
            for key, value in writes:
                if value is None:
                    batch.delete(b"s:" + key)
                else:
                    batch.put(b"s:" + key, value)
            batch.put(b"m:tip", self._tip_bytes(tip))
        self.state_cache.written(writes)

    def put_snapshot(self, raw: bytes) -> None:
        """Durably replace the consensus snapshot (before the votes it records are sent)."""
        self.db.put(b"l:snapshot", raw, sync=True)

    def snapshot(self) -> bytes | None:
        return self.db.get(b"l:snapshot")

    @staticmethod
    def _tip_bytes(tip: ChainTip) -> bytes:
        return encoding.encode([tip.height, tip.block_hash, tip.state_root, tip.receipts_root, tip.timestamp_ms])

    # ------------------------------------------------------------------ reads

    def tip(self) -> ChainTip | None:
        raw = self.db.get(b"m:tip")
        return None if raw is None else ChainTip(*encoding.decode(raw))

    def validator_sets(self, count_max: int) -> list[tuple[int, tuple[bytes, ...]]]:
        """The last `count_max` validator sets with the first height each ordered, oldest first."""
        found = []
        for key, value in self.db.iterator(prefix=b"e:", reverse=True):
            found.append((int.from_bytes(key[2:], "big"), tuple(encoding.decode_trusted(value))))
            if len(found) >= count_max:
                break
        return found[::-1]

    def tree_node(self, node_hash: bytes) -> bytes | None:
        return self.db.get(b"n:" + node_hash)

    def state_get(self, key: bytes) -> bytes | None:
        """The committed value of state key `key` (None: absent). Thread-safe."""
        value, generation = self.state_cache.lookup(key)
        if value is _ABSENT:
            value = self.db.get(b"s:" + key)
            self.state_cache.keep(key, value, generation)
        return value

    def state_items(self) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self.db.iterator(prefix=b"s:"):
            yield key[2:], value

    def tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        raw = self.db.get(b"t:" + tx_hash)
        return None if raw is None else tuple(encoding.decode(raw))

    def indexed_tx(self, height: int, index: int) -> tuple[str | None, str | None] | None:
        """(sender's institution, type) of the transaction at that place in the chain."""
        raw = self.db.get(INDEX_ALL + height_key(height))
        for found, institution, tx_type in () if raw is None else row_entries(raw):
            if found == index:
                return institution, tx_type
        return None

    def indexed_txs(self, prefix: bytes, start: tuple[int, int],
                    last_height: int) -> Iterator[tuple[int, int, str | None, str | None]]:
        """(height, index, institution, type) of the entries of one index
        (INDEX_ALL, index_by_institution, index_by_type) from position `start`
        through height `last_height`, in chain order. Thread-safe."""
        rows = self.db.iterator(start=prefix + height_key(start[0]), stop=prefix + height_key(last_height + 1))
        for key, value in rows:
            height = row_height(prefix, key)
            if height is None:
                continue  # another index's key that shares the prefix: not ours
            for index, institution, tx_type in row_entries(value):
                if (height, index) >= start:
                    yield height, index, institution, tx_type

    def block_and_certificate(self, height: int) -> tuple[Block, CommitCertificate] | None:
        raw = self.db.get(chain_key(height, BLOCK))
        if raw is None:
            return None
        certificate = CommitCertificate.from_wire(encoding.decode(self.db.get(chain_key(height, CERTIFICATE))))
        return Block.from_wire(encoding.decode(raw, STORED_BYTES_MAX)), certificate

    def raw_certified_block(self, height: int) -> tuple[bytes, bytes] | None:
        """Block and certificate bytes as stored (canonical: for fetches). Thread-safe."""
        raw = self.db.get(chain_key(height, BLOCK))
        return None if raw is None else (raw, self.db.get(chain_key(height, CERTIFICATE)))

    def raw_block(self, height: int) -> tuple[bytes, bytes, list[bytes]] | None:
        """Block, certificate and receipt bytes as stored (for export and fetches)."""
        raw = self.db.get(chain_key(height, BLOCK))
        if raw is None:
            return None
        return raw, self.db.get(chain_key(height, CERTIFICATE)), self.raw_receipts(height)

    def raw_receipts(self, height: int) -> list[bytes]:
        return encoding.decode(self.db.get(chain_key(height, RECEIPTS)), STORED_BYTES_MAX)

    def block(self, height: int) -> StoredBlock | None:
        raw = self.db.get(chain_key(height, BLOCK))
        if raw is None:
            return None
        certificate = CommitCertificate.from_wire(encoding.decode(self.db.get(chain_key(height, CERTIFICATE))))
        receipts = tuple(Receipt.from_wire(encoding.decode(r)) for r in self.raw_receipts(height))
        state_root, receipts_root = encoding.decode(self.db.get(chain_key(height, ROOTS)))
        return StoredBlock(Block.from_wire(encoding.decode(raw, STORED_BYTES_MAX)), certificate,
                           receipts, state_root, receipts_root)
