"""Authenticated ledger state: a compact sparse Merkle tree over key paths.

Keys and values are bytes; a key with no value is absent. Each key sits on
the 256-bit path `key_path(key)` of a binary tree, but, as in Diem's
Jellyfish tree, a subtree holding a single leaf is stored as that leaf, at
the highest position where it is alone. With hashed (uniform) paths the
depth is about log2(n) + 1, not 256, and the root depends only on the set of
(key, value) pairs, never on the order they were written in. The hashing
scheme, `Proof` and `verify` live in `crypto.smt_proof` (the auditor's half)
and are re-exported here. `build_sorted` builds a tree of any size in a
single pass over its leaves sorted by path, holding only one root-to-leaf
spine in memory (a genesis state of millions of keys).

Binary, not hexary: a binary proof carries one sibling per level, about
log2(n) hashes (20 at a million keys, ~750 bytes on the wire); a hexary
node hashed as one unit needs 15 siblings per level over log16(n) levels,
about 75 hashes, four times the proof. Per changed key binary computes
log2(n) hashes of two children where flat hexary computes log16(n) hashes
of sixteen: about the same SHA-256 work, but hexary reads and writes a
quarter of the nodes. Jellyfish gets both by storing 16-way nodes hashed as
4-level binary subtrees; since our roots and proofs are defined by the
binary hashes, that storage layout could come later without changing
either. Until node reads dominate, binary keeps nodes trivial and proofs small.

Persistence is the caller's: nodes are addressed by their hash and read
through a `NodeReader` (anything with `get(node_hash) -> bytes | None`, a
dict will do). `update` returns the new root, the nodes to write and the
nodes the new root no longer uses; old nodes stay readable unless the
caller prunes them, so proofs against older roots keep working. Node bytes
are canonical msgpack: `[0, key, value]` for a leaf, `[1, left, right]` for
an inner node; nodes read back are decoded strictly but not re-hashed (the
store is the node's own). This module does no I/O and keeps no state
between calls.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from crypto import encoding, hashing
from crypto.smt_proof import (EMPTY_ROOT, HASH_SIZE, PATH_BITS, PROOF_WIRE_SIZE_MAX, Proof, ProofFormatError,
                              ProofLeaf, internal_hash, key_path, leaf_hash, path_int, value_hash, verify)

__all__ = [
    "EMPTY_ROOT", "HASH_SIZE", "KEY_SIZE_MAX", "VALUE_SIZE_MAX", "NODE_SIZE_MAX", "NODE_LEAF", "NODE_INTERNAL",
    "PROOF_WIRE_SIZE_MAX",
    "NodeReader", "StoreError", "TreeUpdate", "Proof", "ProofLeaf", "ProofFormatError",
    "update", "get", "prove", "verify", "build", "root_of", "key_path", "leaf_node", "build_sorted",
]

NODE_LEAF = 0
NODE_INTERNAL = 1
KEY_SIZE_MAX = 1024
VALUE_SIZE_MAX = encoding.SIZE_MAX_DEFAULT
NODE_SIZE_MAX = VALUE_SIZE_MAX + KEY_SIZE_MAX + 16

_EMPTY, _LEAF, _INTERNAL, _UNKNOWN = range(4)  # what a subtree hash is, when known


class NodeReader(Protocol):
    def get(self, node_hash: bytes, /) -> bytes | None: ...


class StoreError(Exception):
    """The node store lacks or mangles a node a root refers to: a local
    storage fault, or a root that was never written. Never a peer's fault."""


@dataclass(frozen=True, slots=True)
class TreeUpdate:
    """What an update produced: the new root, the (hash, bytes) nodes to
    write, and the hashes of old nodes the new root no longer refers to
    (older roots still do; delete them only to prune history)."""

    root: bytes
    new_nodes: tuple[tuple[bytes, bytes], ...]
    obsolete: tuple[bytes, ...]


class _Leaf(NamedTuple):
    key: bytes
    value: bytes


class _Internal(NamedTuple):
    left: bytes
    right: bytes


class _Entry(NamedTuple):
    """A key being written: its path as an integer, its new value (None:
    delete) and, for a leaf moved unchanged, the hash it already has."""

    bits: int
    key: bytes
    value: bytes | None
    node_hash: bytes | None


def _bit(bits: int, depth: int) -> int:
    return (bits >> (PATH_BITS - 1 - depth)) & 1


def _right_start(bits: int, depth: int) -> int:
    """The smallest path with the first `depth` bits of `bits` and a 1 after them."""
    shift = PATH_BITS - 1 - depth
    return ((bits >> shift) | 1) << shift


# An inner node is the hot path of every update, so its canonical encoding,
# [1, bin8 32 bytes, bin8 32 bytes], is spelled out from encoding's own bytes.
_INTERNAL_LAYOUT = encoding.encode([NODE_INTERNAL, b"L" * HASH_SIZE, b"R" * HASH_SIZE])
_LEFT, _MIDDLE, _RIGHT = slice(4, 4 + HASH_SIZE), slice(4 + HASH_SIZE, 6 + HASH_SIZE), slice(6 + HASH_SIZE, None)
_INTERNAL_HEAD, _INTERNAL_MIDDLE = _INTERNAL_LAYOUT[:_LEFT.start], _INTERNAL_LAYOUT[_MIDDLE]
_INTERNAL_SIZE = len(_INTERNAL_LAYOUT)
assert _INTERNAL_HEAD + b"L" * HASH_SIZE + _INTERNAL_MIDDLE + b"R" * HASH_SIZE == _INTERNAL_LAYOUT


def _internal_bytes(left: bytes, right: bytes) -> bytes:
    """encoding.encode([NODE_INTERNAL, left, right]) for two 32-byte hashes."""
    return _INTERNAL_HEAD + left + _INTERNAL_MIDDLE + right


def _decode_node(raw: bytes) -> _Leaf | _Internal:
    if len(raw) == _INTERNAL_SIZE and raw[:_LEFT.start] == _INTERNAL_HEAD and raw[_MIDDLE] == _INTERNAL_MIDDLE:
        return _Internal(bytes(raw[_LEFT]), bytes(raw[_RIGHT]))
    fields = encoding.decode(raw, NODE_SIZE_MAX)
    if type(fields) is not list or len(fields) != 3 or not all(type(f) is bytes for f in fields[1:]):
        raise encoding.DecodeError("a node is [tag, bytes, bytes]")
    tag, key, value = fields
    if tag == NODE_LEAF and type(tag) is int:
        return _Leaf(key, value)
    raise encoding.DecodeError("unknown node tag or inner node without two hashes")


def _load(reader: NodeReader, node_hash: bytes) -> _Leaf | _Internal:
    raw = reader.get(node_hash)
    if raw is None:
        raise StoreError(f"state node {node_hash.hex()} is missing from the store")
    try:
        return _decode_node(raw)
    except encoding.DecodeError as exc:
        raise StoreError(f"state node {node_hash.hex()} is corrupt: {exc}") from None


class _Batch:
    """The nodes one update creates and the old nodes it takes apart."""

    __slots__ = ("reader", "created", "retired")

    def __init__(self, reader: NodeReader) -> None:
        self.reader = reader
        self.created: dict[bytes, bytes] = {}
        self.retired: dict[bytes, None] = {}

    def load(self, node_hash: bytes) -> _Leaf | _Internal:
        return _load(self.reader, node_hash)

    def retire(self, node_hash: bytes) -> None:
        self.retired[node_hash] = None

    def leaf(self, entry: _Entry) -> bytes:
        if entry.node_hash is not None:
            return entry.node_hash  # an unchanged leaf, moved: its hash does not depend on where it is
        assert entry.value is not None, "a deleted key never becomes a leaf"
        node_hash = leaf_hash(entry.bits.to_bytes(HASH_SIZE, "big"), value_hash(entry.value))
        self.created[node_hash] = encoding.encode([NODE_LEAF, entry.key, entry.value])
        return node_hash

    def internal(self, left: bytes, right: bytes) -> bytes:
        assert not (left == EMPTY_ROOT and right == EMPTY_ROOT), "an inner node has a child"
        node_hash = internal_hash(left, right)
        self.created[node_hash] = _internal_bytes(left, right)
        return node_hash

    def result(self, root: bytes) -> TreeUpdate:
        new_nodes = tuple((h, raw) for h, raw in self.created.items() if h not in self.retired)
        obsolete = tuple(h for h in self.retired if h not in self.created)
        return TreeUpdate(root, new_nodes, obsolete)


class _NoNodes:
    def get(self, node_hash: bytes, /) -> bytes | None:
        return None


def _entries(changes: Iterable[tuple[bytes, bytes | None]]) -> list[_Entry]:
    """Checked changes sorted by path; a key given twice is the caller's bug."""
    entries = []
    for key, value in changes:
        if type(key) is not bytes or len(key) > KEY_SIZE_MAX:
            raise ValueError(f"a key is bytes of at most {KEY_SIZE_MAX}, got {type(key).__name__}")
        if value is not None and (type(value) is not bytes or len(value) > VALUE_SIZE_MAX):
            raise ValueError(f"a value is None or bytes of at most {VALUE_SIZE_MAX}")
        entries.append(_Entry(path_int(key_path(key)), key, value, None))
    entries.sort(key=lambda entry: entry.bits)
    for before, after in zip(entries, entries[1:]):
        if before.bits == after.bits:
            raise ValueError(f"key {before.key!r} is written twice in one update")
    return entries


def _build(batch: _Batch, depth: int, entries: list[_Entry], bits: list[int], lo: int, hi: int
           ) -> tuple[bytes, int]:
    """The subtree at `depth` holding exactly entries[lo:hi] (sorted, distinct paths)."""
    if lo == hi:
        return EMPTY_ROOT, _EMPTY
    if hi - lo == 1:
        return batch.leaf(entries[lo]), _LEAF
    assert depth < PATH_BITS, "two entries with one path"
    mid = bisect_left(bits, _right_start(bits[lo], depth), lo, hi)
    left, _ = _build(batch, depth + 1, entries, bits, lo, mid)
    right, _ = _build(batch, depth + 1, entries, bits, mid, hi)
    return batch.internal(left, right), _INTERNAL


def _build_live(batch: _Batch, depth: int, entries: list[_Entry]) -> tuple[bytes, int]:
    live = [entry for entry in entries if entry.value is not None]
    return _build(batch, depth, live, [entry.bits for entry in live], 0, len(live))


def _merge_into_leaf(batch: _Batch, node_hash: bytes, leaf: _Leaf, depth: int, entries: list[_Entry]
                     ) -> tuple[bytes, int]:
    """The subtree that was the single `leaf`, after `entries` are applied."""
    if any(entry.key == leaf.key for entry in entries):
        batch.retire(node_hash)  # rewritten or deleted: the entry says which
        return _build_live(batch, depth, entries)
    if all(entry.value is None for entry in entries):
        return node_hash, _LEAF  # only deletes of keys that were absent
    kept = _Entry(path_int(key_path(leaf.key)), leaf.key, leaf.value, node_hash)
    return _build_live(batch, depth, sorted([kept, *entries], key=lambda entry: entry.bits))


def _join(batch: _Batch, left: tuple[bytes, int], right: tuple[bytes, int]) -> tuple[bytes, int]:
    """The parent of two rebuilt children: a lone leaf rises, an empty pair vanishes."""
    if left[0] == EMPTY_ROOT or right[0] == EMPTY_ROOT:
        other_hash, other_kind = right if left[0] == EMPTY_ROOT else left
        if other_hash == EMPTY_ROOT:
            return EMPTY_ROOT, _EMPTY
        if other_kind == _UNKNOWN:
            other_kind = _LEAF if type(batch.load(other_hash)) is _Leaf else _INTERNAL
        if other_kind == _LEAF:
            return other_hash, _LEAF
    return batch.internal(left[0], right[0]), _INTERNAL


def _update_node(batch: _Batch, node_hash: bytes, depth: int, entries: list[_Entry], bits: list[int],
                 lo: int, hi: int) -> tuple[bytes, int]:
    """The subtree `node_hash` at `depth` after entries[lo:hi], which all lie under it."""
    if lo == hi:
        return node_hash, _EMPTY if node_hash == EMPTY_ROOT else _UNKNOWN
    if node_hash == EMPTY_ROOT:
        return _build_live(batch, depth, entries[lo:hi])
    node = batch.load(node_hash)
    if type(node) is _Leaf:
        return _merge_into_leaf(batch, node_hash, node, depth, entries[lo:hi])
    if depth >= PATH_BITS:
        raise StoreError(f"state node {node_hash.hex()} lies deeper than {PATH_BITS} levels")
    batch.retire(node_hash)
    mid = bisect_left(bits, _right_start(bits[lo], depth), lo, hi)
    left = _update_node(batch, node.left, depth + 1, entries, bits, lo, mid)
    right = _update_node(batch, node.right, depth + 1, entries, bits, mid, hi)
    return _join(batch, left, right)


def update(reader: NodeReader, root: bytes, changes: Iterable[tuple[bytes, bytes | None]]) -> TreeUpdate:
    """Apply a block's write set (value None deletes) to the tree at `root` in one pass.

    Costs about len(changes) * log2(n) hashes; the order of `changes` does not matter.
    """
    entries = _entries(changes)
    batch = _Batch(reader)
    new_root, _ = _update_node(batch, root, 0, entries, [entry.bits for entry in entries], 0, len(entries))
    return batch.result(new_root)


def build(items: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes | None]]) -> TreeUpdate:
    """The tree holding exactly `items` (None values are skipped), built bottom-up
    without reading anything: one leaf and about one inner node per key."""
    pairs = items.items() if isinstance(items, Mapping) else items
    batch = _Batch(_NoNodes())
    root, _ = _build_live(batch, 0, _entries(pairs))
    return batch.result(root)


def root_of(items: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes | None]]) -> bytes:
    """The root of the tree holding exactly `items`."""
    return build(items).root


# --- bulk building, streamed ------------------------------------------------------

# The scheme's four hashes with their domain prefixes hashed once (about a
# third faster than hashing.digest); checked against crypto.smt_proof below.
_path_digest, _value_digest = hashing.digester("smt-key"), hashing.digester("smt-value")
_leaf_digest, _internal_digest = hashing.digester("smt-leaf"), hashing.digester("smt-internal")
assert _path_digest(b"k") == key_path(b"k") and _value_digest(b"v") == value_hash(b"v")
assert _leaf_digest(b"p" * 64) == leaf_hash(b"p" * 32, b"p" * 32)
assert _internal_digest(b"i" * 64) == internal_hash(b"i" * 32, b"i" * 32)
_FLOATING = -1  # the depth of a leaf's subtree: a lone leaf sits wherever it ends up alone


def leaf_node(key: bytes, value: bytes) -> tuple[bytes, bytes, bytes]:
    """(path, leaf hash, node bytes) of `key` holding `value`: `build_sorted`
    takes the path and the hash; the node store keeps the bytes under the hash."""
    if type(key) is not bytes or len(key) > KEY_SIZE_MAX:
        raise ValueError(f"a key is bytes of at most {KEY_SIZE_MAX}, got {type(key).__name__}")
    if type(value) is not bytes or len(value) > VALUE_SIZE_MAX:
        raise ValueError(f"a value is bytes of at most {VALUE_SIZE_MAX}")
    path = _path_digest(key)
    return path, _leaf_digest(path + _value_digest(value)), encoding.encode([NODE_LEAF, key, value])


def _emit_internal(left: bytes, right: bytes, emit: Callable[[bytes, bytes], None]) -> bytes:
    node_hash = _internal_digest(left + right)
    emit(node_hash, _internal_bytes(left, right))
    return node_hash


def _lift(node_hash: bytes, depth: int, bits: int, target: int, emit: Callable[[bytes, bytes], None]) -> bytes:
    """The subtree rooted at `depth` on the path `bits`, seen from `target`
    (<= depth): a lone leaf rises as it is; an inner node gets one inner
    node per level above it, with the empty subtree beside it."""
    if depth == _FLOATING:
        return node_hash
    for level in range(depth - 1, target - 1, -1):
        if (bits >> (PATH_BITS - 1 - level)) & 1:
            node_hash = _emit_internal(EMPTY_ROOT, node_hash, emit)
        else:
            node_hash = _emit_internal(node_hash, EMPTY_ROOT, emit)
    return node_hash


def _fold(stack: list[tuple[bytes, int, int, int]], boundary: int, emit: Callable[[bytes, bytes], None]) -> None:
    """Join the finished subtrees at the top of `stack` that split below
    `boundary` (the bits the next leaf shares with the last one; -1: none
    comes). A stack entry is (hash, depth of its root, a path under it, the
    bits its first path shares with the entry below's last); those shares
    grow strictly up the stack, so each join is the parent of two neighbours."""
    while len(stack) > 1 and stack[-1][3] > boundary:
        right_hash, right_depth, right_bits, split = stack.pop()
        left_hash, left_depth, left_bits, left_share = stack.pop()
        left = _lift(left_hash, left_depth, left_bits, split + 1, emit)
        right = _lift(right_hash, right_depth, right_bits, split + 1, emit)
        stack.append((_emit_internal(left, right, emit), split, left_bits, left_share))
    assert len(stack) <= 1 or stack[-1][3] < boundary, "two neighbours split at one depth"


def build_sorted(leaves: Iterable[tuple[bytes, bytes]], emit: Callable[[bytes, bytes], None]) -> bytes:
    """The root of the tree whose leaves are `leaves`, (path, leaf hash) pairs
    (`leaf_node`) in strictly ascending path order. Each inner node goes to
    `emit(hash, bytes)` as soon as it is made (the leaves' own nodes are the
    caller's to store). The same tree as `build`, in one pass: memory holds
    one spine of at most PATH_BITS subtrees, not the tree; ValueError if the
    paths are out of order or repeated."""
    stack: list[tuple[bytes, int, int, int]] = []
    previous = -1
    for path, leaf in leaves:
        if len(path) != HASH_SIZE or len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf is a {HASH_SIZE}-byte path and a {HASH_SIZE}-byte hash")
        bits = int.from_bytes(path, "big")
        if bits <= previous:
            raise ValueError("leaves must come in strictly ascending path order")
        boundary = -1 if previous < 0 else PATH_BITS - (previous ^ bits).bit_length()
        _fold(stack, boundary, emit)
        stack.append((leaf, _FLOATING, bits, boundary))
        previous = bits
    _fold(stack, -1, emit)
    if not stack:
        return EMPTY_ROOT
    node_hash, depth, bits, _ = stack[0]
    return _lift(node_hash, depth, bits, 0, emit)


def _walk(reader: NodeReader, root: bytes, key: bytes) -> tuple[list[bytes], _Leaf | None, int | None]:
    """Siblings from the root down along `key`'s path, the leaf the path ends
    in (None: an empty subtree) and the key's path bits if they were needed."""
    siblings: list[bytes] = []
    node_hash, bits = root, None
    while node_hash != EMPTY_ROOT:
        node = _load(reader, node_hash)
        if type(node) is _Leaf:
            return siblings, node, bits
        if len(siblings) == PATH_BITS:
            raise StoreError(f"state node {node_hash.hex()} lies deeper than {PATH_BITS} levels")
        if bits is None:
            bits = path_int(key_path(key))
        if _bit(bits, len(siblings)):
            siblings.append(node.left)
            node_hash = node.right
        else:
            siblings.append(node.right)
            node_hash = node.left
    return siblings, None, bits


def get(reader: NodeReader, root: bytes, key: bytes) -> bytes | None:
    """The value of `key` in the tree at `root`, or None when it is absent."""
    _, leaf, _ = _walk(reader, root, key)
    return leaf.value if leaf is not None and leaf.key == key else None


def prove(reader: NodeReader, root: bytes, key: bytes) -> Proof:
    """A proof of `key`'s value (or of its absence) in the tree at `root`."""
    siblings, leaf, bits = _walk(reader, root, key)
    if leaf is None:
        return Proof(None, tuple(siblings))
    if leaf.key == key and bits is not None:
        path = bits.to_bytes(HASH_SIZE, "big")
    else:
        path = key_path(leaf.key)
    return Proof(ProofLeaf(path, value_hash(leaf.value)), tuple(siblings))
