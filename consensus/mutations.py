"""Test-only weakenings of the protocol ("mutations") for the simulator's
mutation check: a random search that cannot find the bug one of these puts
in would not find a real one either (netsim.search).

Production never sets one. `ReplicaConfig.mutation` and
`ValidatorSet.mutation` default to None; the node builds both without
naming it, and a genesis file cannot reach it (contracts.genesis accepts
only the integer parameters of CONSENSUS_DEFAULTS). Only netsim passes a
mutation. With None, every quorum and every VIEW-CHANGE is exactly what it
is without this module. Names only: no I/O, nothing imported.
"""

from __future__ import annotations

QUORUM_MINUS_ONE = "quorum-minus-one"  # every quorum one vote short: two quorums may share no honest replica
FORGET_PREPARED = "forget-prepared"    # a VIEW-CHANGE never carries the sender's prepared certificate
MUTATIONS = (QUORUM_MINUS_ONE, FORGET_PREPARED)
