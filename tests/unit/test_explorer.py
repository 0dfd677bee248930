"""The explorer's pure parts: what its summary shows to whom
(node.api.explorer_view, over a state built through the executor: a member
sees its own balance, netting position, assets and transactions, oversight
sees all, a validator counts every sender's transactions and a member only
its own), the Host check against DNS rebinding, and the static files being
found and named in the package data (so a non-editable install serves them)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

from consensus.messages import Block, BlockHeader
from contracts.executor import Receipt
from contracts.tx import sign_tx
from fixtures import genesis_document, key, run
from contracts.genesis import parse_genesis
from node.api import explorer_site
from node.api.explorer_site import STATIC_FILES, host_allowed, read_static
from node.api.explorer_view import (
    TXS_SHOWN, accounts_part, assets_part, brief_args, consensus_part, counts_part, cycles_part, digest,
    sessions_part, summary, txs_part,
)
from node.api.http import Caller
from node.runtime.storage import StoredBlock

ROOT = Path(__file__).resolve().parents[2]
ROLES = {"bank-a": ["validator", "member"], "bank-b": ["validator", "member"], "bank-c": ["validator", "member"],
         "bank-d": ["validator", "member"], "bank-e": ["member"], "reg": ["regulator"]}
BALANCES = {b: {"EUR": 1_000_000} for b in ("bank-a", "bank-b", "bank-c", "bank-d", "bank-e")}
GENESIS = parse_genesis(genesis_document(ROLES, chain_name="explorer", balances=BALANCES, currencies=("EUR",)))
ALPHA = Caller("bank-a", ("validator", "member"), b"")
BRAVO = Caller("bank-b", ("validator", "member"), b"")
ECHO = Caller("bank-e", ("member",), b"")         # a member that is no validator: reads no whole blocks
REGULATOR = Caller("reg", ("regulator",), b"")


def tx(label: str, nonce: int, tx_type: str, **args):
    return sign_tx(key(f"{label}/client").signer(), GENESIS.chain_id, nonce, tx_type, args)


def pay(payer: str, payee: str, amount: int) -> dict:
    return {"from": payer, "to": payee, "currency": "EUR", "amount": amount}


@pytest.fixture(scope="module")
def state():
    """Bank a and b instruct, a closes the cycle (a pays 300 net, b receives 100, c 200),
    then a registers an asset held by a and c."""
    blocks = [
        [tx("bank-a", 1, "settlement.instruct", **pay("bank-a", "bank-b", 300)),
         tx("bank-b", 1, "settlement.instruct", **pay("bank-b", "bank-c", 200))],
        [tx("bank-a", 2, "settlement.close_cycle", currency="EUR")],
        [tx("bank-a", 3, "assets.register", **{"class": "receivable", "issuer": "bank-a",
                                               "holders": {"bank-a": 6, "bank-c": 4}, "currency": "EUR",
                                               "face_value": 2, "maturity_height": 100,
                                               "documents_hash": bytes(32)})],
    ]
    results, final = run(GENESIS, blocks)
    assert all(r.ok for result in results for r in result.receipts), [r for x in results for r in x.receipts]
    return final


def test_a_member_sees_its_own_balance_and_oversight_every_balance(state):
    assert accounts_part(state, ALPHA) == [{"institution": "bank-a", "currency": "EUR", "balance": "999700"}]
    assert accounts_part(state, BRAVO) == [{"institution": "bank-b", "currency": "EUR", "balance": "1000100"}]
    every = accounts_part(state, REGULATOR)
    assert [(a["institution"], a["balance"]) for a in every] == [
        ("bank-a", "999700"), ("bank-b", "1000100"), ("bank-c", "1000200"), ("bank-d", "1000000"),
        ("bank-e", "1000000")]


def test_a_member_sees_its_own_netting_position_only(state):
    [alpha] = cycles_part(state, ALPHA)
    assert alpha["count"] == 1 and alpha["latest"]["positions"] == {"bank-a": "-300"}
    assert "instructions" not in alpha["latest"] and alpha["latest"]["closed_by"] == "bank-a"
    [echo] = cycles_part(state, ECHO)
    assert echo["latest"]["positions"] == {}
    [regulator] = cycles_part(state, REGULATOR)
    assert regulator["latest"]["positions"] == {"bank-a": "-300", "bank-b": "100", "bank-c": "200"}


def test_assets_are_listed_to_those_they_involve(state):
    [asset] = assets_part(state, ALPHA)
    assert (asset["id"], asset["issuer"], asset["holders"], asset["units"]) == ("A000000000001", "bank-a",
                                                                               ["bank-a", "bank-c"], "10")
    assert [a["id"] for a in assets_part(state, Caller("bank-c", ("member",), b""))] == ["A000000000001"]
    assert assets_part(state, BRAVO) == []
    assert [a["id"] for a in assets_part(state, REGULATOR)] == ["A000000000001"]
    assert sessions_part(state, REGULATOR) == []  # none opened: the page hides the panel


def test_consensus_part_names_n_f_quorum_and_the_primary(state):
    found = consensus_part(state, view=5, primary=1)
    assert (found["n"], found["f"], found["quorum"], found["view"]) == (4, 1, 3, 5)
    assert found["primary"] == {"replica": 1, "institution": "bank-b"}
    assert [v["institution"] for v in found["validators"]] == ["bank-a", "bank-b", "bank-c", "bank-d"]
    assert found["validators"][0]["node_key"] == key("bank-a/node").public_key.hex()


# --- transactions: which rows, which counts --------------------------------------------

def stored(height: int, sent: list[tuple[str, dict]]) -> tuple[StoredBlock, list[str]]:
    """A stored block of payments by (sender, args); every receipt ok."""
    wires, receipts, senders = [], [], []
    for nonce, (sender, args) in enumerate(sent, start=1):
        signed = tx(sender, height * 1000 + nonce, "settlement.pay", **args)
        wires.append(signed.wire())
        receipts.append(Receipt(signed.hash, "ok"))
        senders.append(sender)
    header = BlockHeader(GENESIS.chain_id, height, 0, 2, b"\x00" * 32, 1_000 * height, b"\x01" * 32, len(sent),
                         b"\x02" * 32, b"\x03" * 32, b"\x04" * 32)
    return StoredBlock(Block(header, tuple(wires)), None, tuple(receipts), b"\x05" * 32, b"\x06" * 32), senders


def digests(own: str) -> list:
    blocks = [stored(1, [("bank-a", pay("bank-a", "bank-b", 5)), ("bank-b", pay("bank-b", "bank-e", 7))]),
              stored(2, [("bank-e", pay("bank-e", "bank-a", 9))] * 3),
              stored(3, [("bank-a", pay("bank-a", "bank-c", n)) for n in range(1, TXS_SHOWN + 5)])]
    return [digest(block, senders, own, key("bank-c/node").public_key) for block, senders in blocks]


def test_transactions_shown_are_those_whose_receipts_the_reader_may_read():
    alpha = txs_part(digests("bank-a"), ALPHA)
    assert len(alpha) == TXS_SHOWN and {t["sender"] for t in alpha} == {"bank-a"}
    assert [(t["height"], t["index"]) for t in alpha[:2]] == [(3, TXS_SHOWN + 3), (3, TXS_SHOWN + 2)]
    assert alpha[0]["brief"] == {"from": "bank-a", "to": "bank-c", "currency": "EUR", "amount": str(TXS_SHOWN + 4)}
    echo = txs_part(digests("bank-e"), ECHO)
    assert [(t["height"], t["sender"]) for t in echo] == [(2, "bank-e")] * 3  # not bank-b's payment to it
    every = txs_part(digests("bank-e"), REGULATOR)  # a regulator's own node would list every sender's
    assert len(every) == TXS_SHOWN and every[0]["sender"] == "bank-a"
    assert txs_part(digests("bank-a"), BRAVO) == []  # the rule is applied again at each request


def test_counts_are_every_senders_for_a_reader_of_blocks_and_its_own_for_a_member():
    found = counts_part(digests("bank-a"), ALPHA)
    assert found["scope"] == "all" and (found["from_height"], found["to_height"], found["blocks"]) == (1, 3, 3)
    assert found["by_institution"] == [{"institution": "bank-a", "count": TXS_SHOWN + 5},
                                       {"institution": "bank-e", "count": 3}, {"institution": "bank-b", "count": 1}]
    assert counts_part(digests("bank-e"), ECHO)["by_institution"] == [{"institution": "bank-e", "count": 3}]
    assert counts_part(digests("bank-b"), Caller("bank-z", ("member",), b""))["by_institution"] == [
        {"institution": "bank-z", "count": 0}]


def test_the_summary_holds_every_part_and_names_the_proposer(state):
    found = summary(state, ALPHA, digests("bank-a"), {"height": 3}, view=0, primary=0)
    assert found["height"] == 3 and found["reader"]["institution"] == "bank-a" and found["reader"]["reads_chain"]
    assert [b["height"] for b in found["blocks"]] == [3, 2, 1]
    assert {b["proposer_institution"] for b in found["blocks"]} == {"bank-c"} and found["blocks"][0]["proposer"] == 2
    assert {"transactions", "tx_counts", "accounts", "cycles", "assets", "mpc_sessions", "limits"} <= set(found)


@pytest.mark.parametrize("args, expected", [
    (pay("bank-a", "bank-b", 2**62), {"from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": str(2**62)}),
    ({"asset": "A000000000001", "amount": True, "to": ["x"], "secret": "s"}, {"asset": "A000000000001"}),
    ([1, 2], {}),
])
def test_brief_args_keep_a_few_plain_values_with_money_as_text(args, expected):
    assert brief_args(args) == expected


# --- the site ------------------------------------------------------------------------

@pytest.mark.parametrize("host, allowed", [
    ("127.0.0.1:8100", True), ("127.0.0.2", True), ("10.1.2.3:8100", True), ("[::1]:8100", True), ("[::1]", True),
    ("localhost:9100", True), ("LOCALHOST", True),
    ("evil.example:8100", False), ("evil.example", False), ("localhost.evil.example", False), ("", False),
    (None, False), ("127.0.0.1.nip.io:8100", False), ("[::1]x", False), ("1.2.3.4:80:80", False),
])
def test_the_host_header_must_name_the_site_by_address_or_as_localhost(host, allowed):
    assert host_allowed(host) is allowed


def test_the_static_files_are_found_and_in_the_package_data():
    found = read_static()
    assert set(found) == set(STATIC_FILES) and all(body for body, _ in found.values())
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "node.api.explorer" in setuptools["packages"]
    for name, _ in STATIC_FILES.values():
        assert any(fnmatch.fnmatch(name, p) for p in setuptools["package-data"]["node.api.explorer"]), name
    index = found["/"][0].decode()
    assert 'src="explorer.js"' in index and 'href="explorer.css"' in index
    assert "http://" not in index and "https://" not in index, "the page loads nothing from elsewhere"
    assert "http" not in found["/explorer.js"][0].decode().replace("HTTP", ""), "no absolute URL in the script"


def test_a_missing_static_file_stops_the_site_from_starting(tmp_path):
    for name in ("index.html", "explorer.js"):
        (tmp_path / name).write_text("x")
    with pytest.raises(RuntimeError, match="explorer.css"):
        read_static(tmp_path)
    (tmp_path / "explorer.css").write_bytes(b"x" * (explorer_site.STATIC_BYTES_MAX + 1))
    with pytest.raises(RuntimeError, match="explorer.css"):
        read_static(tmp_path)
