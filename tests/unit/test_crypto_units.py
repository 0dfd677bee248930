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

PASSPHRASE = "correct horse battery staple"
LIGHT = keys.KDF_COST_LIGHT


def _write(path, pair, passphrase=PASSPHRASE):
    write_key_file(path, pair, passphrase, cost=LIGHT)


def test_key_file_round_trip_and_owner_only_permissions(tmp_path, pair_a):
    path = tmp_path / "node.key"
    _write(path, pair_a)
    assert read_key_file(path, PASSPHRASE) == pair_a
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["node.key"]  # no temporary file left


def test_the_seed_is_not_in_the_file_and_the_public_key_is(tmp_path, pair_a):
    path = tmp_path / "node.key"
    _write(path, pair_a)
    text = path.read_text()
    assert pair_a.seed.hex() not in text and "seed" not in text
    assert keys.read_public_key(path) == pair_a.public_key


def test_the_file_is_what_the_module_docstring_says(tmp_path, pair_a):
    """Open a key file with the cryptography primitives alone, following the documented format."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    path = tmp_path / "node.key"
    _write(path, pair_a)
    document = _document(path)
    assert set(document) == {"format", "type", "public_key", "kdf", "cipher", "ciphertext"}
    assert document["format"] == "consort-key/1" and document["type"] == "ed25519"
    kdf, cipher = document["kdf"], document["cipher"]
    assert (kdf["name"], kdf["n"], kdf["r"], kdf["p"]) == ("scrypt", LIGHT.n, LIGHT.r, LIGHT.p)
    assert cipher["name"] == "chacha20-poly1305"
    aead_key = Scrypt(salt=bytes.fromhex(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(
        PASSPHRASE.encode())
    public_key = bytes.fromhex(document["public_key"])
    seed = ChaCha20Poly1305(aead_key).decrypt(bytes.fromhex(cipher["nonce"]), bytes.fromhex(document["ciphertext"]),
                                              b"consort-key/1\x00ed25519\x00" + public_key)
    assert seed == pair_a.seed and public_key == pair_a.public_key


def test_each_write_has_its_own_salt_and_nonce(tmp_path, pair_a):
    _write(tmp_path / "one.key", pair_a)
    _write(tmp_path / "two.key", pair_a)
    one, two = _document(tmp_path / "one.key"), _document(tmp_path / "two.key")
    assert one["kdf"]["salt"] != two["kdf"]["salt"] and one["cipher"]["nonce"] != two["cipher"]["nonce"]
    assert one["ciphertext"] != two["ciphertext"]


def test_the_default_cost_is_the_strong_one_and_is_recorded(tmp_path, pair_a):
    assert (keys.KDF_COST_STRONG.n, keys.KDF_COST_STRONG.r, keys.KDF_COST_STRONG.p) == (2**17, 8, 1)
    path = tmp_path / "node.key"
    write_key_file(path, pair_a, PASSPHRASE)
    assert _document(path)["kdf"]["n"] == 2**17
    assert read_key_file(path, PASSPHRASE) == pair_a  # reading needs no cost setting


def test_a_wrong_passphrase_is_a_clear_key_file_error(tmp_path, pair_a):
    path = tmp_path / "node.key"
    _write(path, pair_a)
    with pytest.raises(KeyFileError, match=r"node.key: wrong passphrase"):
        read_key_file(path, PASSPHRASE + "!")


def test_an_empty_passphrase_is_refused(tmp_path, pair_a):
    with pytest.raises(KeyFileError, match="empty"):
        _write(tmp_path / "node.key", pair_a, "")
    assert not (tmp_path / "node.key").exists()


def test_the_passphrase_is_taken_in_its_nfc_form(tmp_path, pair_a):
    path = tmp_path / "node.key"
    _write(path, pair_a, "caf\u00e9")           # composed e-acute
    assert read_key_file(path, "cafe\u0301") == pair_a  # e + combining acute


def test_overwriting_a_readable_file_makes_it_owner_only(tmp_path, pair_a, pair_b):
    path = tmp_path / "node.key"
    path.write_text("old")
    os.chmod(path, 0o644)
    _write(path, pair_a)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    _write(path, pair_b)
    assert read_key_file(path, PASSPHRASE) == pair_b


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620, 0o602, 0o660])
def test_a_key_file_open_to_group_or_others_is_refused_with_the_fix(tmp_path, pair_a, mode):
    path = tmp_path / "node.key"
    _write(path, pair_a)
    os.chmod(path, mode)
    for read in (lambda: read_key_file(path, PASSPHRASE), lambda: keys.read_public_key(path)):
        with pytest.raises(KeyFileError, match=rf"mode {mode:04o}.*`chmod 600 {path}`"):
            read()


def test_an_owner_read_only_key_file_is_accepted(tmp_path, pair_a):
    path = tmp_path / "node.key"
    _write(path, pair_a)
    os.chmod(path, 0o400)
    assert read_key_file(path, PASSPHRASE) == pair_a


def _document(path):
    return json.loads(path.read_text())


def _write_document(path, document):
    path.write_text(json.dumps(document))
    os.chmod(path, 0o600)


def test_tampered_public_key_does_not_decrypt(tmp_path, pair_a, pair_b):
    path = tmp_path / "node.key"
    _write(path, pair_a)
    document = _document(path)
    document["public_key"] = pair_b.public_key.hex()
    _write_document(path, document)
    assert keys.read_public_key(path) == pair_b.public_key  # what the clear field says
    with pytest.raises(KeyFileError, match="wrong passphrase \\(or the file was altered\\)"):
        read_key_file(path, PASSPHRASE)


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "salt"])
def test_a_flipped_bit_anywhere_in_the_secret_part_does_not_decrypt(tmp_path, pair_a, field):
    path = tmp_path / "node.key"
    _write(path, pair_a)
    document = _document(path)
    holder = {"ciphertext": document, "nonce": document["cipher"], "salt": document["kdf"]}[field]
    raw = bytearray.fromhex(holder[field])
    raw[len(raw) // 2] ^= 1
    holder[field] = raw.hex()
    _write_document(path, document)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        read_key_file(path, PASSPHRASE)


def test_an_unencrypted_key_file_of_the_older_format_is_refused_clearly(tmp_path, pair_a):
    path = tmp_path / "node.key"
    _write_document(path, {"type": "ed25519", "seed": pair_a.seed.hex(), "public_key": pair_a.public_key.hex()})
    with pytest.raises(KeyFileError, match="unencrypted key file"):
        read_key_file(path, PASSPHRASE)


@pytest.mark.parametrize("change, fragment", [
    ({"format": "consort-key/2"}, "not an ed25519 key file"),
    ({"type": "rsa"}, "not an ed25519 key file"),
    ({"type": None}, "not an ed25519 key file"),
    ({"public_key": None}, "public_key"),
    ({"public_key": 7}, "public_key"),
    ({"public_key": "zz" * 32}, "not hex"),
    ({"public_key": "00" * 31}, "must be 32 bytes"),
    ({"ciphertext": "00" * 32}, "must be 48 bytes"),
    ({"ciphertext": ["00"]}, "ciphertext"),
    ({"kdf": None}, "kdf"),
    ({"kdf": {"name": "pbkdf2"}}, "kdf"),
    ({"cipher": {"name": "aes-256-gcm", "nonce": "00" * 12}}, "cipher"),
])
def test_malformed_key_files_raise_key_file_error(tmp_path, pair_a, change, fragment):
    path = tmp_path / "node.key"
    _write(path, pair_a)
    document = _document(path)
    document.update(change)
    _write_document(path, document)
    with pytest.raises(KeyFileError, match=fragment):
        read_key_file(path, PASSPHRASE)


@pytest.mark.parametrize("kdf, fragment", [
    ({"n": 2**40}, "power of two in 2\\*\\*12..2\\*\\*20"),
    ({"n": 2**11}, "power of two"),
    ({"n": 5000}, "power of two"),
    ({"n": "4096"}, "integers"),
    ({"r": 0}, "r must be in 1..32"),
    ({"r": 33}, "r must be"),
    ({"p": 17}, "p in 1..16"),
    ({"n": 2**20, "r": 16}, "MiB"),
])
def test_kdf_parameters_that_would_cost_the_reader_unbounded_work_are_refused(tmp_path, pair_a, kdf, fragment):
    path = tmp_path / "node.key"
    _write(path, pair_a)
    document = _document(path)
    document["kdf"].update(kdf)
    _write_document(path, document)
    with pytest.raises(KeyFileError, match=fragment):
        read_key_file(path, PASSPHRASE)


def test_a_write_with_a_refused_cost_raises_before_writing(tmp_path, pair_a):
    with pytest.raises(ValueError, match="power of two"):
        write_key_file(tmp_path / "node.key", pair_a, PASSPHRASE, cost=keys.ScryptCost(n=1000, r=8, p=1))
    assert not (tmp_path / "node.key").exists()


@pytest.mark.parametrize("text", ["", "not json", "[]", "null", '"a string"', "{}", '{"type": "ed25519"}'])
def test_unreadable_key_file_contents_raise_key_file_error(tmp_path, text):
    path = tmp_path / "node.key"
    path.write_text(text)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="node.key"):
        read_key_file(path, PASSPHRASE)


def test_missing_key_file_raises_key_file_error(tmp_path):
    with pytest.raises(KeyFileError, match="absent.key: cannot read key file"):
        read_key_file(tmp_path / "absent.key", PASSPHRASE)


def test_a_folder_or_a_huge_file_is_not_a_key_file(tmp_path):
    folder = tmp_path / "folder.key"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file|cannot read"):
        read_key_file(folder, PASSPHRASE)
    huge = tmp_path / "huge.key"
    huge.write_text(" " * (keys.KEY_FILE_BYTES_MAX + 1))
    os.chmod(huge, 0o600)
    with pytest.raises(KeyFileError, match="larger than a key file"):
        read_key_file(huge, PASSPHRASE)


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
