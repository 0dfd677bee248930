"""TLS for a node: HTTPS for the API, mutual TLS 1.3 for peer links.

The node's TLS key is its Ed25519 consensus key, and its certificate
(issued by its institution's CA, itself issued by the consortium's root)
carries that key: one identity. The server asks every client for a
certificate but does not require one (member clients authenticate requests
with their registered keys instead); the peer endpoint refuses a link
without a verified certificate whose key is the one the peer proves in the
handshake. A certificate from another root, or expired, fails the TLS
handshake itself; a key not in the current membership is refused after it.

OpenSSL loads keys from files only: the key goes to a private temporary
file as encrypted PKCS#8 under a random per-process password, is loaded,
and the file is removed at once.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crypto import certs
from crypto.keys import KeyPair

KEY_PASSWORD_BYTES = 32


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: Path    # the consortium's root certificate: the one thing trusted
    cert: Path  # this node's certificate chain: node certificate, then its institution's


@dataclass(frozen=True, slots=True)
class TlsContexts:
    server: ssl.SSLContext  # the node's HTTPS site: API and peer endpoint
    client: ssl.SSLContext  # this node dialling its peers


def contexts(files: TlsFiles, key_pair: KeyPair, now: datetime) -> TlsContexts:
    """Both contexts, TLS 1.3 only, trusting only the consortium's root;
    the node's own chain must verify against that root at `now` and carry
    its key (else CertificateError, a ValueError)."""
    chain = files.cert.read_bytes()[: certs.CERTIFICATE_BYTES_MAX + 1]
    identity = certs.verify_node_chain(chain, files.ca.read_bytes()[: certs.CERTIFICATE_BYTES_MAX + 1], now)
    if identity.node_key != key_pair.public_key:
        raise ValueError(f"{files.cert} is the certificate of node key {identity.node_key.hex()[:16]}, "
                         f"not of this node's key {key_pair.public_key.hex()[:16]}")
    server = _context(ssl.PROTOCOL_TLS_SERVER, files, key_pair)
    server.verify_mode = ssl.CERT_OPTIONAL  # peers must present one (checked per link); API clients need not
    client = _context(ssl.PROTOCOL_TLS_CLIENT, files, key_pair)  # verifies the server and its host name
    return TlsContexts(server, client)


def client_context(ca: Path) -> ssl.SSLContext:
    """A client's context: TLS 1.3, trusting only the consortium's root."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cafile=str(ca))
    return context


def _context(protocol: int, files: TlsFiles, key_pair: KeyPair) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cafile=str(files.ca))
    password = os.urandom(KEY_PASSWORD_BYTES)
    fd, name = tempfile.mkstemp(prefix="consort-tls-", suffix=".pem")  # created 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(certs.tls_key_pem(key_pair, password))
        context.load_cert_chain(certfile=str(files.cert), keyfile=name, password=password)
    finally:
        os.unlink(name)
    return context


def peer_node_key(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes | None:
    """The node key in the verified certificate the other side presented, or
    None (no TLS, no certificate, or not a node certificate)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        return certs.node_identity(ssl.DER_cert_to_PEM_cert(der).encode()).node_key
    except (certs.CertificateError, ValueError):
        return None
