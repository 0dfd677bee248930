"""crypto.mpc.threshold: the comparison by set intersection is exact (checked
exhaustively on small widths), the two PSI sets always have w elements, the
regulator's verdict is S > L at the edges, the comparator learns nothing,
and values out of range are refused."""

from __future__ import annotations

import pytest

from crypto.mpc import threshold
from crypto.mpc.psi import PsiResult, PsiStateError
from crypto.mpc.threshold import (STATISTICAL_SECURITY_BITS, ThresholdError, comparator_party, comparator_set,
                                  draw_offset, ones_encoding, psi_session_id, regulator_party, regulator_set,
                                  verdict, width, zeros_encoding)

SESSION = b"threshold-1"
SUM_BITS = 16  # small sums keep the PSI sets at w = 57 points


def check_over_limit(total: int, limit: int, offset: int, sum_bits: int = SUM_BITS) -> bool:
    """Steps 2 and 3 with the secure sum replaced by its result C = S + rho."""
    regulator = regulator_party(SESSION, total + offset, sum_bits)
    comparator = comparator_party(SESSION, limit, offset, sum_bits)
    first_r, first_c = regulator.first_message(), comparator.first_message()
    assert regulator.respond(first_c).to_peer is None  # nothing goes back to the comparator
    return verdict(regulator.finish(comparator.respond(first_r).to_peer))


@pytest.mark.parametrize("bit_count", [1, 2, 6])
def test_ones_and_zeros_share_one_element_exactly_when_x_is_greater(bit_count):
    for x in range(2**bit_count):
        for y in range(2**bit_count):
            assert len(ones_encoding(x, bit_count) & zeros_encoding(y, bit_count)) == (x > y), (x, y)


def test_both_sets_always_hold_w_elements_and_dummies_match_nothing():
    w = width(SUM_BITS)
    assert w == SUM_BITS + STATISTICAL_SECURITY_BITS + 1
    top = 2 ** (w - 1) - 1
    for total, limit, offset in [(0, 0, 0), (2**SUM_BITS - 1, 2**SUM_BITS - 1, top), (5, 3, 12345)]:
        ours, theirs = regulator_set(total + offset, SUM_BITS), comparator_set(limit, offset, SUM_BITS)
        assert len(ours) == len(set(ours)) == w and len(theirs) == len(set(theirs)) == w
        assert len(set(ours) & set(theirs)) == (total > limit)


EDGES = [(0, 0), (0, 1), (1, 0), (999, 1000), (1000, 1000), (1001, 1000), (2**SUM_BITS - 1, 2**SUM_BITS - 1),
         (2**SUM_BITS - 1, 0), (0, 2**SUM_BITS - 1)]


@pytest.mark.parametrize("total, limit", EDGES)
def test_the_regulator_learns_whether_the_total_is_over_the_limit(total, limit):
    for offset in (0, 2 ** (width(SUM_BITS) - 1) - 1, draw_offset(SUM_BITS)):
        assert check_over_limit(total, limit, offset) == (total > limit)


def test_default_widths_work_end_to_end():
    assert check_over_limit(2**62 * 3, 2**63, draw_offset(), threshold.SUM_BITS_DEFAULT)
    assert not check_over_limit(2**63, 2**63, draw_offset(), threshold.SUM_BITS_DEFAULT)


def test_the_comparator_learns_nothing():
    regulator, comparator = regulator_party(SESSION, 10, SUM_BITS), comparator_party(SESSION, 5, 0, SUM_BITS)
    first_r = regulator.first_message()
    comparator.first_message()
    comparator.respond(first_r)
    assert not comparator.learns_result
    with pytest.raises(PsiStateError):
        comparator.finish(b"")
    assert comparator.session_id == regulator.session_id == psi_session_id(SESSION) != SESSION


def test_a_count_above_one_is_the_comparators_fault():
    assert verdict(PsiResult(0)) is False and verdict(PsiResult(1)) is True
    with pytest.raises(ThresholdError, match="not zeros"):
        verdict(PsiResult(2))


def test_offsets_are_uniform_over_their_range():
    bits = width(SUM_BITS) - 1
    assert draw_offset(SUM_BITS, lambda n: b"\xff" * n) == 2**bits - 1
    assert draw_offset(SUM_BITS, lambda n: bytes(n)) == 0
    assert draw_offset(SUM_BITS, lambda n: b"\x80" + bytes(n - 1)) == 2 ** (bits - 1)
    assert all(0 <= draw_offset(SUM_BITS) < 2**bits for _ in range(50))


def test_values_out_of_range_are_refused():
    w = width(SUM_BITS)
    for call in (lambda: comparator_set(2**SUM_BITS, 0, SUM_BITS), lambda: comparator_set(-1, 0, SUM_BITS),
                 lambda: comparator_set(0, 2 ** (w - 1), SUM_BITS), lambda: regulator_set(2**w, SUM_BITS),
                 lambda: regulator_set(True, SUM_BITS), lambda: width(0), lambda: width(threshold.SUM_BITS_MAX + 1),
                 lambda: ones_encoding(4, 2)):
        with pytest.raises(ThresholdError):
            call()
