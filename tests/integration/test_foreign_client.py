"""The wire format is enough: tests/foreign_client.py, written from
docs/wire-format.md with nothing but the standard library and
`cryptography`, computes the chain id from the genesis file, signs and
submits payments (msgpack wire bytes to /v1/tx, a JSON batch to /v1/txs)
to a live node over TLS, reads the receipts with signed requests, and sees
the balances move."""

from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import foreign_client
from crypto import encoding
from crypto.keys import read_key_file
from fixtures import PASSPHRASE

CLIENT_SOURCE = Path(foreign_client.__file__)
ALLOWED_OUTSIDE_STDLIB = {"cryptography"}
WAIT_MS = 20_000
EDGE_VALUES = [
    0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**32 - 1, 2**32, 2**62, 2**64 - 1,
    -1, -32, -33, -128, -129, -32_768, -32_769, -2**31, -2**31 - 1, -2**63,
    "", "a" * 31, "a" * 32, "é" * 20, "b" * 255, "b" * 256, "c" * 65_536, "\u20ac\U0001f600",
    b"", b"\x00" * 255, b"\x01" * 256, b"\x02" * 65_536, True, False, None,
    [], list(range(15)), list(range(16)), list(range(65_536)),
    {"b": 1, "a": [1, {"z": None, "é": b"x", "e": True}], "A": "x", "aa": -5},
    {f"k{i:05d}": i for i in range(16)}, {f"k{i:05d}": i for i in range(65_536)},
]


def top_modules(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            found.add(node.module.split(".")[0])
    return found


def test_the_foreign_client_imports_only_the_standard_library_and_cryptography():
    imported = top_modules(CLIENT_SOURCE.read_text())
    outside = {name for name in imported if name not in sys.stdlib_module_names} - ALLOWED_OUTSIDE_STDLIB
    assert "cryptography" in imported and not outside, outside


def test_its_encoder_gives_the_canonical_bytes():
    for value in EDGE_VALUES:
        assert foreign_client.pack(value) == encoding.encode(value), repr(value)[:80]
    assert encoding.decode(foreign_client.pack(EDGE_VALUES)) == EDGE_VALUES


def client_key(cluster, entry: dict) -> foreign_client.Key:
    """The foreign client's key from an institution's first client key file (read with the project's code)."""
    return foreign_client.Key(read_key_file(cluster.directory / entry["client_keys"][0], PASSPHRASE).seed)


def test_a_payment_from_the_foreign_client_settles(cluster):
    alpha, bravo = (entry["id"] for entry in cluster.institutions[:2])
    key = client_key(cluster, cluster.institutions[0])
    chain_id = foreign_client.chain_id_of((cluster.directory / "genesis.json").read_text())
    assert chain_id == cluster.chain_id
    node = foreign_client.Node(cluster.urls[1], str(cluster.ca), key, chain_id)  # another member's node
    regulator = foreign_client.Node(cluster.urls[1], str(cluster.ca), client_key(cluster, cluster.index[
        "regulators"][0]), chain_id)  # reads every account
    assert {iid for iid, _ in node.balances()} == {alpha}  # a member reads its own rows only
    before = regulator.balances()
    nonce = time.time_ns() // 1000

    wire, tx_hash, _ = foreign_client.transaction(key, chain_id, nonce, "settlement.pay",
                                                  {"from": alpha, "to": bravo, "currency": "EUR", "amount": 1250})
    status, answer = node.submit_wire(wire, WAIT_MS)
    assert status == 200 and answer["accepted"] == [tx_hash.hex()], answer
    assert answer["receipts"][0]["ok"] and answer["receipts"][0]["code"] == "ok", answer

    batch = [foreign_client.json_transaction(key, chain_id, nonce + 1 + i, "settlement.pay",
                                             {"from": alpha, "to": bravo, "currency": "EUR", "amount": 10,
                                              "reference": f"foreign-{i}"}) for i in range(3)]
    status, answer = node.submit_json_batch(batch, WAIT_MS)
    assert status == 200 and all(r["ok"] for r in answer["receipts"]), answer

    status, answer = node.receipt(tx_hash, WAIT_MS)
    assert status == 200 and answer["status"] == "committed" and answer["receipt"]["ok"], answer
    after = regulator.balances()
    assert after[alpha, "EUR"] == before[alpha, "EUR"] - 1280
    assert after[bravo, "EUR"] == before[bravo, "EUR"] + 1280

    status, answer = node.submit_wire(wire, WAIT_MS)  # the same bytes again: refused, nothing moves
    assert status == 409 and answer["error"]["code"] == "duplicate", answer
    assert regulator.balances() == after
