"""Property tests for crypto.mpc.threshold: the prefix encodings share an
element exactly when x > y, at every width; the whole comparison (PSI
included) answers S > L for any sums, limits and offsets."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from crypto.mpc.threshold import (comparator_party, ones_encoding, regulator_party, verdict, width,
                                  zeros_encoding)

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
       offset=st.integers(0, 2 ** (width(SUM_BITS) - 1) - 1), near=st.booleans())
def test_the_regulators_verdict_is_total_over_limit(total, limit, offset, near):
    if near:
        limit = min(max(total + (limit % 3) - 1, 0), 2**SUM_BITS - 1)
    regulator = regulator_party(b"t", total + offset, SUM_BITS)
    comparator = comparator_party(b"t", limit, offset, SUM_BITS)
    first_r, first_c = regulator.first_message(), comparator.first_message()
    regulator.respond(first_c)
    assert verdict(regulator.finish(comparator.respond(first_r).to_peer)) == (total > limit)
