"""The replica's configuration: the fault threshold and quorums as functions
of n, and the refusal of values the replica cannot run with."""

from __future__ import annotations

import pytest

from consensus.config import ReplicaConfig, faulty_max, prepares_needed, quorum


@pytest.mark.parametrize("n, f, votes", [(1, 0, 1), (2, 0, 1), (3, 0, 1), (4, 1, 3), (5, 1, 3), (6, 1, 3),
                                         (7, 2, 5), (10, 3, 7), (16, 5, 11)])
def test_fault_threshold_and_quorums(n, f, votes):
    assert faulty_max(n) == f
    assert quorum(n) == votes
    assert prepares_needed(n) == votes - 1


def test_config_reads_the_same_formulas():
    config = ReplicaConfig(bytes(32), 0, tuple(bytes([i]) * 32 for i in range(7)))
    assert (config.n, config.f, config.quorum, config.prepares_needed) == (7, 2, 5, 4)
