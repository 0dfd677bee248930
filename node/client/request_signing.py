"""How a client signs a request to a node's API, and what the node checks:
the one definition of the scheme, for the client here and the node's
access layer (node.api.access) alike. A team in another language
implements exactly this:

Four headers on every request:

    Consort-Key        the client key: 32-byte Ed25519 public key, 64 hex digits
    Consort-Time       milliseconds since the Unix epoch, decimal ASCII digits
    Consort-Nonce      16 random bytes, 32 hex digits, fresh for every request
    Consort-Signature  64-byte Ed25519 signature, 128 hex digits

The signature is Ed25519 (RFC 8032, pure) over the bytes

    b"consort-sig/api-request" + b"\\x00" + message

(crypto.keys' domain separation, domain "api-request"), where `message` is
the canonical msgpack encoding (crypto.encoding.encode) of the 6-element
array

    [chain_id, method, path, body_sha256, time_ms, nonce]

    chain_id     bin 32   the chain id: the genesis file's hash, as the
                          client computes it from its own copy of the file
    method       str      the HTTP method in capitals ("GET", "POST", "HEAD")
    path         str      the request target exactly as sent on the request
                          line: path and, if any, "?" and the query string,
                          percent-encoding as sent (e.g. "/v1/tx/ab12?wait_ms=5")
    body_sha256  bin 32   SHA-256 of the body bytes (of b"" when there is none)
    time_ms      uint     the Consort-Time value
    nonce        bin 16   the Consort-Nonce value

Canonical msgpack here means: an array header (0x96), `bin 8` (0xc4, length
byte) for byte strings, `str` in its shortest header for text (fixstr for
up to 31 bytes, then str 8, str 16), and the shortest unsigned integer
form for time_ms (uint 64, 0xcf, for any current time). A known answer is
in tests/unit/test_request_signing.py.

The node accepts a request whose time is within its `request_window_ms`
(60 s unless configured) of the node's clock, whose (key, nonce) it has
not seen within that window, signed by a client key that the committed
state registers to an institution with at least one role; the caller's
institution and roles are those of the committed state at that moment.
"""

from __future__ import annotations

import hashlib
import os
import time

from crypto import encoding, keys

HEADER_KEY = "Consort-Key"
HEADER_TIME = "Consort-Time"
HEADER_NONCE = "Consort-Nonce"
HEADER_SIGNATURE = "Consort-Signature"
HEADERS = (HEADER_KEY, HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE)
SIGNATURE_DOMAIN = "api-request"
NONCE_BYTES = 16


def request_message(chain_id: bytes, method: str, path: str, body: bytes, time_ms: int, nonce: bytes) -> bytes:
    """The bytes a request's signature covers (before crypto.keys' domain prefix)."""
    return encoding.encode([chain_id, method.upper(), path, hashlib.sha256(body).digest(), time_ms, nonce])


def request_headers(signer: keys.Signer, chain_id: bytes, method: str, path: str, body: bytes = b"",
                    time_ms: int | None = None, nonce: bytes | None = None) -> dict[str, str]:
    """The four headers that authenticate one request (`path` with its query
    string, exactly as it goes on the request line)."""
    time_ms = time.time_ns() // 1_000_000 if time_ms is None else time_ms
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    signature = signer.sign(SIGNATURE_DOMAIN, request_message(chain_id, method, path, body, time_ms, nonce))
    return {HEADER_KEY: signer.public_key.hex(), HEADER_TIME: str(time_ms), HEADER_NONCE: nonce.hex(),
            HEADER_SIGNATURE: signature.hex()}
