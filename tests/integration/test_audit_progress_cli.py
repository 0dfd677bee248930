"""`consort export --data` and `consort audit verify --file` on a built chain
(real LevelDB, real certificates), run as a script runs them, with stderr
not a terminal: stdout says what it always said, and the progress is plain
closing lines on stderr, counted out of the export's declared height."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from node.devtools.chainbuilder import ChainBuilder

pytestmark = pytest.mark.integration
BLOCKS = 30


def consort(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_export_and_verify_show_progress_as_plain_lines(tmp_path):
    builder = ChainBuilder(tmp_path / "chain")
    builder.build(BLOCKS, 5)
    builder.close()
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(builder.document))
    exported = consort("export", "--data", str(tmp_path / "chain" / "data"), "--genesis", str(genesis),
                       "--out", str(tmp_path / "chain.export"))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"exported {BLOCKS} blocks from ")
    assert exported.stderr.startswith(f"exporting: done, {BLOCKS}/{BLOCKS} blocks in ")

    verified = consort("audit", "verify", "--file", str(tmp_path / "chain.export"), "--genesis", str(genesis))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith(f"audit ok: {BLOCKS} blocks, {BLOCKS * 5} transactions")
    assert verified.stderr.startswith(f"verifying: done, {BLOCKS}/{BLOCKS} blocks in ")
    assert f"; {BLOCKS * 5} transactions" in verified.stderr
    assert "\r" not in exported.stderr + verified.stderr
    assert len(exported.stderr.splitlines()) == len(verified.stderr.splitlines()) == 1


def test_verify_with_and_without_workers_says_the_same(tmp_path):
    builder = ChainBuilder(tmp_path / "chain")
    builder.build(12, 4)
    builder.close()
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(builder.document))
    export = tmp_path / "chain.export"
    assert consort("export", "--data", str(tmp_path / "chain" / "data"), "--genesis", str(genesis),
                   "--out", str(export)).returncode == 0
    answers = []
    for workers in ("0", "2"):
        verified = consort("audit", "verify", "--file", str(export), "--genesis", str(genesis), "--reexecute",
                           "--json", "--workers", workers)
        assert verified.returncode == 0, verified.stderr
        answer = json.loads(verified.stdout)
        assert answer.pop("workers") == int(workers) and answer.pop("seconds") >= 0
        answers.append(answer)
    assert answers[0] == answers[1] and answers[0]["ok"] and answers[0]["transactions"] == 48
    refused = consort("audit", "verify", "--file", str(export), "--genesis", str(genesis), "--workers", "-1")
    assert refused.returncode == 2 and "--workers" in refused.stderr
