"""Unit tests for the secure sum (crypto.mpc.secure_sum, masking,
sum_messages) and the transcript hash, driven in memory by
tests/mpc_sum_harness.py."""

from __future__ import annotations

import dataclasses
import hashlib
import random

import msgpack
import pytest
from mpc_sum_harness import kx_keys, make_parties, run_sum, seeded_rng

from crypto import encoding
from crypto.mpc import masking, pedersen, transcript
from crypto.mpc.masking import KeyAgreementError
from crypto.mpc.pedersen import GROUP_ORDER as L
from crypto.mpc.secure_sum import (PARTIES_MAX, PARTIES_MIN, VALUE_MAX_LIMIT, MessageError, StateError,
                                   SumCommitments, SumMasked, SumParty, SumResult, SumSpec, check_result,
                                   combine)
from crypto.mpc.sum_messages import MESSAGE_BYTES_MAX, VECTOR_LENGTH_MAX

MONEY_MAX = 2**62
SESSION = hashlib.sha256(b"session-1").digest()


def bank_ids(n: int) -> tuple[str, ...]:
    return tuple(f"bank-{chr(ord('a') + i)}" for i in range(n))


def random_inputs(spec: SumSpec, rng: random.Random, low: int | None = None) -> dict[str, list[int]]:
    low = spec.value_min if low is None else low
    return {p: [rng.randint(low, spec.value_max) for _ in range(spec.length)] for p in spec.parties}


def plain_sum(inputs: dict[str, list[int]]) -> tuple[int, ...]:
    return tuple(sum(column) for column in zip(*inputs.values()))


# --- correct sums ---------------------------------------------------------------

@pytest.mark.parametrize("n", range(3, 8))
@pytest.mark.parametrize("signed", [False, True])
def test_sum_matches_the_plain_computation(n, signed):
    rng = random.Random(n * 2 + signed)
    spec = SumSpec(SESSION, bank_ids(n), rng.randint(1, 40), MONEY_MAX, signed)
    inputs = random_inputs(spec, rng)
    run = run_sum(make_parties(spec, inputs))
    assert run.result.sums == plain_sum(inputs)
    assert all(run.checks.values()) and len(run.checks) == n
    assert run.auditor_check()


@pytest.mark.parametrize("signed", [False, True])
def test_zero_inputs_and_the_extremes_of_the_range(signed):
    spec = SumSpec(SESSION, bank_ids(4), 4, MONEY_MAX, signed)
    inputs = {p: [0, spec.value_max, spec.value_min, 1] for p in spec.parties}
    run = run_sum(make_parties(spec, inputs))
    assert run.result.sums == (0, 4 * MONEY_MAX, 4 * spec.value_min, 4)
    assert all(run.checks.values()) and run.auditor_check()


def test_the_smallest_value_max_and_one_element():
    spec = SumSpec(SESSION, bank_ids(3), 1, 1)
    assert spec.modulus_bits == 2  # M = 4 > 3 * 1
    run = run_sum(make_parties(spec, {p: [1] for p in spec.parties}))
    assert run.result.sums == (3,) and run.auditor_check()


@pytest.mark.parametrize("n, value_max, signed", [(3, 1, False), (3, MONEY_MAX, False), (7, 10**9, True),
                                                  (PARTIES_MAX, VALUE_MAX_LIMIT, True)])
def test_the_modulus_covers_every_sum(n, value_max, signed):
    spec = SumSpec(SESSION, bank_ids(n) if n < 27 else tuple(f"p{i}" for i in range(n)), 1, value_max, signed)
    modulus = 1 << spec.modulus_bits
    assert modulus > (2 * n * value_max + 1 if signed else n * value_max)
    assert modulus <= (4 * n * value_max + 2 if signed else 2 * n * value_max)  # and no bigger than needed


# --- masks --------------------------------------------------------------------------

def test_pair_seeds_agree_and_are_bound_to_session_and_pair():
    keys = kx_keys(("bank-a", "bank-b", "bank-c"))
    a_b = masking.pair_seed(SESSION, "bank-a", "bank-b", keys["bank-a"], keys["bank-b"][0])
    assert a_b == masking.pair_seed(SESSION, "bank-b", "bank-a", keys["bank-b"], keys["bank-a"][0])
    assert a_b != masking.pair_seed(b"other", "bank-a", "bank-b", keys["bank-a"], keys["bank-b"][0])
    assert a_b != masking.pair_seed(SESSION, "bank-a", "bank-c", keys["bank-a"], keys["bank-c"][0])


def test_masks_cancel_over_all_parties():
    ids, length, bits = bank_ids(5), 50, 67
    keys = kx_keys(ids)
    totals_v, totals_b = [0] * length, [0] * length
    for me in ids:
        seeds = {p: masking.pair_seed(SESSION, me, p, keys[me], keys[p][0]) for p in ids if p != me}
        values, blindings = masking.apply_masks(me, seeds, [0] * length, [0] * length, bits)
        assert any(values) and any(blindings)  # each party's own masks are not trivial
        assert all(0 <= v < 2**bits for v in values) and all(0 <= b < L for b in blindings)
        totals_v = [t + v for t, v in zip(totals_v, values)]
        totals_b = [t + b for t, b in zip(totals_b, blindings)]
    assert all(t % 2**bits == 0 for t in totals_v) and all(t % L == 0 for t in totals_b)


def test_whole_vector_masking_matches_element_by_element():
    ids, length, bits = bank_ids(4), 30, 65
    keys = kx_keys(ids)
    rng = random.Random(7)
    values = [rng.randrange(2**bits) for _ in range(length - 2)] + [0, 2**bits - 1]
    blindings = [rng.randrange(L) for _ in range(length - 2)] + [L - 1, 0]
    for me in ids:
        seeds = {p: masking.pair_seed(SESSION, me, p, keys[me], keys[p][0]) for p in ids if p != me}
        expected_v, expected_b = list(values), list(blindings)
        for peer, seed in seeds.items():
            sign = 1 if me < peer else -1
            expected_v = [v + sign * m for v, m in zip(expected_v, masking.value_mask(seed, length, bits))]
            expected_b = [b + sign * m for b, m in zip(expected_b, masking.blinding_mask(seed, length))]
        assert masking.apply_masks(me, seeds, values, blindings, bits) == (
            [v % 2**bits for v in expected_v], [b % L for b in expected_b])


@pytest.mark.parametrize("values, blindings", [([2**8], [0]), ([-1], [0]), ([0], [L]), ([0], [-1]), ([0], [])])
def test_masking_refuses_what_does_not_fit_its_lanes(values, blindings):
    with pytest.raises(ValueError):
        masking.apply_masks("a", {"b": bytes(32)}, values, blindings, 8)


def test_mask_streams_are_uniform_enough_and_distinct():
    seed = hashlib.sha256(b"seed").digest()
    values = masking.value_mask(seed, 4000, 12)
    low_bits = [v % 4096 for v in values]
    assert len(set(low_bits)) > 2450  # 4000 uniform draws from 4096: about 2553 distinct expected
    assert all(1800 < sum(v >> bit & 1 for v in low_bits) < 2200 for bit in range(12))
    assert masking.value_mask(seed, 4000, 12) == values
    assert masking.value_mask(seed, 10, 12) != values[:10]  # the length is part of the stream's domain
    assert masking.blinding_mask(seed, 4) != masking.value_mask(seed, 4, 12)


def test_a_low_order_kx_public_key_is_refused():
    pair = masking.kx_keypair(bytes(32))
    with pytest.raises(KeyAgreementError):
        masking.pair_seed(SESSION, "bank-a", "bank-b", pair, bytes(32))
    with pytest.raises(KeyAgreementError):
        masking.pair_seed(SESSION, "bank-b", "bank-a", pair, b"\x01" + bytes(31))
    with pytest.raises(KeyAgreementError):
        masking.pair_seed(SESSION, "bank-a", "bank-b", pair, bytes(31))


# --- cheating is detected -----------------------------------------------------------

def test_a_party_that_changes_its_input_after_committing_is_detected():
    spec = SumSpec(SESSION, bank_ids(3), 6, MONEY_MAX)
    inputs = random_inputs(spec, random.Random(1))
    honest = make_parties(spec, inputs)
    changed = dict(inputs, **{"bank-b": [x // 2 for x in inputs["bank-b"]]})
    cheats = make_parties(spec, changed)  # the same blindings: only the values differ
    parties = dict(honest, **{"bank-b": cheats["bank-b"]})
    run = run_sum(parties, commitments_from={"bank-b": honest["bank-b"]})
    assert run.result.sums == plain_sum(changed)  # the change went through the masks unnoticed...
    assert not run.checks["bank-a"] and not run.checks["bank-c"]  # ...but not past the commitments
    assert not run.auditor_check()


@pytest.mark.parametrize("field_name", ["values", "blindings"])
def test_a_tampered_masked_vector_fails_the_check(field_name):
    spec = SumSpec(SESSION, bank_ids(4), 5, MONEY_MAX, signed=True)
    inputs = random_inputs(spec, random.Random(2))

    def tamper(message: SumMasked) -> SumMasked:
        vector = list(getattr(message, field_name))
        bound = 2**message.modulus_bits if field_name == "values" else L
        vector[3] = (vector[3] + 1) % bound
        return dataclasses.replace(message, **{field_name: tuple(vector)})

    run = run_sum(make_parties(spec, inputs), tamper={"bank-c": tamper})
    assert not any(run.checks.values()) and len(run.checks) == 3
    assert not run.auditor_check()


def test_a_result_out_of_the_achievable_range_fails_the_check():
    spec = SumSpec(SESSION, bank_ids(3), 2, 1000)
    run = run_sum(make_parties(spec, random_inputs(spec, random.Random(3))))
    forged = dataclasses.replace(run.result, sums=(3001, run.result.sums[1]))
    assert not check_result(spec, forged, run.commitments)


def test_the_combined_blinding_opens_only_the_sum_of_commitments():
    spec = SumSpec(SESSION, bank_ids(3), 3, MONEY_MAX)
    inputs = random_inputs(spec, random.Random(4))
    run = run_sum(make_parties(spec, inputs))
    one_party = run.commitments[0].points[0]
    result = run.result
    assert not pedersen.verify_opening(one_party, inputs["bank-a"][0], result.blindings[0])
    total = pedersen.sum_commitments(c.points[0] for c in run.commitments)
    assert pedersen.verify_opening(total, result.sums[0], result.blindings[0])


# --- nothing in clear ---------------------------------------------------------------

def encodings_of(value: int, width: int) -> list[bytes]:
    """Every way an input could show up on the wire."""
    forms = [msgpack.packb(value), encoding.encode(value), value.to_bytes(8, "big"), value.to_bytes(8, "little"),
             value.to_bytes(width, "big"), (value % L).to_bytes(32, "little")]
    return [form for form in forms if len(form) >= 6]  # inputs are >= 2^40: every form is distinctive


def leaked(inputs: dict[str, list[int]], wire: list[bytes], width: int) -> list[int]:
    return [x for values in inputs.values() for x in values
            if any(form in data for form in encodings_of(x, width) for data in wire)]


def test_no_input_appears_in_any_message():
    spec = SumSpec(SESSION, bank_ids(3), 200, MONEY_MAX)
    rng = random.Random(5)
    inputs = {p: [rng.randint(2**40, MONEY_MAX) for _ in range(spec.length)] for p in spec.parties}
    run = run_sum(make_parties(spec, inputs))
    assert run.result.sums == plain_sum(inputs) and run.auditor_check()
    width = masking.value_width(spec.modulus_bits)
    assert len(run.wire) == 2 * len(spec.parties) + 1
    assert leaked(inputs, run.wire, width) == []
    # the search would have found an input sent in clear, in any of its forms
    leaky = [encoding.encode({"x": inputs["bank-b"][7]}), inputs["bank-a"][3].to_bytes(width, "big")]
    assert leaked(inputs, leaky, width) == [inputs["bank-a"][3], inputs["bank-b"][7]]


# --- the order of steps -------------------------------------------------------------------

@pytest.fixture
def three():
    spec = SumSpec(SESSION, bank_ids(3), 3, 100)
    return spec, make_parties(spec, {p: [1, 2, 3] for p in spec.parties})


def test_nothing_masked_before_every_commitment_is_in(three):
    spec, parties = three
    a, b, c = parties.values()
    with pytest.raises(StateError):
        a.masked()  # not even our own commitments yet
    a.receive_commitments(b.commitments())
    a.commitments()
    assert a.commitments_missing() == ["bank-c"]
    with pytest.raises(StateError, match="bank-c"):
        a.masked()
    with pytest.raises(StateError):
        a.combine([])
    with pytest.raises(StateError):
        a.check(None)
    a.receive_commitments(c.commitments())
    assert a.masked() == a.masked()  # once computed, the same message
    assert a.commitments_missing() == []


def test_commitments_from_peers_are_checked_on_receipt(three):
    spec, parties = three
    a, b, c = parties.values()
    good = b.commitments()
    a.receive_commitments(good)
    a.receive_commitments(good)  # a copy is ignored
    with pytest.raises(MessageError, match="two different"):
        a.receive_commitments(dataclasses.replace(good, points=good.points[::-1]))
    bad = [
        dataclasses.replace(c.commitments(), session_id=b"another session"),
        dataclasses.replace(c.commitments(), sender="bank-z"),
        dataclasses.replace(c.commitments(), points=c.commitments().points[:2]),
        dataclasses.replace(c.commitments(), points=(pedersen.IDENTITY,) + c.commitments().points[1:]),
        dataclasses.replace(c.commitments(), points=(bytes(32),) * 3),
        dataclasses.replace(c.commitments(), sender="bank-a"),  # our own name, before we committed
    ]
    for message in bad:
        with pytest.raises(MessageError):
            a.receive_commitments(message)
    assert a.commitments_missing() == ["bank-a", "bank-c"]


def test_combine_wants_exactly_one_masked_message_per_party(three):
    spec, parties = three
    for p in parties.values():
        for q in parties.values():
            if p is not q:
                p.receive_commitments(q.commitments())
    masked = [p.masked() for p in parties.values()]
    assert combine(spec, masked).sums == (3, 6, 9)
    with pytest.raises(MessageError, match="no masked from bank-b"):
        combine(spec, [masked[0], masked[2]])
    with pytest.raises(MessageError, match="two masked"):
        combine(spec, masked + [masked[1]])
    with pytest.raises(MessageError, match="another session"):
        combine(spec, [masked[0], masked[1], dataclasses.replace(masked[2], session_id=b"x")])
    with pytest.raises(MessageError, match="modulus or length"):
        combine(spec, [masked[0], masked[1], dataclasses.replace(masked[2], modulus_bits=40)])
    with pytest.raises(MessageError, match="own"):
        parties["bank-a"].combine(masked[1:] + [dataclasses.replace(masked[0], values=(1, 2, 3))])


# --- parameters and inputs ----------------------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"parties": bank_ids(2)}, {"parties": ("a", "a", "b")},
    {"parties": tuple(f"p{i}" for i in range(PARTIES_MAX + 1))}, {"parties": ("a", "b", "")}, {"parties": "abc"},
    {"session_id": b""}, {"session_id": "text"}, {"session_id": bytes(65)},
    {"length": 0}, {"length": VECTOR_LENGTH_MAX + 1}, {"value_max": 0}, {"value_max": VALUE_MAX_LIMIT + 1},
    {"value_max": True}, {"signed": 1},
])
def test_bad_session_parameters_are_refused(changes):
    arguments = {"session_id": SESSION, "parties": bank_ids(3), "length": 2, "value_max": 10, "signed": False}
    with pytest.raises(ValueError):
        SumSpec(**{**arguments, **changes})


def test_parties_are_put_in_order_and_two_are_too_few():
    assert SumSpec(SESSION, ("c", "a", "b"), 1, 1).parties == ("a", "b", "c")
    assert PARTIES_MIN == 3


@pytest.mark.parametrize("inputs", [[1, 2], [1, 2, 3, 4], [1, 2, 101], [1, 2, -1], [1, True, 2], [1, 2.0, 3]])
def test_inputs_out_of_range_are_refused(inputs):
    spec = SumSpec(SESSION, bank_ids(3), 3, 100)
    keys = kx_keys(spec.parties)
    with pytest.raises(ValueError):
        SumParty(spec, "bank-a", keys["bank-a"], {p: k[0] for p, k in keys.items()}, inputs)


def test_keys_must_cover_every_peer_and_match_our_own():
    spec = SumSpec(SESSION, bank_ids(3), 1, 100)
    keys = kx_keys(spec.parties)
    publics = {p: k[0] for p, k in keys.items()}
    with pytest.raises(ValueError, match="bank-c"):
        SumParty(spec, "bank-a", keys["bank-a"], {"bank-b": publics["bank-b"]}, [1])
    with pytest.raises(ValueError, match="not my key"):
        SumParty(spec, "bank-a", keys["bank-a"], dict(publics, **{"bank-a": publics["bank-b"]}), [1])
    with pytest.raises(ValueError, match="not a party"):
        SumParty(spec, "bank-z", keys["bank-a"], publics, [1])


def test_blindings_come_from_the_given_rng_and_are_fresh_otherwise():
    spec = SumSpec(SESSION, bank_ids(3), 2, 100)
    keys = kx_keys(spec.parties)
    publics = {p: k[0] for p, k in keys.items()}

    def commitments(rng):
        return SumParty(spec, "bank-a", keys["bank-a"], publics, [5, 5], rng=rng).commitments()

    assert commitments(seeded_rng(b"x")) == commitments(seeded_rng(b"x"))
    assert commitments(None) != commitments(None)
    assert len(set(commitments(None).points)) == 2  # equal inputs, unrelated commitments


# --- messages on the wire -----------------------------------------------------------------

@pytest.fixture(scope="module")
def messages():
    spec = SumSpec(SESSION, bank_ids(3), 4, MONEY_MAX, signed=True)
    run = run_sum(make_parties(spec, random_inputs(spec, random.Random(6))))
    return run.commitments[0], run.masked[1], run.result


def test_messages_round_trip_canonically(messages):
    for message in messages:
        data = message.encode()
        assert type(message).decode(data) == message
        assert encoding.encode(encoding.decode(data)) == data
        assert len(data) < MESSAGE_BYTES_MAX


def test_a_negative_sum_survives_the_wire():
    result = SumResult(SESSION, 10, True, (-512, 511, -1, 0), (1, 2, 3, 4))
    assert SumResult.decode(result.encode()) == result
    with pytest.raises(MessageError):
        SumResult(SESSION, 10, True, (512,), (1,))
    with pytest.raises(MessageError):
        SumResult(SESSION, 10, False, (-1,), (1,))


def _fields(message) -> dict:
    return encoding.decode(message.encode())


@pytest.mark.parametrize("index", [0, 1, 2])
def test_junk_is_refused_with_a_message_error(messages, index):
    message = messages[index]
    cls = type(message)
    good = _fields(message)
    blob_key = {0: "points", 1: "values", 2: "sums"}[index]
    junk = [
        b"", b"\x00", b"\xc1", b"\xff" * 40, b"junk" * 100, message.encode()[:-1], message.encode() + b"\x00",
        encoding.encode([1, 2, 3]), encoding.encode("text"), bytes(MESSAGE_BYTES_MAX + 1),
        msgpack.packb(good, use_bin_type=True)[::-1],
        encoding.encode({**good, "kind": "mpc-sum/other"}),
        encoding.encode({**good, "extra": 1}),
        encoding.encode({k: v for k, v in good.items() if k != blob_key}),
        encoding.encode({**good, blob_key: good[blob_key][:-1]}),
        encoding.encode({**good, blob_key: b""}),
        encoding.encode({**good, blob_key: "text"}),
        encoding.encode({**good, blob_key: good[blob_key][:32] * (VECTOR_LENGTH_MAX + 1)}),
        encoding.encode({**good, "session": b""}),
        encoding.encode({**good, "session": 7}),
        msgpack.packb({**good, "session": good["session"]}, use_bin_type=False),  # bytes as str: not canonical
        msgpack.packb(dict(reversed(list(good.items()))), use_bin_type=True),  # keys out of order
    ]
    if index:
        junk += [encoding.encode({**good, "blindings": good["blindings"][:-1]}),
                 encoding.encode({**good, "blindings": (L).to_bytes(32, "little") * 4}),
                 encoding.encode({**good, "modulus_bits": 1}), encoding.encode({**good, "modulus_bits": 97}),
                 encoding.encode({**good, "modulus_bits": "64"})]
    if index == 1:
        junk.append(encoding.encode({**good, "values": b"\xff" * len(good["values"])}))  # >= M
        junk.append(encoding.encode({**good, "sender": ""}))
    for data in junk:
        with pytest.raises(MessageError):
            cls.decode(data)


def test_messages_refuse_bad_fields_in_their_constructors():
    with pytest.raises(MessageError):
        SumCommitments(SESSION, "bank-a", ())
    with pytest.raises(MessageError):
        SumCommitments(SESSION, "bank-a", (b"short",))
    with pytest.raises(MessageError):
        SumMasked(SESSION, "bank-a", 8, (256,), (0,))
    with pytest.raises(MessageError):
        SumMasked(SESSION, "bank-a", 8, (1, 2), (0,))
    with pytest.raises(MessageError):
        SumMasked(SESSION, "bank-a", 8, (1,), (L,))
    with pytest.raises(MessageError):
        SumMasked(SESSION, "bank-a", 8, [1], [0])  # lists: the message is frozen, its vectors tuples


def test_check_refuses_a_result_of_another_session(messages):
    spec = SumSpec(SESSION, bank_ids(3), 4, MONEY_MAX, signed=True)
    commitments, _, result = messages
    with pytest.raises(MessageError):
        check_result(spec, dataclasses.replace(result, session_id=b"other"), [commitments])


# --- the transcript hash --------------------------------------------------------------

def test_transcript_hash_is_a_domain_separated_chain():
    entries = [("sent", "bank-b", b"one"), ("received", "bank-b", b"two"), ("received", "bank-c", b"three")]
    head = transcript.transcript_hash(SESSION, "bank-a", entries)
    expected = hashlib.sha256(b"consort/mpc/transcript/start\x00" + encoding.encode([SESSION, "bank-a"])).digest()
    for direction, peer, message in entries:
        entry = encoding.encode([direction, peer, hashlib.sha256(message).digest()])
        expected = hashlib.sha256(b"consort/mpc/transcript/step\x00" + expected + entry).digest()
    assert head == expected
    assert head != transcript.transcript_hash(SESSION, "bank-a", entries[::-1])
    assert head != transcript.transcript_hash(SESSION, "bank-a", [("sent", *e[1:]) for e in entries])
    assert head != transcript.transcript_hash(b"other", "bank-a", entries)
    assert head != transcript.transcript_hash(SESSION, "bank-b", entries)
    assert transcript.transcript_hash(SESSION, "bank-a", []) == transcript.transcript_start(SESSION, "bank-a")
    with pytest.raises(ValueError):
        transcript.transcript_step(head, "forwarded", "bank-b", b"x")
