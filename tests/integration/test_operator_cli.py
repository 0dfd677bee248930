"""The command line as a bank's operator meets it, on real processes: a node
says in one line what it runs (at info, unless told otherwise), logs JSON
lines when asked, its data folder is refused by name while it runs, the
exit status says usage (2), refusal or failed check (1) or success (0)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import free_base_port, wait_until
from crypto.keys import KDF_COST_LIGHT, read_public_key
from fixtures import PASSPHRASE
from node.devtools.consortium import create_consortium
from node.runtime.passphrase import ENV_VAR
from node.runtime.storage import Storage, StorageError

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15


def environment(**extra: str) -> dict:
    unset = ("CONSORT_GENESIS", "CONSORT_CA")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    return {**env, ENV_VAR: PASSPHRASE, "PYTHONPATH": str(ROOT), **extra}


def consort(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, timeout=60,
                          env=environment(), stdin=subprocess.DEVNULL, cwd=ROOT)


def one_line_error(run: subprocess.CompletedProcess, status: int) -> str:
    lines = run.stderr.strip().splitlines()
    assert run.returncode == status, run.stderr
    assert len(lines) == 1 and lines[0].startswith("consort: error: "), run.stderr
    return lines[0]


@pytest.fixture
def consortium(tmp_path) -> Path:
    directory = tmp_path / "c"
    create_consortium(directory, institutions=2, base_port=free_base_port(2), clients_per_institution=1,
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    return directory


@contextmanager
def node_process(directory: Path, log: Path, *options: str):
    """bank-alpha's node, started with `options` after `node start`, its
    stderr in `log`; stopped with SIGTERM (killed if it does not stop)."""
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "node", "start", "--config", str(directory / "bank-alpha" / "node.json"),
             *options], stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL, env=environment(),
            cwd=ROOT)
    try:
        asyncio.run(wait_until(lambda: " started: " in log.read_text() or process.poll() is not None,
                               STARTUP_TIMEOUT_S, lambda: f"the startup line; the log so far: {log.read_text()}"))
        assert process.poll() is None, log.read_text()
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)


def test_a_node_says_what_it_runs_in_one_line_at_info_and_its_data_folder_is_refused_by_name(consortium, tmp_path):
    index = json.loads((consortium / "consortium.json").read_text())
    node_key = read_public_key(consortium / "bank-alpha" / "node.key").hex()
    data = consortium / "bank-alpha" / "data"
    genesis = str(consortium / "genesis.json")
    log = tmp_path / "alpha.log"
    with node_process(consortium, log) as process:
        started = [line for line in log.read_text().splitlines() if " started: " in line]
        assert len(started) == 1
        assert " consort.server INFO bank-alpha started: " in started[0]
        for shown in (f"chain {index['chain_id']}", f"node key {node_key}", "replica 0 of 2 validators",
                      f"listening on {index['institutions'][0]['url']} (API and peer links)", "height 0",
                      "peers 1 (bank-bravo)"):
            assert shown in started[0], shown
        in_use = consort("export", "--data", str(data), "--genesis", genesis, "-o", str(tmp_path / "x.export"))
        assert one_line_error(in_use, 1) == f"consort: error: the data folder {data} is in use by a running node"
        assert process.poll() is None  # the export did not disturb the node
    assert process.returncode == 0
    assert "bank-alpha stopped at height 0" in log.read_text()
    assert "Traceback" not in log.read_text()

    exported = consort("export", "--data", str(data), "--genesis", genesis, "-o", str(tmp_path / "chain.export"),
                       "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["blocks"] == 0
    verified = consort("audit", "verify", "--genesis", genesis, "--file", str(tmp_path / "chain.export"), "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    (tmp_path / "bad.export").write_bytes(b"not an export")
    failed = consort("audit", "verify", "--genesis", genesis, "--file", str(tmp_path / "bad.export"), "--json")
    assert failed.returncode == 1 and json.loads(failed.stdout)["ok"] is False, failed.stdout


def test_json_log_lines_with_the_options_after_the_command(consortium, tmp_path):
    log = tmp_path / "alpha.jsonl"
    with node_process(consortium, log, "--log-level", "debug", "--log-format", "json"):
        pass
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # every line is one JSON object
    assert all(set(line) >= {"time", "level", "logger", "message"} for line in lines)
    assert {line["level"] for line in lines} >= {"debug", "info"}  # debug: the level given after the command
    started = [line for line in lines if " started: " in line["message"]]
    assert len(started) == 1 and started[0]["logger"] == "consort.server" and started[0]["level"] == "info"


def test_exit_status_2_for_a_command_line_that_is_wrong(consortium, tmp_path):
    genesis = str(consortium / "genesis.json")
    prove = consort("audit", "prove", "acct/bank-alpha/EUR", "--genesis", genesis)
    assert "give --node URL" in one_line_error(prove, 2)
    export = consort("export", "--data", str(consortium / "bank-alpha" / "data"), "-o", str(tmp_path / "x.export"))
    assert "give --genesis FILE" in one_line_error(export, 2)
    assert not (tmp_path / "x.export").exists()
    missing = consort("chain", "status")
    assert missing.returncode == 2 and "required: --key" in missing.stderr and "Traceback" not in missing.stderr
    query = consort("query", "asset", "--key", str(consortium / "bank-alpha" / "client-0.key"), "--genesis", genesis)
    assert "query asset takes 1 argument(s)" in one_line_error(query, 2)


def test_a_folder_that_holds_no_ledger_is_not_exported_and_stays_absent(consortium, tmp_path):
    absent = tmp_path / "no-such-data"
    run = consort("export", "--data", str(absent), "--genesis", str(consortium / "genesis.json"),
                  "-o", str(tmp_path / "x.export"))
    assert one_line_error(run, 1) == f"consort: error: {absent} is not a node's data folder (it holds no LevelDB)"
    assert not absent.exists()


def test_a_data_folder_open_elsewhere_is_named_in_use(tmp_path):
    chain_id = bytes(32)
    first = Storage(tmp_path / "data", chain_id)
    try:
        with pytest.raises(StorageError, match=r"^the data folder .*/data is in use by a running node$"):
            Storage(tmp_path / "data", chain_id)
    finally:
        first.close()
    Storage(tmp_path / "data", chain_id, create=False).close()  # once closed, it opens again


LONG_OUTPUT = """
import argparse, sys
from node.cli import run_command
def command(args):
    for _ in range(100_000):
        print("x" * 100)
    return 0
sys.exit(run_command(command, argparse.Namespace()))
"""


def test_a_reader_that_goes_away_gets_no_error_message():
    """`consort query accounts | head`: head stops reading; the command ends
    quietly (exit 1, nothing on stderr), as other Unix tools do."""
    process = subprocess.Popen([sys.executable, "-c", LONG_OUTPUT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment(), cwd=ROOT)
    assert process.stdout.read(10) == b"x" * 10
    process.stdout.close()
    try:
        err = process.stderr.read()
        assert process.wait(30) == 1
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert err == b""
