"""Property tests for the secure sum (crypto.mpc.secure_sum): for any party
count, vector length, range and inputs, the result is the plain sum and
checks against the commitments; any change to a masked message makes the
check fail; the decoders refuse every byte string that is not a message
with MessageError and nothing else; Pedersen commitments add up."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings, strategies as st
from mpc_sum_harness import make_parties, run_sum

from crypto.mpc import pedersen
from crypto.mpc.pedersen import GROUP_ORDER as L
from crypto.mpc.secure_sum import MessageError, SumCommitments, SumMasked, SumResult, SumSpec

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SESSION = b"property-session"


@st.composite
def sessions(draw):
    n = draw(st.integers(3, 7))
    spec = SumSpec(SESSION, tuple(f"bank-{i}" for i in range(n)), draw(st.integers(1, 6)),
                   draw(st.sampled_from([1, 2, 1000, 2**62, 2**80]) | st.integers(1, 2**64)), draw(st.booleans()))
    value = st.integers(spec.value_min, spec.value_max)
    inputs = {p: draw(st.lists(value, min_size=spec.length, max_size=spec.length)) for p in spec.parties}
    return spec, inputs


@SETTINGS
@given(sessions())
def test_the_result_is_the_plain_sum_and_checks(session):
    spec, inputs = session
    run = run_sum(make_parties(spec, inputs, label=b"props"))
    assert run.result.sums == tuple(sum(column) for column in zip(*inputs.values()))
    assert all(run.checks.values()) and run.auditor_check()


@SETTINGS
@given(sessions(), st.data())
def test_any_change_to_a_masked_message_fails_the_check(session, data):
    spec, inputs = session
    cheat = data.draw(st.sampled_from(spec.parties))
    index = data.draw(st.integers(0, spec.length - 1))
    field = data.draw(st.sampled_from(["values", "blindings"]))

    def tamper(message: SumMasked) -> SumMasked:
        vector = list(getattr(message, field))
        bound = 2**message.modulus_bits if field == "values" else L
        vector[index] = (vector[index] + data.draw(st.integers(1, bound - 1))) % bound
        return dataclasses.replace(message, **{field: tuple(vector)})

    run = run_sum(make_parties(spec, inputs, label=b"props"), tamper={cheat: tamper})
    assert not any(run.checks.values())
    assert not run.auditor_check()


@st.composite
def wire_messages(draw):
    spec, inputs = draw(sessions())
    run = run_sum(make_parties(spec, inputs, label=b"wire"))
    return draw(st.sampled_from([run.commitments[0], run.masked[-1], run.result]))


DECODERS = (SumCommitments, SumMasked, SumResult)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(DECODERS))
def test_random_bytes_are_refused_with_message_error(data, cls):
    try:
        cls.decode(data)
    except MessageError:
        return
    raise AssertionError("random bytes decoded")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wire_messages(), st.data())
def test_a_mutated_message_is_refused_or_decodes_to_its_own_bytes(message, data):
    encoded = bytearray(message.encode())
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    mutated = bytes(encoded[:cut] if data.draw(st.booleans()) else encoded)
    for cls in DECODERS:
        try:
            decoded = cls.decode(mutated)
        except MessageError:
            continue
        assert decoded.encode() == mutated


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, L - 1) | st.just(0), st.integers(0, L - 1) | st.just(0)),
                min_size=1, max_size=5))
def test_commitments_add_up(openings):
    commitments = [pedersen.commit(v, r) for v, r in openings]
    value, blinding = sum(v for v, _ in openings) % L, sum(r for _, r in openings) % L
    total = commitments[0]
    for point in commitments[1:]:
        total = pedersen.add(total, point)
    assert total == pedersen.commit(value, blinding)
    assert pedersen.verify_opening(total, value, blinding) == pedersen.is_valid_point(total)
