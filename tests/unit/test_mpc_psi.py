"""crypto.mpc.psi and its wire format: results equal the plain set
computation in every variant; the hash lands in the prime-order group
(checked with an independent pure-Python curve); no element travels in
clear; sessions are unlinkable; the count-only variants give no per-element
correspondence; junk, invalid points, duplicates and misrouted messages are
refused; steps out of order are our bug. Parties run in memory, no I/O."""

from __future__ import annotations

import hashlib

import msgpack
import nacl.bindings as sodium
import pytest

from crypto.encoding import decode, encode
from crypto.mpc import psi
from crypto.mpc.psi import (PSI_ELEMENT_BYTES_MAX, PSI_MESSAGE_BYTES_MAX, PSI_SET_MAX, BlindedSet, DoubleBlindedSet,
                            PsiInputError, PsiMessageError, PsiParty, PsiStateError, Role, Variant, blind_all,
                            check_scalar, count_for_regulator, decode_message, hash_all, hash_to_group,
                            random_scalar)
from crypto.mpc.transcript import transcript_hash
from psi_support import run_session

SESSION = b"session-1"
L = psi.GROUP_ORDER
IDENTITY = b"\x01" + bytes(31)
ORDER_8_POINT = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")


def scalar(k: int) -> bytes:
    return k.to_bytes(32, "little")


def customers(*numbers: int) -> list[bytes]:
    return [b"customer:%010d" % n for n in numbers]


# --- an independent edwards25519 (RFC 8032 formulas), for the subgroup claims -----

P25519 = 2**255 - 19
D = -121665 * pow(121666, -1, P25519) % P25519
SQRT_M1 = pow(2, (P25519 - 1) // 4, P25519)


def ref_decode(data: bytes) -> tuple[int, int, int, int]:
    y = int.from_bytes(data, "little") & (2**255 - 1)
    assert y < P25519
    xx = (y * y - 1) * pow(D * y * y + 1, -1, P25519) % P25519
    x = pow(xx, (P25519 + 3) // 8, P25519)
    if (x * x - xx) % P25519:
        x = x * SQRT_M1 % P25519
    assert (x * x - xx) % P25519 == 0, "not on the curve"
    if x & 1 != data[31] >> 7:
        x = P25519 - x
    return x, y, 1, x * y % P25519


def ref_add(p, q):
    (x1, y1, z1, t1), (x2, y2, z2, t2) = p, q
    a, b = (y1 - x1) * (y2 - x2) % P25519, (y1 + x1) * (y2 + x2) % P25519
    c, d = 2 * D * t1 * t2 % P25519, 2 * z1 * z2 % P25519
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P25519, g * h % P25519, f * g % P25519, e * h % P25519


def ref_multiply(k: int, p):
    result = (0, 1, 1, 0)
    while k:
        if k & 1:
            result = ref_add(result, p)
        p, k = ref_add(p, p), k >> 1
    return result


def ref_encode(p) -> bytes:
    x, y, z, _ = p
    x, y = x * pow(z, -1, P25519) % P25519, y * pow(z, -1, P25519) % P25519
    return (y | (x & 1) << 255).to_bytes(32, "little")


def ref_is_identity(p) -> bool:
    x, y, z, _ = p
    return x % P25519 == 0 and (y - z) % P25519 == 0


# --- the group ------------------------------------------------------------------

def test_the_reference_curve_agrees_with_libsodium():
    point = hash_to_group(SESSION, b"alice")
    assert ref_encode(ref_decode(point)) == point
    assert ref_encode(ref_multiply(12345, ref_decode(point))) == sodium.crypto_scalarmult_ed25519_noclamp(
        scalar(12345), point)
    assert not ref_is_identity(ref_multiply(L, ref_decode(ORDER_8_POINT)))  # the checker can say no
    assert ref_is_identity(ref_multiply(8, ref_decode(ORDER_8_POINT)))


@pytest.mark.parametrize("element", [b"a", b"customer:0000000001", bytes(PSI_ELEMENT_BYTES_MAX), b"\xff" * 40])
def test_hash_to_group_lands_in_the_prime_order_group(element):
    point = hash_to_group(SESSION, element)
    assert sodium.crypto_core_ed25519_is_valid_point(point)
    assert ref_is_identity(ref_multiply(L, ref_decode(point)))
    assert not ref_is_identity(ref_decode(point))


def test_from_uniform_clears_the_cofactor_for_any_input():
    # the claim the construction rests on: libsodium's from_uniform multiplies by 8
    for seed in range(16):
        r = hashlib.sha256(b"uniform %d" % seed).digest()
        point = sodium.crypto_core_ed25519_from_uniform(r)
        assert ref_is_identity(ref_multiply(L, ref_decode(point)))


def test_hash_to_group_is_the_sum_of_two_maps_of_one_domain_separated_sha512():
    h = hashlib.sha512(psi.HASH_DOMAIN + bytes([len(SESSION)]) + SESSION + b"alice").digest()
    expected = sodium.crypto_core_ed25519_add(sodium.crypto_core_ed25519_from_uniform(h[:32]),
                                              sodium.crypto_core_ed25519_from_uniform(h[32:]))
    assert hash_to_group(SESSION, b"alice") == expected
    assert hash_all(SESSION, [b"alice", b"bob"]) == [expected, hash_to_group(SESSION, b"bob")]


def test_blinding_commutes():
    point, a, b = hash_to_group(SESSION, b"alice"), random_scalar(), random_scalar()
    assert blind_all(blind_all([point], a), b) == blind_all(blind_all([point], b), a)


def invalid_points() -> list[bytes]:
    valid = hash_to_group(SESSION, b"alice")
    off_subgroup = sodium.crypto_core_ed25519_add(valid, ORDER_8_POINT)
    non_canonical_y = (P25519 + 1).to_bytes(32, "little")  # y = p + 1 encodes y = 1 a second way
    not_on_curve = next(bytes([i]) + bytes(31) for i in range(2, 256)
                        if not sodium.crypto_core_ed25519_is_valid_point(bytes([i]) + bytes(31)))
    return [IDENTITY, ORDER_8_POINT, off_subgroup, non_canonical_y, not_on_curve, b"\xff" * 32]


def test_scalar_multiplication_refuses_what_is_valid_point_refuses():
    # respond() relies on this instead of checking each received point twice
    for point in invalid_points():
        assert not sodium.crypto_core_ed25519_is_valid_point(point)
        with pytest.raises(PsiMessageError, match="point 1 is not an element"):
            blind_all([hash_to_group(SESSION, b"x"), point], random_scalar())
        with pytest.raises(PsiMessageError):
            psi.check_points([point])


def test_scalars():
    drawn = iter([bytes(64), bytes(64), b"\x07" * 64])
    assert random_scalar(lambda n: next(drawn)) == sodium.crypto_core_ed25519_scalar_reduce(b"\x07" * 64)
    assert random_scalar() != random_scalar()
    for bad in (bytes(32), scalar(L), scalar(L + 5), b"\x01" * 31, "x" * 32):
        with pytest.raises(PsiInputError):
            check_scalar(bad)
    check_scalar(scalar(L - 1))


# --- results --------------------------------------------------------------------

SETS = [
    ([], []),
    (customers(1), []),
    (customers(1), customers(1)),
    (customers(1, 2, 3), customers(4, 5)),
    (customers(*range(30)), customers(*range(20, 60))),
    (customers(*range(25)), customers(*range(25))),
]


@pytest.mark.parametrize("variant", list(Variant))
@pytest.mark.parametrize("set_a, set_b", SETS)
def test_every_variant_equals_the_plain_computation(variant, set_a, set_b):
    run = run_session(variant, set_a, set_b)
    common = set(set_a) & set(set_b)
    if variant == Variant.INTERSECTION:
        assert run.initiator.elements == run.responder.elements == common
        assert run.initiator.count == run.responder.count == len(common)
    elif variant == Variant.CARDINALITY:
        assert run.initiator.count == run.responder.count == len(common)
        assert run.initiator.elements is None and run.responder.elements is None
    elif variant == Variant.CARDINALITY_TO_REGULATOR:
        assert run.regulator == len(common) and run.initiator is None and run.responder is None
    else:
        assert run.initiator.count == len(common) and run.responder is None


def test_no_element_appears_in_clear_in_any_message():
    set_a, set_b = customers(*range(40)), customers(*range(30, 70))
    for variant in Variant:
        messages = run_session(variant, set_a, set_b).messages
        assert messages
        for message in messages:
            for element in {*set_a, *set_b}:
                assert element not in message
                assert element[-8:] not in message  # nor the distinctive part of it


def test_the_same_element_is_unlinkable_across_sessions():
    element = b"customer:0000000042"
    assert hash_to_group(b"session-1", element) != hash_to_group(b"session-2", element)
    same_scalar = scalar(987654321)
    first = run_session(Variant.CARDINALITY, [element], [element], b"session-1", scalar_a=same_scalar)
    second = run_session(Variant.CARDINALITY, [element], [element], b"session-2", scalar_a=same_scalar)
    for one, other in zip(first.messages, second.messages):
        assert decode_message(one).points[0] != decode_message(other).points[0]
    fresh = [run_session(Variant.CARDINALITY, [element], [element]).messages[0] for _ in range(2)]
    assert decode_message(fresh[0]).points != decode_message(fresh[1]).points  # fresh scalars, same session


def test_the_count_only_variant_gives_no_per_element_correspondence():
    set_a, set_b = customers(*range(50)), customers(*range(25, 75))
    run = run_session(Variant.CARDINALITY, set_a, set_b)
    to_initiator = decode_message(run.messages[3])  # the responder's round-2 message
    assert to_initiator.sender == Role.RESPONDER and to_initiator.variant == Variant.CARDINALITY
    assert list(to_initiator.points) == sorted(to_initiator.points)  # the order is a function of the values alone
    in_round_1_order = message_bytes("psi/double", list(reversed(to_initiator.points)))
    with pytest.raises(PsiMessageError, match="sorted"):
        decode_message(in_round_1_order)  # a list in any other order is refused, so it cannot carry positions
    # in intersection, by contrast, the list keeps the order of the initiator's round-1 list
    run = run_session(Variant.INTERSECTION, set_a, set_b)
    assert list(decode_message(run.messages[3]).points) != sorted(decode_message(run.messages[3]).points)


def test_in_cardinality_to_regulator_no_party_gets_its_own_set_back():
    set_a, set_b = customers(*range(10)), customers(*range(5, 15))
    a = PsiParty(SESSION, Role.INITIATOR, set_a, Variant.CARDINALITY_TO_REGULATOR)
    b = PsiParty(SESSION, Role.RESPONDER, set_b, Variant.CARDINALITY_TO_REGULATOR)
    first_a, first_b = a.first_message(), b.first_message()
    step_a, step_b = a.respond(first_b), b.respond(first_a)
    assert step_a.to_peer is None and step_b.to_peer is None
    assert not a.learns_result and not b.learns_result
    with pytest.raises(PsiStateError):
        a.finish(step_b.to_regulator)
    tally = count_for_regulator(SESSION, step_a.to_regulator, step_b.to_regulator)
    assert tally.count == 5
    with pytest.raises(PsiMessageError, match="another session, variant or sender"):
        count_for_regulator(SESSION, step_b.to_regulator, step_a.to_regulator)


def test_a_malicious_party_with_one_scalar_per_element_learns_which_matched_from_a_count():
    """The threat model's warning, shown: cardinality hides the correspondence
    only from a party that blinds all its elements with one scalar."""
    probes = customers(1, 2, 3, 4)
    b = PsiParty(SESSION, Role.RESPONDER, customers(2, 4, 9), Variant.CARDINALITY)
    own_scalars = [scalar(1000 + i) for i in range(len(probes))]
    blinded = [blind_all([p], k)[0] for p, k in zip(hash_all(SESSION, probes), own_scalars)]
    first = BlindedSet(SESSION, Variant.CARDINALITY, Role.INITIATOR, tuple(sorted(blinded))).encode()
    first_b = b.first_message()
    returned = set(decode_message(b.respond(first).to_peer).points)  # sorted: "only a count"
    b_blinded = decode_message(first_b).points
    matched = {p for p, k in zip(probes, own_scalars) if set(blind_all(b_blinded, k)) & returned}
    assert matched == set(customers(2, 4))


# --- refusals -------------------------------------------------------------------

def fresh_pair(variant=Variant.CARDINALITY, set_a=None, set_b=None):
    a = PsiParty(SESSION, Role.INITIATOR, customers(1, 2, 3) if set_a is None else set_a, variant)
    b = PsiParty(SESSION, Role.RESPONDER, customers(2, 3, 4) if set_b is None else set_b, variant)
    return a, b


def message_bytes(kind: str, point_list: list[bytes], **changes) -> bytes:
    fields = {"kind": kind, "points": b"".join(point_list), "sender": "responder", "session": SESSION,
              "variant": "cardinality", **changes}
    return encode(fields)


def test_junk_is_refused_with_a_clear_error():
    good = message_bytes("psi/blinded", sorted(hash_all(SESSION, customers(1, 2))))
    assert decode_message(good).points
    junk = [b"", b"\x00", b"\xc1", good[:-1], good + b"\x00", encode([1, 2]), encode({"kind": "psi/blinded"}),
            message_bytes("psi/other", []), message_bytes("psi/blinded", [], extra=1),
            message_bytes("psi/blinded", [], sender="regulator"), message_bytes("psi/blinded", [], variant="all"),
            message_bytes("psi/blinded", [], variant=7), message_bytes("psi/blinded", [], session=b""),
            message_bytes("psi/blinded", [], session="text"), message_bytes("psi/blinded", [], points=b"\x01" * 33),
            message_bytes("psi/blinded", [], points="text")]
    for data in junk:
        with pytest.raises(PsiMessageError):
            decode_message(data)
    fields = decode(good)
    keys_out_of_order = msgpack.packb({key: fields[key] for key in reversed(sorted(fields))}, use_bin_type=True)
    assert keys_out_of_order != good
    with pytest.raises(PsiMessageError, match="not canonical"):
        decode_message(keys_out_of_order)


def test_duplicates_and_unsorted_points_are_refused():
    points = sorted(hash_all(SESSION, customers(1, 2, 3)))
    for bad in ([points[0], points[0]], [points[1], points[0]]):
        with pytest.raises(PsiMessageError):
            decode_message(message_bytes("psi/blinded", bad))
    with pytest.raises(PsiMessageError, match="duplicate"):
        decode_message(message_bytes("psi/double", [points[1], points[1]], variant="intersection"))
    assert decode_message(message_bytes("psi/double", [points[2], points[0]], variant="intersection")).points


def test_too_many_points_or_bytes_are_refused():
    too_many = message_bytes("psi/blinded", [(i).to_bytes(32, "big") for i in range(PSI_SET_MAX + 1)])
    with pytest.raises(PsiMessageError):
        decode_message(too_many)
    with pytest.raises(PsiMessageError, match="exceeds"):
        decode_message(b"\x00" * (PSI_MESSAGE_BYTES_MAX + 1))


@pytest.mark.parametrize("bad_index", range(6))
def test_invalid_points_are_refused_at_either_round(bad_index):
    bad = invalid_points()[bad_index]
    a, b = fresh_pair()
    first_a, first_b = a.first_message(), b.first_message()
    points = sorted([*decode_message(first_b).points[:2], bad])
    with pytest.raises(PsiMessageError, match="not an element of the prime-order group"):
        a.respond(message_bytes("psi/blinded", points))
    step_a = a.respond(first_b)
    step_b = b.respond(first_a)
    returned = sorted([*decode_message(step_b.to_peer).points[:2], bad])
    with pytest.raises(PsiMessageError, match="not an element of the prime-order group"):
        a.finish(message_bytes("psi/double", returned))
    assert a.finish(step_b.to_peer).count == 2 and step_a.to_peer


def test_misrouted_messages_are_refused():
    a, b = fresh_pair()
    first_a, first_b = a.first_message(), b.first_message()
    with pytest.raises(PsiMessageError, match="from initiator"):
        a.respond(first_a)  # its own message reflected
    other_session = PsiParty(b"session-2", Role.RESPONDER, customers(1), Variant.CARDINALITY).first_message()
    other_variant = PsiParty(SESSION, Role.RESPONDER, customers(1), Variant.INTERSECTION).first_message()
    for data in (other_session, other_variant):
        with pytest.raises(PsiMessageError, match="another session"):
            a.respond(data)
    step_b = b.respond(first_a)
    with pytest.raises(PsiMessageError, match="expected BlindedSet"):
        a.respond(step_b.to_peer)
    a.respond(first_b)
    with pytest.raises(PsiMessageError, match="expected DoubleBlindedSet"):
        a.finish(first_b)
    short = message_bytes("psi/double", sorted(decode_message(step_b.to_peer).points)[:2])
    with pytest.raises(PsiMessageError, match="expected 3 points"):
        a.finish(short)


def test_steps_out_of_order_are_our_bug():
    a, b = fresh_pair()
    with pytest.raises(PsiStateError):
        a.respond(b"")
    with pytest.raises(PsiStateError):
        a.finish(b"")
    first_a = a.first_message()
    with pytest.raises(PsiStateError):
        a.first_message()
    first_b = b.first_message()
    step_b = b.respond(first_a)
    with pytest.raises(PsiStateError):
        b.respond(first_a)
    a.respond(first_b)
    a.finish(step_b.to_peer)
    with pytest.raises(PsiStateError):
        a.finish(step_b.to_peer)
    _, responder = fresh_pair(Variant.CARDINALITY_TO_INITIATOR)
    with pytest.raises(PsiStateError, match="learns nothing"):
        responder.finish(b"")


def test_own_inputs_out_of_bounds_are_refused():
    for bad in ([b""], [b"x" * (PSI_ELEMENT_BYTES_MAX + 1)], ["text"], [b"a", b"a"]):
        with pytest.raises(PsiInputError):
            PsiParty(SESSION, Role.INITIATOR, bad, Variant.CARDINALITY)
    with pytest.raises(PsiInputError, match="at most"):
        PsiParty(SESSION, Role.INITIATOR, (b"%d" % i for i in range(PSI_SET_MAX + 1)), Variant.CARDINALITY)
    for session in (b"", b"s" * 65, "text"):
        with pytest.raises(PsiInputError):
            PsiParty(session, Role.INITIATOR, [b"a"], Variant.CARDINALITY)
    with pytest.raises(PsiInputError):
        PsiParty(SESSION, Role.INITIATOR, [b"a"], Variant.CARDINALITY, scalar=bytes(32))
    with pytest.raises(ValueError):
        PsiParty(SESSION, "observer", [b"a"], Variant.CARDINALITY)


# --- transcripts ----------------------------------------------------------------

def test_transcripts_are_reproducible_and_bind_every_message():
    k_a, k_b = scalar(11), scalar(22)
    runs = [run_session(Variant.INTERSECTION, customers(1, 2), customers(2, 3), scalar_a=k_a, scalar_b=k_b)
            for _ in range(2)]
    heads = [(run.parties[0].transcript_hash, run.parties[1].transcript_hash) for run in runs]
    assert heads[0] == heads[1] and heads[0][0] != heads[0][1]
    other = run_session(Variant.INTERSECTION, customers(1, 2), customers(2, 4), scalar_a=k_a, scalar_b=k_b)
    assert other.parties[0].transcript_hash != heads[0][0]


def test_a_partys_transcript_is_the_shared_chain_over_what_it_sent_and_received():
    run = run_session(Variant.CARDINALITY, customers(1, 2), customers(2, 3))
    first_a, first_b, second_a, second_b = run.messages
    initiator, responder = run.parties
    assert initiator.transcript_hash == transcript_hash(SESSION, "initiator", [
        ("sent", "responder", first_a), ("received", "responder", first_b),
        ("sent", "responder", second_a), ("received", "responder", second_b)])
    assert responder.transcript_hash == transcript_hash(SESSION, "responder", [
        ("sent", "initiator", first_b), ("received", "initiator", first_a),
        ("sent", "initiator", second_b), ("received", "initiator", second_a)])
    run = run_session(Variant.CARDINALITY_TO_REGULATOR, customers(1, 2), customers(2, 3))
    _, _, to_regulator_a, to_regulator_b = run.messages
    assert count_for_regulator(SESSION, to_regulator_a, to_regulator_b).transcript_hash == transcript_hash(
        SESSION, "regulator", [("received", "initiator", to_regulator_a), ("received", "responder", to_regulator_b)])
    assert run.parties[0].transcript_hash == transcript_hash(SESSION, "initiator", [
        ("sent", "responder", run.messages[0]), ("received", "responder", run.messages[1]),
        ("sent", "regulator", to_regulator_a)])
