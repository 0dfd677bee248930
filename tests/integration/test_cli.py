"""The `consort` command line against a running consortium, and its errors:
one clear line on stderr, exit status 1, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from crypto.keys import KeyPair, write_key_file

pytestmark = pytest.mark.integration


def consort(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "CONSORT_GENESIS"}
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**environment, **(env or {})})


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("consort: error:"), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_pay_status_and_block_from_the_command_line(cluster):
    alpha = cluster.institutions[0]
    genesis = str(cluster.directory / "genesis.json")
    result = consort("tx", "pay", "--node", cluster.urls[1], "--key", str(cluster.directory / alpha["client_keys"][0]),
                     "--from", alpha["id"], "--to", cluster.institutions[2]["id"], "--amount", "12500",
                     env={"CONSORT_GENESIS": genesis})
    assert result.returncode == 0, result.stderr
    paid = json.loads(result.stdout)
    assert paid["receipts"][0]["ok"] and paid["receipts"][0]["tx_hash"] == paid["tx_hash"]

    alpha_key = str(cluster.directory / alpha["client_keys"][0])
    status = json.loads(consort("chain", "status", "--node", cluster.urls[1], "--key", alpha_key,
                                "--genesis", genesis).stdout)
    assert status["height"] >= 1 and status["replica_id"] == 1
    block = json.loads(consort("chain", "block", "1", "--node", cluster.urls[1], "--key", alpha_key,
                               env={"CONSORT_GENESIS": genesis}).stdout)
    assert block["txs"][0]["args"]["amount"] == 12500
    unsigned = consort("chain", "status", "--node", cluster.urls[1])
    assert unsigned.returncode == 2 and "--key" in unsigned.stderr

    refused = consort("tx", "pay", "--node", cluster.urls[0], "--key", str(cluster.directory / alpha["client_keys"][0]),
                      "--from", cluster.institutions[3]["id"], "--to", alpha["id"], "--amount", "1",
                      "--genesis", genesis)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["receipts"][0]["code"] == "not_authorized"


def test_a_transaction_is_signed_for_the_chain_of_the_genesis_file_never_the_nodes(cluster, tmp_path):
    """The node's /v1/status does not pick the chain a transaction is signed
    for: with the genesis file of another chain, the node refuses it."""
    from node.devtools.consortium import create_consortium

    alpha = cluster.institutions[0]
    create_consortium(tmp_path / "other", institutions=1, base_port=7190, clients_per_institution=1)
    result = consort("tx", "pay", "--node", cluster.urls[0], "--key", str(cluster.directory / alpha["client_keys"][0]),
                     "--from", alpha["id"], "--to", cluster.institutions[1]["id"], "--amount", "1",
                     "--genesis", str(tmp_path / "other" / "genesis.json"))
    assert_one_line_error(result, "wrong_chain")


def test_errors_are_one_line(tmp_path):
    from node.devtools.consortium import create_consortium

    create_consortium(tmp_path / "c", institutions=1, base_port=7190, clients_per_institution=1)
    reading = ("--key", str(tmp_path / "c" / "bank-alpha" / "client-0.key"), "--genesis", str(tmp_path / "c" / "genesis.json"))
    assert_one_line_error(consort("chain", "status", "--node", "http://127.0.0.1:9", *reading), "cannot reach node")
    assert_one_line_error(consort("chain", "status", "--node", "http://127.0.0.1:9", "--key", reading[1]),
                          "no genesis file")
    assert_one_line_error(consort("node", "start", "--config", str(tmp_path / "missing.json")), "cannot read")
    (tmp_path / "bad.key").write_text("{}")
    assert_one_line_error(consort("tx", "pay", "--key", str(tmp_path / "bad.key"), "--from", "a", "--to", "b",
                                  "--amount", "5"), "not an ed25519 key file")
    assert_one_line_error(consort("tx", "pay", "--key", str(tmp_path / "bad.key"), "--from", "a", "--to", "b",
                                  "--amount", "0"), "--amount")
    write_key_file(tmp_path / "client.key", KeyPair.generate())
    assert_one_line_error(consort("tx", "pay", "--node", "http://127.0.0.1:9", "--key", str(tmp_path / "client.key"),
                                  "--from", "a", "--to", "b", "--amount", "5"), "no genesis file")
    assert_one_line_error(consort("init", "--dir", str(tmp_path)), "not empty")


@pytest.mark.parametrize("change, fragment", [
    (lambda c: c.pop("port"), "missing field 'port'"),
    (lambda c: c.update(port="7100"), "field 'port' must be an integer"),
    (lambda c: c.update(port=70_000), "field 'port' must be in 1..65535"),
    (lambda c: c.update(limits={"inbox_max": 0}), "limits.inbox_max must be a positive integer"),
    (lambda c: c.update(limits={"inbox_size": 5}), "limits: unknown field 'inbox_size'"),
    (lambda c: c.update(peers=[{"institution": "bank-bravo"}]), "peers[0] must be an object"),
    (lambda c: c.update(access_log=5), "field 'access_log' must be a string"),
    (lambda c: c.update(limits={"seen_requests_max": 10, "seen_requests_per_key_max": 11}),
     "limits.seen_requests_per_key_max must not exceed limits.seen_requests_max"),
])
def test_a_bad_node_config_is_one_line_naming_the_field(tmp_path, change, fragment):
    from node.devtools.consortium import create_consortium

    create_consortium(tmp_path / "c", institutions=1, base_port=7190, clients_per_institution=1)
    path = tmp_path / "c" / "bank-alpha" / "node.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    assert_one_line_error(consort("node", "start", "--config", str(path)), fragment)


@pytest.mark.parametrize("consensus, fragment", [
    ({"window": 8, "checkpoint_interval": 16}, "consensus.window must be at least 2 x checkpoint_interval"),
    ({"request_timeout_ms": 0}, "consensus.request_timeout_ms must be at least 1 (got 0)"),
    ({"checkpoint_intervall": 16}, "consensus.checkpoint_intervall: unknown parameter"),
])
def test_a_genesis_a_replica_cannot_run_with_is_one_line_naming_the_field(tmp_path, consensus, fragment):
    from node.devtools.consortium import create_consortium

    create_consortium(tmp_path / "c", institutions=1, base_port=7190, clients_per_institution=1)
    path = tmp_path / "c" / "genesis.json"
    genesis = json.loads(path.read_text())
    genesis["consensus"] = consensus
    path.write_text(json.dumps(genesis))
    assert_one_line_error(consort("node", "start", "--config", str(tmp_path / "c" / "bank-alpha" / "node.json")),
                          fragment)
