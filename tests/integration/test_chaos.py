"""scripts/chaos as a test: a 4-node cluster under load while nodes are
SIGKILLed and restarted loses no acknowledged transaction, and every node
ends with the same height, state root and view, and the same money. A short
run here; the 50-kill run is marked slow (CONSORT_SLOW=1 scripts/test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_base_port

pytestmark = pytest.mark.integration
CHAOS = Path(__file__).resolve().parents[2] / "scripts" / "chaos.py"


def chaos(tmp_path: Path, *args: str, timeout_s: float) -> dict:
    out = tmp_path / "chaos.json"
    run = subprocess.run([sys.executable, str(CHAOS), "--dir", str(tmp_path / "consortium"), "--out", str(out),
                          "--base-port", str(free_base_port(4)), *args],
                         capture_output=True, text=True, timeout=timeout_s)
    assert out.exists(), run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert run.returncode == 0, (result["problems"], run.stderr[-3000:])
    assert out.with_suffix(".svg").exists()
    return result


def check(result: dict, kills: int) -> None:
    assert result["kills"] == kills and result["problems"] == []
    assert result["lost"] == 0 and set(result["missing_by_node"].values()) == {0}
    assert result["equal_roots"] and result["views_agree"] and result["money_conserved"]
    assert result["committed"] > 0 and result["failed_receipts"] == 0


def test_a_few_kills_lose_nothing(tmp_path):
    result = chaos(tmp_path, "--kills", "3", "--seed", "2", "--gap-s-min", "1", "--gap-s-max", "2",
                   "--long-share", "0", "--primary-share", "0.5", timeout_s=300)
    check(result, 3)


@pytest.mark.slow
def test_fifty_kills_lose_nothing(tmp_path):
    check(chaos(tmp_path, "--kills", "50", "--seed", "1", timeout_s=3600), 50)
