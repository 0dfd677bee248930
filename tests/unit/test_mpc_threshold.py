"""crypto.mpc.threshold: the comparison by set intersection is exact (checked
exhaustively on small widths), the two PSI sets always have w elements, the
recipient's verdict is S > L at the edges, neither bank learns it, a count
no honest run gives is reported as cheating, a whole check (secure sum to
the evaluator, then PSI sealed away) runs in memory, and values out of
range are refused."""

from __future__ import annotations

import pytest

from crypto.mpc import threshold
from crypto.mpc.masking import kx_keypair
from crypto.mpc.psi import PsiParty, PsiStateError
from crypto.mpc.psi_messages import PsiMessageError, Role, Variant
from crypto.mpc.secure_sum import SumParty, combine
from crypto.mpc.threshold import (STATISTICAL_SECURITY_BITS, ThresholdError, comparator_party, comparator_set,
                                  draw_offset, evaluator_party, evaluator_set, masked_value_max, ones_encoding,
                                  psi_session_id, sum_bits, sum_spec, verdict_for_recipient, width, zeros_encoding)

SESSION = b"threshold-1"
SUM_BITS = 16  # small sums keep the PSI sets at w = 57 points


def compare(total: int, limit: int, offset: int, bits: int = SUM_BITS) -> tuple[bytes, bytes]:
    """Step 3 with the secure sum replaced by its result C = S + rho: what
    E and P seal to the recipient (each one's double-blinding of the other's set)."""
    evaluator = evaluator_party(SESSION, total + offset, bits)
    comparator = comparator_party(SESSION, limit, offset, bits)
    first_e, first_c = evaluator.first_message(), comparator.first_message()
    from_e, from_c = evaluator.respond(first_c), comparator.respond(first_e)
    assert from_e.to_peer is None and from_c.to_peer is None  # nothing goes back to the other bank
    return from_e.to_regulator, from_c.to_regulator


def check_over_limit(total: int, limit: int, offset: int, bits: int = SUM_BITS) -> bool:
    return verdict_for_recipient(SESSION, *compare(total, limit, offset, bits))


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
        ours, theirs = evaluator_set(total + offset, SUM_BITS), comparator_set(limit, offset, SUM_BITS)
        assert len(ours) == len(set(ours)) == w and len(theirs) == len(set(theirs)) == w
        assert len(set(ours) & set(theirs)) == (total > limit)


EDGES = [(0, 0), (0, 1), (1, 0), (999, 1000), (1000, 1000), (1001, 1000), (2**SUM_BITS - 1, 2**SUM_BITS - 1),
         (2**SUM_BITS - 1, 0), (0, 2**SUM_BITS - 1)]


@pytest.mark.parametrize("total, limit", EDGES)
def test_the_recipient_learns_whether_the_total_is_over_the_limit(total, limit):
    for offset in (0, 2 ** (width(SUM_BITS) - 1) - 1, draw_offset(SUM_BITS)):
        assert check_over_limit(total, limit, offset) == (total > limit)


def test_the_widest_session_the_contract_allows_works_end_to_end():
    bits = sum_bits(2**62, 16)  # the contracts' AMOUNT_MAX at 16 banks
    assert bits == 67 and width(bits) == 108
    assert check_over_limit(2**66 + 1, 2**66, draw_offset(bits), bits)
    assert not check_over_limit(2**66, 2**66, draw_offset(bits), bits)


def test_neither_bank_learns_the_verdict():
    evaluator, comparator = evaluator_party(SESSION, 10, SUM_BITS), comparator_party(SESSION, 5, 0, SUM_BITS)
    first_e, first_c = evaluator.first_message(), comparator.first_message()
    evaluator.respond(first_c)
    comparator.respond(first_e)
    for party in (evaluator, comparator):
        assert not party.learns_result
        with pytest.raises(PsiStateError):
            party.finish(b"")
    assert comparator.session_id == evaluator.session_id == psi_session_id(SESSION) != SESSION


def test_a_count_above_one_is_reported_as_cheating():
    """A comparator that holds E's own set instead of zeros(L + rho) (here it
    guessed C): all w points are common, which no honest run gives."""
    masked_total = 0b1011
    evaluator = evaluator_party(SESSION, masked_total, SUM_BITS)
    cheat = PsiParty(psi_session_id(SESSION), Role.RESPONDER, evaluator_set(masked_total, SUM_BITS),
                     Variant.CARDINALITY_TO_REGULATOR)
    first_e, first_c = evaluator.first_message(), cheat.first_message()
    from_e, from_c = evaluator.respond(first_c).to_regulator, cheat.respond(first_e).to_regulator
    with pytest.raises(ThresholdError, match=f"^{width(SUM_BITS)} common prefixes: .*a participant cheated"):
        verdict_for_recipient(SESSION, from_e, from_c)
    with pytest.raises(PsiMessageError):  # the two swapped: each names its sender's role
        verdict_for_recipient(SESSION, from_c, from_e)


def test_a_whole_check_runs_in_memory():
    """Three banks: P adds rho to its input, the masked vectors go to E alone,
    E's C opens the commitments, and the recipient's verdict is S > L."""
    session, banks = b"M000000000007", ("bank-a", "bank-b", "bank-c")
    inputs, value_max = {"bank-a": 400, "bank-b": 250, "bank-c": 351}, 1000
    bits = sum_bits(value_max, len(banks))
    spec = sum_spec(session, banks, bits)
    assert spec.value_max == masked_value_max(bits) == 2 ** width(bits) - 1
    keys = {bank: kx_keypair(bank.encode().ljust(32, b"\x00")) for bank in banks}
    publics = {bank: pair[0] for bank, pair in keys.items()}
    for limit in (1000, 1001):
        offset = draw_offset(bits)
        masked_input = {**inputs, "bank-a": inputs["bank-a"] + offset}
        parties = {b: SumParty(spec, b, keys[b], publics, [masked_input[b]]) for b in banks}
        for party in parties.values():
            for other in banks:
                party.receive_commitments(parties[other].commitments())
        evaluator = parties["bank-b"]
        masked = [party.masked() for party in parties.values()]
        total = evaluator.combine(masked)
        assert evaluator.check(total) and total == combine(spec, masked)
        c = total.sums[0]
        assert c == sum(inputs.values()) + offset
        e, p = evaluator_party(session, c, bits), comparator_party(session, limit, offset, bits)
        first_e, first_p = e.first_message(), p.first_message()
        over = verdict_for_recipient(session, e.respond(first_p).to_regulator, p.respond(first_e).to_regulator)
        assert over == (sum(inputs.values()) > limit)


def test_offsets_are_uniform_over_their_range():
    bits = width(SUM_BITS) - 1
    assert draw_offset(SUM_BITS, lambda n: b"\xff" * n) == 2**bits - 1
    assert draw_offset(SUM_BITS, lambda n: bytes(n)) == 0
    assert draw_offset(SUM_BITS, lambda n: b"\x80" + bytes(n - 1)) == 2 ** (bits - 1)
    assert all(0 <= draw_offset(SUM_BITS) < 2**bits for _ in range(50))


def test_sum_bits_bound_every_sum():
    assert sum_bits(1, 3) == 2 and sum_bits(1000, 3) == 12 and sum_bits(2**62, 16) == 67
    for value_max, parties in ((1, 3), (1000, 3), (7, 16)):
        assert value_max * parties < 2 ** sum_bits(value_max, parties)


def test_values_out_of_range_are_refused():
    w = width(SUM_BITS)
    for call in (lambda: comparator_set(2**SUM_BITS, 0, SUM_BITS), lambda: comparator_set(-1, 0, SUM_BITS),
                 lambda: comparator_set(0, 2 ** (w - 1), SUM_BITS), lambda: evaluator_set(2**w, SUM_BITS),
                 lambda: evaluator_set(True, SUM_BITS), lambda: width(0), lambda: width(threshold.SUM_BITS_MAX + 1),
                 lambda: ones_encoding(4, 2), lambda: sum_bits(0, 3), lambda: sum_bits(5, 0)):
        with pytest.raises(ThresholdError):
            call()
