"""The demo and the bench without --dir: each works in a temporary folder
and removes it at the end, so a run leaves nothing in the temporary
directory (a 4-node run leaves 30 MB or more of LevelDB files and logs
otherwise); the bench's result lands in the current folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_base_port
from fixtures import PASSPHRASE
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def environment(temporary: Path) -> dict:
    """The scripts' environment: the project (and its simulator, which draws the charts) on the
    path, TMPDIR the test's own folder."""
    return {**os.environ, ENV_VAR: PASSPHRASE, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'network-sim'}",
            "TMPDIR": str(temporary)}


def test_the_demo_without_dir_removes_its_temporary_folder(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--payments", "40",
                          "--base-port", str(free_base_port(4))], capture_output=True, text=True, timeout=240,
                         env=environment(temporary), stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith(f"nodes stopped; the temporary folder {temporary}/consort-demo-") and "is removed" in last
    assert list(temporary.iterdir()) == []


def test_the_bench_without_dir_leaves_its_result_here_and_no_temporary_folder(tmp_path):
    temporary, here = tmp_path / "tmp", tmp_path / "here"
    temporary.mkdir()
    here.mkdir()
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--duration", "1", "--workers", "2",
                          "--batch", "10", "--no-compare", "--base-port", str(free_base_port(4))],
                         capture_output=True, text=True, timeout=180, cwd=here,
                         env=environment(temporary), stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["nodes"] == 4 and result["mode"] == "closed"
    assert len(result["node_usage"]) == 4 and "verify_bound_tps" in result["verify_bound"]
    assert sorted(p.name for p in here.iterdir()) == ["bench.json", "bench.svg"]
    assert list(temporary.iterdir()) == []
