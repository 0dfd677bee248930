"""A Consort client written from docs/wire-format.md alone, as a team in
another language would: the Python standard library and the `cryptography`
package only, nothing of this project (tests/integration/test_foreign_client.py
checks its imports). Its own canonical msgpack encoder, chain id, transaction
signing, request signing and HTTPS calls.

Not a library: it exists to prove that the documents are enough.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
import struct
import time
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

TIMEOUT_S = 30.0


# --- canonical msgpack (docs/wire-format.md, "Canonical msgpack") ---------------------

def _length_header(length: int, small_base: int | None, small_max: int, codes: tuple[int, int, int]) -> bytes:
    """The header of a str, bin, array or map of `length`: the fix form when
    there is one and it fits, else the 8-, 16- or 32-bit length form."""
    if small_base is not None and length <= small_max:
        return bytes([small_base | length])
    code8, code16, code32 = codes
    if code8 and length < 2**8:
        return bytes([code8, length])
    if length < 2**16:
        return bytes([code16]) + struct.pack(">H", length)
    return bytes([code32]) + struct.pack(">I", length)


def _int(value: int) -> bytes:
    if 0 <= value < 2**7:
        return bytes([value])
    if -32 <= value < 0:
        return struct.pack(">b", value)
    if value > 0:
        for code, form, limit in ((0xCC, ">B", 2**8), (0xCD, ">H", 2**16), (0xCE, ">I", 2**32), (0xCF, ">Q", 2**64)):
            if value < limit:
                return bytes([code]) + struct.pack(form, value)
    for code, form, low in ((0xD0, ">b", -2**7), (0xD1, ">h", -2**15), (0xD2, ">i", -2**31), (0xD3, ">q", -2**63)):
        if value >= low:
            return bytes([code]) + struct.pack(form, value)
    raise ValueError(f"integer out of range: {value}")


def pack(value) -> bytes:
    """The canonical msgpack encoding of None, bool, int, str, bytes, list or dict (str keys)."""
    if value is None:
        return b"\xc0"
    if value is True or value is False:
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _length_header(len(data), 0xA0, 31, (0xD9, 0xDA, 0xDB)) + data
    if isinstance(value, bytes):
        return _length_header(len(value), None, 0, (0xC4, 0xC5, 0xC6)) + value
    if isinstance(value, list):
        return _length_header(len(value), 0x90, 15, (0, 0xDC, 0xDD)) + b"".join(pack(item) for item in value)
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-8"))
        return _length_header(len(keys), 0x80, 15, (0, 0xDE, 0xDF)) + b"".join(pack(k) + pack(value[k]) for k in keys)
    raise TypeError(f"no canonical encoding for {type(value).__name__}")


# --- hashes, keys and signatures ---------------------------------------------------------

def digest(domain: str, data: bytes) -> bytes:
    return hashlib.sha256(b"consort/" + domain.encode("ascii") + b"\x00" + data).digest()


def chain_id_of(genesis_text: str) -> bytes:
    """The chain id: the hash of the genesis document's canonical encoding."""
    return digest("genesis", pack(json.loads(genesis_text)))


class Key:
    """An Ed25519 client key from its 32-byte seed."""

    def __init__(self, seed: bytes) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, domain: str, data: bytes) -> bytes:
        return self._private.sign(b"consort-sig/" + domain.encode("ascii") + b"\x00" + data)


def transaction(key: Key, chain_id: bytes, nonce: int, tx_type: str, args: dict) -> tuple[bytes, bytes, bytes]:
    """(wire bytes, hash, body) of a signed transaction."""
    body = pack([chain_id, key.public, nonce, tx_type, args])
    signature = key.sign("tx", body)
    return pack([body, signature]), digest("tx", body), body


def json_transaction(key: Key, chain_id: bytes, nonce: int, tx_type: str, args: dict) -> dict:
    """The JSON form (args here hold no byte strings, so no {"$bytes": ...} tags)."""
    _, _, body = transaction(key, chain_id, nonce, tx_type, args)
    return {"chain_id": chain_id.hex(), "sender": key.public.hex(), "nonce": nonce, "type": tx_type,
            "args": args, "signature": key.sign("tx", body).hex()}


def request_headers(key: Key, chain_id: bytes, method: str, target: str, body: bytes) -> dict[str, str]:
    time_ms, nonce = time.time_ns() // 1_000_000, os.urandom(16)
    message = pack([chain_id, method, target, hashlib.sha256(body).digest(), time_ms, nonce])
    return {"Consort-Key": key.public.hex(), "Consort-Time": str(time_ms), "Consort-Nonce": nonce.hex(),
            "Consort-Signature": key.sign("api-request", message).hex()}


# --- HTTPS -----------------------------------------------------------------------------------

class Node:
    """One node's API over TLS, trusting only the consortium's root certificate."""

    def __init__(self, url: str, ca_file: str, key: Key, chain_id: bytes) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.context = ssl.create_default_context(cafile=ca_file)
        self.key, self.chain_id = key, chain_id

    def call(self, method: str, target: str, body: bytes = b"", content_type: str | None = None,
             signed: bool = True) -> tuple[int, dict]:
        headers = {"Content-Type": content_type} if content_type else {}
        if signed:
            headers.update(request_headers(self.key, self.chain_id, method, target, body))
        connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=TIMEOUT_S)
        try:
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def submit_wire(self, wire: bytes, timeout_ms: int) -> tuple[int, dict]:
        """One transaction as msgpack wire bytes, waiting for its receipt (unsigned: its signature suffices)."""
        return self.call("POST", f"/v1/tx?wait=commit&timeout_ms={timeout_ms}", wire, "application/msgpack",
                         signed=False)

    def submit_json_batch(self, txs: list[dict], timeout_ms: int) -> tuple[int, dict]:
        body = json.dumps({"txs": txs}).encode()
        return self.call("POST", f"/v1/txs?wait=commit&timeout_ms={timeout_ms}", body, "application/json")

    def receipt(self, tx_hash: bytes, wait_ms: int) -> tuple[int, dict]:
        return self.call("GET", f"/v1/tx/{tx_hash.hex()}?wait_ms={wait_ms}")

    def balances(self) -> dict[tuple[str, str], int]:
        status, answer = self.call("GET", "/v1/accounts")
        if status != 200:
            raise RuntimeError(f"GET /v1/accounts answered {status}: {answer}")
        return {(a["institution"], a["currency"]): a["balance"] for a in answer["accounts"]}
