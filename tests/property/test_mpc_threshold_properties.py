"""Property tests for crypto.mpc.threshold: the prefix encodings share an
element exactly when x > y, at every width; the whole comparison (PSI
sealed to the recipient included) answers S > L for any sums, limits at
and around them, and offsets."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from crypto.mpc.threshold import (comparator_party, draw_offset, evaluator_party, ones_encoding,
                                  verdict_for_recipient, width, zeros_encoding)

SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUM_BITS = 24


@st.composite
def two_values(draw):
    bit_count = draw(st.integers(1, 300))
    x = draw(st.integers(0, 2**bit_count - 1))
    near = st.integers(max(0, x - 2), min(2**bit_count - 1, x + 2))  # neighbours share long prefixes
    y = draw(st.one_of(near, st.integers(0, 2**bit_count - 1)))
    return bit_count, x, y


@FAST
@given(two_values())
def test_the_encodings_compare(values):
    bit_count, x, y = values
    assert len(ones_encoding(x, bit_count) & zeros_encoding(y, bit_count)) == (x > y)


@SLOW
@given(total=st.integers(0, 2**SUM_BITS - 1), limit=st.integers(0, 2**SUM_BITS - 1),
       offset=st.one_of(st.integers(0, 2 ** (width(SUM_BITS) - 1) - 1), st.just(None)),
       near=st.integers(-1, 1), at_total=st.booleans())
def test_the_recipients_verdict_is_total_over_limit(total, limit, offset, near, at_total):
    if at_total:  # the limit at the sum, one below or one above
        limit = min(max(total + near, 0), 2**SUM_BITS - 1)
    offset = draw_offset(SUM_BITS) if offset is None else offset
    evaluator = evaluator_party(b"t", total + offset, SUM_BITS)
    comparator = comparator_party(b"t", limit, offset, SUM_BITS)
    first_e, first_c = evaluator.first_message(), comparator.first_message()
    from_e, from_c = evaluator.respond(first_c).to_regulator, comparator.respond(first_e).to_regulator
    assert verdict_for_recipient(b"t", from_e, from_c) == (total > limit)
