"""X.509 certificates of a consortium (the `cryptography` package), all Ed25519.

The chain has three levels, as in FISCO BCOS and Hyperledger Fabric:

    consortium root CA   CA:true, path length 1, key usage keyCertSign + cRLSign
    institution CA       one per institution, signed by the root from the
                         institution's own request (CSR), so no one else ever
                         sees its key: CA:true, path length 0, subject
                         O=<institution id>, CN=<institution id> institution CA
    node certificate     signed by its institution CA; its subject public key
                         IS the node's Ed25519 consensus key (one identity, not
                         two), subject O=<institution id>, CN=<institution id>
                         node; subject alternative names for every host the node
                         is reached at (IP addresses and DNS names) and the URI
                         `consort:node:<hex of the node key>`; CA:false, key
                         usage digitalSignature, extended key usage serverAuth
                         and clientAuth

A certificate proves that the consortium's CA chain vouches for a key; which
keys may take part is the chain's membership (genesis, then governance), and
a peer's key is checked against it as well.

Pure functions: PEM bytes in and out, no file I/O, no clock (the caller
passes `now`, a timezone-aware datetime). Serial numbers are random (RFC 5280
allows 20 octets; `x509.random_serial_number`). Must not import consensus,
contracts, node or netsim.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from crypto.keys import PUBLIC_KEY_SIZE, KeyPair

NODE_URI_PREFIX = "consort:node:"
ROOT_PATH_LENGTH = 1
INSTITUTION_PATH_LENGTH = 0
INSTITUTION_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")  # as contracts.genesis.ID_PATTERN
KNOWN_CRITICAL = frozenset({ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
                            ExtensionOID.SUBJECT_ALTERNATIVE_NAME})
HOSTS_MAX = 64
HOST_CHARS_MAX = 253
CERTIFICATE_BYTES_MAX = 64 * 1024
DNS_NAME_PATTERN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                              r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class CertificateError(ValueError):
    """A certificate, request or chain that is malformed, mismatched, out of
    its validity window, or not issued by whom it claims."""


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """What a node certificate carries: the node's Ed25519 key and its institution."""

    node_key: bytes
    institution: str


@dataclass(frozen=True, slots=True)
class Validity:
    not_before: datetime
    not_after: datetime

    def holds_at(self, now: datetime) -> bool:
        return self.not_before <= now <= self.not_after


# --- building ----------------------------------------------------------------------

def _private_key(key_pair: KeyPair) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(key_pair.seed)


def _public_key(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != PUBLIC_KEY_SIZE:
        raise CertificateError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes (got {len(raw)})")
    return Ed25519PublicKey.from_public_bytes(raw)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    return now.astimezone(timezone.utc).replace(microsecond=0)


def check_institution_id(institution: str) -> str:
    """`institution` if it is an institution id (the genesis rule), else CertificateError."""
    if not isinstance(institution, str) or not INSTITUTION_ID_PATTERN.fullmatch(institution):
        raise CertificateError(f"{institution!r} is not an institution id (lower-case letters, digits and "
                               "'-', at most 32)")
    return institution


def _name(common_name: str, institution: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, institution)] if institution else []
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_extensions(builder: x509.CertificateBuilder, path_length: int) -> x509.CertificateBuilder:
    return (builder
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True))


def _issued(builder: x509.CertificateBuilder, subject_key: Ed25519PublicKey, issuer_name: x509.Name,
            issuer_key: Ed25519PrivateKey, not_before: datetime, not_after: datetime) -> bytes:
    """`builder` (subject and extensions) completed and signed by `issuer_key`, as PEM."""
    issuer_public = issuer_key.public_key()
    builder = (builder
               .issuer_name(issuer_name)
               .public_key(subject_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False))
    return builder.sign(issuer_key, algorithm=None).public_bytes(serialization.Encoding.PEM)


def _window(now: datetime, lifetime: timedelta, issuer: x509.Certificate | None) -> tuple[datetime, datetime]:
    """(not before, not after): from `now` for `lifetime`, cut to the issuer's own end."""
    if lifetime <= timedelta(0):
        raise ValueError("a certificate's lifetime must be positive")
    not_before = _utc(now)
    not_after = not_before + lifetime
    if issuer is not None:
        if not _is_ca(issuer):
            raise CertificateError(f"{_common_name(issuer)!r} is not a CA certificate: it cannot issue")
        if not validity(issuer).holds_at(not_before):
            raise CertificateError(f"the issuer {_common_name(issuer)!r} is not valid at {not_before.isoformat()} "
                                   f"(valid {_window_text(issuer)})")
        not_after = min(not_after, issuer.not_valid_after_utc)
    return not_before, not_after


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and usage.key_cert_sign


def root_certificate(key_pair: KeyPair, name: str, now: datetime, lifetime: timedelta) -> bytes:
    """The consortium's self-signed root CA certificate (PEM), named `name`."""
    if not name or not isinstance(name, str):
        raise ValueError("the root CA needs a name")
    not_before, not_after = _window(now, lifetime, None)
    builder = _ca_extensions(x509.CertificateBuilder().subject_name(_name(name)), ROOT_PATH_LENGTH)
    key = _private_key(key_pair)
    return _issued(builder, key.public_key(), _name(name), key, not_before, not_after)


def institution_csr(key_pair: KeyPair, institution: str) -> bytes:
    """An institution's request (PEM) for its CA certificate, signed with its own key."""
    check_institution_id(institution)
    subject = _name(f"{institution} institution CA", institution)
    return (x509.CertificateSigningRequestBuilder().subject_name(subject)
            .sign(_private_key(key_pair), algorithm=None).public_bytes(serialization.Encoding.PEM))


def sign_institution_csr(csr_pem: bytes, root_pem: bytes, root_key: KeyPair, now: datetime,
                         lifetime: timedelta) -> bytes:
    """The root's signature of an institution's CSR: its institution CA
    certificate (PEM). Only the CSR's key and institution are taken; the root
    decides every extension (CA, path length 0), whatever the CSR asks."""
    csr = load_csr(csr_pem)
    root = load_certificate(root_pem)
    if _raw_public_key(root) != root_key.public_key:
        raise CertificateError("the root CA key does not match the root CA certificate")
    institution = check_institution_id(_organization(csr.subject, "the request"))
    not_before, not_after = _window(now, lifetime, root)
    builder = _ca_extensions(x509.CertificateBuilder().subject_name(_name(f"{institution} institution CA",
                                                                          institution)), INSTITUTION_PATH_LENGTH)
    return _issued(builder, csr.public_key(), root.subject, _private_key(root_key), not_before, not_after)


def node_uri(node_key: bytes) -> str:
    return NODE_URI_PREFIX + node_key.hex()


def _host_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    hosts = list(hosts)
    if not 1 <= len(hosts) <= HOSTS_MAX:
        raise CertificateError(f"a node certificate names 1 to {HOSTS_MAX} hosts (got {len(hosts)})")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        if not isinstance(host, str) or not DNS_NAME_PATTERN.fullmatch(host):
            raise CertificateError(f"{host!r} is neither an IP address nor a DNS name")
        names.append(x509.DNSName(host.lower()))
    return list(dict.fromkeys(names))


def node_certificate(node_key: bytes, hosts: Iterable[str], institution_pem: bytes, institution_key: KeyPair,
                     now: datetime, lifetime: timedelta) -> bytes:
    """A node certificate (PEM) for the Ed25519 consensus key `node_key`, reached
    at `hosts` (IP addresses or DNS names), issued by the institution CA."""
    issuer = load_certificate(institution_pem)
    if _raw_public_key(issuer) != institution_key.public_key:
        raise CertificateError("the institution CA key does not match the institution CA certificate")
    institution = _organization(issuer.subject, "the institution CA certificate")
    subject_key = _public_key(node_key)
    not_before, not_after = _window(now, lifetime, issuer)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(f"{institution} node", institution))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                     ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.SubjectAlternativeName([*_host_names(hosts),
                                                           x509.UniformResourceIdentifier(node_uri(node_key))]),
                              critical=False))
    return _issued(builder, subject_key, issuer.subject, _private_key(institution_key), not_before, not_after)


def node_chain(node_pem: bytes, institution_pem: bytes) -> bytes:
    """What a node presents (its `node.crt`): its certificate, then its institution CA's."""
    return _pem(load_certificate(node_pem)) + _pem(load_certificate(institution_pem))


def tls_key_pem(key_pair: KeyPair, password: bytes) -> bytes:
    """The key as encrypted PKCS#8 PEM, for OpenSSL's
    `load_cert_chain(certfile, keyfile, password)`."""
    if not password:
        raise ValueError("an encrypted key needs a password")
    return _private_key(key_pair).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.BestAvailableEncryption(password))


# --- reading -----------------------------------------------------------------------

def load_certificate(pem: bytes) -> x509.Certificate:
    """The first certificate of `pem`, which must be Ed25519-signed with an Ed25519 key."""
    return load_certificates(pem)[0]


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM file (a chain), at least one."""
    if not isinstance(pem, bytes) or len(pem) > CERTIFICATE_BYTES_MAX:
        raise CertificateError(f"a certificate file is PEM bytes of at most {CERTIFICATE_BYTES_MAX}")
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from None
    for certificate in certificates:
        if not isinstance(certificate.public_key(), Ed25519PublicKey) or \
                certificate.signature_algorithm_oid != x509.SignatureAlgorithmOID.ED25519:
            raise CertificateError(f"{_common_name(certificate)!r}: not an Ed25519 certificate")
    return certificates


def load_csr(pem: bytes) -> x509.CertificateSigningRequest:
    """A certificate request whose Ed25519 signature is its own key's."""
    if not isinstance(pem, bytes) or len(pem) > CERTIFICATE_BYTES_MAX:
        raise CertificateError(f"a certificate request is PEM bytes of at most {CERTIFICATE_BYTES_MAX}")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate request: {exc}") from None
    if not isinstance(csr.public_key(), Ed25519PublicKey):
        raise CertificateError("the certificate request's key is not Ed25519")
    if not csr.is_signature_valid:
        raise CertificateError("the certificate request's signature does not verify")
    return csr


def _raw_public_key(certificate: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return certificate.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_of(pem: bytes) -> bytes:
    """The raw 32-byte Ed25519 key a certificate (the first of `pem`) certifies."""
    return _raw_public_key(load_certificate(pem))


def _organization(name: x509.Name, what: str) -> str:
    values = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if len(values) != 1:
        raise CertificateError(f"{what} must name exactly one institution (O=...)")
    return str(values[0].value)


def _common_name(certificate: x509.Certificate) -> str:
    values = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else certificate.subject.rfc4514_string()


def _window_text(certificate: x509.Certificate) -> str:
    return f"{certificate.not_valid_before_utc.isoformat()} to {certificate.not_valid_after_utc.isoformat()}"


def validity(certificate: x509.Certificate | bytes) -> Validity:
    """A certificate's validity window (UTC)."""
    if isinstance(certificate, bytes):
        certificate = load_certificate(certificate)
    return Validity(certificate.not_valid_before_utc, certificate.not_valid_after_utc)


def institution_of_request(csr_pem: bytes) -> str:
    """The institution a (well-signed) CA request names."""
    return check_institution_id(_organization(load_csr(csr_pem).subject, "the request"))


def institution_of(pem: bytes) -> str:
    """The institution id an institution CA or node certificate names (O=...)."""
    return check_institution_id(_organization(load_certificate(pem).subject, "the certificate"))


def node_identity(pem: bytes) -> NodeIdentity:
    """The node key and institution a node certificate (the first of `pem`)
    carries, checking that its URI `consort:node:<hex>` is its subject public key."""
    certificate = load_certificate(pem)
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise CertificateError("a node certificate has subject alternative names") from None
    uris = [u for u in names.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith(NODE_URI_PREFIX)]
    node_key = _raw_public_key(certificate)
    if uris != [node_uri(node_key)]:
        raise CertificateError(f"the node certificate's URI {uris} does not name its own key {node_key.hex()}")
    return NodeIdentity(node_key, institution_of(pem))


def node_hosts(pem: bytes) -> list[str]:
    """The IP addresses and DNS names a node certificate names."""
    names = load_certificate(pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [*(str(ip) for ip in names.get_values_for_type(x509.IPAddress)), *names.get_values_for_type(x509.DNSName)]


def verify_node_chain(chain_pem: bytes, root_pem: bytes, now: datetime) -> NodeIdentity:
    """Check a node's chain (node certificate, then its institution CA
    certificate, as `node.crt` holds them) against the root at `now`: each
    signature and issuer, the CA flags and path lengths, the key usages, the
    validity windows, no unknown critical extension, one institution
    throughout; the node's identity.

    This is the shape check of the tools (`consort cert node`, tests).
    cryptography's own path verifier follows the Web PKI, which forbids
    Ed25519, so the three fixed levels are checked here, each signature by
    `verify_directly_issued_by`; in a TLS handshake OpenSSL validates the
    path itself."""
    chain = load_certificates(chain_pem)
    if len(chain) != 2:
        raise CertificateError(f"a node chain is the node certificate then its institution CA's (got {len(chain)})")
    node, institution = chain
    root = load_certificate(root_pem)
    now = _utc(now)
    for certificate, issuer, path_length in ((root, root, ROOT_PATH_LENGTH),
                                             (institution, root, INSTITUTION_PATH_LENGTH), (node, institution, None)):
        _check_issued(certificate, issuer, path_length, now)
    identity = node_identity(chain_pem)
    if institution_of(_pem(institution)) != identity.institution:
        raise CertificateError(f"the node certificate names {identity.institution!r}, its issuer "
                               f"{institution_of(_pem(institution))!r}")
    usages = node.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    if not {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages):
        raise CertificateError("a node certificate is for serverAuth and clientAuth")
    return identity


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _check_issued(certificate: x509.Certificate, issuer: x509.Certificate, path_length: int | None,
                  now: datetime) -> None:
    """`certificate` is signed by `issuer`, valid at `now`, and a CA with
    `path_length` (None: not a CA)."""
    name = _common_name(certificate)
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateError(f"{name!r} is not issued by {_common_name(issuer)!r}") from None
    if not validity(certificate).holds_at(now):
        raise CertificateError(f"{name!r} is not valid at {now.isoformat()} (valid {_window_text(certificate)})")
    unknown = [e.oid.dotted_string for e in certificate.extensions if e.critical and e.oid not in KNOWN_CRITICAL]
    if unknown:
        raise CertificateError(f"{name!r} has critical extensions this check does not know: {unknown}")
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise CertificateError(f"{name!r} lacks its basic constraints or key usage") from None
    if path_length is None:
        if constraints.ca or not key_usage.digital_signature:
            raise CertificateError(f"{name!r} must be an end certificate for digital signatures")
    elif not constraints.ca or constraints.path_length != path_length or not key_usage.key_cert_sign:
        raise CertificateError(f"{name!r} must be a CA with path length {path_length}")
