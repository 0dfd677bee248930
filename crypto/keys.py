"""Ed25519 key pairs (PyNaCl), domain-separated signatures and key files.

A signature is always over `consort-sig/<domain>\\0<data>`, so a signature
made for one purpose (a vote, a transaction, a peer handshake) never verifies
for another.

A key file keeps the 32-byte seed encrypted with a passphrase (scrypt, then
ChaCha20-Poly1305, both from the `cryptography` package) and the public key
in clear, so tools can list keys without the passphrase. The format
(`consort-key/1`, JSON, hex for bytes):

    {"format": "consort-key/1", "type": "ed25519", "public_key": <32 bytes>,
     "kdf": {"name": "scrypt", "n": 131072, "r": 8, "p": 1, "salt": <16 bytes>},
     "cipher": {"name": "chacha20-poly1305", "nonce": <12 bytes>},
     "ciphertext": <the seed encrypted, then the 16-byte tag: 48 bytes>}

The AEAD key is scrypt(passphrase, salt, n, r, p) of 32 bytes, the passphrase
being the UTF-8 of its NFC form; the associated data is
`consort-key/1\\0ed25519\\0` followed by the raw public key, so a file whose
public key or format was changed does not decrypt. The KDF cost is in the
file: reading needs no setting. Files are written 0600 (to a temporary name,
then renamed), and a file that group or others may read or write is refused.

This module reads the passphrase from no environment and no terminal: the
caller passes it (the node's room decides where it comes from).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
# A participant node's signature over an MPC session's result, commitment root
# and transcript root (contracts.mpc_state.attestation_bytes); the contract,
# the node's MPC runner and the auditor all use this one domain.
MPC_ATTEST_DOMAIN = "mpc-attest"
_PREFIX = b"consort-sig/"
_VERIFY_KEY_CACHE_MAX = 4096
_verify_keys: dict[bytes, nacl.signing.VerifyKey] = {}


KEY_FILE_FORMAT = "consort-key/1"
KEY_FILE_BYTES_MAX = 64 * 1024
SALT_SIZE = 16
NONCE_SIZE = 12
AEAD_KEY_SIZE = 32
SEED_SIZE = 32
TAG_SIZE = 16
PASSPHRASE_CHARS_MAX = 1024
OPEN_TO_OTHERS = 0o077  # any permission for group or others


class KeyFileError(ValueError):
    """A key file that is missing, unreadable, malformed, open to others, or
    that the passphrase given does not open."""


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


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """scrypt's parameters: `n` (a power of two: work and memory), `r` (block
    size), `p` (parallelism); memory is about 128 * n * r bytes. Checked on
    reading too, so a file cannot make its reader spend unbounded memory."""

    n: int
    r: int
    p: int

    N_MIN = 2**12
    N_MAX = 2**20
    R_MAX = 32
    P_MAX = 16
    MEMORY_BYTES_MAX = 2**30

    def problem(self) -> str | None:
        """Why these parameters are refused, or None."""
        if not all(type(v) is int for v in (self.n, self.r, self.p)):
            return "scrypt n, r and p must be integers"
        if not self.N_MIN <= self.n <= self.N_MAX or self.n & (self.n - 1):
            return f"scrypt n must be a power of two in 2**12..2**20 (got {self.n})"
        if not 1 <= self.r <= self.R_MAX or not 1 <= self.p <= self.P_MAX:
            return f"scrypt r must be in 1..{self.R_MAX} and p in 1..{self.P_MAX} (got r={self.r}, p={self.p})"
        if 128 * self.n * self.r > self.MEMORY_BYTES_MAX:
            return f"scrypt n={self.n}, r={self.r} needs more than {self.MEMORY_BYTES_MAX // 2**20} MiB"
        return None


KDF_COST_STRONG = ScryptCost(n=2**17, r=8, p=1)  # 128 MiB, about 0.3 s: keys that guard anything real
KDF_COST_LIGHT = ScryptCost(n=2**12, r=8, p=1)   # 4 MiB, about 10 ms: tests and throwaway local consortia


def _associated_data(public_key: bytes) -> bytes:
    return KEY_FILE_FORMAT.encode("ascii") + b"\x00ed25519\x00" + public_key


def _aead_key(passphrase: str, salt: bytes, cost: ScryptCost) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise KeyFileError("the passphrase is empty")
    if len(passphrase) > PASSPHRASE_CHARS_MAX:
        raise KeyFileError(f"the passphrase is longer than {PASSPHRASE_CHARS_MAX} characters")
    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    return Scrypt(salt=salt, length=AEAD_KEY_SIZE, n=cost.n, r=cost.r, p=cost.p).derive(secret)


def encrypt_key(key_pair: KeyPair, passphrase: str, cost: ScryptCost = KDF_COST_STRONG) -> dict:
    """The key file document (`consort-key/1`) holding `key_pair` under `passphrase`."""
    problem = cost.problem()
    if problem is not None:
        raise ValueError(problem)
    salt, nonce = secrets.token_bytes(SALT_SIZE), secrets.token_bytes(NONCE_SIZE)
    aead = ChaCha20Poly1305(_aead_key(passphrase, salt, cost))
    ciphertext = aead.encrypt(nonce, key_pair.seed, _associated_data(key_pair.public_key))
    return {"format": KEY_FILE_FORMAT, "type": "ed25519", "public_key": key_pair.public_key.hex(),
            "kdf": {"name": "scrypt", "n": cost.n, "r": cost.r, "p": cost.p, "salt": salt.hex()},
            "cipher": {"name": "chacha20-poly1305", "nonce": nonce.hex()},
            "ciphertext": ciphertext.hex()}


def _hex_field(document: dict, name: str, size: int) -> bytes:
    value = document.get(name)
    if not isinstance(value, str):
        raise KeyFileError(f"field {name!r} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeyFileError(f"field {name!r} is not hex") from None
    if len(raw) != size:
        raise KeyFileError(f"field {name!r} must be {size} bytes (got {len(raw)})")
    return raw


def _object_field(document: dict, name: str, kind: str) -> dict:
    value = document.get(name)
    if not isinstance(value, dict) or value.get("name") != kind:
        raise KeyFileError(f"field {name!r} must be an object with name {kind!r}")
    return value


def key_file_public_key(document) -> bytes:
    """The public key a key file document declares (no passphrase needed)."""
    if not isinstance(document, dict):
        raise KeyFileError("not a JSON object")
    if "seed" in document and "format" not in document:
        raise KeyFileError("an unencrypted key file (older format): make the key again with a passphrase")
    if document.get("format") != KEY_FILE_FORMAT or document.get("type") != "ed25519":
        raise KeyFileError(f"not an ed25519 key file in format {KEY_FILE_FORMAT}")
    return _hex_field(document, "public_key", PUBLIC_KEY_SIZE)


def decrypt_key(document, passphrase: str) -> KeyPair:
    """The key pair a key file document holds; KeyFileError if the passphrase
    does not open it or the document is malformed or altered."""
    public_key = key_file_public_key(document)
    kdf = _object_field(document, "kdf", "scrypt")
    cost = ScryptCost(kdf.get("n"), kdf.get("r"), kdf.get("p"))
    problem = cost.problem()
    if problem is not None:
        raise KeyFileError(f"kdf: {problem}")
    salt = _hex_field(kdf, "salt", SALT_SIZE)
    nonce = _hex_field(_object_field(document, "cipher", "chacha20-poly1305"), "nonce", NONCE_SIZE)
    ciphertext = _hex_field(document, "ciphertext", SEED_SIZE + TAG_SIZE)
    aead = ChaCha20Poly1305(_aead_key(passphrase, salt, cost))
    try:
        seed = aead.decrypt(nonce, ciphertext, _associated_data(public_key))
    except InvalidTag:
        raise KeyFileError("wrong passphrase (or the file was altered)") from None
    key_pair = KeyPair.from_seed(seed)
    if key_pair.public_key != public_key:
        raise KeyFileError("the public key does not match the encrypted seed")
    return key_pair


def write_key_file(path: Path, key_pair: KeyPair, passphrase: str, cost: ScryptCost = KDF_COST_STRONG) -> None:
    """Write `key_pair` to `path` encrypted under `passphrase`, readable by its
    owner only: written to a temporary file in the same folder, then renamed
    over `path`, so a crash leaves the old file or the new one, never half."""
    path = Path(path)
    text = json.dumps(encrypt_key(key_pair, passphrase, cost), indent=2) + "\n"
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(fd, 0o600)  # whatever the umask
            handle.write(text)
            handle.flush()
            os.fsync(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_private_file(path: Path, bytes_max: int, what: str = "key file") -> bytes:
    """The bytes of a secret file (at most `bytes_max`), refused if group or
    others may access it, so a secret never stays exposed by mistake."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        mode = stat.S_IMODE(info.st_mode)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{path}: {what} is not a regular file")
        if mode & OPEN_TO_OTHERS:
            raise KeyFileError(f"{path}: {what} is open to group or others (mode {mode:04o}); "
                               f"`chmod 600 {path}` fixes it")
        chunks, size = [], 0
        while size <= bytes_max and (chunk := os.read(fd, bytes_max + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > bytes_max:
        raise KeyFileError(f"{path}: larger than a {what} ({bytes_max} bytes at most)")
    return b"".join(chunks)


def read_key_document(path: Path):
    """A key file's JSON document (no passphrase needed); see `read_private_file`."""
    raw = read_private_file(path, KEY_FILE_BYTES_MAX)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: not a key file (not JSON: {exc})") from None


def read_public_key(path: Path) -> bytes:
    """The public key of a key file, without its passphrase."""
    try:
        return key_file_public_key(read_key_document(path))
    except KeyFileError as exc:
        raise _named(path, exc) from None


def read_key_file(path: Path, passphrase: str) -> KeyPair:
    """Load a key file written by `write_key_file`, decrypting it with `passphrase`."""
    try:
        return decrypt_key(read_key_document(path), passphrase)
    except KeyFileError as exc:
        raise _named(path, exc) from None


def _named(path: Path, exc: KeyFileError) -> KeyFileError:
    text = str(exc)
    return exc if text.startswith(f"{path}:") else KeyFileError(f"{path}: {text}")
