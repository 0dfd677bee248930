"""LevelDB (plyvel) storage: one database per node, keyspaces by prefix.

    m:chain_id            chain id this folder belongs to
    m:tip                 [height, block hash, state root, receipts root, timestamp]
    l:snapshot            the replica's consensus snapshot (what it signed, its view)
    b:<height>            block (header and transactions)
    c:<height>            commit certificate
    r:<height>            receipts, each as its canonical bytes (the receipts-root leaves)
    x:<height>            [state root, receipts root] after executing the block
    h:<block hash>        height
    t:<tx hash>           [height, index] of the transaction's first inclusion
    s:<state key>         state value (for direct reads by the contracts)
    n:<node hash>         node of the authenticated state tree (crypto.smt); old nodes
                          are kept so values can be proved against older headers
    e:<height>            the validator set (node keys, replica order) in force from
                          this height on, written with the block that activated it

A committed block with everything it changes is written in ONE synced write
batch, so a crash at any instant leaves either the whole block or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import plyvel

from consensus.config import ChainTip
from consensus.messages import Block, CommitCertificate
from contracts.executor import Receipt
from crypto import encoding


STORED_BYTES_MAX = 64 * 1024 * 1024  # a stored block or its receipts, read back from our own database


class StorageError(RuntimeError):
    """The data folder cannot be used (wrong chain, corrupt)."""


def _height(height: int) -> bytes:
    return height.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class StoredBlock:
    block: Block
    certificate: CommitCertificate | None
    receipts: tuple[Receipt, ...]
    state_root: bytes
    receipts_root: bytes


class Storage:
    def __init__(self, path: Path, chain_id: bytes) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            self.db = plyvel.DB(str(path), create_if_missing=True)
        except plyvel.Error as exc:
            raise StorageError(f"cannot open LevelDB at {path}: {exc}") from None
        stored = self.db.get(b"m:chain_id")
        if stored is not None and stored != chain_id:
            self.db.close()
            raise StorageError(f"{path} holds chain {stored.hex()[:16]}…, not {chain_id.hex()[:16]}…")
        self.chain_id = chain_id

    def close(self) -> None:
        if not self.db.closed:
            self.db.close()

    # ----------------------------------------------------------------- writes

    def initialize(self, state: dict[bytes, bytes], tree_nodes, tip: ChainTip,
                   validators: tuple[bytes, ...]) -> None:
        """Write the genesis state, its tree, the tip and the genesis validator
        set, once, in one synced batch."""
        assert self.tip() is None, "storage already initialized"
        with self.db.write_batch(sync=True) as batch:
            batch.put(b"e:" + _height(tip.height + 1), encoding.encode(list(validators)))
            for key, value in state.items():
                batch.put(b"s:" + key, value)
            for node_hash, node in tree_nodes:
                batch.put(b"n:" + node_hash, node)
            batch.put(b"m:chain_id", self.chain_id)
            batch.put(b"m:tip", self._tip_bytes(tip))

    def append_block(
        self, block: Block, certificate: CommitCertificate, receipts: tuple[bytes, ...],
        writes: list[tuple[bytes, bytes | None]], tip: ChainTip, tx_hashes: list[bytes],
        tree_nodes=(), validators_next: tuple[bytes, ...] | None = None,
    ) -> None:
        """Apply one executed block atomically and durably; `validators_next`,
        when the block changed the set, is the set in force from the next block."""
        height = _height(tip.height)
        with self.db.write_batch(sync=True) as batch:
            if validators_next is not None:
                batch.put(b"e:" + _height(tip.height + 1), encoding.encode(list(validators_next)))
            for node_hash, node in tree_nodes:
                batch.put(b"n:" + node_hash, node)
            batch.put(b"b:" + height, encoding.encode(block.to_wire()))
            batch.put(b"c:" + height, encoding.encode(certificate.to_wire()))
            batch.put(b"r:" + height, encoding.encode(list(receipts)))
            batch.put(b"x:" + height, encoding.encode([tip.state_root, tip.receipts_root]))
            batch.put(b"h:" + tip.block_hash, height)
            for index, tx_hash in enumerate(tx_hashes):
                if self.db.get(b"t:" + tx_hash) is None:
                    batch.put(b"t:" + tx_hash, encoding.encode([tip.height, index]))
            for key, value in writes:
                if value is None:
                    batch.delete(b"s:" + key)
                else:
                    batch.put(b"s:" + key, value)
            batch.put(b"m:tip", self._tip_bytes(tip))

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
        return self.db.get(b"s:" + key)

    def state_items(self) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self.db.iterator(prefix=b"s:"):
            yield key[2:], value

    def tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        raw = self.db.get(b"t:" + tx_hash)
        return None if raw is None else tuple(encoding.decode(raw))

    def block_and_certificate(self, height: int) -> tuple[Block, CommitCertificate] | None:
        key = _height(height)
        raw = self.db.get(b"b:" + key)
        if raw is None:
            return None
        certificate = CommitCertificate.from_wire(encoding.decode(self.db.get(b"c:" + key)))
        return Block.from_wire(encoding.decode(raw, STORED_BYTES_MAX)), certificate

    def raw_certified_block(self, height: int) -> tuple[bytes, bytes] | None:
        """Block and certificate bytes as stored (canonical: for fetches). Thread-safe."""
        key = _height(height)
        raw = self.db.get(b"b:" + key)
        return None if raw is None else (raw, self.db.get(b"c:" + key))

    def raw_block(self, height: int) -> tuple[bytes, bytes, list[bytes]] | None:
        """Block, certificate and receipt bytes as stored (for export and fetches)."""
        key = _height(height)
        raw = self.db.get(b"b:" + key)
        if raw is None:
            return None
        return raw, self.db.get(b"c:" + key), self.raw_receipts(height)

    def raw_receipts(self, height: int) -> list[bytes]:
        return encoding.decode(self.db.get(b"r:" + _height(height)), STORED_BYTES_MAX)

    def block(self, height: int) -> StoredBlock | None:
        key = _height(height)
        raw = self.db.get(b"b:" + key)
        if raw is None:
            return None
        certificate = CommitCertificate.from_wire(encoding.decode(self.db.get(b"c:" + key)))
        receipts = tuple(Receipt.from_wire(encoding.decode(r)) for r in self.raw_receipts(height))
        state_root, receipts_root = encoding.decode(self.db.get(b"x:" + key))
        return StoredBlock(Block.from_wire(encoding.decode(raw, STORED_BYTES_MAX)), certificate,
                           receipts, state_root, receipts_root)
