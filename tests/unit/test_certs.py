"""crypto.certs: the root -> institution CA -> node chain, its readers and
its refusals. Pure: keys from fixed seeds, `now` passed in, no file or socket
(the TLS handshake over these certificates is tests/integration/test_tls_certs.py)."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contracts.genesis import ID_PATTERN
from crypto import certs
from crypto.certs import CertificateError
from fixtures import key

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=timezone.utc)
YEAR = timedelta(days=365)
ROOT_KEY, ALPHA_CA, BRAVO_CA = key("root"), key("bank-alpha/ca"), key("bank-bravo/ca")
ALPHA_NODE = key("bank-alpha/node")


@pytest.fixture(scope="module")
def root() -> bytes:
    return certs.root_certificate(ROOT_KEY, "Consort test root", NOW, 10 * YEAR)


@pytest.fixture(scope="module")
def alpha(root) -> bytes:
    return certs.sign_institution_csr(certs.institution_csr(ALPHA_CA, "bank-alpha"), root, ROOT_KEY, NOW, 5 * YEAR)


@pytest.fixture(scope="module")
def alpha_node(alpha) -> bytes:
    return certs.node_certificate(ALPHA_NODE.public_key, ["127.0.0.1", "::1", "node-1.alpha.example"], alpha,
                                  ALPHA_CA, NOW, YEAR)


def cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_the_root_is_a_self_signed_ed25519_ca_with_path_length_one(root):
    c = cert(root)
    assert c.issuer == c.subject and c.subject.rfc4514_string() == "CN=Consort test root"
    assert c.extensions.get_extension_for_class(x509.BasicConstraints).value == x509.BasicConstraints(True, 1)
    assert c.extensions.get_extension_for_class(x509.BasicConstraints).critical
    usage = c.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert certs.public_key_of(root) == ROOT_KEY.public_key
    c.verify_directly_issued_by(c)
    assert certs.validity(root) == certs.Validity(NOW, NOW + 10 * YEAR)


def test_an_institution_ca_names_its_institution_has_path_length_zero_and_the_root_as_issuer(root, alpha):
    c = cert(alpha)
    assert c.issuer == cert(root).subject
    assert c.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "bank-alpha"
    assert c.extensions.get_extension_for_class(x509.BasicConstraints).value == x509.BasicConstraints(True, 0)
    assert certs.public_key_of(alpha) == ALPHA_CA.public_key
    assert certs.institution_of(alpha) == "bank-alpha"
    c.verify_directly_issued_by(cert(root))


def test_the_node_certificate_key_is_the_consensus_key_with_every_host_and_its_uri(alpha, alpha_node):
    c = cert(alpha_node)
    assert c.issuer == cert(alpha).subject
    raw = c.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw == ALPHA_NODE.public_key
    names = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                         ipaddress.ip_address("::1")]
    assert names.get_values_for_type(x509.DNSName) == ["node-1.alpha.example"]
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        "consort:node:" + ALPHA_NODE.public_key.hex()]
    assert list(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert certs.node_identity(alpha_node) == certs.NodeIdentity(ALPHA_NODE.public_key, "bank-alpha")
    assert certs.node_hosts(alpha_node) == ["127.0.0.1", "::1", "node-1.alpha.example"]


def test_a_node_chain_verifies_against_its_root(root, alpha, alpha_node):
    identity = certs.verify_node_chain(alpha_node + alpha, root, NOW + timedelta(days=30))
    assert identity == certs.NodeIdentity(ALPHA_NODE.public_key, "bank-alpha")


def test_a_node_certificate_outside_its_window_is_refused(root, alpha, alpha_node):
    with pytest.raises(CertificateError, match="'bank-alpha node' is not valid at"):
        certs.verify_node_chain(alpha_node + alpha, root, NOW + YEAR + timedelta(seconds=1))
    with pytest.raises(CertificateError, match="is not valid at"):
        certs.verify_node_chain(alpha_node + alpha, root, NOW - timedelta(seconds=1))


def test_a_chain_from_another_root_or_institution_is_refused(root, alpha, alpha_node):
    other_root_key = key("other-root")
    other_root = certs.root_certificate(other_root_key, "Consort test root", NOW, 10 * YEAR)  # same name
    with pytest.raises(CertificateError, match="is not issued by"):
        certs.verify_node_chain(alpha_node + alpha, other_root, NOW)
    bravo = certs.sign_institution_csr(certs.institution_csr(BRAVO_CA, "bank-bravo"), root, ROOT_KEY, NOW, YEAR)
    with pytest.raises(CertificateError, match="'bank-alpha node' is not issued by 'bank-bravo institution CA'"):
        certs.verify_node_chain(alpha_node + bravo, root, NOW)


def test_a_node_certificate_cannot_act_as_a_ca(root, alpha, alpha_node):
    with pytest.raises(CertificateError, match="'bank-alpha node' is not a CA certificate: it cannot issue"):
        certs.node_certificate(key("x").public_key, ["127.0.0.1"], alpha_node, ALPHA_NODE, NOW, YEAR)
    with pytest.raises(CertificateError, match="'bank-alpha node' is not issued by 'Consort test root'"):
        certs.verify_node_chain(alpha_node + alpha_node, root, NOW)


def test_an_intermediate_that_is_not_a_ca_with_path_length_zero_is_refused(root):
    def issued_by_root(constraints):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bank-alpha"),
            x509.NameAttribute(NameOID.COMMON_NAME, "odd CA")]))
            .issuer_name(cert(root).subject)
            .public_key(Ed25519PrivateKey.from_private_bytes(ALPHA_CA.seed).public_key())
            .serial_number(7).not_valid_before(NOW).not_valid_after(NOW + YEAR)
            .add_extension(constraints, critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True))
        return builder.sign(Ed25519PrivateKey.from_private_bytes(ROOT_KEY.seed), None).public_bytes(
            serialization.Encoding.PEM)

    node = cert(certs.node_certificate(ALPHA_NODE.public_key, ["127.0.0.1"], certs.sign_institution_csr(
        certs.institution_csr(ALPHA_CA, "bank-alpha"), root, ROOT_KEY, NOW, YEAR), ALPHA_CA, NOW, YEAR))
    for constraints in (x509.BasicConstraints(ca=False, path_length=None),
                        x509.BasicConstraints(ca=True, path_length=1)):
        with pytest.raises(CertificateError, match="'odd CA' must be a CA with path length 0"):
            certs.verify_node_chain(_reissued(node, issued_by_root(constraints)), root, NOW)


def _reissued(node: x509.Certificate, issuer_pem: bytes) -> bytes:
    """`node` signed again by ALPHA_CA under `issuer_pem`'s subject, then that issuer: a two-certificate chain."""
    issuer = cert(issuer_pem)
    builder = (x509.CertificateBuilder().subject_name(node.subject).issuer_name(issuer.subject)
               .public_key(node.public_key()).serial_number(8)
               .not_valid_before(node.not_valid_before_utc).not_valid_after(node.not_valid_after_utc))
    for extension in node.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    leaf = builder.sign(Ed25519PrivateKey.from_private_bytes(ALPHA_CA.seed), None)
    return leaf.public_bytes(serialization.Encoding.PEM) + issuer_pem


def test_a_chain_is_exactly_node_then_institution(root, alpha, alpha_node):
    for chain in (alpha_node, alpha_node + alpha + root):
        with pytest.raises(CertificateError, match="a node chain is the node certificate"):
            certs.verify_node_chain(chain, root, NOW)
    with pytest.raises(CertificateError, match="'bank-alpha node' is not issued by 'Consort test root'"):
        certs.verify_node_chain(alpha + alpha_node, root, NOW)


def test_the_root_decides_the_extensions_whatever_the_request_asks(root):
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bank-alpha")]))
               .add_extension(x509.BasicConstraints(ca=True, path_length=5), critical=True)
               .sign(Ed25519PrivateKey.from_private_bytes(ALPHA_CA.seed), None)
               .public_bytes(serialization.Encoding.PEM))
    signed = cert(certs.sign_institution_csr(request, root, ROOT_KEY, NOW, YEAR))
    assert signed.extensions.get_extension_for_class(x509.BasicConstraints).value == x509.BasicConstraints(True, 0)
    assert signed.subject.rfc4514_string() == "CN=bank-alpha institution CA,O=bank-alpha"


def test_a_request_is_refused_unless_it_names_one_valid_institution(root):
    def request(*attributes):
        return (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(list(attributes)))
                .sign(Ed25519PrivateKey.from_private_bytes(ALPHA_CA.seed), None)
                .public_bytes(serialization.Encoding.PEM))

    cn = x509.NameAttribute(NameOID.COMMON_NAME, "x")
    for bad in (request(cn), request(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bank Alpha!"), cn),
                request(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "a"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b"))):
        with pytest.raises(CertificateError, match="institution"):
            certs.sign_institution_csr(bad, root, ROOT_KEY, NOW, YEAR)
    with pytest.raises(CertificateError, match="institution id"):
        certs.institution_csr(ALPHA_CA, "Bank Alpha")


def test_a_request_whose_signature_does_not_verify_is_refused(root):
    request = bytearray(x509.load_pem_x509_csr(certs.institution_csr(ALPHA_CA, "bank-alpha"))
                        .public_bytes(serialization.Encoding.DER))
    request[-1] ^= 1  # the last byte of the signature
    pem = x509.load_der_x509_csr(bytes(request)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CertificateError, match="signature does not verify"):
        certs.sign_institution_csr(pem, root, ROOT_KEY, NOW, YEAR)


def test_signing_needs_the_issuers_own_key_and_a_valid_issuer(root, alpha):
    csr = certs.institution_csr(ALPHA_CA, "bank-alpha")
    with pytest.raises(CertificateError, match="root CA key does not match"):
        certs.sign_institution_csr(csr, root, ALPHA_CA, NOW, YEAR)
    with pytest.raises(CertificateError, match="institution CA key does not match"):
        certs.node_certificate(ALPHA_NODE.public_key, ["127.0.0.1"], alpha, ROOT_KEY, NOW, YEAR)
    with pytest.raises(CertificateError, match="'Consort test root' is not valid at"):
        certs.sign_institution_csr(csr, root, ROOT_KEY, NOW + 11 * YEAR, YEAR)


def test_a_certificate_never_outlives_its_issuer(root, alpha):
    late = NOW + 4 * YEAR
    node = certs.node_certificate(ALPHA_NODE.public_key, ["127.0.0.1"], alpha, ALPHA_CA, late, 3 * YEAR)
    assert certs.validity(node) == certs.Validity(late, certs.validity(alpha).not_after)


@pytest.mark.parametrize("hosts, fragment", [
    ([], "1 to 64 hosts"),
    (["127.0.0.1"] * 65, "1 to 64 hosts"),
    (["bad host"], "neither an IP address nor a DNS name"),
    (["-leading.example"], "neither"),
    (["a" * 64 + ".example"], "neither"),
    (["http://x"], "neither"),
])
def test_hosts_must_be_ip_addresses_or_dns_names(alpha, hosts, fragment):
    with pytest.raises(CertificateError, match=fragment):
        certs.node_certificate(ALPHA_NODE.public_key, hosts, alpha, ALPHA_CA, NOW, YEAR)


def test_a_node_certificate_whose_uri_names_another_key_is_refused(alpha):
    issuer = cert(alpha)
    forged = (x509.CertificateBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bank-alpha")]))
        .issuer_name(issuer.subject).public_key(Ed25519PrivateKey.from_private_bytes(ALPHA_NODE.seed).public_key())
        .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + YEAR)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(
            "consort:node:" + key("someone-else").public_key.hex())]), critical=False)
        .sign(Ed25519PrivateKey.from_private_bytes(ALPHA_CA.seed), None).public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CertificateError, match="does not name its own key"):
        certs.node_identity(forged)


def test_a_certificate_with_an_unknown_critical_extension_is_refused(root, alpha):
    issuer = cert(alpha)
    node_public = Ed25519PrivateKey.from_private_bytes(ALPHA_NODE.seed).public_key()
    odd = (x509.CertificateBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bank-alpha"), x509.NameAttribute(NameOID.COMMON_NAME, "n")]))
        .issuer_name(issuer.subject).public_key(node_public)
        .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + YEAR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(
            "consort:node:" + ALPHA_NODE.public_key.hex())]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=True)
        .sign(Ed25519PrivateKey.from_private_bytes(ALPHA_CA.seed), None).public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CertificateError, match="critical extensions this check does not know"):
        certs.verify_node_chain(odd + alpha, root, NOW)


@pytest.mark.parametrize("pem", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                 b"-----END CERTIFICATE-----\n", b"x" * (certs.CERTIFICATE_BYTES_MAX + 1)])
def test_junk_is_a_certificate_error(pem):
    for read in (certs.load_certificate, certs.node_identity, certs.institution_of, certs.public_key_of):
        with pytest.raises(CertificateError):
            read(pem)
    with pytest.raises(CertificateError):
        certs.load_csr(pem)


def test_a_certificate_of_another_algorithm_is_refused():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p256")])
    pem = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ec_key.public_key())
           .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + YEAR).sign(ec_key, hashes.SHA256())
           .public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CertificateError, match="not an Ed25519 certificate"):
        certs.load_certificate(pem)


def test_now_must_be_timezone_aware_and_lifetimes_positive():
    with pytest.raises(ValueError, match="timezone-aware"):
        certs.root_certificate(ROOT_KEY, "r", datetime(2026, 1, 1), YEAR)
    with pytest.raises(ValueError, match="positive"):
        certs.root_certificate(ROOT_KEY, "r", NOW, timedelta(0))


def test_the_institution_id_rule_is_the_genesis_one():
    assert certs.INSTITUTION_ID_PATTERN.pattern == ID_PATTERN.pattern


def test_the_tls_key_is_encrypted_pkcs8_that_opens_with_its_password_only():
    pem = certs.tls_key_pem(ALPHA_NODE, b"per-process secret")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = serialization.load_pem_private_key(pem, password=b"per-process secret")
    assert loaded.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption()) == ALPHA_NODE.seed
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(pem, password=b"another")
    with pytest.raises(ValueError, match="needs a password"):
        certs.tls_key_pem(ALPHA_NODE, b"")
