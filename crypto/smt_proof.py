"""The auditor's half of the state tree: its hashing scheme, proofs and `verify`.

Everything an auditor needs to check a state value against a certified
header lives here and needs nothing else: no node store, no tree code.
`crypto.smt` builds and updates the tree with these same hashes.

Hashing (SHA-256 through `hashing.digest`, one domain tag per kind):

    path(key)               = digest("smt-key", key)         256-bit path of a key
    value_hash(value)       = digest("smt-value", value)
    leaf_hash(path, vh)     = digest("smt-leaf", path || vh)
    internal_hash(l, r)     = digest("smt-internal", l || r)
    EMPTY_ROOT              = digest("smt-empty", b"")        an empty subtree

A leaf commits to its whole key path and its value hash, never to its
depth, so the tree may hold it at whatever height is highest; an inner
node can never pose as a leaf, nor either as the empty subtree.

A proof for a key is the list of sibling hashes along the key's path from
the root down to where the path ends, plus what it ends in: the empty
subtree (the key is absent), the key's own leaf (present, with that value)
or another key's leaf that shares the path so far (absent). A proof never
holds a value, only its hash, and must not be trusted unless `verify`
returns True for a root the caller already trusts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto import encoding, hashing

HASH_SIZE = 32
PATH_BITS = 256
EMPTY_ROOT = hashing.digest("smt-empty", b"")
# list header, leaf [path, value hash], depth (uint16), bitmap (bin8), siblings (array16 of bin8)
PROOF_WIRE_SIZE_MAX = 1 + (1 + 2 * (2 + HASH_SIZE)) + 3 + (2 + PATH_BITS // 8) + (3 + PATH_BITS * (2 + HASH_SIZE))


class ProofFormatError(encoding.DecodeError):
    """Bytes or fields that do not form a proof: the sender's fault."""


def key_path(key: bytes) -> bytes:
    """The 256-bit path of `key` in the tree."""
    return hashing.digest("smt-key", key)


def value_hash(value: bytes) -> bytes:
    return hashing.digest("smt-value", value)


def leaf_hash(path: bytes, value_digest: bytes) -> bytes:
    return hashing.digest("smt-leaf", path + value_digest)


def internal_hash(left: bytes, right: bytes) -> bytes:
    return hashing.digest("smt-internal", left + right)


def path_int(path: bytes) -> int:
    """A path as an integer, so bit `depth` (0 = first) is `(p >> (255 - depth)) & 1`."""
    return int.from_bytes(path, "big")


def _is_hash(value: Any) -> bool:
    return type(value) is bytes and len(value) == HASH_SIZE


@dataclass(frozen=True, slots=True)
class ProofLeaf:
    """The leaf a proof's path ends in: its key's path and its value's hash."""

    path: bytes
    value_hash: bytes

    def __post_init__(self) -> None:
        if not (_is_hash(self.path) and _is_hash(self.value_hash)):
            raise ProofFormatError(f"a proof leaf holds two {HASH_SIZE}-byte hashes")


@dataclass(frozen=True, slots=True)
class Proof:
    """Sibling hashes from the root down (EMPTY_ROOT for an empty sibling) and
    the leaf the path ends in, or None when it ends in an empty subtree."""

    leaf: ProofLeaf | None
    siblings: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if self.leaf is not None and type(self.leaf) is not ProofLeaf:
            raise ProofFormatError("proof leaf must be a ProofLeaf or None")
        if type(self.siblings) is not tuple or len(self.siblings) > PATH_BITS:
            raise ProofFormatError(f"siblings must be a tuple of at most {PATH_BITS} hashes")
        if not all(_is_hash(sibling) for sibling in self.siblings):
            raise ProofFormatError(f"every sibling must be {HASH_SIZE} bytes")

    def to_wire(self) -> bytes:
        """Canonical bytes: [leaf | nil, depth, empty-sibling bitmap, non-empty siblings]."""
        bitmap = bytearray((len(self.siblings) + 7) // 8)
        present = []
        for index, sibling in enumerate(self.siblings):
            if sibling == EMPTY_ROOT:
                bitmap[index // 8] |= 0x80 >> (index % 8)
            else:
                present.append(sibling)
        leaf = None if self.leaf is None else [self.leaf.path, self.leaf.value_hash]
        return encoding.encode([leaf, len(self.siblings), bytes(bitmap), present])

    @classmethod
    def from_wire(cls, data: bytes) -> "Proof":
        """The proof `data` is the canonical encoding of; ProofFormatError otherwise."""
        try:
            fields = encoding.decode(data, PROOF_WIRE_SIZE_MAX)
        except encoding.DecodeError as exc:
            raise ProofFormatError(f"proof: {exc}") from None
        if type(fields) is not list or len(fields) != 4:
            raise ProofFormatError("proof must be a list of 4 fields")
        leaf_fields, depth, bitmap, present = fields
        return cls(_leaf_from_wire(leaf_fields), _siblings_from_wire(depth, bitmap, present))


def _leaf_from_wire(fields: Any) -> ProofLeaf | None:
    if fields is None:
        return None
    if type(fields) is not list or len(fields) != 2:
        raise ProofFormatError("proof leaf must be nil or a list of 2 hashes")
    return ProofLeaf(fields[0], fields[1])


def _siblings_from_wire(depth: Any, bitmap: Any, present: Any) -> tuple[bytes, ...]:
    if type(depth) is not int or not 0 <= depth <= PATH_BITS:
        raise ProofFormatError(f"proof depth must be an integer from 0 to {PATH_BITS}")
    if type(bitmap) is not bytes or len(bitmap) != (depth + 7) // 8:
        raise ProofFormatError(f"empty-sibling bitmap must be {(depth + 7) // 8} bytes")
    if depth % 8 and bitmap[-1] & (0xFF >> (depth % 8)):
        raise ProofFormatError("empty-sibling bitmap has bits set past the proof depth")
    if type(present) is not list:
        raise ProofFormatError("siblings must be a list")
    empty_count = sum(bin(byte).count("1") for byte in bitmap)
    if len(present) != depth - empty_count:
        raise ProofFormatError("sibling count disagrees with the empty-sibling bitmap")
    if not all(_is_hash(sibling) and sibling != EMPTY_ROOT for sibling in present):
        raise ProofFormatError(f"siblings must be {HASH_SIZE}-byte hashes, empty ones in the bitmap")
    remaining = iter(present)
    return tuple(
        EMPTY_ROOT if bitmap[index // 8] & (0x80 >> (index % 8)) else next(remaining)
        for index in range(depth)
    )


def _terminal_hash(path: bytes, value: bytes | None, proof: Proof) -> bytes | None:
    """The hash where the path ends, or None when the proof cannot show `value`."""
    leaf, depth = proof.leaf, len(proof.siblings)
    if leaf is None:
        return EMPTY_ROOT if value is None else None
    if (path_int(leaf.path) ^ path_int(path)) >> (PATH_BITS - depth):
        return None  # that leaf does not lie on this key's path
    if value is None and leaf.path == path:
        return None  # the key is present
    if value is not None and (leaf.path != path or leaf.value_hash != value_hash(value)):
        return None
    return leaf_hash(leaf.path, leaf.value_hash)


def verify(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """True when the tree with root `root` maps `key` to `value` (None: `key` is absent)."""
    depth = len(proof.siblings)
    if depth and proof.siblings[-1] == EMPTY_ROOT:
        return False  # a leaf or an empty subtree beside an empty one: never built
    path = key_path(key)
    running = _terminal_hash(path, value, proof)
    if running is None:
        return False
    bits = path_int(path)
    for index in range(depth - 1, -1, -1):
        sibling = proof.siblings[index]
        if (bits >> (PATH_BITS - 1 - index)) & 1:
            running = internal_hash(sibling, running)
        else:
            running = internal_hash(running, sibling)
    return running == root
