"""Unit tests for crypto.mpc.pedersen, with a slow pure-Python ed25519 (affine
twisted Edwards arithmetic from RFC 8032's formulas) as an independent
reference for the known answers."""

from __future__ import annotations

import hashlib

import nacl.bindings as sodium
import pytest

from crypto.mpc import pedersen
from crypto.mpc.pedersen import GROUP_ORDER as L
from crypto.mpc.pedersen import PointError

# --- the reference --------------------------------------------------------------

P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
REF_IDENTITY = (0, 1)


def ref_decode(data: bytes) -> tuple[int, int]:
    y = int.from_bytes(data, "little") & ((1 << 255) - 1)
    sign = data[31] >> 7
    assert y < P
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    assert (x * x - x2) % P == 0, "not on the curve"
    if x & 1 != sign:
        x = P - x
    return x, y


def ref_encode(point: tuple[int, int]) -> bytes:
    x, y = point
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def ref_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P)


def ref_mul(k: int, point: tuple[int, int]) -> tuple[int, int]:
    result = REF_IDENTITY
    while k:
        if k & 1:
            result = ref_add(result, point)
        point = ref_add(point, point)
        k >>= 1
    return result


REF_G = ref_decode(bytes.fromhex("58" + "66" * 31))
REF_H = ref_decode(pedersen.H)

# --- known answers --------------------------------------------------------------

H_HEX = "76b921012818dd6f538680dcda618cc70b8114a3f0c37ee5f2f07c6de461bf9a"
COMMIT_5_7_HEX = "67a8eaf6d961d14dd71fab4f57887c249e128a9521183fc36274b597d1b88777"


def test_g_is_the_rfc8032_base_point():
    assert pedersen.G == bytes.fromhex("58" + "66" * 31)


def test_h_known_answer_and_derivation():
    assert pedersen.H.hex() == H_HEX
    uniform = hashlib.sha512(b"consort/mpc/pedersen/H/v1").digest()[:32]
    assert sodium.crypto_core_ed25519_from_uniform(uniform) == pedersen.H
    assert pedersen.is_valid_point(pedersen.H)
    assert pedersen.H not in (pedersen.G, pedersen.IDENTITY)
    assert ref_mul(L, REF_H) == REF_IDENTITY  # in the prime-order subgroup


def test_commitment_known_answer_against_the_reference():
    expected = ref_encode(ref_add(ref_mul(5, REF_G), ref_mul(7, REF_H)))
    assert pedersen.commit(5, 7) == expected
    assert expected.hex() == COMMIT_5_7_HEX


@pytest.mark.parametrize("value, blinding", [(0, 1), (1, 0), (0, 12345), (2**62, 2**251 + 3), (L - 1, L - 1)])
def test_commit_matches_the_reference_at_the_edges(value, blinding):
    expected = ref_add(ref_mul(value, REF_G), ref_mul(blinding, REF_H))
    assert pedersen.commit(value, blinding) == ref_encode(expected)


def test_zero_value_commits_to_blinding_times_h():
    r = pedersen.random_blinding()
    assert pedersen.commit(0, r) == ref_encode(ref_mul(r, REF_H))
    assert pedersen.verify_opening(pedersen.commit(0, r), 0, r)
    assert pedersen.commit(0, 0) == pedersen.IDENTITY


# --- homomorphism and openings ----------------------------------------------------

def test_addition_is_homomorphic_with_wraparound_mod_l():
    a, b = L - 3, 10  # the value sum wraps past L
    r, s = pedersen.random_blinding(), pedersen.random_blinding()
    total = pedersen.add(pedersen.commit(a, r), pedersen.commit(b, s))
    assert total == pedersen.commit((a + b) % L, (r + s) % L)
    assert pedersen.verify_opening(total, 7, (r + s) % L)


def test_verify_sum_of_signed_values():
    values = [5, -(10**12), 0, 2**62, -1]
    blindings = pedersen.random_blindings(len(values))
    commitments = [pedersen.commit(v % L, r) for v, r in zip(values, blindings)]
    assert pedersen.verify_sum(commitments, sum(values) % L, sum(blindings) % L)
    assert not pedersen.verify_sum(commitments, (sum(values) + 1) % L, sum(blindings) % L)
    assert not pedersen.verify_sum(commitments, sum(values) % L, (sum(blindings) + 1) % L)
    assert not pedersen.verify_sum(commitments[:-1], sum(values) % L, sum(blindings) % L)


def test_verify_opening_refuses_wrong_openings_and_bad_points():
    r = pedersen.random_blinding()
    c = pedersen.commit(42, r)
    assert pedersen.verify_opening(c, 42, r)
    assert not pedersen.verify_opening(c, 43, r)
    assert not pedersen.verify_opening(c, 42, (r + 1) % L)
    for bad in (pedersen.IDENTITY, bytes(32), b"\xff" * 32, c[:31], c + b"\x00", bytearray(c), "c"):
        assert not pedersen.verify_opening(bad, 42, r)


def test_invalid_points_are_refused():
    low_order = bytes(32)  # y = 0: a point of order 4
    non_canonical = (P + 1).to_bytes(32, "little")  # y >= p
    off_curve = next(bytes([i]) + bytes(31) for i in range(2, 50) if not _on_curve(bytes([i]) + bytes(31)))
    order_4 = ref_decode(bytes(31) + b"\x80")  # y = 0, x = sqrt(-1)
    in_small_subgroup_coset = ref_encode(ref_add(REF_G, order_4))  # on the curve, outside the subgroup
    for bad in (pedersen.IDENTITY, low_order, non_canonical, off_curve, in_small_subgroup_coset):
        assert not pedersen.is_valid_point(bad)
        with pytest.raises(PointError):
            pedersen.sum_commitments([pedersen.G, bad])
        assert not pedersen.verify_sum([pedersen.commit(1, 1), bad], 1, 1)
    assert pedersen.sum_commitments([]) == pedersen.IDENTITY


def _on_curve(data: bytes) -> bool:
    try:
        ref_decode(data)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("value", [-1, L, 2**256, True, 1.0, "1", None])
def test_out_of_range_scalars_are_refused(value):
    with pytest.raises(ValueError):
        pedersen.commit(value, 1)
    with pytest.raises(ValueError):
        pedersen.commit(1, value)
    with pytest.raises(ValueError):
        pedersen.verify_opening(pedersen.G, value, 1)


# --- blindings ------------------------------------------------------------------

def test_random_blindings_are_in_range_and_fresh():
    drawn = pedersen.random_blindings(64)
    assert len(set(drawn)) == 64 and all(0 < r < L for r in drawn)
    assert 0 < pedersen.random_blinding() < L


def test_a_seeded_rng_reproduces_blindings_and_a_zero_is_redrawn():
    stream = iter([bytes(64), bytes(range(64))])  # the first draw reduces to 0
    drawn = pedersen.random_blindings(1, rng=lambda n: next(stream))
    assert drawn == [int.from_bytes(bytes(range(64)), "little") % L]
    fixed = lambda n: hashlib.shake_256(b"seed").digest(n)  # noqa: E731
    assert pedersen.random_blindings(3, rng=fixed) == pedersen.random_blindings(3, rng=fixed)


def test_a_short_rng_is_refused():
    with pytest.raises(ValueError):
        pedersen.random_blindings(2, rng=lambda n: bytes(n - 1))
