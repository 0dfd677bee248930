"""The simulator finding bugs by itself: random fault schedules (netsim.faults),
the search over seeds (netsim.search), shrinking (netsim.shrink) and replay.

The mutation check: a replica weakened on purpose (consensus.mutations) must
be caught by the search within a seed budget, and the replica as it is must
pass the same search. CI runs budgets known to reach the first failing seed;
the full 200 seeds run under `slow` (CONSORT_SLOW=1 scripts/test tests/sim)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from consensus.config import ConfigError, ReplicaConfig
from consensus.events import Broadcast, Persist
from consensus.messages import Status
from consensus.mutations import FORGET_PREPARED, MUTATIONS, QUORUM_MINUS_ONE
from consensus.validators import ValidatorSet, faulty_max, quorum
from netsim.faults import (
    KINDS, ScheduleError, check, claims_liveness, faulty_at_once, faulty_for_good, generate, heal_ms,
)
from netsim.network import Cut, LossBurst
from netsim.run import SimConfig, Simulation
from netsim.search import SIZES, parse_sizes, run_schedule, schedule_for, search, size_for
from netsim.shrink import shrink
from node.cli import main

ROOT = Path(__file__).resolve().parents[2]
# The first seed (of 1, 2, ...) whose schedule over n = 4..10 shows each mutation's
# agreement violation, as observed; CI searches that far plus a margin.
FIRST_FAILING_SEED = {QUORUM_MINUS_ONE: 20, FORGET_PREPARED: 8}
CI_MARGIN = 5
CLEAN_SEEDS_CI = 12
SEEDS_FULL = 200


def schedule(nodes: int, faults: list[dict], **settings) -> dict:
    return {"format": "consort-netsim-schedule/1", "nodes": nodes, "seed": 1, "duration_s": 6,
            "liveness_bound_s": 4, "rate_tps": 300, "mutation": None, "faults": faults, **settings}


# ---------------------------------------------------------------- the generator

def test_a_seed_draws_the_same_schedule_every_time_and_another_seed_another():
    first = generate(7, 6)
    assert first == generate(7, 6)
    assert json.loads(json.dumps(first)) == first  # plain data
    assert first != generate(8, 6)
    assert schedule_for(7) == schedule_for(7) and size_for(7, SIZES) == schedule_for(7)["nodes"]


def test_generated_schedules_stay_within_the_fault_model():
    kinds, sizes, overlapping, beyond_f = set(), set(), 0, 0
    for seed in range(1, 301):
        nodes = size_for(seed, SIZES)
        drawn = check(generate(seed, nodes))  # raises if outside the model
        faults, f = drawn["faults"], faulty_max(nodes)
        assert len(faulty_for_good(faults)) <= f
        load_end_ms = (drawn["duration_s"] - drawn["liveness_bound_s"]) * 1000
        assert heal_ms(faults) <= load_end_ms  # everything heals before the load stops
        if faulty_at_once(faults) > f:
            beyond_f += 1
            assert not claims_liveness(faults, nodes, load_end_ms)
        kinds.update(r["kind"] for r in faults)
        sizes.add(nodes)
        cuts = [r for r in faults if r["kind"] in ("partition", "one-way")]
        overlapping += any(a["at_ms"] < b["heal_ms"] and b["at_ms"] < a["heal_ms"]
                           for i, a in enumerate(cuts) for b in cuts[i + 1:])
    assert kinds == set(KINDS) and sizes == set(SIZES)  # every kind of fault, every n, n != 3f+1 too
    assert overlapping > 10 and 10 < beyond_f < 150  # some crash storms beyond f (safety only)


@pytest.mark.parametrize("faults, problem", [
    ([{"kind": "byzantine", "replica": 0, "strategy": "equivocate"},
      {"kind": "twin", "replica": 1}], "outside the fault model: 2 replicas"),
    ([{"kind": "crash", "replica": 4, "at_ms": 10, "down_ms": 10}], "replica must be an integer in [0, 3]"),
    ([{"kind": "meteor", "replica": 0}], "kind one of"),
    ([{"kind": "crash", "replica": 0, "at_ms": 10}], "a crash fault has fields"),
    ([{"kind": "skew", "replica": 0, "at_ms": 10, "heal_ms": 5, "skew_ms": 10}], "heal_ms must be"),
    ([{"kind": "partition", "groups": [[0, 1], [1, 2]], "at_ms": 1, "heal_ms": 2}], "a node is named twice"),
    ([{"kind": "loss", "nodes": [0], "at_ms": 1, "heal_ms": 2, "loss_percent": True}], "loss_percent"),
])
def test_a_schedule_outside_the_model_or_malformed_is_refused_with_the_reason(faults, problem):
    with pytest.raises(ScheduleError, match=re.escape(problem)):
        check(schedule(4, faults))


def test_a_twin_address_follows_the_validators():
    twin = [{"kind": "twin", "replica": 2}, {"kind": "partition", "groups": [[0, 1, 2], [3, 4]],
                                               "at_ms": 500, "heal_ms": 1500}]
    assert check(schedule(4, twin))
    with pytest.raises(ScheduleError, match=r"groups must be an integer in \[0, 3\]"):
        check(schedule(4, twin[1:]))


def test_the_network_cuts_one_way_and_loses_in_bursts():
    cut = Cut(100, 200, (0,), (1, 2))
    assert cut.separates(0, 1, 150) and not cut.separates(1, 0, 150) and not cut.separates(0, 1, 200)
    burst = LossBurst(100, 200, (3,), 50)
    assert burst.applies(3, 0, 100) and burst.applies(0, 3, 199) and not burst.applies(0, 1, 150)


# ---------------------------------------------------------------- the runs

def test_the_replica_without_a_mutation_survives_each_kind_of_fault():
    faults = [
        {"kind": "twin", "replica": 0},
        {"kind": "crash", "replica": 1, "at_ms": 400, "down_ms": 600},
        {"kind": "crash-unsynced", "replica": 2, "at_ms": 1200, "down_ms": 300, "write": "block"},
        {"kind": "partition", "groups": [[0, 1, 2], [3, 4]], "at_ms": 500, "heal_ms": 1000},
        {"kind": "one-way", "from": [3], "to": [0, 4], "at_ms": 900, "heal_ms": 1400},
        {"kind": "loss", "nodes": [1, 2], "at_ms": 1500, "heal_ms": 1800, "loss_percent": 60},
        {"kind": "skew", "replica": 3, "at_ms": 300, "heal_ms": 1700, "skew_ms": 2500},
    ]
    report = run_schedule(schedule(4, faults))
    assert report["violations"] == [] and report["first_violation"] is None
    assert report["liveness_checked"] is False  # a twin, a crash and a skew at once: more than f=1
    assert report["blocks_committed"] > 10
    labels = [label for _, _, label, _ in report["faults"]]
    assert "r0 twinned" in labels and "r3 clock +2500 ms" in labels
    assert any(label.startswith("r2 crashes before a sync, 1 blocks lost") for label in labels), labels


def test_a_crash_between_a_write_and_its_sync_loses_the_write_and_the_steps_messages():
    simulation = Simulation(SimConfig(nodes=4, faulty=0, duration_s=3, liveness_bound_s=1))
    node = simulation.nodes[1]
    snapshot = node.replica.snapshot()
    node.perform([Persist(snapshot)])  # a synced write
    assert node.synced.snapshot is snapshot and node.up
    later = node.replica.snapshot()
    node.arm_unsynced_crash(until_us=10**6, down_us=5000, write="snapshot")
    queued = len(simulation.queue)
    node.perform([Broadcast(Status(0, 0)), Persist(later), Broadcast(Status(0, 0))])
    assert not node.up and node.snapshot is snapshot  # the unsynced snapshot is gone
    assert len(simulation.queue) == queued + 1  # no message left; only the restart is scheduled


def test_the_first_safety_violation_ends_the_run_at_its_commit():
    equivocating_primary = [{"kind": "byzantine", "replica": 0, "strategy": "equivocate"}]
    clean = run_schedule(schedule(7, equivocating_primary))
    assert clean["first_violation"] is None and clean["requests_committed"] == clean["requests_submitted"]
    report = run_schedule(schedule(7, equivocating_primary, mutation=QUORUM_MINUS_ONE))
    failure = report["first_violation"]
    assert failure["kind"] == "agreement" and failure["height"] == 1
    assert report["violations"] == [f"t={failure['time_us'] / 1e6:.3f}s {failure['text']}"]
    assert failure["time_us"] < 1_000_000  # the run stopped there, not at its end (6 s)


def test_mutations_are_test_only_and_weaken_what_they_say():
    chain = b"c" * 32
    keys = tuple(bytes([i]) * 32 for i in range(7))
    assert ValidatorSet(chain, keys).quorum == quorum(7) == 5
    assert ValidatorSet(chain, keys, QUORUM_MINUS_ONE).quorum == 4
    assert ValidatorSet(chain, keys, FORGET_PREPARED).quorum == 5
    assert ValidatorSet(chain, keys, QUORUM_MINUS_ONE).context == ValidatorSet(chain, keys).context
    with pytest.raises(ConfigError, match="mutation must be one of"):
        ReplicaConfig(chain, 0, keys, mutation="quorum-minus-two", batch_size_max=1, batch_delay_ms=0,
                      checkpoint_interval=1, window=2, request_timeout_ms=1, view_change_timeout_ms=1,
                      view_change_timeout_ms_max=1, status_interval_ms=1, fetch_timeout_ms=1,
                      block_time_ahead_ms_max=0)
    # Only the simulator may name one: nothing the node runs mentions a mutation.
    for folder in ("node/runtime", "node/api", "node/audit", "node/mpc", "node/devtools", "contracts"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "mutation" not in path.read_text(), path


# ---------------------------------------------------------------- the search

def budget(mutation: str) -> range:
    return range(1, FIRST_FAILING_SEED[mutation] + CI_MARGIN + 1)


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_the_search_finds_each_mutation_within_its_ci_budget(mutation):
    failures = search(budget(mutation), mutation=mutation)
    assert failures, f"no failure in seeds {budget(mutation)}"
    assert failures[-1].failure["kind"] == "agreement"
    assert failures[-1].seed == FIRST_FAILING_SEED[mutation], "the generator or the replica changed: update the figure"


def test_the_replica_as_it_is_passes_a_small_random_search():
    failures = search(range(1, CLEAN_SEEDS_CI + 1), stop_at_first=False)
    assert not failures, [(o.seed, o.failure) for o in failures]


@pytest.mark.slow
@pytest.mark.parametrize("mutation", MUTATIONS)
def test_the_search_finds_each_mutation_within_200_seeds(mutation):
    failures = search(range(1, SEEDS_FULL + 1), mutation=mutation)
    assert failures and failures[-1].failure["kind"] == "agreement"


@pytest.mark.slow
def test_the_replica_as_it_is_passes_200_seeds():
    failures = search(range(1, SEEDS_FULL + 1), stop_at_first=False)
    assert not failures, [(o.seed, o.failure) for o in failures]


def test_sizes_parse_as_ranges_or_lists():
    assert parse_sizes("4..10") == SIZES and parse_sizes("4,7") == (4, 7) and parse_sizes("5") == (5,)
    for bad in ("4..", "x", "1..3", "4..100"):
        with pytest.raises(ValueError):
            parse_sizes(bad)


# ---------------------------------------------------------------- shrinking and replay

def test_shrinking_keeps_the_failure_and_never_grows_the_schedule():
    seed = FIRST_FAILING_SEED[QUORUM_MINUS_ONE]
    drawn = schedule_for(seed, mutation=QUORUM_MINUS_ONE)
    report = run_schedule(drawn)
    shrunk = shrink(drawn, report)
    assert len(shrunk.schedule["faults"]) <= len(drawn["faults"])
    assert shrunk.schedule["duration_s"] <= drawn["duration_s"]
    assert len(shrunk.schedule["faults"]) + shrunk.schedule["duration_s"] < len(drawn["faults"]) + drawn["duration_s"]
    assert shrunk.report["first_violation"]["kind"] == "agreement"
    replayed = run_schedule(json.loads(json.dumps(shrunk.schedule)))
    assert replayed["first_violation"] == shrunk.report["first_violation"]  # same height, same simulated time
    assert replayed["trace_hash"] == shrunk.report["trace_hash"]


def test_search_saves_a_shrunk_failure_that_replay_reproduces(tmp_path, capsys):
    mutation = FORGET_PREPARED
    seed = FIRST_FAILING_SEED[mutation]
    saved = tmp_path / "failure.json"
    code = main(["sim", "search", "--mutation", mutation, "--first-seed", str(seed), "--seeds", "2",
                 "-o", str(saved), "--json"])
    assert code == 0  # the mutation was caught
    result = json.loads(capsys.readouterr().out)
    assert result["seeds_needed"] == 1 and result["failing_seeds"][0] == seed
    document = json.loads(saved.read_text())
    assert document["replay"] == f"consort sim replay {saved}"
    assert len(document["faults"]) == result["saved"]["faults_after"] <= result["saved"]["faults_before"]
    assert main(["sim", "replay", str(saved)]) == 1  # the violation shows again
    out = capsys.readouterr().out
    assert "same violation at the same simulated time as recorded" in out
    assert "first violation: agreement at height" in out


def test_replay_refuses_a_file_that_is_no_schedule(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(schedule(4, [{"kind": "twin", "replica": 0}, {"kind": "twin", "replica": 1}])))
    assert main(["sim", "replay", str(bad)]) == 1
    assert "outside the fault model" in capsys.readouterr().err
