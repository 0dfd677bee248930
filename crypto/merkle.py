"""Merkle trees over ordered leaves, with inclusion proofs (RFC 9162 shape).

Leaves hash as SHA-256(0x00 || data) and inner nodes as
SHA-256(0x01 || left || right), so a leaf can never pose as a node. The tree
over n leaves splits at the largest power of two below n; building bottom-up
and carrying an unpaired last node up one level gives exactly that tree.
"""

from __future__ import annotations

import hashlib

EMPTY_ROOT = hashlib.sha256(b"").digest()
PROOF_LENGTH_MAX = 64


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _next_level(level: list[bytes]) -> list[bytes]:
    paired = [_node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def root_from_hashes(hashes: list[bytes]) -> bytes:
    """Root of the tree whose leaf hashes are `hashes`."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def root(leaves: list[bytes]) -> bytes:
    """Root of the tree over the raw leaves `leaves`."""
    return root_from_hashes([leaf_hash(leaf) for leaf in leaves])


def inclusion_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf `index` up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} outside tree of {len(leaves)}")
    level = [leaf_hash(leaf) for leaf in leaves]
    proof: list[bytes] = []
    position = index
    while len(level) > 1:
        sibling = position ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        level = _next_level(level)
        position //= 2
    return proof


def inclusion_proofs(leaves: list[bytes], indexes: list[int]) -> list[list[bytes]]:
    """`inclusion_proof(leaves, i)` for each i of `indexes`, hashing the tree
    once (many transactions of one block cost one pass, not one each)."""
    if not all(0 <= index < len(leaves) for index in indexes):
        raise IndexError(f"a leaf outside the tree of {len(leaves)}")
    levels = [[leaf_hash(leaf) for leaf in leaves]]
    while len(levels[-1]) > 1:
        levels.append(_next_level(levels[-1]))
    proofs = []
    for index in indexes:
        proof, position = [], index
        for level in levels[:-1]:
            if position ^ 1 < len(level):
                proof.append(level[position ^ 1])
            position //= 2
        proofs.append(proof)
    return proofs


def verify_inclusion(root_hash: bytes, leaf: bytes, index: int, size: int, proof: list[bytes]) -> bool:
    """True when `leaf` is leaf `index` of the `size`-leaf tree with root `root_hash`."""
    if not 0 <= index < size or len(proof) > PROOF_LENGTH_MAX:
        return False
    position, last = index, size - 1
    running = leaf_hash(leaf)
    for sibling in proof:
        if last == 0:
            return False
        if position & 1 or position == last:
            running = _node_hash(sibling, running)
            while not position & 1 and position != 0:
                position >>= 1
                last >>= 1
        else:
            running = _node_hash(running, sibling)
        position >>= 1
        last >>= 1
    return last == 0 and running == root_hash
