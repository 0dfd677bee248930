"""The replica's configuration: the fault threshold and quorums as functions
of n, and the refusal of values the replica cannot run with."""

from __future__ import annotations

import pytest

from consensus.config import ConfigError, ReplicaConfig
from consensus.validators import faulty_max, prepares_needed, quorum
from contracts.genesis import CONSENSUS_DEFAULTS
from fixtures import replica_config


@pytest.mark.parametrize("n, f, votes", [(1, 0, 1), (2, 0, 2), (3, 0, 3), (4, 1, 3), (5, 1, 4), (6, 1, 5),
                                         (7, 2, 5), (10, 3, 7), (16, 5, 11)])
def test_fault_threshold_and_quorums(n, f, votes):
    assert faulty_max(n) == f
    assert quorum(n) == votes
    assert prepares_needed(n) == votes - 1


@pytest.mark.parametrize("n", range(1, 21))
def test_any_two_quorums_share_f_plus_1_replicas_and_the_honest_alone_make_one(n):
    f, size = faulty_max(n), quorum(n)
    assert 3 * f < n  # f is the most faults n validators can tolerate at all
    assert 2 * size - n >= f + 1  # the smallest overlap of two quorums holds an honest replica
    assert size <= n - f  # the honest replicas alone make a quorum: f silent ones cannot stop it


def test_config_reads_the_same_formulas():
    config = replica_config(bytes(32), 0, tuple(bytes([i]) * 32 for i in range(7)))
    assert (config.n, config.f, config.quorum, config.prepares_needed) == (7, 2, 5, 4)


VALIDATORS = tuple(bytes([i]) * 32 for i in range(4))


@pytest.mark.parametrize("changes, message", [
    ({"chain_id": bytes(31)}, "chain_id must be 32 bytes (got 31)"),
    ({"validators": ()}, "validators must name at least one validator"),
    ({"replica_id": 4}, "replica_id must be an index into validators (0 to 3) or -1 for an observer (got 4)"),
    ({"replica_id": -2}, "replica_id must be an index into validators (0 to 3) or -1 for an observer (got -2)"),
    ({"validators": VALIDATORS[:3] + VALIDATORS[:1]}, "validators must not list a key twice"),
    ({"batch_size_max": 0}, "batch_size_max must be at least 1 (got 0)"),
    ({"batch_delay_ms": -1}, "batch_delay_ms must be at least 0 (got -1)"),
    ({"pending_max": 0}, "pending_max must be at least 1 (got 0)"),
    ({"recent_requests_max": -1}, "recent_requests_max must be at least 0 (got -1)"),
    ({"checkpoint_interval": 0}, "checkpoint_interval must be at least 1 (got 0)"),
    ({"window": 8, "checkpoint_interval": 16},
     "window must be at least 2 x checkpoint_interval (got 8, checkpoint_interval 16)"),
    ({"request_timeout_ms": 0}, "request_timeout_ms must be at least 1 (got 0)"),
    ({"view_change_timeout_ms": 0}, "view_change_timeout_ms must be at least 1 (got 0)"),
    ({"view_change_timeout_ms": 3000, "view_change_timeout_ms_max": 2000},
     "view_change_timeout_ms_max must be at least view_change_timeout_ms (got 2000, view_change_timeout_ms 3000)"),
    ({"status_interval_ms": 0}, "status_interval_ms must be at least 1 (got 0)"),
    ({"fetch_timeout_ms": 0}, "fetch_timeout_ms must be at least 1 (got 0)"),
])
def test_a_bad_value_raises_an_error_naming_the_field(changes, message):
    fields = {"chain_id": bytes(32), "replica_id": 0, "validators": VALIDATORS, **CONSENSUS_DEFAULTS, **changes}
    with pytest.raises(ConfigError) as caught:
        ReplicaConfig(**fields)
    assert str(caught.value) == message


def test_edge_values_are_accepted():
    config = replica_config(bytes(32), -1, VALIDATORS, batch_size_max=1, batch_delay_ms=0, pending_max=1,
                           recent_requests_max=0, checkpoint_interval=1, window=2,
                           view_change_timeout_ms=5, view_change_timeout_ms_max=5)
    assert not config.is_validator
