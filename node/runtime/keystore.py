"""An institution's key and certificate files: their names, and how they are
made, signed and issued, for `consort keygen | ca | cert` and the local
consortium writer alike.

    <ca dir>/ca.key                  the consortium root CA's key         secret
    <ca dir>/ca.crt                  the root CA certificate              public
    <dir>/institution-ca.key         the institution CA's key             secret
    <dir>/institution-ca.csr         its request, for the root CA holder  public
    <dir>/institution-ca.crt         its certificate, signed by the root  public
    <dir>/node.key                   the node's consensus (and TLS) key   secret
    <dir>/node.crt                   node certificate, then institution CA certificate
    <dir>/client-N.key               client keys (sign transactions)      secret

Secret files are key files (crypto.keys: encrypted, mode 0600); a new key
never replaces an existing file. Certificates are PEM, mode 0644, replaced
whole (a renewed node certificate takes the old one's place).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable

from crypto import certs
from crypto.keys import KeyPair, ScryptCost, read_key_file, read_public_key, write_key_file

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
INSTITUTION_CA_KEY = "institution-ca.key"
INSTITUTION_CA_CSR = "institution-ca.csr"
INSTITUTION_CA_CERT = "institution-ca.crt"
NODE_KEY = "node.key"
NODE_CERT = "node.crt"
ROOT_DAYS = 3650
INSTITUTION_DAYS = 1825
NODE_DAYS = 365


def client_key_name(number: int) -> str:
    return f"client-{number}.key"


def new_key(path: Path, passphrase: str, cost: ScryptCost) -> KeyPair:
    """A fresh key written to `path` (which must not exist), encrypted."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists: a new key never replaces one")
    key_pair = KeyPair.generate()
    write_key_file(path, key_pair, passphrase, cost)
    return key_pair


def write_public(path: Path, data: bytes) -> None:
    """Write a certificate or request: mode 0644, replacing any old one whole."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, 0o644)
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_public(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()[: certs.CERTIFICATE_BYTES_MAX + 1]
    except OSError as exc:
        raise certs.CertificateError(f"cannot read {what} {path}: {exc.strerror}") from None


# --- the root CA holder --------------------------------------------------------------

def make_root(ca_dir: Path, name: str, passphrase: str, cost: ScryptCost, now: datetime,
              days: int = ROOT_DAYS) -> bytes:
    """A new root CA in `ca_dir`: its encrypted key and its certificate (returned)."""
    ca_dir = Path(ca_dir)
    ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_pair = new_key(ca_dir / CA_KEY, passphrase, cost)
    pem = certs.root_certificate(key_pair, name, now, timedelta(days=days))
    write_public(ca_dir / CA_CERT, pem)
    return pem


def sign_request(ca_dir: Path, csr_pem: bytes, passphrase: str, now: datetime,
                 days: int = INSTITUTION_DAYS) -> bytes:
    """The root CA in `ca_dir` signs an institution's request: its CA certificate."""
    ca_dir = Path(ca_dir)
    root_pem = read_public(ca_dir / CA_CERT, "root CA certificate")
    root_key = read_key_file(ca_dir / CA_KEY, passphrase)
    return certs.sign_institution_csr(csr_pem, root_pem, root_key, now, timedelta(days=days))


# --- an institution ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class InstitutionKeys:
    """The public half of what `make_institution` made."""

    institution: str
    institution_ca_key: bytes
    node_key: bytes | None
    client_keys: tuple[bytes, ...]
    csr: bytes


def make_institution(directory: Path, institution: str, passphrase: str, cost: ScryptCost,
                     clients: int, node: bool = True) -> InstitutionKeys:
    """An institution's own keys in `directory`: its CA key and request, its
    node key (unless `node` is false) and `clients` client keys, all encrypted
    with its passphrase; no one else sees them."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key = new_key(directory / INSTITUTION_CA_KEY, passphrase, cost)
    csr = certs.institution_csr(ca_key, institution)
    write_public(directory / INSTITUTION_CA_CSR, csr)
    node_key = new_key(directory / NODE_KEY, passphrase, cost).public_key if node else None
    client_keys = tuple(new_key(directory / client_key_name(k), passphrase, cost).public_key
                        for k in range(clients))
    return InstitutionKeys(institution, ca_key.public_key, node_key, client_keys, csr)


def issue_node_certificate(directory: Path, hosts: Iterable[str], passphrase: str, now: datetime,
                           days: int = NODE_DAYS, root_pem: bytes | None = None) -> bytes:
    """The institution in `directory` issues its node's certificate for `hosts`
    with its CA key, and writes the chain (node, then institution CA) to
    node.crt, once checked against `root_pem` when given; the chain is
    returned. The node key's passphrase is not needed."""
    directory = Path(directory)
    institution_pem = read_public(directory / INSTITUTION_CA_CERT, "institution CA certificate")
    institution_key = read_key_file(directory / INSTITUTION_CA_KEY, passphrase)
    node_pem = certs.node_certificate(read_public_key(directory / NODE_KEY), hosts, institution_pem,
                                      institution_key, now, timedelta(days=days))
    chain = certs.node_chain(node_pem, institution_pem)
    if root_pem is not None:
        certs.verify_node_chain(chain, root_pem, now)
    write_public(directory / NODE_CERT, chain)
    return chain
