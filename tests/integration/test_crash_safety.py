"""A crash at any instant loses no committed block: a writer process is
SIGKILLed at random moments while appending blocks; after each kill the
LevelDB holds every block it acknowledged, and the stored state is exactly
what re-executing the stored chain from genesis gives."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crypto.keys import KDF_COST_LIGHT, KeyPair, write_key_file
from fixtures import PASSPHRASE
from node.audit.auditor import ChainAuditor
from node.runtime.config import load_genesis
from node.runtime.passphrase import ENV_VAR
from node.runtime.storage import Storage

pytestmark = pytest.mark.integration
ROUNDS = 6
WRITER = Path(__file__).with_name("crash_writer.py")


def make_chain_folder(directory: Path) -> None:
    node_key, client_key = KeyPair.generate(), KeyPair.generate()
    write_key_file(directory / "node.key", node_key, PASSPHRASE, KDF_COST_LIGHT)
    write_key_file(directory / "client.key", client_key, PASSPHRASE, KDF_COST_LIGHT)
    genesis = {
        "chain_name": "crash-test", "currencies": ["EUR"], "validators": ["bank-a"],
        "institutions": [
            {"id": "bank-a", "roles": ["validator", "member"], "node_key": node_key.public_key.hex(),
             "client_keys": [client_key.public_key.hex()], "balances": {"EUR": 10**12}},
            {"id": "bank-b", "roles": ["member"], "balances": {"EUR": 0}},
        ],
    }
    (directory / "genesis.json").write_text(json.dumps(genesis))


def run_and_kill(directory: Path, rng: random.Random) -> int:
    """Start the writer, SIGKILL it at a random moment; return the last height it acknowledged."""
    process = subprocess.Popen([sys.executable, str(WRITER), str(directory), "100000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, ENV_VAR: PASSPHRASE})
    try:
        first = process.stdout.readline()
        assert first.strip(), process.stderr.read()
        time.sleep(rng.uniform(0.05, 0.4))
        process.send_signal(signal.SIGKILL)
        remaining, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    acknowledged = [int(line) for line in (first + remaining).split()]
    return acknowledged[-1]


def test_sigkill_at_random_moments_loses_no_acknowledged_block(tmp_path):
    make_chain_folder(tmp_path)
    genesis = load_genesis(tmp_path / "genesis.json")
    rng = random.Random(20261121)
    for _ in range(ROUNDS):
        acknowledged = run_and_kill(tmp_path, rng)
        storage = Storage(tmp_path / "data", genesis.chain_id)
        try:
            tip = storage.tip()
            assert acknowledged <= tip.height <= acknowledged + 1
            auditor = ChainAuditor(genesis, reexecute=True)
            for height in range(1, tip.height + 1):
                stored = storage.block(height)
                auditor.check(stored.block, stored.certificate, storage.raw_receipts(height))
                assert stored.state_root == auditor.report.state_root
            assert auditor.report.state_root == tip.state_root
            assert dict(storage.state_items()) == auditor.state.items
            assert storage.block(tip.height + 1) is None
        finally:
            storage.close()
