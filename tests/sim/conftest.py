"""`--seeds N` (or CONSORT_SIM_SEEDS=N) runs N seeds per scenario and size;
the default suite runs 4, enough for 420 runs (15 scenarios, n = 4..10)."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--seeds", type=int, default=int(os.environ.get("CONSORT_SIM_SEEDS", "4")),
                     help="seeds per (scenario, size) in tests/sim")
    parser.addoption("--first-seed", type=int, default=int(os.environ.get("CONSORT_SIM_FIRST_SEED", "1")))


@pytest.fixture
def seeds(request) -> range:
    first = request.config.getoption("--first-seed")
    return range(first, first + request.config.getoption("--seeds"))
