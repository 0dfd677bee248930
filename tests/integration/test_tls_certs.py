"""The certificates of crypto.certs in a real TLS 1.3 handshake on 127.0.0.1
(Python's ssl, OpenSSL 3): root -> institution CA -> node, Ed25519 all the
way, client certificates required, each side loading its node certificate
chain and its key as encrypted PKCS#8 with a password (`certs.tls_key_pem`).
A certificate from another root, an expired one, or none at all is refused."""

from __future__ import annotations

import dataclasses
import secrets
import socket
import ssl
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from crypto import certs
from crypto.keys import KeyPair

pytestmark = pytest.mark.integration
YEAR = timedelta(days=365)
TIMEOUT_S = 10.0


@dataclasses.dataclass
class Consortium:
    root_key: KeyPair
    root_pem: bytes
    directory: Path

    @classmethod
    def create(cls, directory: Path, name: str, now: datetime) -> "Consortium":
        directory.mkdir()
        root_key = KeyPair.generate()
        root_pem = certs.root_certificate(root_key, name, now, 10 * YEAR)
        (directory / "ca.crt").write_bytes(root_pem)
        return cls(root_key, root_pem, directory)

    def node(self, institution: str, now: datetime, lifetime: timedelta = YEAR) -> "NodeFiles":
        """An institution CA (from its CSR) and a node certificate for 127.0.0.1, as files."""
        institution_key, node_key = KeyPair.generate(), KeyPair.generate()
        institution_pem = certs.sign_institution_csr(certs.institution_csr(institution_key, institution),
                                                     self.root_pem, self.root_key, now, 5 * YEAR)
        node_pem = certs.node_certificate(node_key.public_key, ["127.0.0.1"], institution_pem, institution_key,
                                          now, lifetime)
        password = secrets.token_bytes(32)
        chain = self.directory / f"{institution}.crt"
        chain.write_bytes(node_pem + institution_pem)
        key_file = self.directory / f"{institution}.pem"
        key_file.write_bytes(certs.tls_key_pem(node_key, password))
        key_file.chmod(0o600)
        return NodeFiles(node_key, chain, key_file, password, self.directory / "ca.crt")


@dataclasses.dataclass
class NodeFiles:
    node_key: KeyPair
    chain: Path
    key_file: Path
    password: bytes
    ca: Path

    def server(self) -> ssl.SSLContext:
        """What a node serves with: its chain and key; it requires a client certificate from its root."""
        context = tls13(ssl.PROTOCOL_TLS_SERVER, self.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(self.chain, self.key_file, password=self.password)
        return context

    def client(self, ca: Path | None = None) -> ssl.SSLContext:
        """What a node dials with: its chain and key; it checks the server against `ca` (its own root)."""
        context = tls13(ssl.PROTOCOL_TLS_CLIENT, ca or self.ca)
        context.load_cert_chain(self.chain, self.key_file, password=self.password)
        return context


def tls13(protocol: int, ca: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cafile=ca)
    return context


@dataclasses.dataclass
class Outcome:
    version: str | None = None
    peer_der: bytes | None = None
    error: BaseException | None = None


def handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> tuple[Outcome, Outcome]:
    """One connection on 127.0.0.1, the client checking the server's
    certificate names 127.0.0.1; each side's outcome. In TLS 1.3 the client
    ends its handshake before the server has checked its certificate, so a
    refused client learns it on its first read."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT_S)
    served = Outcome()

    def serve() -> None:
        try:
            connection, _ = listener.accept()
            connection.settimeout(TIMEOUT_S)
            with server_context.wrap_socket(connection, server_side=True) as tls:
                served.version, served.peer_der = tls.version(), tls.getpeercert(binary_form=True)
                tls.sendall(tls.recv(5).upper())
        except (ssl.SSLError, OSError) as exc:
            served.error = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    dialled = Outcome()
    try:
        with socket.create_connection(listener.getsockname(), timeout=TIMEOUT_S) as raw:
            with client_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                dialled.version, dialled.peer_der = tls.version(), tls.getpeercert(binary_form=True)
                tls.sendall(b"hello")
                if tls.recv(5) != b"HELLO":
                    raise ssl.SSLError("the server closed the connection")
    except (ssl.SSLError, OSError) as exc:
        dialled.error = exc
    finally:
        thread.join(TIMEOUT_S)
        listener.close()
    assert not thread.is_alive()
    return served, dialled


def pem_of(der: bytes) -> bytes:
    return ssl.DER_cert_to_PEM_cert(der).encode()


@pytest.fixture
def now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture
def ours(tmp_path, now) -> Consortium:
    return Consortium.create(tmp_path / "ours", "Consort root", now - timedelta(minutes=5))


def test_two_nodes_of_one_root_do_mutual_tls13_and_see_each_others_node_key(ours, now):
    alpha = ours.node("bank-alpha", now - timedelta(minutes=1))
    bravo = ours.node("bank-bravo", now - timedelta(minutes=1))
    served, dialled = handshake(alpha.server(), bravo.client())
    assert served.error is None and dialled.error is None, (served.error, dialled.error)
    assert served.version == dialled.version == "TLSv1.3"
    assert certs.node_identity(pem_of(served.peer_der)) == certs.NodeIdentity(bravo.node_key.public_key, "bank-bravo")
    assert certs.node_identity(pem_of(dialled.peer_der)) == certs.NodeIdentity(alpha.node_key.public_key,
                                                                               "bank-alpha")


def test_a_client_certificate_from_another_root_is_refused(tmp_path, ours, now):
    theirs = Consortium.create(tmp_path / "theirs", "Consort root", now - timedelta(minutes=5))  # the same name
    alpha = ours.node("bank-alpha", now - timedelta(minutes=1))
    stranger = theirs.node("bank-bravo", now - timedelta(minutes=1))
    served, dialled = handshake(alpha.server(), stranger.client(ca=alpha.ca))
    assert isinstance(served.error, ssl.SSLCertVerificationError), served.error
    assert "unable to get local issuer certificate" in served.error.verify_message
    assert dialled.error is not None


def test_a_server_certificate_from_another_root_is_refused(tmp_path, ours, now):
    theirs = Consortium.create(tmp_path / "theirs", "Consort root", now - timedelta(minutes=5))
    stranger = theirs.node("bank-alpha", now - timedelta(minutes=1))
    bravo = ours.node("bank-bravo", now - timedelta(minutes=1))
    served, dialled = handshake(stranger.server(), bravo.client())
    assert isinstance(dialled.error, ssl.SSLCertVerificationError), dialled.error
    assert "unable to get local issuer certificate" in dialled.error.verify_message
    assert served.error is not None


def test_an_expired_client_certificate_is_refused(ours, now):
    alpha = ours.node("bank-alpha", now - timedelta(minutes=1))
    expired = ours.node("bank-bravo", now - timedelta(minutes=4), lifetime=timedelta(minutes=2))
    served, dialled = handshake(alpha.server(), expired.client())
    assert isinstance(served.error, ssl.SSLCertVerificationError), served.error
    assert "certificate has expired" in served.error.verify_message
    assert dialled.error is not None


def test_an_expired_server_certificate_is_refused(ours, now):
    expired = ours.node("bank-alpha", now - timedelta(minutes=4), lifetime=timedelta(minutes=2))
    bravo = ours.node("bank-bravo", now - timedelta(minutes=1))
    served, dialled = handshake(expired.server(), bravo.client())
    assert isinstance(dialled.error, ssl.SSLCertVerificationError), dialled.error
    assert "certificate has expired" in dialled.error.verify_message


def test_a_client_without_a_certificate_is_refused(ours, now):
    alpha = ours.node("bank-alpha", now - timedelta(minutes=1))
    served, dialled = handshake(alpha.server(), tls13(ssl.PROTOCOL_TLS_CLIENT, alpha.ca))
    assert isinstance(served.error, ssl.SSLError) and "certificate" in str(served.error).lower(), served.error
    assert dialled.error is not None


def test_the_tls_key_does_not_load_without_its_password(ours, now):
    alpha = ours.node("bank-alpha", now - timedelta(minutes=1))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(ssl.SSLError):
        context.load_cert_chain(alpha.chain, alpha.key_file, password=b"not the password")
