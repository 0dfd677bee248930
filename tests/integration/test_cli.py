"""The `consort` command line against a running consortium, and its errors:
one clear line on stderr, no traceback; exit status 1 for a refusal, 2 for
a command line that is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from conftest import free_base_port
from crypto import certs
from crypto.keys import KDF_COST_LIGHT, KeyPair, read_key_file, write_key_file
from fixtures import PASSPHRASE
from node.devtools.consortium import create_consortium
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration


def consort(*args: str, passphrase: str | None = PASSPHRASE, env: dict | None = None) -> subprocess.CompletedProcess:
    """`consort ARGS` with CONSORT_PASSPHRASE set to `passphrase` (None: unset),
    CONSORT_GENESIS unset, then `env`; no terminal."""
    unset = (ENV_VAR, "CONSORT_GENESIS", "CONSORT_CA")
    environment = {name: value for name, value in os.environ.items() if name not in unset}
    if passphrase is not None:
        environment[ENV_VAR] = passphrase
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**environment, **(env or {})}, stdin=subprocess.DEVNULL)


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str, status: int = 1) -> None:
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("consort: error:"), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_pay_status_and_block_from_the_command_line(cluster):
    alpha = cluster.institutions[0]
    genesis, ca = str(cluster.directory / "genesis.json"), str(cluster.ca)
    result = consort("tx", "pay", "--node", cluster.urls[1], "--key", str(cluster.directory / alpha["client_keys"][0]),
                     "--from", alpha["id"], "--to", cluster.institutions[2]["id"], "--amount", "12500",
                     env={"CONSORT_GENESIS": genesis, "CONSORT_CA": ca})
    assert result.returncode == 0, result.stderr
    paid = json.loads(result.stdout)
    assert paid["receipts"][0]["ok"] and paid["receipts"][0]["tx_hash"] == paid["tx_hash"]

    alpha_key = str(cluster.directory / alpha["client_keys"][0])
    status = json.loads(consort("chain", "status", "--node", cluster.urls[1], "--key", alpha_key,
                                "--genesis", genesis, "--ca", ca).stdout)
    assert status["height"] >= 1 and status["replica_id"] == 1
    block = json.loads(consort("chain", "block", "1", "--node", cluster.urls[1], "--key", alpha_key, "--ca", ca,
                               env={"CONSORT_GENESIS": genesis}).stdout)
    assert block["txs"][0]["args"]["amount"] == 12500
    unsigned = consort("chain", "status", "--node", cluster.urls[1])
    assert unsigned.returncode == 2 and "--key" in unsigned.stderr
    # the node's certificate is from the consortium's root, which the system does not trust
    assert_one_line_error(consort("chain", "status", "--node", cluster.urls[1], "--key", alpha_key,
                                  "--genesis", genesis), "CERTIFICATE_VERIFY_FAILED")

    refused = consort("tx", "pay", "--node", cluster.urls[0], "--key", str(cluster.directory / alpha["client_keys"][0]),
                      "--from", cluster.institutions[3]["id"], "--to", alpha["id"], "--amount", "1",
                      "--genesis", genesis, "--ca", ca)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["receipts"][0]["code"] == "not_authorized"


def test_a_transaction_is_signed_for_the_chain_of_the_genesis_file_never_the_nodes(cluster, tmp_path):
    """The node's /v1/status does not pick the chain a transaction is signed
    for: with the genesis file of another chain, the node refuses it."""
    alpha = cluster.institutions[0]
    create_consortium(tmp_path / "other", institutions=1, base_port=7190, clients_per_institution=1,
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    result = consort("tx", "pay", "--node", cluster.urls[0], "--key", str(cluster.directory / alpha["client_keys"][0]),
                     "--from", alpha["id"], "--to", cluster.institutions[1]["id"], "--amount", "1",
                     "--genesis", str(tmp_path / "other" / "genesis.json"), "--ca", str(cluster.ca))
    assert_one_line_error(result, "wrong_chain")


def test_errors_are_one_line(tmp_path):
    create_consortium(tmp_path / "c", institutions=1, base_port=7190, clients_per_institution=1,
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    reading = ("--key", str(tmp_path / "c" / "bank-alpha" / "client-0.key"), "--genesis", str(tmp_path / "c" / "genesis.json"))
    assert_one_line_error(consort("chain", "status", "--node", "http://127.0.0.1:9", *reading), "cannot reach node")
    assert_one_line_error(consort("chain", "status", "--node", "http://127.0.0.1:9", "--key", reading[1]),
                          "no genesis file", status=2)
    assert_one_line_error(consort("node", "start", "--config", str(tmp_path / "missing.json")), "cannot read")
    (tmp_path / "bad.key").write_text("{}")
    (tmp_path / "bad.key").chmod(0o600)
    assert_one_line_error(consort("tx", "pay", "--key", str(tmp_path / "bad.key"), "--from", "a", "--to", "b",
                                  "--amount", "5"), "not an ed25519 key file")
    assert_one_line_error(consort("tx", "pay", "--key", str(tmp_path / "bad.key"), "--from", "a", "--to", "b",
                                  "--amount", "0"), "--amount", status=2)
    write_key_file(tmp_path / "client.key", KeyPair.generate(), PASSPHRASE, KDF_COST_LIGHT)
    assert_one_line_error(consort("tx", "pay", "--node", "http://127.0.0.1:9", "--key", str(tmp_path / "client.key"),
                                  "--from", "a", "--to", "b", "--amount", "5"), "no genesis file", status=2)
    assert_one_line_error(consort("init", "--dir", str(tmp_path)), "not empty")


@pytest.mark.parametrize("change, fragment", [
    (lambda c: c.pop("port"), "missing field 'port'"),
    (lambda c: c.update(port="7100"), "field 'port' must be an integer"),
    (lambda c: c.update(port=70_000), "field 'port' must be in 1..65535"),
    (lambda c: c.update(limits={"inbox_max": 0}), "limits.inbox_max must be a positive integer"),
    (lambda c: c.update(limits={"inbox_size": 5}), "limits: unknown field 'inbox_size'"),
    (lambda c: c.update(peers=[{"institution": "bank-bravo"}]), "peers[0] must be an object"),
    (lambda c: c.update(access_log=5), "field 'access_log' must be a string"),
    (lambda c: c.update(endpoint="node_0:7100"), "field 'endpoint': a host name is dot-separated labels"),
    (lambda c: c.update(endpoint=7100), "field 'endpoint' must be a string"),
    (lambda c: c.update(limits={"seen_requests_max": 10, "seen_requests_per_key_max": 11}),
     "limits.seen_requests_per_key_max must not exceed limits.seen_requests_max"),
    (lambda c: c.update(operator="0.0.0.0:8190"), "field 'operator': 0.0.0.0 is not one interface"),
    (lambda c: c.update(limits={"events_subscribers_max": 4, "events_subscribers_per_caller_max": 5}),
     "limits.events_subscribers_per_caller_max must not exceed limits.events_subscribers_max"),
])
def test_a_bad_node_config_is_one_line_naming_the_field(tmp_path, change, fragment):
    create_consortium(tmp_path / "c", institutions=1, base_port=7190, clients_per_institution=1,
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
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
    create_consortium(tmp_path / "c", institutions=1, base_port=7190, clients_per_institution=1,
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    path = tmp_path / "c" / "genesis.json"
    genesis = json.loads(path.read_text())
    genesis["consensus"] = consensus
    path.write_text(json.dumps(genesis))
    assert_one_line_error(consort("node", "start", "--config", str(tmp_path / "c" / "bank-alpha" / "node.json")),
                          fragment)


# --- key files and their passphrase ------------------------------------------------

@pytest.fixture
def client_key(tmp_path):
    path = tmp_path / "client.key"
    write_key_file(path, KeyPair.generate(), PASSPHRASE, KDF_COST_LIGHT)
    return path


def pay_with(key_path, *options: str, passphrase: str | None = PASSPHRASE) -> subprocess.CompletedProcess:
    return consort("tx", "pay", "--node", "http://127.0.0.1:9", "--key", str(key_path), *options, "--from", "a",
                   "--to", "b", "--amount", "5", passphrase=passphrase)


def test_a_key_file_open_to_others_is_one_line_saying_the_fix(client_key):
    client_key.chmod(0o644)
    assert_one_line_error(pay_with(client_key), f"(mode 0644); `chmod 600 {client_key}` fixes it")


def test_a_wrong_passphrase_is_one_line(client_key):
    assert_one_line_error(pay_with(client_key, passphrase="not it"), "client.key: wrong passphrase")


def test_without_passphrase_or_terminal_the_error_says_how_to_give_one(client_key):
    assert_one_line_error(pay_with(client_key, passphrase=None),
                          "no terminal to ask on: set CONSORT_PASSPHRASE, or pass --passphrase-fd N or "
                          "--passphrase-file F")


def test_the_passphrase_comes_from_a_file_or_a_descriptor_before_the_environment(tmp_path, client_key):
    given = tmp_path / "passphrase"
    given.write_text(PASSPHRASE + "\n")
    given.chmod(0o600)
    # the key opens: the command gets as far as the (absent) genesis file
    assert_one_line_error(pay_with(client_key, "--passphrase-file", str(given), passphrase="not it"),
                          "no genesis file", status=2)
    given.chmod(0o640)
    assert_one_line_error(pay_with(client_key, "--passphrase-file", str(given)),
                          f"passphrase file is open to group or others (mode 0640); `chmod 600 {given}`")
    read_end, write_end = os.pipe()
    os.write(write_end, PASSPHRASE.encode() + b"\n")
    os.close(write_end)
    try:
        run = subprocess.run([sys.executable, "-m", "node.cli", "tx", "pay", "--node", "http://127.0.0.1:9",
                              "--key", str(client_key), "--passphrase-fd", str(read_end), "--from", "a", "--to", "b",
                              "--amount", "5"], capture_output=True, text=True, timeout=60, pass_fds=(read_end,),
                             env={**os.environ, ENV_VAR: "not it", "CONSORT_GENESIS": ""}, stdin=subprocess.DEVNULL)
    finally:
        os.close(read_end)
    assert_one_line_error(run, "no genesis file", status=2)


def test_a_node_whose_key_does_not_open_does_not_start(tmp_path):
    create_consortium(tmp_path / "c", institutions=1, base_port=7190, clients_per_institution=1,
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    config = str(tmp_path / "c" / "bank-alpha" / "node.json")
    assert_one_line_error(consort("node", "start", "--config", config, passphrase="not it"),
                          "node.key: wrong passphrase")
    assert_one_line_error(consort("node", "start", "--config", config, passphrase=None), "no passphrase")


def test_a_node_without_tls_starts_only_with_insecure_and_says_so(tmp_path):
    """Plain HTTP is never the default: a config without its tls section is
    refused, naming --insecure; a node whose certificate is for another key
    does not start; --insecure starts with a loud warning."""
    create_consortium(tmp_path / "c", institutions=2, base_port=free_base_port(2), clients_per_institution=1,
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    config_path = tmp_path / "c" / "bank-alpha" / "node.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "tls": {"ca": "../ca/ca.crt", "cert": "../bank-bravo/node.crt"}}))
    assert_one_line_error(consort("node", "start", "--config", str(config_path)), "not of this node's key")
    del config["tls"]
    config_path.write_text(json.dumps(config))
    assert_one_line_error(consort("node", "start", "--config", str(config_path)),
                          "has no 'tls' section (the root CA and this node's certificate chain); plain HTTP only "
                          "with --insecure")
    process = subprocess.Popen([sys.executable, "-m", "node.cli", "node", "start", "--config", str(config_path),
                                "--insecure"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, ENV_VAR: PASSPHRASE}, stdin=subprocess.DEVNULL)
    try:
        first_line = process.stderr.readline()
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert first_line.startswith("consort: WARNING: INSECURE: started with --insecure: the API is plain HTTP")


def test_init_writes_every_key_encrypted_owner_only_at_the_cost_asked(tmp_path):
    made = consort("init", "--dir", str(tmp_path / "c"), "--institutions", "2", "--clients", "1",
                   "--kdf-cost", "light")
    assert made.returncode == 0, made.stderr
    key_files = sorted((tmp_path / "c").rglob("*.key"))
    assert [p.relative_to(tmp_path / "c").as_posix() for p in key_files] == [
        "bank-alpha/client-0.key", "bank-alpha/institution-ca.key", "bank-alpha/mpc-client.key",
        "bank-alpha/mpc.key", "bank-alpha/node.key",
        "bank-bravo/client-0.key", "bank-bravo/institution-ca.key", "bank-bravo/mpc-client.key",
        "bank-bravo/mpc.key", "bank-bravo/node.key", "ca/ca.key",
        "central-bank/client-0.key", "central-bank/institution-ca.key", "central-bank/mpc.key"]
    for path in key_files:
        assert path.stat().st_mode & 0o777 == 0o600
        document = json.loads(path.read_text())
        assert document["format"] == "consort-key/1" and document["kdf"]["n"] == KDF_COST_LIGHT.n
        assert PASSPHRASE not in path.read_text()
    assert read_key_file(key_files[4], PASSPHRASE).public_key.hex() == json.loads(
        (tmp_path / "c" / "genesis.json").read_text())["institutions"][0]["node_key"]


def test_init_writes_the_root_and_each_nodes_certificate_chain(tmp_path):
    create_consortium(tmp_path / "c", institutions=2, base_port=7190, clients_per_institution=1,
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    directory = tmp_path / "c"
    index = json.loads((directory / "consortium.json").read_text())
    genesis = json.loads((directory / "genesis.json").read_text())
    root = (directory / index["ca_cert"]).read_bytes()
    assert read_key_file(directory / "ca" / "ca.key", PASSPHRASE).public_key == certs.public_key_of(root)
    for entry, member in zip(index["institutions"], genesis["institutions"]):
        config = json.loads((directory / entry["config"]).read_text())
        assert config["tls"] == {"ca": "../ca/ca.crt", "cert": "node.crt"} and config["node_key"] == "node.key"
        assert entry["url"] == f"https://127.0.0.1:{7190 + entry['replica_id']}"
        assert member["node_endpoint"] == entry["url"].removeprefix("https://")
        chain = (directory / entry["node_cert"]).read_bytes()
        identity = certs.verify_node_chain(chain, root, datetime.now(timezone.utc))
        assert identity == certs.NodeIdentity(bytes.fromhex(member["node_key"]), entry["id"])
        assert certs.node_hosts(chain) == ["127.0.0.1"]
    central_bank = (directory / index["regulators"][0]["institution_ca_cert"]).read_bytes()
    assert certs.institution_of(central_bank) == "central-bank"
    assert not (directory / "central-bank" / "node.crt").exists()
