"""Soak: many more seeds, longer runs, 16 replicas. Marked slow: CI skips it;
run with `CONSORT_SLOW=1 scripts/test tests/sim/test_soak.py` (CONSORT_SOAK_SEEDS=N)."""

from __future__ import annotations

import os

import pytest

from consensus.validators import faulty_max
from netsim.report import replay_command
from netsim.run import SimConfig, Simulation
from netsim.scenarios import SCENARIOS

SEEDS = int(os.environ.get("CONSORT_SOAK_SEEDS", "40"))


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_soak(scenario):
    failures = []
    for seed in range(1000, 1000 + SEEDS):
        for nodes in (4, 7, 10, 16):
            faulty = 0 if scenario in ("none", "reconfigure") else faulty_max(nodes)
            report = Simulation(SimConfig(nodes=nodes, faulty=faulty, seed=seed, duration_s=12,
                                          scenario=scenario, rate_tps=800)).run()
            if report["violations"]:
                failures.append(f"seed={seed} n={nodes}: {report['violations'][0]}\n"
                                f"  reproduce with: {replay_command(report)}")
    assert not failures, "\n".join(failures)
