"""Ed25519 key pairs (PyNaCl), domain-separated signatures and key files.

A signature is always over `consort-sig/<domain>\\0<data>`, so a signature
made for one purpose (a vote, a transaction, a peer handshake) never verifies
for another. Key files hold the 32-byte seed and are written owner-readable only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
_PREFIX = b"consort-sig/"
_VERIFY_KEY_CACHE_MAX = 4096
_verify_keys: dict[bytes, nacl.signing.VerifyKey] = {}


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or malformed."""


def _signed_bytes(domain: str, data: bytes) -> bytes:
    return _PREFIX + domain.encode("ascii") + b"\x00" + data


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An Ed25519 signing key; `public_key` is the 32-byte verify key."""

    seed: bytes
    public_key: bytes

    @classmethod
    def generate(cls) -> "KeyPair":
        return cls.from_seed(bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_seed(cls, seed: bytes) -> "KeyPair":
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        signing_key = nacl.signing.SigningKey(seed)
        return cls(seed=seed, public_key=bytes(signing_key.verify_key))

    def signer(self) -> "Signer":
        return Signer(self)


class Signer:
    """Signs domain-tagged data with one key; the object handed to the replica."""

    __slots__ = ("public_key", "_signing_key")

    def __init__(self, key_pair: KeyPair) -> None:
        self.public_key = key_pair.public_key
        self._signing_key = nacl.signing.SigningKey(key_pair.seed)

    def sign(self, domain: str, data: bytes) -> bytes:
        return self._signing_key.sign(_signed_bytes(domain, data)).signature


def verify(public_key: bytes, domain: str, data: bytes, signature: bytes) -> bool:
    """True when `signature` is `public_key`'s signature of `data` under `domain`."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    verify_key = _verify_keys.get(public_key)
    if verify_key is None:
        try:
            verify_key = nacl.signing.VerifyKey(public_key)
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            return False
        if len(_verify_keys) >= _VERIFY_KEY_CACHE_MAX:
            _verify_keys.clear()
        _verify_keys[public_key] = verify_key
    try:
        verify_key.verify(_signed_bytes(domain, data), signature)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def write_key_file(path: Path, key_pair: KeyPair) -> None:
    """Write `key_pair` to `path`, readable by its owner only."""
    document = {"type": "ed25519", "seed": key_pair.seed.hex(), "public_key": key_pair.public_key.hex()}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that already exists
        json.dump(document, handle, indent=2)
        handle.write("\n")


def read_key_file(path: Path) -> KeyPair:
    """Load a key file written by `write_key_file`; check it is self-consistent."""
    try:
        document = json.loads(Path(path).read_text())
        if document.get("type") != "ed25519":
            raise KeyFileError(f"{path}: not an ed25519 key file")
        key_pair = KeyPair.from_seed(bytes.fromhex(document["seed"]))
    except (OSError, json.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise KeyFileError(f"{path}: cannot read key file: {exc}") from None
    if key_pair.public_key.hex() != document.get("public_key"):
        raise KeyFileError(f"{path}: public key does not match seed")
    return key_pair
