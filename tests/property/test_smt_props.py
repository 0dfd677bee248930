"""Property tests for crypto.smt against a reference written from the definition.

The reference root below is the tree's definition read literally (split the
sorted paths on one bit per level; one key is a leaf; none is EMPTY_ROOT),
with hashlib and no code shared with the incremental implementation. On top
of agreement with it: proofs verify for present and absent keys, no proof,
however tampered, makes `verify` accept a value the tree does not hold, and
`Proof.from_wire` refuses junk with ProofFormatError and nothing else.
"""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings, strategies as st

from crypto import encoding, smt
from crypto.smt import EMPTY_ROOT, Proof, ProofFormatError, ProofLeaf

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def h(domain: str, data: bytes) -> bytes:
    return hashlib.sha256(b"consort/" + domain.encode() + b"\x00" + data).digest()


def ref_root(state: dict[bytes, bytes]) -> bytes:
    leaves = sorted((int.from_bytes(h("smt-key", k), "big"), h("smt-value", v)) for k, v in state.items())

    def subtree(depth: int, items: list[tuple[int, bytes]]) -> bytes:
        if not items:
            return h("smt-empty", b"")
        if len(items) == 1:
            return h("smt-leaf", items[0][0].to_bytes(32, "big") + items[0][1])
        left = [item for item in items if not (item[0] >> (255 - depth)) & 1]
        right = [item for item in items if (item[0] >> (255 - depth)) & 1]
        return h("smt-internal", subtree(depth + 1, left) + subtree(depth + 1, right))

    return subtree(0, leaves)


# A small key space, so blocks overwrite and delete keys that earlier blocks wrote.
keys = st.sampled_from([b""] + [b"k%d" % i for i in range(40)])
values = st.one_of(st.none(), st.binary(max_size=4))
blocks = st.lists(st.dictionaries(keys, values, max_size=25), min_size=1, max_size=8)


def apply_block(state: dict[bytes, bytes], block: dict[bytes, bytes | None]) -> dict[bytes, bytes]:
    after = dict(state)
    for key, value in block.items():
        if value is None:
            after.pop(key, None)
        else:
            after[key] = value
    return after


def run(block_list, prune=False) -> tuple[dict, list[tuple[bytes, dict]]]:
    """Apply the blocks one update each; return the store and (root, state) after each."""
    store: dict[bytes, bytes] = {}
    root, state, history = EMPTY_ROOT, {}, []
    for block in block_list:
        result = smt.update(store, root, list(block.items()))
        if prune:
            for node_hash in result.obsolete:
                del store[node_hash]
        store.update(result.new_nodes)
        root, state = result.root, apply_block(state, block)
        history.append((root, state))
    return store, history


def reachable(store: dict, root: bytes) -> set[bytes]:
    found, todo = set(), [root]
    while todo:
        node_hash = todo.pop()
        if node_hash != EMPTY_ROOT:
            found.add(node_hash)
            fields = encoding.decode(store[node_hash])
            todo += fields[1:] if fields[0] == smt.NODE_INTERNAL else []
    return found


@SETTINGS
@given(blocks)
def test_incremental_roots_equal_roots_built_from_scratch(block_list):
    store, history = run(block_list)
    for root, state in history:
        assert root == smt.root_of(state) == ref_root(state)
    for root, state in history:  # old roots stay readable: nothing is deleted by default
        for key in [b""] + [b"k%d" % i for i in range(40)]:
            assert smt.get(store, root, key) == state.get(key)


@SETTINGS
@given(st.dictionaries(st.binary(max_size=6), st.binary(max_size=3), max_size=40), st.randoms())
def test_the_root_depends_only_on_the_final_set(state, rng):
    items = list(state.items())
    rng.shuffle(items)
    store, root = {}, EMPTY_ROOT
    while items:
        cut = rng.randint(1, len(items))
        result = smt.update(store, root, items[:cut])
        store.update(result.new_nodes)
        root, items = result.root, items[cut:]
    assert root == smt.root_of(state) == ref_root(state)


@SETTINGS
@given(st.dictionaries(st.binary(max_size=6), st.binary(max_size=3), max_size=60))
def test_the_streamed_build_gives_the_reference_root_and_builds_nodes(state):
    leaves, nodes = [], {}
    for key, value in state.items():
        path, leaf, raw = smt.leaf_node(key, value)
        leaves.append((path, leaf))
        nodes[leaf] = raw
    root = smt.build_sorted(sorted(leaves), nodes.__setitem__)
    assert root == ref_root(state)
    assert nodes == dict(smt.build(state).new_nodes)


@SETTINGS
@given(blocks)
def test_pruning_obsolete_nodes_leaves_exactly_the_current_tree(block_list):
    store, history = run(block_list, prune=True)
    root, state = history[-1]
    assert set(store) == reachable(store, root)
    assert set(store) == {node_hash for node_hash, _ in smt.build(state).new_nodes}


@SETTINGS
@given(blocks, st.lists(st.binary(max_size=5), max_size=5))
def test_proofs_verify_for_present_and_absent_keys(block_list, extra_keys):
    store, history = run(block_list)
    root, state = history[-1]
    for key in [b""] + [b"k%d" % i for i in range(40)] + extra_keys:
        proof = smt.prove(store, root, key)
        assert smt.verify(root, key, state.get(key), proof)
        assert Proof.from_wire(proof.to_wire()) == proof
        assert len(proof.to_wire()) <= smt.PROOF_WIRE_SIZE_MAX


def other_value(value: bytes | None) -> bytes | None:
    return b"x" if value is None else (None if value == b"" else value[:-1])


@SETTINGS
@given(blocks, keys, st.binary(min_size=32, max_size=32))
def test_a_proof_fails_for_another_value_or_another_root(block_list, key, other_root):
    store, history = run(block_list)
    root, state = history[-1]
    proof = smt.prove(store, root, key)
    assert not smt.verify(root, key, other_value(state.get(key)), proof)
    assert not smt.verify(root, key, b"\x00" + (state.get(key) or b""), proof)
    if other_root != root:
        assert not smt.verify(other_root, key, state.get(key), proof)


@SETTINGS
@given(blocks, keys, keys, values)
def test_a_proof_for_one_key_never_shows_a_false_value_for_another(block_list, key, other_key, value):
    # A proof may rightly serve another key: an absence proof ending in an
    # empty subtree or another key's leaf proves every key under it absent,
    # and one ending in other_key's leaf proves other_key's value. So the
    # property is soundness, not refusal.
    store, history = run(block_list)
    root, state = history[-1]
    proof = smt.prove(store, root, key)
    for claimed in (value, state.get(other_key), other_value(state.get(other_key))):
        if smt.verify(root, other_key, claimed, proof):
            assert state.get(other_key) == claimed


def flip(data: bytes, bit: int) -> bytes:
    altered = bytearray(data)
    altered[bit // 8 % len(altered)] ^= 1 << (bit % 8)
    return bytes(altered)


@st.composite
def tampered(draw, proof: Proof) -> Proof:
    siblings, leaf = list(proof.siblings), proof.leaf
    how = draw(st.sampled_from(["sibling", "leaf path", "leaf value", "drop leaf", "add leaf", "truncate",
                                "extend", "empty sibling", "swap"]))
    bit = draw(st.integers(0, 255))
    if how == "sibling" and siblings:
        index = draw(st.integers(0, len(siblings) - 1))
        siblings[index] = flip(siblings[index], bit)
    elif how == "leaf path" and leaf:
        leaf = ProofLeaf(flip(leaf.path, bit), leaf.value_hash)
    elif how == "leaf value" and leaf:
        leaf = ProofLeaf(leaf.path, flip(leaf.value_hash, bit))
    elif how == "drop leaf":
        leaf = None
    elif how == "add leaf":
        leaf = ProofLeaf(draw(st.binary(min_size=32, max_size=32)), draw(st.binary(min_size=32, max_size=32)))
    elif how == "truncate" and siblings:
        siblings = siblings[1:] if draw(st.booleans()) else siblings[:-1]
    elif how == "extend" and len(siblings) < 256:
        siblings.insert(draw(st.integers(0, len(siblings))), draw(st.binary(min_size=32, max_size=32)))
    elif how == "empty sibling" and siblings:
        siblings[draw(st.integers(0, len(siblings) - 1))] = EMPTY_ROOT
    elif how == "swap" and len(siblings) > 1:
        i, j = draw(st.lists(st.integers(0, len(siblings) - 1), min_size=2, max_size=2, unique=True))
        siblings[i], siblings[j] = siblings[j], siblings[i]
    return Proof(leaf, tuple(siblings))


@SETTINGS
@given(blocks, keys, values, st.data())
def test_a_tampered_proof_never_shows_a_false_value(block_list, key, value, data):
    store, history = run(block_list)
    root, state = history[-1]
    proof = smt.prove(store, root, key)
    altered = data.draw(tampered(proof))
    for claimed in (value, state.get(key), other_value(state.get(key))):
        if smt.verify(root, key, claimed, altered):
            assert claimed == state.get(key)
    if altered != proof:
        assert not smt.verify(root, key, state.get(key), altered)


@SETTINGS
@given(blocks, keys, st.binary(max_size=4))
def test_an_absence_proof_cannot_be_turned_into_presence(block_list, key, value):
    store, history = run(block_list)
    root, state = history[-1]
    if key in state:
        proof = smt.prove(store, root, key)
        assert not smt.verify(root, key, None, proof)
        return
    proof = smt.prove(store, root, key)
    assert smt.verify(root, key, None, proof)
    assert not smt.verify(root, key, value, proof)
    forged = Proof(ProofLeaf(h("smt-key", key), h("smt-value", value)), proof.siblings)
    assert not smt.verify(root, key, value, forged)


# --- the wire form ------------------------------------------------------------------

def check_wire(data: bytes) -> None:
    try:
        proof = Proof.from_wire(data)
    except ProofFormatError:
        return
    assert proof.to_wire() == data  # accepted bytes are the one canonical form


hashes = st.one_of(st.binary(min_size=32, max_size=32), st.just(EMPTY_ROOT), st.binary(max_size=33))
field = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.binary(max_size=40), st.text(max_size=3),
                  st.lists(hashes, max_size=6))
wire_like = st.lists(field, min_size=0, max_size=5).map(encoding.encode)
proof_like = st.tuples(st.one_of(st.none(), st.lists(hashes, max_size=3)), st.integers(-1, 20),
                       st.binary(max_size=4), st.lists(hashes, max_size=20)).map(list).map(encoding.encode)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), wire_like, proof_like))
def test_from_wire_of_junk_raises_only_proof_format_error(data):
    check_wire(data)


@SETTINGS
@given(blocks, keys, st.data())
def test_from_wire_of_damaged_proofs_raises_only_proof_format_error(block_list, key, data):
    store, history = run(block_list)
    wire = smt.prove(store, history[-1][0], key).to_wire()
    position = data.draw(st.integers(0, len(wire)))
    damage = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if damage == "flip" and position < len(wire):
        wire = flip(wire, position * 8 + data.draw(st.integers(0, 7)))
    elif damage == "cut":
        wire = wire[:position]
    else:
        wire = wire[:position] + data.draw(st.binary(min_size=1, max_size=3)) + wire[position:]
    check_wire(wire)
