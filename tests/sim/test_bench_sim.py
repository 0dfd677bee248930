"""scripts/bench_sim.py runs each N in a child process and reports per N the
wall and CPU time per decision, events a second, messages and peak memory
as JSON, with a plot of time per decision against N on log axes. (What it
measures is not checked here: a test never asserts a speed.)"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def test_bench_sim_reports_every_n_as_json_and_plots_them(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_sim.py"), "--nodes", "4,10", "--blocks", "2",
                           "-o", str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed == json.loads(out.read_text())
    assert [run["nodes"] for run in printed["runs"]] == [4, 10]
    for run in printed["runs"]:
        assert run["blocks"] == 2 and run["passed"] and run["valid"]
        assert run["wall_s_per_decision"] == pytest.approx(run["wall_s"] / 2, abs=0.001)  # both rounded to ms
        assert run["events"] > run["messages"] > 0 and run["status_messages"] > 0
        assert run["events_per_s"] > 0 and run["peak_rss_mb"] > 0
    svg = ET.fromstring(out.with_suffix(".svg").read_text())
    x_ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "x-tick"]
    assert x_ticks == ["1", "2", "5", "10"]  # N from 4 to 10 on a log axis
    assert len(svg.findall(f".//{SVG}polyline")) == 2  # wall and CPU time
    assert "bench_sim: 10 replicas, 2 block(s)" in done.stderr


def test_a_wrong_node_list_says_why(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_sim.py"), "--nodes", "4,x",
                           "-o", str(tmp_path / "b.json")], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--nodes takes numbers separated by commas, not '4,x'" in done.stderr
