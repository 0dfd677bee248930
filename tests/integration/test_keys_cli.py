"""`consort ca init | keygen | ca sign | cert node | cert show` end to end, as
separate parties with their own passphrases: the root CA holder makes the
root, an institution makes its keys and request, the root signs it, the
institution issues its node certificate, and the chain verifies against the
root, naming the node key keygen printed. Refusals are one line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from crypto import certs
from crypto.keys import read_key_file, read_public_key
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration
ROOT_PASSPHRASE = "root holder's passphrase"
ALPHA_PASSPHRASE = "bank alpha's passphrase"


def consort(*args: str, passphrase: str) -> subprocess.CompletedProcess:
    env = {**os.environ, ENV_VAR: passphrase}
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env, stdin=subprocess.DEVNULL)


def ok(run: subprocess.CompletedProcess) -> dict:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def refused(run: subprocess.CompletedProcess, fragment: str) -> None:
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1 and lines[0].startswith("consort: error:"), run.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def ca(tmp_path):
    ca_dir = tmp_path / "ca"
    made = ok(consort("ca", "init", "--ca-dir", str(ca_dir), "--name", "Test consortium root CA",
                      "--kdf-cost", "light", passphrase=ROOT_PASSPHRASE))
    assert made["public_key"] == read_public_key(ca_dir / "ca.key").hex()
    return ca_dir


@pytest.fixture
def alpha(tmp_path):
    directory = tmp_path / "alpha"
    made = ok(consort("keygen", "--dir", str(directory), "--institution", "bank-alpha", "--clients", "2",
                      "--kdf-cost", "light", passphrase=ALPHA_PASSPHRASE))
    return directory, made


def test_ca_keygen_sign_and_node_certificate_verify_against_the_root(tmp_path, ca, alpha):
    directory, made = alpha
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["client-0.key", "client-1.key", "institution-ca.csr", "institution-ca.key", "node.key"]
    for name in ("client-0.key", "client-1.key", "institution-ca.key", "node.key"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    assert made["node_key"] == read_key_file(directory / "node.key", ALPHA_PASSPHRASE).public_key.hex()
    assert made["client_keys"] == [read_public_key(directory / f"client-{k}.key").hex() for k in range(2)]
    assert certs.institution_of_request((directory / "institution-ca.csr").read_bytes()) == "bank-alpha"

    signed = ok(consort("ca", "sign", "--ca-dir", str(ca), "--csr", str(directory / "institution-ca.csr"),
                        "--out", str(directory / "institution-ca.crt"), "--days", "30", passphrase=ROOT_PASSPHRASE))
    assert signed["institution"] == "bank-alpha" and signed["institution_ca_key"] == made["institution_ca_key"]

    issued = ok(consort("cert", "node", "--dir", str(directory), "--host", "127.0.0.1", "--host",
                        "node.alpha.example", "--ca", str(ca / "ca.crt"), passphrase=ALPHA_PASSPHRASE))
    assert issued["node_key"] == made["node_key"] and issued["institution"] == "bank-alpha"
    assert issued["hosts"] == ["127.0.0.1", "node.alpha.example"]
    assert issued["not_after"] == signed["not_after"]  # cut to its issuer's window (30 days)

    chain = (directory / "node.crt").read_bytes()
    assert len(certs.load_certificates(chain)) == 2
    identity = certs.verify_node_chain(chain, (ca / "ca.crt").read_bytes(), datetime.now(timezone.utc))
    assert identity == certs.NodeIdentity(bytes.fromhex(made["node_key"]), "bank-alpha")
    shown = ok(consort("cert", "show", str(directory / "node.crt"), "--ca", str(ca / "ca.crt"), passphrase=""))
    assert shown["node_key"] == made["node_key"] and shown["verified_against"] == str(ca / "ca.crt")


def test_each_party_needs_its_own_passphrase_only(ca, alpha):
    directory, _ = alpha
    csr = str(directory / "institution-ca.csr")
    refused(consort("ca", "sign", "--ca-dir", str(ca), "--csr", csr, "--out", str(directory / "institution-ca.crt"),
                    passphrase=ALPHA_PASSPHRASE), "ca.key: wrong passphrase")
    ok(consort("ca", "sign", "--ca-dir", str(ca), "--csr", csr, "--out", str(directory / "institution-ca.crt"),
               passphrase=ROOT_PASSPHRASE))
    refused(consort("cert", "node", "--dir", str(directory), "--host", "127.0.0.1", passphrase=ROOT_PASSPHRASE),
            "institution-ca.key: wrong passphrase")


def test_a_node_certificate_needs_the_institution_certificate_first(alpha):
    directory, _ = alpha
    refused(consort("cert", "node", "--dir", str(directory), "--host", "127.0.0.1", passphrase=ALPHA_PASSPHRASE),
            "cannot read institution CA certificate")


def test_a_tampered_request_is_refused_before_the_root_key_is_opened(ca, alpha):
    directory, _ = alpha
    text = (directory / "institution-ca.csr").read_text().splitlines()
    middle = len(text) // 2
    text[middle] = text[middle][:10] + ("A" if text[middle][10] != "A" else "B") + text[middle][11:]
    (directory / "tampered.csr").write_text("\n".join(text) + "\n")
    run = consort("ca", "sign", "--ca-dir", str(ca), "--csr", str(directory / "tampered.csr"), "--out",
                  str(directory / "institution-ca.crt"), passphrase="not even asked")
    refused(run, "certificate request")
    assert not (directory / "institution-ca.crt").exists()


def test_another_institutions_certificate_does_not_fit_the_key(tmp_path, ca, alpha):
    directory, _ = alpha
    bravo = tmp_path / "bravo"
    ok(consort("keygen", "--dir", str(bravo), "--institution", "bank-bravo", "--kdf-cost", "light",
               passphrase="bravo"))
    ok(consort("ca", "sign", "--ca-dir", str(ca), "--csr", str(bravo / "institution-ca.csr"), "--out",
               str(directory / "institution-ca.crt"), passphrase=ROOT_PASSPHRASE))
    refused(consort("cert", "node", "--dir", str(directory), "--host", "127.0.0.1", passphrase=ALPHA_PASSPHRASE),
            "the institution CA key does not match the institution CA certificate")


def test_a_chain_from_another_root_is_refused(tmp_path, ca, alpha):
    directory, _ = alpha
    ok(consort("ca", "sign", "--ca-dir", str(ca), "--csr", str(directory / "institution-ca.csr"), "--out",
               str(directory / "institution-ca.crt"), passphrase=ROOT_PASSPHRASE))
    other = tmp_path / "other-ca"
    ok(consort("ca", "init", "--ca-dir", str(other), "--name", "Test consortium root CA", "--kdf-cost", "light",
               passphrase="other"))
    refused(consort("cert", "node", "--dir", str(directory), "--host", "127.0.0.1", "--ca", str(other / "ca.crt"),
                    passphrase=ALPHA_PASSPHRASE), "is not issued by 'Test consortium root CA'")
    assert not (directory / "node.crt").exists()


def test_nothing_is_made_over_what_exists(tmp_path, ca, alpha):
    directory, _ = alpha
    refused(consort("keygen", "--dir", str(directory), "--institution", "bank-alpha", passphrase="x"), "not empty")
    refused(consort("ca", "init", "--ca-dir", str(ca), "--name", "again", passphrase="x"), "already holds a root CA")
    refused(consort("keygen", "--dir", str(tmp_path / "new"), "--institution", "Bank Alpha", passphrase="x"),
            "is not an institution id")
    assert not (tmp_path / "new").exists()
