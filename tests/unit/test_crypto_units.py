"""Unit tests for crypto.keys and crypto.hashing."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from crypto import hashing, keys
from crypto.keys import KeyFileError, KeyPair, read_key_file, verify, write_key_file

SEED_A = bytes(range(32))
SEED_B = bytes(range(1, 33))


@pytest.fixture(scope="module")
def pair_a() -> KeyPair:
    return KeyPair.from_seed(SEED_A)


@pytest.fixture(scope="module")
def pair_b() -> KeyPair:
    return KeyPair.from_seed(SEED_B)


# --- keys -----------------------------------------------------------------------

def test_from_seed_is_deterministic_and_generate_is_not(pair_a):
    assert KeyPair.from_seed(SEED_A) == pair_a
    assert len(pair_a.public_key) == keys.PUBLIC_KEY_SIZE
    assert KeyPair.generate().seed != KeyPair.generate().seed


@pytest.mark.parametrize("seed", [b"", bytes(31), bytes(33)])
def test_seed_must_be_32_bytes(seed):
    with pytest.raises(ValueError):
        KeyPair.from_seed(seed)


def test_sign_then_verify(pair_a):
    signature = pair_a.signer().sign("tx", b"payload")
    assert len(signature) == keys.SIGNATURE_SIZE
    assert verify(pair_a.public_key, "tx", b"payload", signature)


def test_signer_exposes_its_public_key(pair_a):
    assert pair_a.signer().public_key == pair_a.public_key


def test_signature_is_over_the_documented_domain_tagged_bytes(pair_a):
    import nacl.signing

    signature = pair_a.signer().sign("vote", b"data")
    nacl.signing.VerifyKey(pair_a.public_key).verify(b"consort-sig/vote\x00data", signature)


def test_wrong_domain_fails(pair_a):
    signature = pair_a.signer().sign("tx", b"payload")
    assert not verify(pair_a.public_key, "vote", b"payload", signature)
    assert not verify(pair_a.public_key, "t", b"x\x00payload", signature)


def test_wrong_key_fails(pair_a, pair_b):
    signature = pair_a.signer().sign("tx", b"payload")
    assert not verify(pair_b.public_key, "tx", b"payload", signature)


def test_wrong_data_fails(pair_a):
    signature = pair_a.signer().sign("tx", b"payload")
    assert not verify(pair_a.public_key, "tx", b"payloaD", signature)
    assert not verify(pair_a.public_key, "tx", b"payload\x00", signature)


def test_every_single_bit_flip_of_a_signature_fails(pair_a):
    signature = pair_a.signer().sign("tx", b"payload")
    for bit in range(len(signature) * 8):
        flipped = bytearray(signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not verify(pair_a.public_key, "tx", b"payload", bytes(flipped)), bit


@pytest.mark.parametrize("public_key, signature", [
    (b"", bytes(64)),
    (bytes(31), bytes(64)),
    (bytes(33), bytes(64)),
    (None, bytes(64)),
])
def test_malformed_keys_are_refused_not_raised(public_key, signature, pair_a):
    if public_key is None:
        public_key = pair_a.public_key[:-1]
    assert verify(public_key, "tx", b"x", signature) is False


@pytest.mark.parametrize("length", [0, 63, 65])
def test_malformed_signatures_are_refused_not_raised(length, pair_a):
    assert verify(pair_a.public_key, "tx", b"x", bytes(length)) is False


def test_a_small_order_point_key_is_refused_not_raised():
    # The identity point is a valid 32-byte encoding but a useless key.
    identity = bytes([1]) + bytes(31)
    assert verify(identity, "tx", b"x", bytes(64)) is False


# --- key files ------------------------------------------------------------------

def test_key_file_round_trip_and_owner_only_permissions(tmp_path, pair_a):
    path = tmp_path / "node.key"
    write_key_file(path, pair_a)
    assert read_key_file(path) == pair_a
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_overwriting_a_readable_file_makes_it_owner_only(tmp_path, pair_a, pair_b):
    path = tmp_path / "node.key"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_key_file(path, pair_a)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    write_key_file(path, pair_b)
    assert read_key_file(path) == pair_b


def _document(path):
    return json.loads(path.read_text())


def _write_document(path, document):
    path.write_text(json.dumps(document))


def test_tampered_public_key_is_detected(tmp_path, pair_a, pair_b):
    path = tmp_path / "node.key"
    write_key_file(path, pair_a)
    document = _document(path)
    document["public_key"] = pair_b.public_key.hex()
    _write_document(path, document)
    with pytest.raises(KeyFileError, match="does not match"):
        read_key_file(path)


def test_tampered_seed_is_detected(tmp_path, pair_a, pair_b):
    path = tmp_path / "node.key"
    write_key_file(path, pair_a)
    document = _document(path)
    document["seed"] = pair_b.seed.hex()
    _write_document(path, document)
    with pytest.raises(KeyFileError):
        read_key_file(path)


@pytest.mark.parametrize("change", [
    {"type": "rsa"},
    {"type": None},
    {"seed": "zz" * 32},
    {"seed": "00" * 31},
    {"seed": 12345},
    {"seed": None},
    {"seed": ["00"]},
    {"public_key": None},
    {"public_key": 7},
])
def test_malformed_key_files_raise_key_file_error(tmp_path, pair_a, change):
    path = tmp_path / "node.key"
    write_key_file(path, pair_a)
    document = _document(path)
    document.update(change)
    _write_document(path, document)
    with pytest.raises(KeyFileError):
        read_key_file(path)


@pytest.mark.parametrize("text", ["", "not json", "[]", "null", '"a string"', "{}", '{"type": "ed25519"}'])
def test_unreadable_key_file_contents_raise_key_file_error(tmp_path, text):
    path = tmp_path / "node.key"
    path.write_text(text)
    with pytest.raises(KeyFileError):
        read_key_file(path)


def test_missing_key_file_raises_key_file_error(tmp_path):
    with pytest.raises(KeyFileError):
        read_key_file(tmp_path / "absent.key")


# --- hashing ------------------------------------------------------------------

def test_digest_is_the_documented_tagged_sha256():
    # The chain id and every tx hash depend on this exact layout.
    assert hashing.digest("tx", b"body") == hashlib.sha256(b"consort/tx\x00body").digest()
    assert len(hashing.digest("tx", b"")) == hashing.HASH_SIZE


def test_domains_separate_equal_bodies():
    body = b"\x93\x01\x02\x03"
    domains = ["tx", "block", "genesis", "vote", "malformed-tx", "t", "tx2", ""]
    digests = {hashing.digest(d, body) for d in domains}
    assert len(digests) == len(domains)
    assert hashing.digest("tx", body) != hashlib.sha256(body).digest()


def test_domain_and_data_boundary_is_unambiguous():
    # "tx" + "2..." versus "tx2" + "...": the NUL separator keeps them apart.
    assert hashing.digest("tx", b"2abc") != hashing.digest("tx2", b"abc")
    assert hashing.digest("tx", b"") != hashing.digest("t", b"x")


def test_digest_is_deterministic_and_data_sensitive():
    assert hashing.digest("tx", b"a") == hashing.digest("tx", b"a")
    assert hashing.digest("tx", b"a") != hashing.digest("tx", b"b")
