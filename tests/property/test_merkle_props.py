"""Property tests for crypto.merkle against a reference RFC 6962 tree.

The reference below follows RFC 6962 section 2.1 literally (MTH and PATH
as recursive definitions), so it shares no code or shape with the
bottom-up implementation under test.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from crypto import merkle

SETTINGS = settings(max_examples=250, deadline=None)
LEFT, RIGHT = "L", "R"


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two strictly less than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return ref_leaf(leaves[0])
    k = split(len(leaves))
    return ref_node(ref_mth(leaves[:k]), ref_mth(leaves[k:]))


def ref_path(index: int, leaves: list[bytes]) -> list[tuple[bytes, str]]:
    """RFC 6962 PATH(m, D[n]) with the side each sibling sits on, leaf first."""
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if index < k:
        return ref_path(index, leaves[:k]) + [(ref_mth(leaves[k:]), RIGHT)]
    return ref_path(index - k, leaves[k:]) + [(ref_mth(leaves[:k]), LEFT)]


def sides(index: int, size: int) -> list[str]:
    """The left/right shape of the audit path of leaf `index` in a `size`-leaf tree."""
    return [side for _, side in ref_path(index, [b""] * size)]


leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


@st.composite
def tree_and_index(draw, unique=False):
    leaves = draw(st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=unique))
    return leaves, draw(st.integers(0, len(leaves) - 1))


@SETTINGS
@given(leaf_lists)
def test_root_equals_reference_mth(leaves):
    assert merkle.root(leaves) == ref_mth(leaves)
    assert merkle.root_from_hashes([ref_leaf(x) for x in leaves]) == ref_mth(leaves)


def test_empty_root_is_hash_of_nothing():
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


@SETTINGS
@given(leaf_lists)
def test_every_leaf_proof_verifies_and_equals_reference_path(leaves):
    root = merkle.root(leaves)
    for index, leaf in enumerate(leaves):
        proof = merkle.inclusion_proof(leaves, index)
        assert proof == [h for h, _ in ref_path(index, leaves)]
        assert merkle.verify_inclusion(root, leaf, index, len(leaves), proof)


@SETTINGS
@given(leaf_lists, st.data())
def test_proofs_of_many_leaves_at_once_equal_the_one_by_one_proofs(leaves, data):
    indexes = data.draw(st.lists(st.integers(0, len(leaves) - 1), max_size=10))
    assert merkle.inclusion_proofs(leaves, indexes) == [merkle.inclusion_proof(leaves, i) for i in indexes]


def test_proofs_of_many_leaves_refuse_an_index_outside_the_tree():
    with pytest.raises(IndexError):
        merkle.inclusion_proofs([b"a", b"b"], [0, 2])
    with pytest.raises(IndexError):
        merkle.inclusion_proofs([], [0])


@SETTINGS
@given(tree_and_index(), st.binary(max_size=12))
def test_other_leaf_fails(tree, other):
    leaves, index = tree
    if other == leaves[index]:
        other += b"\x00"
    proof = merkle.inclusion_proof(leaves, index)
    assert not merkle.verify_inclusion(merkle.root(leaves), other, index, len(leaves), proof)


@SETTINGS
@given(tree_and_index(unique=True), st.data())
def test_other_index_fails(tree, data):
    # Leaves are distinct here: with two equal leaves, each one's proof
    # rightly proves the other too.
    leaves, index = tree
    size = len(leaves)
    other = data.draw(st.integers(-2, size + 2).filter(lambda i: i != index))
    proof = merkle.inclusion_proof(leaves, index)
    assert not merkle.verify_inclusion(merkle.root(leaves), leaves[index], other, size, proof)


@SETTINGS
@given(tree_and_index(), st.integers(0, 140))
def test_other_size_verifies_only_when_the_path_shape_is_the_same(tree, other_size):
    # RFC 9162 proofs do not bind the size on their own (the signed tree head
    # does): a proof for leaf 0 of 3 leaves also "verifies" for 4 leaves,
    # because both paths are [right, right]. The property that holds is that
    # a wrong size is accepted exactly when the path has the same shape.
    leaves, index = tree
    size = len(leaves)
    proof = merkle.inclusion_proof(leaves, index)
    accepted = merkle.verify_inclusion(merkle.root(leaves), leaves[index], index, other_size, proof)
    if other_size == size:
        assert accepted
    elif index >= other_size:
        assert not accepted
    else:
        assert accepted == (sides(index, other_size) == sides(index, size))


def test_size_is_not_bound_by_the_proof_alone_known_case():
    leaves = [b"a", b"b", b"c"]
    proof = merkle.inclusion_proof(leaves, 0)
    root = merkle.root(leaves)
    assert merkle.verify_inclusion(root, b"a", 0, 3, proof)
    assert merkle.verify_inclusion(root, b"a", 0, 4, proof)
    assert not merkle.verify_inclusion(root, b"a", 0, 2, proof)
    assert not merkle.verify_inclusion(root, b"a", 0, 5, proof)


@SETTINGS
@given(tree_and_index(), st.data())
def test_altered_proof_element_fails(tree, data):
    leaves, index = tree
    proof = merkle.inclusion_proof(leaves, index)
    root = merkle.root(leaves)
    if not proof:
        # a one-leaf tree: any extra element must be refused
        assert not merkle.verify_inclusion(root, leaves[0], 0, 1, [bytes(32)])
        return
    position = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    altered = list(proof)
    altered[position] = bytearray(altered[position])
    altered[position][bit // 8] ^= 1 << (bit % 8)
    altered[position] = bytes(altered[position])
    assert not merkle.verify_inclusion(root, leaves[index], index, len(leaves), altered)


@SETTINGS
@given(tree_and_index(), st.data())
def test_truncated_extended_or_reordered_proof_fails(tree, data):
    leaves, index = tree
    size = len(leaves)
    proof = merkle.inclusion_proof(leaves, index)
    root = merkle.root(leaves)
    leaf = leaves[index]
    assert not merkle.verify_inclusion(root, leaf, index, size, proof + [root])
    if proof:
        assert not merkle.verify_inclusion(root, leaf, index, size, proof[:-1])
        assert not merkle.verify_inclusion(root, leaf, index, size, proof[1:])
    if len(set(proof)) > 1:
        shuffled = data.draw(st.permutations(proof).filter(lambda p: list(p) != proof))
        assert not merkle.verify_inclusion(root, leaf, index, size, list(shuffled))


@SETTINGS
@given(tree_and_index(), st.binary(min_size=32, max_size=32))
def test_other_root_fails(tree, other_root):
    leaves, index = tree
    root = merkle.root(leaves)
    if other_root == root:
        other_root = bytes(b ^ 0xFF for b in root)
    proof = merkle.inclusion_proof(leaves, index)
    assert not merkle.verify_inclusion(other_root, leaves[index], index, len(leaves), proof)


@SETTINGS
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=70))
def test_an_inner_node_cannot_pose_as_a_leaf(hashes):
    # With the 0x00/0x01 prefixes, the two children of the root, offered as
    # leaves of a 2-leaf tree, do not reproduce the root.
    k = split(len(hashes))
    left, right = merkle.root_from_hashes(hashes[:k]), merkle.root_from_hashes(hashes[k:])
    assert merkle.root_from_hashes(hashes) == ref_node(left, right)
    assert merkle.root([left, right]) != merkle.root_from_hashes(hashes)


def test_equal_leaves_prove_each_other():
    leaves = [b"same", b"same"]
    proof = merkle.inclusion_proof(leaves, 0)
    assert merkle.verify_inclusion(merkle.root(leaves), b"same", 1, 2, proof)


def test_proof_index_out_of_range_raises():
    with pytest.raises(IndexError):
        merkle.inclusion_proof([b"a"], 1)
    with pytest.raises(IndexError):
        merkle.inclusion_proof([b"a"], -1)
    with pytest.raises(IndexError):
        merkle.inclusion_proof([], 0)


def test_overlong_proof_is_refused_without_work():
    assert not merkle.verify_inclusion(bytes(32), b"a", 0, 2**70, [bytes(32)] * (merkle.PROOF_LENGTH_MAX + 1))
