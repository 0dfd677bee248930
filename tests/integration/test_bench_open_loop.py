"""scripts/bench's open loop as a smoke test: a short --rate run on a real
4-node cluster writes a JSON whose fields exist and agree with one another
(every arrival is accounted for; achieved is near what was offered) and
an SVG. No speed is asserted: the bounds only catch a figure computed
wrongly (achieved far above offered, a missing node)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import free_base_port
from fixtures import PASSPHRASE
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RATE = 200


def test_an_open_loop_run_reports_offered_and_achieved_rates_latency_and_each_nodes_use(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    out = tmp_path / "open.json"
    env = {**os.environ, ENV_VAR: PASSPHRASE, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'network-sim'}",
           "TMPDIR": str(temporary)}
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--rate", str(RATE), "--duration", "3",
                          "--no-compare", "--seed", "5", "--base-port", str(free_base_port(4)), "-o", str(out)],
                         capture_output=True, text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    printed = json.loads(run.stdout.strip().splitlines()[-1])
    result = json.loads(out.read_text())
    assert printed == {k: v for k, v in result.items() if k not in ("timeline", "samples")}

    assert result["mode"] == "open" and result["nodes"] == 4 and result["seed"] == 5
    assert result["offered_tps"] == RATE
    assert 0 < result["achieved_tps"] <= RATE * 1.5 and result["tps"] == result["achieved_tps"]
    assert 0 < result["arrivals"] and result["arrivals_per_s"] == pytest.approx(RATE, rel=0.5)
    # Every arrival was committed, left uncommitted, refused, or dropped at the in-flight bound.
    assert (result["committed"] + result["uncommitted"] + result["refused_txs"] + result["dropped_offered"]
            == result["arrivals"])
    assert 0 < result["committed"] and result["in_flight_peak"] <= result["in_flight_max"]
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert "tps_first_minute" not in result  # only for runs of 120 s or more

    usage = result["node_usage"]
    assert sorted(row["name"] for row in usage) == ["bank-alpha", "bank-bravo", "bank-charlie", "bank-delta"]
    assert all(row["cpu_cores"] > 0 and row["peak_rss_mb"] > 0 for row in usage)
    assert result["client_cpu_cores"] > 0
    bound = result["verify_bound"]
    assert bound["validators"] == 4 and bound["cores"] >= 1 and bound["ed25519_verifies_per_s_one_core"] > 0
    assert bound["verify_bound_tps"] == pytest.approx(
        bound["cores"] * bound["ed25519_verifies_per_s_one_core"] / 4, abs=1)

    svg = ET.parse(out.with_suffix(".svg")).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert list(temporary.iterdir()) == []
