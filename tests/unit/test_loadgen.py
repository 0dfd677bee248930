"""The bench's open-loop arithmetic (node.devtools.loadgen): a seeded
Poisson schedule at the rate asked for, arrivals gathered into bounded
submissions, at most so many in flight with the rest counted as dropped,
and the figures read off a run (percentiles, first and last minute)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from node.devtools.loadgen import (Gather, InFlight, PoissonArrivals, by_minute, committed_per_s,
                                   latency_summary, minute_rates, percentile)

ARRIVALS_MANY = 50_000


def schedule(rate: float, duration_s: float, seed: int) -> list[float]:
    arrivals = PoissonArrivals(rate, duration_s, random.Random(seed))
    times = arrivals.due(math.inf, 10 * ARRIVALS_MANY)
    assert arrivals.done and arrivals.count == len(times)
    return times


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    assert schedule(1000, 5, seed=7) == schedule(1000, 5, seed=7)
    assert schedule(1000, 5, seed=7) != schedule(1000, 5, seed=8)


@pytest.mark.parametrize("rate", [50.0, 1000.0, 5000.0])
def test_the_mean_rate_over_many_arrivals_is_the_rate_asked_for(rate):
    duration_s = ARRIVALS_MANY / rate
    times = schedule(rate, duration_s, seed=3)
    # A Poisson count of mean m has standard deviation sqrt(m): 4 of them is far outside chance.
    assert abs(len(times) - ARRIVALS_MANY) < 4 * math.sqrt(ARRIVALS_MANY)
    assert times == sorted(times) and 0 < times[0] and times[-1] < duration_s
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.03)
    # Exponential gaps: the standard deviation equals the mean (a fixed-interval schedule would have none).
    assert statistics.stdev(gaps) == pytest.approx(1 / rate, rel=0.05)


def test_arrivals_are_handed_out_as_they_fall_due_and_at_most_count_max_at_a_time():
    whole = schedule(100, 10, seed=5)
    arrivals = PoissonArrivals(100, 10, random.Random(5))
    assert arrivals.due(0.0, 1000) == []
    first_second = arrivals.due(1.0, 1000)
    assert first_second == [t for t in whole if t <= 1.0]
    assert arrivals.due(1.0, 1000) == []  # none twice
    part = arrivals.due(5.0, 3)
    assert len(part) == 3 and part == whole[len(first_second):len(first_second) + 3]
    rest = arrivals.due(100.0, 10_000)
    assert first_second + part + rest == whole and arrivals.done and arrivals.count == len(whole)


@pytest.mark.parametrize("rate, duration_s", [(0, 1), (-5, 1), (math.nan, 1), (math.inf, 1), (10, -1),
                                              (10, math.inf)])
def test_a_schedule_needs_a_positive_rate_and_a_finite_duration(rate, duration_s):
    with pytest.raises(ValueError):
        PoissonArrivals(rate, duration_s, random.Random(1))


def test_gather_sends_full_batches_at_once_and_the_rest_when_the_oldest_has_lingered():
    gather = Gather(batch_max=3, linger_s=0.010)
    gather.add([0.001, 0.002, 0.003, 0.004, 0.005])
    assert gather.ready(0.005) == [[0.001, 0.002, 0.003]]  # full: leaves at once
    assert gather.deadline_s == pytest.approx(0.014)
    assert gather.ready(0.013) == []                       # the oldest has waited 9 ms
    assert gather.ready(0.014) == [[0.004, 0.005]]
    assert gather.ready(1.0) == [] and gather.deadline_s == math.inf
    gather.add([2.0])
    assert gather.ready(2.0, final=True) == [[2.0]]        # the end of the schedule sends everything


def test_gather_without_linger_sends_whatever_is_due_when_the_sender_looks():
    gather = Gather(batch_max=100, linger_s=0.0)
    gather.add([0.1, 0.2, 0.3])
    assert gather.ready(0.3) == [[0.1, 0.2, 0.3]]


@pytest.mark.parametrize("batch_max, linger_s", [(0, 0.01), (5, -0.001), (5, math.nan)])
def test_gather_refuses_a_shape_it_cannot_keep(batch_max, linger_s):
    with pytest.raises(ValueError):
        Gather(batch_max, linger_s)


def test_in_flight_is_bounded_and_what_cannot_be_sent_is_counted_as_dropped():
    in_flight = InFlight(limit=2)
    assert in_flight.admit(10) and in_flight.admit(20)
    assert not in_flight.admit(30) and not in_flight.admit(5)
    assert (in_flight.count, in_flight.peak, in_flight.dropped_txs, in_flight.dropped_submissions) == (2, 2, 35, 2)
    in_flight.release()
    assert in_flight.admit(7)
    in_flight.release()
    in_flight.release()
    assert (in_flight.count, in_flight.peak, in_flight.dropped_txs) == (0, 2, 35)
    with pytest.raises(AssertionError):
        in_flight.release()
    with pytest.raises(ValueError):
        InFlight(limit=0)


def test_an_open_loop_over_a_slow_server_drops_rather_than_queues():
    """Arrivals at 1,000 tx/s, each submission answered 1 s after it is sent
    (far slower than the schedule), at most 8 in flight: the in-flight count
    never passes 8, and every arrival is either sent or counted as dropped."""
    arrivals = PoissonArrivals(1000, 2.0, random.Random(11))
    gather, in_flight = Gather(batch_max=10, linger_s=0.005), InFlight(limit=8)
    answers: list[float] = []  # when each open submission is answered
    sent = 0
    for tick in range(2001):   # a sender that looks every millisecond
        now_s = tick / 1000
        for _ in [a for a in answers if a <= now_s]:
            in_flight.release()
        answers = [a for a in answers if a > now_s]
        gather.add(arrivals.due(now_s, 10_000))
        for times in gather.ready(now_s, final=arrivals.done):
            if in_flight.admit(len(times)):
                sent += len(times)
                answers.append(now_s + 1.0)
        assert in_flight.count <= 8 and in_flight.count == len(answers)
    assert arrivals.done and not gather.waiting
    assert sent + in_flight.dropped_txs == arrivals.count
    assert sent <= 2 * 8 * 10 and in_flight.dropped_txs > arrivals.count / 2


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100
    random.Random(2).shuffle(values)
    assert percentile(values, 0.50) == 51.0
    assert percentile(values, 0.99) == 100.0
    assert percentile(values, 0.0) == 1.0 and percentile(values, 1.0) == 100.0
    assert percentile([], 0.5) == 0.0
    assert latency_summary([5.0, 1.0, 3.0]) == {"p50_ms": 3.0, "p99_ms": 5.0, "max_ms": 5.0}
    assert latency_summary([]) == {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    with pytest.raises(ValueError):
        percentile(values, 1.5)


def test_committed_per_second_counts_only_its_window():
    commits = [(0.5, 10), (1.0, 20), (1.5, 30), (2.0, 40)]
    assert committed_per_s(commits, 0.0, 2.0) == 30.0      # 10 + 20 + 30 over 2 s; 2.0 is outside
    assert committed_per_s(commits, 1.0, 3.0) == 45.0      # 20 + 30 + 40 over 2 s
    with pytest.raises(ValueError):
        committed_per_s(commits, 2.0, 2.0)


def test_first_and_last_minute_of_a_long_run():
    # 300 s: 100 tx/s for the first 150 s, then 40 tx/s; an answer every half second from 0 to 299.5 s.
    commits = [(t / 2, 50 if t / 2 < 150 else 20) for t in range(600)]
    assert minute_rates(commits, 300.0) == {"tps_first_minute": 100.0, "tps_last_minute": 40.0}
    assert minute_rates(commits, 119.9) == {}            # a short run has no such figures
    assert set(minute_rates(commits, 120.0)) == {"tps_first_minute", "tps_last_minute"}


def test_each_minute_its_throughput_and_the_nodes_cpu_per_transaction():
    # 100 tx/s for the first 90 s, then 50 tx/s; two nodes that use 0.3 then 0.25 CPU seconds a second in all.
    commits = [(t / 2, 50 if t / 2 < 90 else 25) for t in range(360)]
    marks = [(0.0, 10.0), (60.0, 28.0), (120.0, 43.0), (180.0, None)]
    assert by_minute(commits, marks, nodes=2) == [
        {"minute": 1, "tps": 100.0, "node_cpu_us_per_tx": 1500.0},   # 18 CPU s / 2 nodes / 6,000 tx
        {"minute": 2, "tps": 75.0, "node_cpu_us_per_tx": 1666.7},    # 15 / 2 / 4,500
        {"minute": 3, "tps": 50.0, "node_cpu_us_per_tx": None},      # a node gone: no CPU figure
    ]
    assert by_minute(commits, marks[:1], nodes=2) == []               # less than a minute: no rows
