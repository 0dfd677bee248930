"""The request-signing scheme (node.client.request_signing), with a known
answer another implementation can check itself against, and the node's
bounded memory of accepted requests (node.api.seen_requests)."""

from __future__ import annotations

import hashlib

import pytest

from crypto import keys
from crypto.keys import KeyPair
from node.api.seen_requests import FULL, KEY_OVER_SHARE, REPLAYED, SeenRequests
from node.client.request_signing import (
    HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIME, SIGNATURE_DOMAIN, request_headers, request_message,
)

# The known answer: key seed 00 01 .. 1f, chain id 32 bytes of 0x11, GET of
# "/v1/accounts?x=1" with no body at 1767225600000 ms (2026-01-01T00:00:00Z),
# nonce 00 01 .. 0f.
SEED = bytes(range(32))
CHAIN_ID = bytes([0x11] * 32)
PATH = "/v1/accounts?x=1"
TIME_MS = 1_767_225_600_000
NONCE = bytes(range(16))
MESSAGE_HEX = (
    "96"                                                                     # array of 6
    "c420" + "11" * 32 +                                                     # bin 8, chain id
    "a3474554"                                                               # fixstr "GET"
    "b0" + PATH.encode().hex() +                                             # fixstr, the path
    "c420e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # bin 8, SHA-256 of b""
    "cf0000019b76daa800"                                                     # uint 64, the time
    "c410000102030405060708090a0b0c0d0e0f")                                  # bin 8, the nonce
PUBLIC_KEY_HEX = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
SIGNATURE_HEX = ("29dfb709a96bb916352ec4faa2edd04ff47d84d4100e30d0172c4f4db895747b"
                 "70ab3ad85f01c90e332878032701f40aee884c16d7b59f09b5bb2e6be0008303")


def test_the_known_answer():
    signer = KeyPair.from_seed(SEED).signer()
    assert request_message(CHAIN_ID, "get", PATH, b"", TIME_MS, NONCE).hex() == MESSAGE_HEX
    headers = request_headers(signer, CHAIN_ID, "GET", PATH, b"", TIME_MS, NONCE)
    assert headers == {HEADER_KEY: PUBLIC_KEY_HEX, HEADER_TIME: "1767225600000",
                       HEADER_NONCE: NONCE.hex(), HEADER_SIGNATURE: SIGNATURE_HEX}
    # Ed25519 over b"consort-sig/api-request\x00" + message, by any Ed25519 library:
    import nacl.signing
    signed = b"consort-sig/" + SIGNATURE_DOMAIN.encode() + b"\x00" + bytes.fromhex(MESSAGE_HEX)
    nacl.signing.VerifyKey(bytes.fromhex(PUBLIC_KEY_HEX)).verify(signed, bytes.fromhex(SIGNATURE_HEX))


@pytest.mark.parametrize("change", [
    dict(chain_id=bytes(32)), dict(method="POST"), dict(path="/v1/accounts?x=2"), dict(body=b"{}"),
    dict(time_ms=TIME_MS + 1), dict(nonce=bytes(16)),
])
def test_every_field_is_covered(change):
    base = dict(chain_id=CHAIN_ID, method="GET", path=PATH, body=b"", time_ms=TIME_MS, nonce=NONCE)
    changed = request_message(**{**base, **change})
    assert not keys.verify(bytes.fromhex(PUBLIC_KEY_HEX), SIGNATURE_DOMAIN, changed, bytes.fromhex(SIGNATURE_HEX))
    assert changed != request_message(**base)
    assert hashlib.sha256(b"{}").digest() in request_message(**{**base, "body": b"{}"})


WINDOW_MS = 1000


def test_a_request_is_remembered_for_its_window_then_forgotten():
    seen = SeenRequests(WINDOW_MS, entries_max=10, per_key_max=10)
    assert seen.fresh(5000, 5000 + WINDOW_MS) and seen.fresh(5000 + WINDOW_MS, 5000)
    assert not seen.fresh(5000, 5001 + WINDOW_MS) and not seen.fresh(5001 + WINDOW_MS, 5000)
    assert seen.admit(b"k", b"n1", 5000, 5000) is None
    assert seen.admit(b"k", b"n1", 5000, 5500) == REPLAYED
    assert seen.admit(b"k", b"n1", 5000, 5000 + WINDOW_MS) == REPLAYED  # the last moment it is fresh
    assert seen.admit(b"other", b"n1", 5000, 5000) is None              # a nonce is per key
    assert seen.admit(b"k", b"n2", 5900, 5900 + WINDOW_MS) is None      # forgets the first: now stale
    assert len(seen) == 1


def test_the_memory_is_bounded_in_all_and_per_key():
    seen = SeenRequests(WINDOW_MS, entries_max=4, per_key_max=2)
    assert [seen.admit(b"a", bytes([n]), 0, 0) for n in range(3)] == [None, None, KEY_OVER_SHARE]
    assert [seen.admit(b"b", bytes([n]), 0, 0) for n in range(2)] == [None, None]
    assert seen.admit(b"c", b"x", 0, 0) == FULL
    assert len(seen) == 4 and seen.per_key == {b"a": 2, b"b": 2}
    assert seen.admit(b"c", b"x", 10, WINDOW_MS + 1) is None  # the old ones left
    assert len(seen) == 1 and seen.per_key == {b"c": 1}
