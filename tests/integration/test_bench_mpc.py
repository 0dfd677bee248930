"""scripts/bench_mpc as a smoke test: a --quick run (3-party sum, PSI at
1,000 per side in two processes) finishes, and its JSON names every phase
with a time and the bytes it put on the wire, next to an SVG plot. Timing
figures are not asserted: they belong to the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BENCH_MPC = Path(__file__).resolve().parents[2] / "scripts" / "bench_mpc.py"
SUM_PHASES = ("commitments", "masking_exchange_unmasking", "check")
PSI_PHASES_SENDING = ("hash_blind", "double_blind")  # round 1 and round 2 messages


def test_quick_run_reports_every_phase(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, str(BENCH_MPC), "--quick", "--repeat", "1", "--out", str(out)],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((out / "bench_mpc.json").read_text())
    assert json.loads(run.stdout) == result
    assert (out / "bench_mpc.svg").read_text().startswith("<svg")

    (summed,) = result["sum"]
    assert summed["parties"] == 3 and summed["length"] == 1000
    for phase in SUM_PHASES:
        assert summed["phases"][phase]["ms"] > 0 and summed["phases"][phase]["bytes"] > 0, phase

    (psi,) = result["psi"]
    assert psi["size"] == 1000 and psi["overlap"] == 300
    for phase in (*PSI_PHASES_SENDING, "finish"):
        assert psi["phases"][phase]["ms"] > 0, phase
    for phase in PSI_PHASES_SENDING:
        assert psi["phases"][phase]["bytes"] > 32 * 1000 * 2, phase  # two sets of 1,000 points
    assert psi["phases"]["finish"]["bytes"] == 0  # finishing sends nothing
    assert psi["total_ms"] > 0 and psi["bytes"] > 0

    targets = {t["target"]: t for t in result["targets"]}
    assert len(targets) == 2 and result["reference"]["psi_10000_target_s"] == 3.0
    assert [t["met"] for t in targets.values() if "PSI" in t["target"]] == [None]  # --quick skips 10,000
