"""The README's main job, scripts/demo, runs end to end on a small load:
payments through every node, the refusals it shows, the supply-chain
story, agreement and the re-executing audit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_base_port

pytestmark = pytest.mark.integration
DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def test_the_demo_runs_and_shows_each_refusal(tmp_path):
    run = subprocess.run([sys.executable, str(DEMO), "--dir", str(tmp_path / "demo"), "--payments", "200",
                          "--base-port", str(free_base_port(4))], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for shown in ("committed as failed receipt: insufficient_funds", "committed as failed receipt: not_authorized",
                  "a negative amount                  -> refused, HTTP 400 bad_args",
                  "refused, HTTP 400 bad_signature", "refused, HTTP 409 duplicate",
                  "a read without a signed request    -> refused, HTTP 401 unauthenticated",
                  "bank-bravo reads bank-alpha's receipt -> refused, HTTP 403 forbidden",
                  "bank-bravo reads the balances      -> only its own: bank-bravo",
                  "a peer link without a certificate  -> refused, link closed with code 4001",
                  "central-bank opens the total       -> 49,750,000.00 EUR, checked against the commitments",
                  "10 customers in common, on chain with both banks' signatures; neither learns which (right)",
                  "re-executed state root matches the nodes'"):
        assert shown in run.stdout, shown
