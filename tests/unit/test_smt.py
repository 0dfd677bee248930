"""Unit tests for crypto.smt: the state tree's shapes, node bytes, proofs and refusals.

Expected hashes are written out with hashlib from the formulas in the
crypto.smt_proof docstring, so these tests pin the scheme an outside
auditor implements, not just agreement of the module with itself.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from crypto import encoding, smt
from crypto.smt import EMPTY_ROOT, Proof, ProofFormatError, ProofLeaf, StoreError


def h(domain: str, data: bytes) -> bytes:
    return hashlib.sha256(b"consort/" + domain.encode() + b"\x00" + data).digest()


def path(key: bytes) -> bytes:
    return h("smt-key", key)


def leaf(key: bytes, value: bytes) -> bytes:
    return h("smt-leaf", path(key) + h("smt-value", value))


def inner(left: bytes, right: bytes) -> bytes:
    return h("smt-internal", left + right)


def bit(key: bytes, depth: int) -> int:
    return (path(key)[depth // 8] >> (7 - depth % 8)) & 1


def shared_prefix_pair(bits: int) -> tuple[bytes, bytes]:
    """Two keys whose paths agree on their first `bits` bits (a birthday search)."""
    seen: dict[int, bytes] = {}
    for i in range(1 << 20):
        key = b"pair-%d" % i
        prefix = int.from_bytes(path(key), "big") >> (256 - bits)
        if prefix in seen:
            return seen[prefix], key
        seen[prefix] = key
    raise AssertionError("no pair found")


def common_bits(a: bytes, b: bytes) -> int:
    return 256 - (int.from_bytes(path(a), "big") ^ int.from_bytes(path(b), "big")).bit_length()


class Store(dict):
    """A dict reader that applies updates the way the node's write batch would."""

    def apply(self, result: smt.TreeUpdate, prune: bool = False) -> bytes:
        if prune:
            for node_hash in result.obsolete:
                del self[node_hash]
        self.update(result.new_nodes)
        return result.root


def reachable(store: dict, root: bytes) -> set[bytes]:
    found, todo = set(), [root]
    while todo:
        node_hash = todo.pop()
        if node_hash == EMPTY_ROOT:
            continue
        found.add(node_hash)
        fields = encoding.decode(store[node_hash])
        if fields[0] == smt.NODE_INTERNAL:
            todo += fields[1:]
    return found


# --- the hashing scheme -----------------------------------------------------------

def test_hashes_follow_the_documented_formulas():
    assert EMPTY_ROOT == h("smt-empty", b"")
    assert smt.key_path(b"k") == path(b"k")
    assert smt.root_of({b"k": b"v"}) == leaf(b"k", b"v")


def test_leaf_inner_and_empty_hashes_are_domain_separated():
    a, b = path(b"a"), path(b"b")
    assert h("smt-leaf", a + b) != inner(a, b)
    assert EMPTY_ROOT not in (h("smt-leaf", b""), h("smt-internal", b""), hashlib.sha256(b"").digest())


# --- the empty tree ---------------------------------------------------------------

def test_empty_tree():
    store = Store()
    assert smt.root_of([]) == smt.root_of({}) == EMPTY_ROOT
    result = smt.update(store, EMPTY_ROOT, [])
    assert result == smt.TreeUpdate(EMPTY_ROOT, (), ())
    assert smt.get(store, EMPTY_ROOT, b"k") is None
    proof = smt.prove(store, EMPTY_ROOT, b"k")
    assert proof == Proof(None, ())
    assert smt.verify(EMPTY_ROOT, b"k", None, proof)
    assert not smt.verify(EMPTY_ROOT, b"k", b"", proof)


def test_deleting_absent_keys_from_the_empty_tree_changes_nothing():
    assert smt.update(Store(), EMPTY_ROOT, [(b"a", None), (b"b", None)]) == smt.TreeUpdate(EMPTY_ROOT, (), ())


# --- one key ----------------------------------------------------------------------

def test_single_key_is_a_leaf_at_the_root():
    store = Store()
    result = smt.update(store, EMPTY_ROOT, [(b"k", b"v")])
    assert result.root == leaf(b"k", b"v")
    assert result.new_nodes == ((leaf(b"k", b"v"), encoding.encode([0, b"k", b"v"])),)
    root = store.apply(result)
    assert smt.get(store, root, b"k") == b"v"
    assert smt.get(store, root, b"other") is None
    proof = smt.prove(store, root, b"k")
    assert proof == Proof(ProofLeaf(path(b"k"), h("smt-value", b"v")), ())
    assert smt.verify(root, b"k", b"v", proof)
    assert not smt.verify(root, b"k", b"w", proof)
    assert not smt.verify(root, b"k", None, proof)
    absent = smt.prove(store, root, b"other")
    assert absent == Proof(ProofLeaf(path(b"k"), h("smt-value", b"v")), ())
    assert smt.verify(root, b"other", None, absent)


def test_empty_value_is_present_and_differs_from_absent():
    store = Store()
    root = store.apply(smt.update(store, EMPTY_ROOT, [(b"k", b"")]))
    assert root != EMPTY_ROOT
    assert smt.get(store, root, b"k") == b""
    assert smt.verify(root, b"k", b"", smt.prove(store, root, b"k"))
    assert not smt.verify(root, b"k", None, smt.prove(store, root, b"k"))


# --- two keys sharing a long prefix -------------------------------------------------

def test_two_keys_sharing_a_long_prefix_hang_below_a_chain_of_one_sided_nodes():
    a, b = shared_prefix_pair(22)
    depth = common_bits(a, b)
    assert depth >= 22
    expected = inner(leaf(a, b"1"), leaf(b, b"2")) if bit(a, depth) == 0 else inner(leaf(b, b"2"), leaf(a, b"1"))
    for level in range(depth - 1, -1, -1):
        expected = inner(EMPTY_ROOT, expected) if bit(a, level) else inner(expected, EMPTY_ROOT)
    store = Store()
    result = smt.update(store, EMPTY_ROOT, [(a, b"1"), (b, b"2")])
    assert result.root == expected == smt.root_of({a: b"1", b: b"2"})
    assert len(result.new_nodes) == 2 + depth + 1
    root = store.apply(result)
    proof = smt.prove(store, root, a)
    assert proof.siblings == (EMPTY_ROOT,) * depth + (leaf(b, b"2"),)
    assert smt.verify(root, a, b"1", proof)
    # list, leaf, depth, bitmap, one sibling: each empty sibling costs one bit
    assert len(proof.to_wire()) == 1 + (1 + 2 * 34) + 1 + (2 + (depth + 8) // 8) + (1 + 34)
    assert Proof.from_wire(proof.to_wire()) == proof


def test_deleting_one_of_a_deep_pair_lifts_the_other_back_to_the_root():
    a, b = shared_prefix_pair(16)
    store = Store()
    root = store.apply(smt.update(store, EMPTY_ROOT, [(a, b"1"), (b, b"2")]))
    result = smt.update(store, root, [(b, None)])
    assert result.root == leaf(a, b"1")
    assert result.new_nodes == ()  # a's leaf already exists: its hash does not depend on its depth
    assert set(result.obsolete) == reachable(store, root) - {leaf(a, b"1")}
    root = store.apply(result, prune=True)
    assert set(store) == {leaf(a, b"1")}
    assert smt.get(store, root, a) == b"1"


def test_an_absent_key_on_a_shared_path_is_proved_absent_by_a_neighbours_leaf():
    a, b = shared_prefix_pair(16)
    store = Store()
    root = store.apply(smt.update(store, EMPTY_ROOT, [(a, b"1")]))
    proof = smt.prove(store, root, b)
    assert proof.leaf == ProofLeaf(path(a), h("smt-value", b"1"))
    assert smt.verify(root, b, None, proof)
    assert not smt.verify(root, b, b"1", proof)


# --- updates and deletes ------------------------------------------------------------

def test_delete_everything_back_to_empty():
    items = {b"key-%d" % i: b"value-%d" % i for i in range(300)}
    store = Store()
    root = store.apply(smt.update(store, EMPTY_ROOT, list(items.items())), prune=True)
    assert root == smt.root_of(items)
    keys = sorted(items)
    for start in range(0, len(keys), 70):
        root = store.apply(smt.update(store, root, [(k, None) for k in keys[start:start + 70]]), prune=True)
        assert root == smt.root_of({k: items[k] for k in keys[start + 70:]})
    assert root == EMPTY_ROOT
    assert store == {}


def test_a_block_mixing_inserts_updates_and_deletes():
    rng = random.Random(7)
    state = {b"k%d" % i: b"v%d" % i for i in range(200)}
    store = Store()
    root = store.apply(smt.build(state))
    changes = [(b"k%d" % i, None) for i in range(0, 200, 3)]
    changes += [(b"k%d" % i, b"new%d" % i) for i in range(1, 200, 3)]
    changes += [(b"k%d" % i, b"ins%d" % i) for i in range(200, 260)]
    changes += [(b"missing%d" % i, None) for i in range(20)]
    rng.shuffle(changes)
    result = smt.update(store, root, changes)
    for key, value in changes:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    assert result.root == smt.root_of(state)
    new_root = store.apply(result)
    for key in [*state, b"missing0", b"k0"]:
        assert smt.get(store, new_root, key) == state.get(key)
    assert smt.get(store, root, b"k0") == b"v0"  # the old root still reads its own state


def test_the_order_of_a_write_set_does_not_matter():
    changes = [(b"k%d" % i, b"%d" % i) for i in range(100)]
    first = smt.update(Store(), EMPTY_ROOT, changes)
    assert smt.update(Store(), EMPTY_ROOT, changes[::-1]) == first
    assert smt.build(changes) == first


def test_writing_the_same_values_again_writes_and_retires_nothing():
    items = [(b"k%d" % i, b"v") for i in range(50)]
    store = Store()
    root = store.apply(smt.update(store, EMPTY_ROOT, items))
    assert smt.update(store, root, items[:10]) == smt.TreeUpdate(root, (), ())


def test_every_new_node_is_stored_under_the_hash_of_its_content():
    store = Store()
    result = smt.update(store, EMPTY_ROOT, [(b"k%d" % i, b"v%d" % i) for i in range(40)])
    for node_hash, raw in result.new_nodes:
        tag, first, second = encoding.decode(raw)
        assert raw == encoding.encode([tag, first, second])
        expected = leaf(first, second) if tag == smt.NODE_LEAF else inner(first, second)
        assert node_hash == expected
    store.apply(result)
    assert reachable(store, result.root) == set(store)


# --- refusals -----------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ([(b"a", b"1"), (b"a", None)], "written twice"),
    ([("a", b"1")], "a key is bytes"),
    ([(b"a", "1")], "a value is None or bytes"),
    ([(b"x" * (smt.KEY_SIZE_MAX + 1), b"1")], "a key is bytes"),
])
def test_bad_write_sets_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        smt.update(Store(), EMPTY_ROOT, changes)


def test_a_missing_node_is_a_store_error():
    store = Store()
    root = store.apply(smt.update(store, EMPTY_ROOT, [(b"a", b"1"), (b"b", b"2")]))
    with pytest.raises(StoreError, match="missing"):
        smt.get(Store(), root, b"a")
    store.pop(leaf(b"a", b"1"))
    with pytest.raises(StoreError, match="missing"):
        smt.prove(store, root, b"a")
    with pytest.raises(StoreError, match="missing"):
        smt.update(store, root, [(b"b", None)])  # must read a's node to lift it


@pytest.mark.parametrize("raw", [b"\xc1", encoding.encode([2, b"", b""]), encoding.encode([1, b"short", bytes(32)]),
                                 encoding.encode([True, b"k", b"v"]), encoding.encode([0, b"k"])])
def test_a_corrupt_node_is_a_store_error(raw):
    with pytest.raises(StoreError, match="corrupt"):
        smt.get({bytes(32): raw}, bytes(32), b"k")


# --- proofs: wire form and refusals --------------------------------------------------

def full_depth_proof() -> Proof:
    return Proof(ProofLeaf(bytes(32), bytes(32)), tuple(bytes([i % 255 + 1]) * 32 for i in range(256)))


def test_the_largest_proof_is_exactly_the_wire_limit():
    wire = full_depth_proof().to_wire()
    assert len(wire) == smt.PROOF_WIRE_SIZE_MAX
    assert Proof.from_wire(wire) == full_depth_proof()


def invalid_wires() -> dict[str, bytes]:
    sibling, e = bytes([7]) * 32, encoding.encode
    return {
        "not msgpack": b"\xc1",
        "trailing bytes": Proof(None, ()).to_wire() + b"\x00",
        "over the size limit": e([None, 0, b"", [bytes(32)] * 300]),
        "not a list": e({"leaf": None}),
        "three fields": e([None, 0, b""]),
        "leaf of one hash": e([[bytes(32)], 0, b"", []]),
        "leaf hash too short": e([[bytes(31), bytes(32)], 0, b"", []]),
        "depth too large": e([None, 257, bytes(33), []]),
        "depth negative": e([None, -1, b"", []]),
        "depth a bool": e([None, True, b"\x00", [sibling]]),
        "bitmap too long": e([None, 1, b"\x00\x00", [sibling]]),
        "bitmap padding set": e([None, 1, b"\x01", []]),
        "bitmap padding set, counts agree": e([None, 9, b"\x00\x7f", [sibling] * 2]),
        "too few siblings": e([None, 2, b"\x00", [sibling]]),
        "too many siblings": e([None, 1, b"\x80", [sibling]]),
        "explicit empty sibling": e([None, 1, b"\x00", [EMPTY_ROOT]]),
        "sibling not bytes": e([None, 1, b"\x00", ["x" * 32]]),
        "non-canonical int": b"\x94\xc0\xcc\x00\xc4\x00\x90",
    }


@pytest.mark.parametrize("name", sorted(invalid_wires()))
def test_malformed_wire_is_refused_with_proof_format_error(name):
    with pytest.raises(ProofFormatError):
        Proof.from_wire(invalid_wires()[name])


def test_proof_format_error_is_a_decode_error_and_a_value_error():
    assert issubclass(ProofFormatError, encoding.DecodeError)
    assert issubclass(ProofFormatError, ValueError)


@pytest.mark.parametrize("make", [
    lambda: Proof(None, [bytes(32)]),
    lambda: Proof(None, (bytes(31),)),
    lambda: Proof(None, (bytes(32),) * 257),
    lambda: Proof((bytes(32), bytes(32)), ()),
    lambda: ProofLeaf(bytes(32), b""),
])
def test_malformed_proof_objects_are_refused_at_construction(make):
    with pytest.raises(ProofFormatError):
        make()


def test_a_proof_ending_beside_an_empty_sibling_is_refused():
    # Such a tree is never built (the lone leaf would have risen), so the
    # proof is refused even when its hashes add up.
    fake_root = inner(leaf(b"k", b"v"), EMPTY_ROOT) if bit(b"k", 0) == 0 else inner(EMPTY_ROOT, leaf(b"k", b"v"))
    proof = Proof(ProofLeaf(path(b"k"), h("smt-value", b"v")), (EMPTY_ROOT,))
    assert not smt.verify(fake_root, b"k", b"v", proof)


def test_a_leaf_off_the_key_path_cannot_prove_absence():
    a, b = b"a", next(b"b%d" % i for i in range(100) if bit(b"b%d" % i, 0) != bit(b"a", 0))
    store = Store()
    root = store.apply(smt.update(store, EMPTY_ROOT, [(a, b"1"), (b"c", b"2")]))
    proof = smt.prove(store, root, a)
    assert not smt.verify(root, b, None, proof)


# --- the streamed bulk build -------------------------------------------------------

def sorted_build(items: dict[bytes, bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """build_sorted over `items`: its root and every node (the leaves' and the emitted ones)."""
    nodes: dict[bytes, bytes] = {}
    leaves = []
    for key, value in items.items():
        leaf_path, leaf_hash, raw = smt.leaf_node(key, value)
        nodes[leaf_hash] = raw
        leaves.append((leaf_path, leaf_hash))
    emitted: list[bytes] = []

    def emit(node_hash: bytes, raw: bytes) -> None:
        emitted.append(node_hash)
        nodes[node_hash] = raw
    root = smt.build_sorted(sorted(leaves), emit)
    assert len(emitted) == len(set(emitted)), "an inner node was emitted twice"
    return root, nodes


@pytest.mark.parametrize("size", [0, 1, 2, 3, 16, 257, 2000])
def test_the_streamed_build_makes_the_same_tree_as_build(size):
    items = {b"key-%d" % i: b"value-%d" % i for i in range(size)}
    expected = smt.build(items)
    root, nodes = sorted_build(items)
    assert root == expected.root == smt.root_of(items)
    assert nodes == dict(expected.new_nodes)


def test_the_streamed_build_hangs_a_deep_pair_below_its_chain_of_one_sided_nodes():
    a, b = shared_prefix_pair(20)
    items = {a: b"1", b: b"2"}
    root, nodes = sorted_build(items)
    assert root == smt.root_of(items)
    assert nodes == dict(smt.build(items).new_nodes)
    assert len(nodes) == 2 + common_bits(a, b) + 1  # two leaves, their parent, one node per shared bit


def test_a_leaf_node_is_what_an_update_stores():
    leaf_path, leaf_hash, raw = smt.leaf_node(b"k", b"v")
    assert (leaf_path, leaf_hash) == (path(b"k"), leaf(b"k", b"v"))
    assert smt.update(Store(), EMPTY_ROOT, [(b"k", b"v")]).new_nodes == ((leaf_hash, raw),)
    with pytest.raises(ValueError, match="a key is bytes"):
        smt.leaf_node("k", b"v")
    with pytest.raises(ValueError, match="a value is bytes"):
        smt.leaf_node(b"k", None)


@pytest.mark.parametrize("order", ["descending", "repeated"])
def test_the_streamed_build_refuses_leaves_out_of_path_order(order):
    leaves = sorted(smt.leaf_node(b"k%d" % i, b"v")[:2] for i in range(5))
    leaves = leaves[::-1] if order == "descending" else leaves + leaves[-1:]
    with pytest.raises(ValueError, match="strictly ascending"):
        smt.build_sorted(leaves, lambda node_hash, raw: None)
    with pytest.raises(ValueError, match="32-byte"):
        smt.build_sorted([(b"short", b"x" * 32)], lambda node_hash, raw: None)
