"""Property tests for crypto.mpc.psi: for random sets of 0..200 elements with
any overlap, every variant gives what the plain set computation gives, and
no element shows in any message; the decoder, fed junk or a mutated valid
message, either returns a valid message or raises PsiMessageError, never
anything else; encode and decode are inverse."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings, strategies as st

from crypto.mpc.psi import (BlindedSet, DoubleBlindedSet, PsiMessageError, Role, Variant, decode_message,
                            hash_all)
from psi_support import run_session

SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def two_sets(draw, size_max: int = 200):
    """Sets A and B of 0..size_max distinct elements (8..31 bytes) sharing 0..min(|A|, |B|) of them."""
    size_a, size_b = draw(st.integers(0, size_max)), draw(st.integers(0, size_max))
    shared = draw(st.integers(0, min(size_a, size_b)))
    salt = draw(st.binary(min_size=1, max_size=8))
    pool = [hashlib.sha256(salt + i.to_bytes(4, "big")).digest()[:8 + i % 24] for i in range(size_a + size_b - shared)]
    set_a, set_b = pool[:size_a], pool[size_a - shared:size_a - shared + size_b]
    return draw(st.permutations(set_a)), draw(st.permutations(set_b))


@SLOW
@given(sets=two_sets(), variant=st.sampled_from(list(Variant)))
def test_every_variant_equals_the_plain_computation(sets, variant):
    set_a, set_b = sets
    run = run_session(variant, set_a, set_b)
    common = set(set_a) & set(set_b)
    results = {Variant.CARDINALITY: (run.initiator and run.initiator.count, run.responder and run.responder.count),
               Variant.INTERSECTION: (run.initiator and run.initiator.elements,
                                      run.responder and run.responder.elements),
               Variant.CARDINALITY_TO_REGULATOR: (run.regulator,),
               Variant.CARDINALITY_TO_INITIATOR: (run.initiator and run.initiator.count,)}[variant]
    expected = common if variant == Variant.INTERSECTION else len(common)
    assert all(result == expected for result in results)
    for message in run.messages:
        assert not any(element in message for element in common | set(set_a) | set(set_b))


@FAST
@given(data=st.binary(max_size=300))
def test_junk_raises_only_the_message_error(data):
    try:
        decode_message(data)
    except PsiMessageError:
        pass


def valid_message_bytes(draw_points: list[bytes], kind: str, variant: Variant, sender: Role,
                        session: bytes) -> bytes:
    ordered = tuple(sorted(draw_points)) if kind == "blinded" or variant != Variant.INTERSECTION \
        else tuple(draw_points)
    cls = BlindedSet if kind == "blinded" else DoubleBlindedSet
    return cls(session, variant, sender, ordered).encode()


POINTS = hash_all(b"property", [b"element %d" % i for i in range(12)])
messages = st.builds(
    valid_message_bytes,
    st.lists(st.sampled_from(POINTS), unique=True, max_size=12).flatmap(st.permutations),
    st.sampled_from(["blinded", "double"]), st.sampled_from(list(Variant)), st.sampled_from(list(Role)),
    st.binary(min_size=1, max_size=64))


@FAST
@given(data=messages)
def test_encode_and_decode_are_inverse(data):
    assert decode_message(data).encode() == data


@FAST
@given(data=messages, position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_a_mutated_message_is_refused_or_decodes_to_a_valid_one(data, position, flip):
    mutated = bytearray(data)
    mutated[position % len(mutated)] ^= flip
    try:
        message = decode_message(bytes(mutated))
    except PsiMessageError:
        return
    assert message.encode() == bytes(mutated)
