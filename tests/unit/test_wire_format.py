"""docs/wire-format.md's examples and known answers are what the code
computes, so a reader in another language can test against them."""

from __future__ import annotations

import re
from pathlib import Path

from contracts.executor import NONCE_WINDOW
from contracts.tx import TX_SIZE_MAX, sign_tx
from crypto import encoding
from crypto.keys import KeyPair
from node.client.request_signing import request_headers, request_message

PAGE = Path(__file__).resolve().parents[2] / "docs" / "wire-format.md"
SEED = bytes(range(32))
CHAIN_ID = bytes([0x11]) * 32
PAY = {"from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": 12500}


def page_hex() -> str:
    """The page with all white space removed, so hex split over lines or by spaces reads as one string."""
    return re.sub(r"\s+", "", PAGE.read_text())


def test_the_encoding_example():
    encoded = encoding.encode({"b": 1, "a": [True, b"\x00"]})
    assert encoded.hex() == "82a16192c3c40100a16201"
    assert encoded.hex() in page_hex()


def test_the_transaction_known_answer():
    key = KeyPair.from_seed(SEED)
    tx = sign_tx(key.signer(), CHAIN_ID, 1, "settlement.pay", PAY)
    text = page_hex()
    assert key.public_key.hex() in text
    assert tx.body.hex()[2 + 2 * 34 + 2 * 34:] in text  # from the nonce on; the page shortens the two keys
    assert tx.signature.hex() in text and tx.hash.hex() in text
    assert len(tx.body) == 131 and tx.wire().startswith(bytes.fromhex("92c483"))


def test_the_request_known_answer():
    key = KeyPair.from_seed(SEED)
    message = request_message(CHAIN_ID, "GET", "/v1/accounts?x=1", b"", 1767225600000, bytes(range(16)))
    headers = request_headers(key.signer(), CHAIN_ID, "GET", "/v1/accounts?x=1", b"", 1767225600000,
                              bytes(range(16)))
    text = page_hex()
    assert message.hex()[2 + 2 * 34:] in text and headers["Consort-Signature"] in text


def test_the_limits_the_page_states():
    text = PAGE.read_text()
    assert f"{TX_SIZE_MAX:,}" in text and f"{NONCE_WINDOW:,}" in text
