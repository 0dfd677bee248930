"""Unit tests for contracts.tx, contracts.executor, contracts.settlement and
contracts.genesis: wire forms, every receipt code, the nonce window, and
genesis validation."""

from __future__ import annotations

import copy
import dataclasses
import json
import re

import pytest
from hypothesis import given, settings, strategies as st

from conftest_crypto import Chain, pay, unit_document
from contracts import executor as executor_module
from contracts.executor import (
    NONCE_UNUSED_CODES, NONCE_WINDOW, BlockContext, BlockResult, Executor, Receipt, nonce_key, nonce_status,
    use_nonce,
)
from contracts.genesis import (
    CONSENSUS_DEFAULTS, GenesisError, account_key, client_key_key, genesis_state, institution_key,
    parse_genesis,
)
from contracts import store
from contracts.schema import AMOUNT_MAX, bounded
from contracts.state import DictState, Overlay
from contracts.tx import TX_SIZE_MAX, NONCE_MAX, TxError, decode_tx, sign_tx, tx_from_json
from crypto import encoding, hashing, keys, merkle
from fixtures import key


@pytest.fixture
def chain() -> Chain:
    return Chain.fresh()


# --- transactions: wire and JSON forms ----------------------------------------

def test_signed_tx_fields_hash_and_body(chain):
    tx = chain.sign("bank-a", 7, pay("bank-a", "bank-b", 5))
    assert tx.sender == key("bank-a/client").public_key
    assert tx.body == encoding.encode([chain.chain_id, tx.sender, 7, "settlement.pay", pay("bank-a", "bank-b", 5)])
    assert tx.hash == hashing.digest("tx", tx.body)
    assert tx.signature_valid()
    assert keys.verify(tx.sender, "tx", tx.body, tx.signature)


def test_wire_round_trip(chain):
    tx = chain.sign("bank-a", 1, pay("bank-a", "bank-b", 5, reference="inv-1"))
    assert decode_tx(tx.wire()) == tx
    assert decode_tx(tx.wire()).wire() == tx.wire()


def test_json_round_trip_equals_signed_tx(chain):
    tx = chain.sign("bank-a", 1, pay("bank-a", "bank-b", 5, reference="ünïcode ✓"))
    document = json.loads(json.dumps(tx.to_json()))
    back = tx_from_json(document)
    assert back == tx
    assert back.signature_valid()


def test_json_key_order_does_not_matter(chain):
    tx = chain.sign("bank-a", 1, pay("bank-a", "bank-b", 5))
    document = tx.to_json()
    document["args"] = dict(reversed(list(document["args"].items())))
    assert tx_from_json(dict(reversed(list(document.items())))) == tx


def _rewire(body: bytes, signature: bytes) -> bytes:
    return encoding.encode([body, signature])


def test_tampered_body_fails_signature(chain):
    tx = chain.sign("bank-a", 1, pay("bank-a", "bank-b", 5))
    fields = encoding.decode(tx.body)
    fields[4]["amount"] = 500
    tampered = decode_tx(_rewire(encoding.encode(fields), tx.signature))
    assert tampered.args["amount"] == 500
    assert tampered.hash != tx.hash
    assert not tampered.signature_valid()


def test_tampered_signature_fails(chain):
    tx = chain.sign("bank-a", 1, pay("bank-a", "bank-b", 5))
    signature = bytearray(tx.signature)
    signature[10] ^= 0x01
    tampered = decode_tx(_rewire(tx.body, bytes(signature)))
    assert tampered.hash == tx.hash  # the hash covers the body only
    assert not tampered.signature_valid()


def test_signature_by_another_key_fails(chain):
    tx = chain.sign("bank-a", 1, pay("bank-a", "bank-b", 5))
    forged = key("bank-b/client").signer().sign("tx", tx.body)
    assert not decode_tx(_rewire(tx.body, forged)).signature_valid()
    assert not dataclasses.replace(tx, signature=forged).signature_valid()


def test_signature_in_another_domain_fails(chain):
    tx = chain.sign("bank-a", 1, pay("bank-a", "bank-b", 5))
    other_domain = key("bank-a/client").signer().sign("vote", tx.body)
    assert not decode_tx(_rewire(tx.body, other_domain)).signature_valid()


def _body(chain_id=b"\x00" * 32, sender=b"\x01" * 32, nonce=0, tx_type="t", args=None):
    return encoding.encode([chain_id, sender, nonce, tx_type, {} if args is None else args])


BAD_WIRES = {
    "junk": b"\xc1\x00",
    "empty": b"",
    "not a list": encoding.encode({"body": b"", "signature": b""}),
    "three items": encoding.encode([_body(), bytes(64), b""]),
    "one item": encoding.encode([_body()]),
    "body not bytes": encoding.encode([[1, 2], bytes(64)]),
    "signature not bytes": encoding.encode([_body(), "sig"]),
    "short signature": encoding.encode([_body(), bytes(63)]),
    "long signature": encoding.encode([_body(), bytes(65)]),
    "body not msgpack": encoding.encode([b"\xc1", bytes(64)]),
    "body not canonical": encoding.encode([b"\xcd\x00\x01", bytes(64)]),
    "body a map": encoding.encode([encoding.encode({"a": 1}), bytes(64)]),
    "body four fields": encoding.encode([encoding.encode([b"\x00" * 32, b"\x01" * 32, 0, "t"]), bytes(64)]),
    "short chain id": encoding.encode([_body(chain_id=b"\x00" * 31), bytes(64)]),
    "chain id str": encoding.encode([_body(chain_id="0" * 32), bytes(64)]),
    "short sender": encoding.encode([_body(sender=b"\x01" * 31), bytes(64)]),
    "negative nonce": encoding.encode([_body(nonce=-1), bytes(64)]),
    "nonce too big": encoding.encode([_body(nonce=NONCE_MAX), bytes(64)]),
    "bool nonce": encoding.encode([_body(nonce=True), bytes(64)]),
    "empty type": encoding.encode([_body(tx_type=""), bytes(64)]),
    "long type": encoding.encode([_body(tx_type="t" * 65), bytes(64)]),
    "bytes type": encoding.encode([_body(tx_type=b"t"), bytes(64)]),
    "args a list": encoding.encode([_body(args=[]), bytes(64)]),
    "trailing byte": encoding.encode([_body(), bytes(64)]) + b"\x00",
    "oversized": encoding.encode([_body(args={"r": "x" * TX_SIZE_MAX}), bytes(64)]),
}


@pytest.mark.parametrize("wire", BAD_WIRES.values(), ids=BAD_WIRES.keys())
def test_decode_tx_rejects_malformed_wire(wire):
    with pytest.raises(TxError):
        decode_tx(wire)


def test_decode_tx_accepts_the_minimal_well_formed_wire():
    # The table above must fail for the reason in its name, not by accident.
    tx = decode_tx(encoding.encode([_body(), bytes(64)]))
    assert (tx.nonce, tx.type, tx.args) == (0, "t", {})
    assert not tx.signature_valid()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_tx_on_junk_raises_tx_error_only(junk):
    try:
        tx = decode_tx(junk)
    except TxError:
        return
    assert tx.wire() == junk


def test_sign_tx_refuses_bad_fields(chain):
    signer = key("bank-a/client").signer()
    for nonce in (-1, NONCE_MAX, True):
        with pytest.raises(TxError):
            sign_tx(signer, chain.chain_id, nonce, "settlement.pay", {})
    with pytest.raises(TxError):
        sign_tx(signer, chain.chain_id[:31], 0, "settlement.pay", {})
    with pytest.raises(TxError):
        sign_tx(signer, chain.chain_id, 0, "settlement.pay", {"amount": 1.5})
    with pytest.raises(TxError):
        sign_tx(signer, chain.chain_id, 0, "settlement.pay", {"reference": "\ud800"})


def _json(chain, **change):
    document = chain.sign("bank-a", 1, pay("bank-a", "bank-b", 5)).to_json()
    document.update(change)
    return document


@pytest.mark.parametrize("change", [
    {"chain_id": "zz"}, {"chain_id": 5}, {"chain_id": "00" * 31},
    {"sender": None}, {"sender": "00" * 33},
    {"signature": "00" * 63}, {"signature": "not hex"},
    {"nonce": "1"}, {"nonce": -1}, {"nonce": 1.0}, {"nonce": False}, {"nonce": NONCE_MAX},
    {"type": ""}, {"type": 3},
    {"args": []}, {"args": {"amount": 1.5}}, {"args": {"amount": 2**64}}, {"args": {"x": "\ud800"}},
    {"args": {"r": "x" * TX_SIZE_MAX}},
])
def test_tx_from_json_rejects_bad_fields(chain, change):
    with pytest.raises(TxError):
        tx_from_json(_json(chain, **change))


@pytest.mark.parametrize("field", ["chain_id", "sender", "signature", "nonce", "type", "args"])
def test_tx_from_json_rejects_missing_fields(chain, field):
    document = _json(chain)
    del document[field]
    with pytest.raises(TxError):
        tx_from_json(document)


@pytest.mark.parametrize("document", [None, [], "tx", 1])
def test_tx_from_json_rejects_non_objects(document):
    with pytest.raises(TxError):
        tx_from_json(document)


def test_tx_from_json_and_decode_tx_agree_on_the_size_limit(chain):
    # A transaction the JSON API accepts travels on as its wire form; the
    # executor decodes that. Both must draw the size line at the same place.
    signer = key("bank-a/client").signer()
    base = len(sign_tx(signer, chain.chain_id, 1, "settlement.pay", {"r": ""}).wire())
    for padding in range(TX_SIZE_MAX - base - 100, TX_SIZE_MAX - base + 100):
        tx = sign_tx(signer, chain.chain_id, 1, "settlement.pay", {"r": "x" * padding})
        try:
            from_json = tx_from_json(tx.to_json())
        except TxError:
            from_json = None
        try:
            from_wire = decode_tx(tx.wire())
        except TxError:
            from_wire = None
        assert (from_json is None) == (from_wire is None), (padding, len(tx.wire()))
        assert (from_wire is None) == (len(tx.wire()) > TX_SIZE_MAX)


# --- executor: the happy path ---------------------------------------------------

def test_pay_moves_money_and_uses_the_nonce(chain):
    before = dict(chain.state.items)
    tx = chain.sign("bank-a", 0, pay("bank-a", "bank-b", 300, reference="inv-9"))
    result = chain.apply([tx])
    assert [(r.tx_hash, r.code) for r in result.receipts] == [(tx.hash, "ok")]
    assert result.receipts[0].output["finality"]["details"]["amount"] == 300
    assert chain.balance("bank-a") == 700 and chain.balance("bank-b") == 800
    assert chain.balance("bank-a", "USD") == 50
    assert [k for k, _ in result.writes] == sorted(
        [account_key("bank-a", "EUR"), account_key("bank-b", "EUR"), nonce_key(tx.sender)])
    assert before[account_key("bank-a", "EUR")] == encoding.encode(1000)


def test_execute_does_not_touch_the_state_it_reads(chain):
    snapshot = dict(chain.state.items)
    chain.executor.execute(chain.state, BlockContext(chain.chain_id, 1, 0),
                           [chain.sign("bank-a", 0, pay("bank-a", "bank-b", 3))])
    assert chain.state.items == snapshot


def test_paying_the_whole_balance_is_allowed_and_one_more_is_not(chain):
    first = chain.sign("bank-b", 0, pay("bank-b", "bank-a", 501))
    second = chain.sign("bank-b", 1, pay("bank-b", "bank-a", 500))
    third = chain.sign("bank-b", 2, pay("bank-b", "bank-a", 1))
    result = chain.apply([first, second, third])
    assert [r.code for r in result.receipts] == ["insufficient_funds", "ok", "insufficient_funds"]
    assert chain.balance("bank-b") == 0 and chain.balance("bank-a") == 1500


def test_later_transactions_in_a_block_see_earlier_writes(chain):
    result = chain.apply([chain.sign("bank-b", 0, pay("bank-b", "bank-c", 500)),
                          chain.sign("bank-c", 0, pay("bank-c", "bank-a", 200))])
    assert [r.code for r in result.receipts] == ["ok", "ok"]
    assert (chain.balance("bank-a"), chain.balance("bank-b"), chain.balance("bank-c")) == (1200, 0, 300)


# The receipts root of the three receipts below, computed once and checked by
# hand (msgpack bytes and SHA-256 written out, not this code). It pins the
# receipt wire form [tx_hash, code, detail, output], its canonical encoding and
# the RFC 9162 tree (the odd third leaf carried up): changing any of them
# changes every block's receipts_root, which old chains would then fail.
RECEIPTS_ROOT_KNOWN = "86de84c6694efc3a8e78aa3a54fdfc8a98e9c69d7575c4f841b637894a1e7ebd"


def test_receipt_wire_and_root():
    receipts = (Receipt(b"\x01" * 32, "ok"), Receipt(b"\x02" * 32, "nonce_used", "nonce 3 was already used"))
    for r in receipts:
        assert Receipt.from_wire(encoding.decode(encoding.encode(r.to_wire()))) == r
    assert receipts[1].to_json() == {"tx_hash": "02" * 32, "ok": False, "code": "nonce_used",
                                     "detail": "nonce 3 was already used", "output": {}}
    with_output = Receipt(b"\x03" * 32, "ok", "", {"asset": b"\x04" * 2, "units": [1, 2]})
    assert Receipt.from_wire(encoding.decode(encoding.encode(with_output.to_wire()))) == with_output
    assert with_output.to_json()["output"] == {"asset": "0404", "units": [1, 2]}
    fixed = (*receipts, with_output)
    result = BlockResult([], fixed, tuple(encoding.encode(r.to_wire()) for r in fixed))
    assert result.receipts_root.hex() == RECEIPTS_ROOT_KNOWN


def test_an_executed_block_commits_to_its_receipts_canonical_bytes(chain):
    paid = chain.sign("bank-a", 0, pay("bank-a", "bank-b", 5))
    result = chain.apply([paid, paid, chain.sign("bank-b", 0, pay("bank-b", "bank-c", 10**6))])
    assert [r.code for r in result.receipts] == ["ok", "nonce_used", "insufficient_funds"]
    leaves = [encoding.encode(r.to_wire()) for r in result.receipts]
    assert list(result.receipt_leaves) == leaves
    assert result.receipts_root == merkle.root(leaves)
    # Any change to any receipt, or to their order, moves the root.
    for index, receipt in enumerate(result.receipts):
        for changed in (dataclasses.replace(receipt, tx_hash=bytes(32)),
                        dataclasses.replace(receipt, code="unknown_type" if receipt.ok else "ok"),
                        dataclasses.replace(receipt, detail=receipt.detail + "."),
                        dataclasses.replace(receipt, output={**(receipt.output or {}), "extra": 1})):
            altered = [*leaves[:index], encoding.encode(changed.to_wire()), *leaves[index + 1:]]
            assert merkle.root(altered) != result.receipts_root, (index, changed)
    assert merkle.root([leaves[1], leaves[0], leaves[2]]) != result.receipts_root


# --- executor: every failure code -------------------------------------------------

def _failure(chain, tx, code):
    """Run one failing tx; check its code and that only the nonce window may change."""
    balances = chain.balances()
    result = chain.apply([tx])
    assert [r.code for r in result.receipts] == [code], result.receipts
    assert not result.receipts[0].ok
    assert chain.balances() == balances
    return result


@pytest.mark.parametrize("args, code", [
    (pay("bank-b", "bank-c", 5), "not_authorized"),
    (pay("bank-a", "bank-zz", 5), "unknown_account"),
    (pay("bank-a", "aud", 5), "unknown_account"),
    (pay("bank-a", "bank-b", 5, currency="GBP"), "unknown_account"),
    (pay("bank-a", "bank-b", 1001), "insufficient_funds"),
    (pay("bank-a", "bank-b", 51, currency="USD"), "insufficient_funds"),
    (pay("bank-a", "bank-b", 0), "bad_args"),
    (pay("bank-a", "bank-b", -5), "bad_args"),
    (pay("bank-a", "bank-b", True), "bad_args"),
    (pay("bank-a", "bank-b", "5"), "bad_args"),
    (pay("bank-a", "bank-b", 2**62 + 1), "bad_args"),
    (pay("bank-a", "bank-a", 5), "bad_args"),
    (pay("bank-a", "bank-b", 5, currency="EURO"), "bad_args"),
    (pay("bank-a", "bank-b", 5, memo="x"), "bad_args"),
    (pay("bank-a", "bank-b", 5, reference=7), "bad_args"),
    (pay("bank-a", "bank-b", 5, reference="x" * 141), "bad_args"),
    (pay("", "bank-b", 5), "bad_args"),
    ({"from": "bank-a", "currency": "EUR", "amount": 5}, "bad_args"),
])
def test_settlement_failures(chain, args, code):
    tx = chain.sign("bank-a", 0, args)
    result = _failure(chain, tx, code)
    assert [k for k, _ in result.writes] == [nonce_key(tx.sender)]


def test_auditor_may_not_pay(chain):
    tx = chain.sign("aud", 0, pay("aud", "bank-b", 1))
    _failure(chain, tx, "not_permitted")


def test_unknown_type(chain):
    tx = chain.sign("bank-a", 0, pay("bank-a", "bank-b", 1), tx_type="settlement.teleport")
    result = _failure(chain, tx, "unknown_type")
    assert [k for k, _ in result.writes] == [nonce_key(tx.sender)]


def test_unknown_sender(chain):
    tx = sign_tx(key("stranger").signer(), chain.chain_id, 0, "settlement.pay", pay("bank-a", "bank-b", 1))
    result = _failure(chain, tx, "unknown_sender")
    assert result.writes == []


def test_wrong_chain(chain):
    tx = chain.sign("bank-a", 0, pay("bank-a", "bank-b", 1), chain_id=bytes(32))
    result = _failure(chain, tx, "wrong_chain")
    assert result.writes == []


def test_bad_signature_on_raw_bytes(chain):
    tx = chain.sign("bank-a", 0, pay("bank-a", "bank-b", 1))
    forged = _rewire(tx.body, key("bank-b/client").signer().sign("tx", tx.body))
    result = _failure(chain, forged, "bad_signature")
    assert result.receipts[0].tx_hash == tx.hash
    assert result.writes == []
    # the nonce was not spent: the genuine transaction still goes through
    assert chain.apply([tx.wire()]).receipts[0].code == "ok"


def test_malformed_raw_bytes(chain):
    result = _failure(chain, b"\xc1junk", "malformed")
    assert result.receipts[0].tx_hash == hashing.digest("malformed-tx", b"\xc1junk")
    assert result.writes == []


def test_raw_and_object_paths_agree_for_valid_signatures(chain):
    txs = [chain.sign("bank-a", n, pay("bank-a", "bank-b", 400)) for n in range(4)]
    context = BlockContext(chain.chain_id, 1, 0)
    by_object = Executor().execute(chain.state, context, txs)
    by_wire = Executor().execute(chain.state, context, [t.wire() for t in txs])
    assert by_object == by_wire
    assert [r.code for r in by_object.receipts] == ["ok", "ok", "insufficient_funds", "insufficient_funds"]


def test_nonce_used_and_replay(chain):
    tx = chain.sign("bank-a", 3, pay("bank-a", "bank-b", 10))
    assert chain.apply([tx]).receipts[0].ok
    _failure(chain, tx, "nonce_used")
    _failure(chain, tx.wire(), "nonce_used")
    # a different transaction with the same nonce is refused too
    _failure(chain, chain.sign("bank-a", 3, pay("bank-a", "bank-c", 1)), "nonce_used")
    assert chain.balance("bank-a") == 990


def test_replay_inside_one_block(chain):
    tx = chain.sign("bank-a", 0, pay("bank-a", "bank-b", 10))
    result = chain.apply([tx, tx, tx.wire()])
    assert [r.code for r in result.receipts] == ["ok", "nonce_used", "nonce_used"]
    assert chain.balance("bank-a") == 990


def test_a_failed_transaction_spends_its_nonce(chain):
    _failure(chain, chain.sign("bank-a", 5, pay("bank-a", "bank-b", 10**6)), "insufficient_funds")
    _failure(chain, chain.sign("bank-a", 5, pay("bank-a", "bank-b", 1)), "nonce_used")


def test_nonce_too_old(chain):
    assert chain.apply([chain.sign("bank-a", NONCE_WINDOW + 10, pay("bank-a", "bank-b", 1))]).receipts[0].ok
    _failure(chain, chain.sign("bank-a", 10, pay("bank-a", "bank-b", 1)), "nonce_too_old")
    assert chain.apply([chain.sign("bank-a", 11, pay("bank-a", "bank-b", 1))]).receipts[0].ok


def test_the_codes_named_as_leaving_the_nonce_unused_are_exactly_those_that_do(chain):
    """The node's transaction index trusts NONCE_UNUSED_CODES: a receipt with
    any other code used its transaction's nonce (which one inclusion only can)."""
    used = chain.sign("bank-a", NONCE_WINDOW + 10, pay("bank-a", "bank-b", 1))
    assert chain.apply([used]).receipts[0].ok
    fresh = NONCE_WINDOW + 20
    genuine = chain.sign("bank-a", fresh, pay("bank-a", "bank-b", 1))
    cases = [
        b"\xc1junk",
        _rewire(genuine.body, key("bank-b/client").signer().sign("tx", genuine.body)),
        chain.sign("bank-a", fresh, pay("bank-a", "bank-b", 1), chain_id=bytes(32)),
        sign_tx(key("stranger").signer(), chain.chain_id, fresh, "settlement.pay", pay("bank-a", "bank-b", 1)),
        used,
        chain.sign("bank-a", 1, pay("bank-a", "bank-b", 1)),
        chain.sign("bank-a", fresh, pay("bank-a", "bank-b", 10**6)),
        chain.sign("bank-a", fresh, pay("bank-a", "bank-b", 1), tx_type="settlement.teleport"),
        chain.sign("aud", 0, pay("aud", "bank-b", 1)),
        genuine,
    ]
    codes = []
    for tx in cases:
        result = chain.executor.execute(chain.state, BlockContext(chain.chain_id, chain.height + 1, 0), [tx])
        code = result.receipts[0].code
        codes.append(code)
        window_written = any(k.startswith(b"nonce/") for k, _ in result.writes)
        assert (code in NONCE_UNUSED_CODES) == (not window_written), code
    assert set(codes) >= NONCE_UNUSED_CODES | {"ok", "insufficient_funds", "unknown_type", "not_permitted"}


def test_nonce_windows_are_per_sender(chain):
    result = chain.apply([chain.sign("bank-a", 0, pay("bank-a", "bank-b", 1)),
                          chain.sign("bank-b", 0, pay("bank-b", "bank-a", 1))])
    assert [r.code for r in result.receipts] == ["ok", "ok"]


# --- the nonce window itself ----------------------------------------------------

SENDER = b"\x05" * 32


def _use(state: Overlay, nonce: int) -> str:
    try:
        use_nonce(state, SENDER, nonce)
    except executor_module.ContractError as exc:
        return exc.code
    return "ok"


def test_out_of_order_nonces_inside_the_window_are_accepted_once():
    state = Overlay(DictState())
    assert [_use(state, n) for n in (10, 3, 7, 0, 11, 9)] == ["ok"] * 6
    assert [_use(state, n) for n in (10, 3, 7, 0, 11, 9)] == ["nonce_used"] * 6
    assert _use(state, 8) == "ok"


def test_window_edge():
    state = Overlay(DictState())
    top = 5000
    assert _use(state, top) == "ok"
    assert _use(state, top - NONCE_WINDOW) == "nonce_too_old"
    assert _use(state, 0) == "nonce_too_old"
    assert _use(state, top - NONCE_WINDOW + 1) == "ok"
    assert _use(state, top - NONCE_WINDOW + 1) == "nonce_used"


def test_used_nonces_stay_used_as_the_window_slides():
    state = Overlay(DictState())
    assert _use(state, 1000) == "ok"
    assert _use(state, 1000 + NONCE_WINDOW - 1) == "ok"  # 1000 is now the oldest slot
    assert _use(state, 1000) == "nonce_used"
    assert _use(state, 1000 + NONCE_WINDOW) == "ok"  # 1000 falls out of the window
    assert _use(state, 1000) == "nonce_too_old"
    assert _use(state, 1001) == "ok"


@pytest.mark.parametrize("jump", [NONCE_WINDOW - 1, NONCE_WINDOW, NONCE_WINDOW + 1, 10**9, NONCE_MAX - 1])
def test_large_jumps_are_cheap_and_keep_the_window_exact(jump):
    # A jump far past the window must not build a jump-sized bitmap.
    state = Overlay(DictState())
    assert _use(state, 0) == "ok"
    assert _use(state, jump) == "ok"
    assert _use(state, 0) == ("nonce_used" if jump < NONCE_WINDOW else "nonce_too_old")
    assert _use(state, jump) == "nonce_used"
    assert _use(state, jump - 1) == ("ok" if jump > 1 else "nonce_used")
    assert len(state.get(nonce_key(SENDER))) < 600


def test_a_huge_nonce_in_a_block_gets_a_receipt(chain):
    txs = [chain.sign("bank-a", 0, pay("bank-a", "bank-b", 1)),
           chain.sign("bank-a", NONCE_MAX - 1, pay("bank-a", "bank-b", 1)),
           chain.sign("bank-a", 1, pay("bank-a", "bank-b", 1))]
    assert [r.code for r in chain.apply(txs).receipts] == ["ok", "ok", "nonce_too_old"]


def test_nonce_status_is_read_only():
    state = DictState()
    assert nonce_status(state, SENDER, 4) is None
    assert nonce_status(state, SENDER, 4) is None
    assert state.items == {}
    overlay = Overlay(state)
    use_nonce(overlay, SENDER, 4)
    state.items.update(overlay.writes)
    assert nonce_status(state, SENDER, 4) == "nonce_used"
    assert nonce_status(state, SENDER, 5) is None
    assert nonce_status(state, SENDER, 4 + NONCE_WINDOW) is None
    assert nonce_status(state, SENDER, 4) == "nonce_used"


# --- the one maximum ------------------------------------------------------------------

def test_sums_and_counters_stop_at_amount_max():
    assert bounded(AMOUNT_MAX, "x") == AMOUNT_MAX and bounded(-AMOUNT_MAX, "x") == -AMOUNT_MAX
    for value in (AMOUNT_MAX + 1, -AMOUNT_MAX - 1, 2**64):
        with pytest.raises(executor_module.ContractError) as refused:
            bounded(value, "the total")
        assert (refused.value.code, refused.value.detail) == ("overflow", "the total would exceed 2^62")
    state = Overlay(DictState({b"seq/things": encoding.encode(AMOUNT_MAX - 1)}))
    assert store.next_id(state, "things") == AMOUNT_MAX
    with pytest.raises(executor_module.ContractError, match="overflow"):
        store.next_id(state, "things")
    assert NONCE_MAX == AMOUNT_MAX  # a replay window stores nonce + 1


# --- state overlays ---------------------------------------------------------------

def test_overlay_reads_through_and_merges():
    base = DictState({b"a": b"1", b"b": b"2"})
    block = Overlay(base)
    scope = Overlay(block)
    scope.put(b"a", b"9")
    scope.delete(b"b")
    assert (scope.get(b"a"), scope.get(b"b"), block.get(b"a")) == (b"9", None, b"1")
    scope.merge_into(block)
    assert block.sorted_writes() == [(b"a", b"9"), (b"b", None)]
    assert base.items == {b"a": b"1", b"b": b"2"}


# --- genesis --------------------------------------------------------------------

def _institution(document, iid):
    return next(i for i in document["institutions"] if i["id"] == iid)


def _broken(change) -> dict:
    document = unit_document()
    change(document)
    return document


GENESIS_ERRORS = {
    "duplicate ids": lambda d: d["institutions"].append({**copy.deepcopy(_institution(d, "aud")), "client_keys": []}),
    "unknown role": lambda d: _institution(d, "bank-b").update(roles=["member", "owner"]),
    "empty roles": lambda d: _institution(d, "bank-b").update(roles=[]),
    "validator without node key": lambda d: _institution(d, "bank-c").pop("node_key"),
    "validator without the role": lambda d: d["validators"].append("bank-b"),
    "validator not a member": lambda d: d["validators"].append("bank-q"),
    "duplicate validator": lambda d: d["validators"].append("bank-a"),
    "no validators": lambda d: d.update(validators=[]),
    "float balance": lambda d: _institution(d, "bank-a")["balances"].update(EUR=10.0),
    "bool balance": lambda d: _institution(d, "bank-a")["balances"].update(EUR=True),
    "negative balance": lambda d: _institution(d, "bank-a")["balances"].update(EUR=-1),
    "balance over the limit": lambda d: _institution(d, "bank-a")["balances"].update(EUR=AMOUNT_MAX + 1),
    "string balance": lambda d: _institution(d, "bank-a")["balances"].update(EUR="10"),
    "unknown currency": lambda d: _institution(d, "bank-a")["balances"].update(GBP=1),
    "lowercase currency": lambda d: d.update(currencies=["eur"]),
    "no currencies": lambda d: d.update(currencies=[]),
    "bad id": lambda d: _institution(d, "bank-b").update(id="Bank B"),
    "short key": lambda d: _institution(d, "bank-b").update(client_keys=["00" * 31]),
    "non-hex key": lambda d: _institution(d, "bank-b").update(client_keys=["zz" * 32]),
    "key listed twice": lambda d: _institution(d, "bank-b").update(client_keys=_institution(d, "bank-a")["client_keys"]),
    "node key reused as client key": lambda d: _institution(d, "bank-b").update(
        client_keys=[_institution(d, "bank-a")["node_key"]]),
    "unknown consensus parameter": lambda d: d.update(consensus={"speed": 1}),
    "negative consensus parameter": lambda d: d.update(consensus={"window": -1}),
    "float anywhere": lambda d: d.update(consensus={"window": 1.5}),
    "negative genesis time": lambda d: d.update(genesis_time_ms=-1),
    "lone surrogate in a name": lambda d: _institution(d, "bank-b").update(name="\ud800"),
    "institution not an object": lambda d: d["institutions"].append("bank-x"),
    "currency total over the limit": lambda d: [
        _institution(d, iid)["balances"].update(EUR=AMOUNT_MAX) for iid in ("bank-a", "bank-b")],
    "threshold out of its range": lambda d: d.update(parameters={"governance_threshold_bps": 0}),
    "empty netting queue": lambda d: d.update(parameters={"netting_queue_max": 0}),
    "parameter over the maximum": lambda d: d.update(parameters={"custom": AMOUNT_MAX + 1}),
    "parameter not an integer": lambda d: d.update(parameters={"proposal_ttl_blocks": "10"}),
    "endpoint without a node key": lambda d: _institution(d, "bank-b").update(node_endpoint="b.example:7000"),
    "endpoint without a port": lambda d: _institution(d, "bank-a").update(node_endpoint="a.example"),
    "endpoint port out of range": lambda d: _institution(d, "bank-a").update(node_endpoint="a.example:65536"),
    "endpoint not a string": lambda d: _institution(d, "bank-a").update(node_endpoint=7000),
    "endpoint with a bad IPv4 host": lambda d: _institution(d, "bank-a").update(node_endpoint="10.0.0.256:7000"),
    "endpoint too long": lambda d: _institution(d, "bank-a").update(node_endpoint="a" * 250 + ".example:7000"),
}


# What each refusal must say: proof that it fails for the reason in its name.
GENESIS_MESSAGES = {
    "duplicate ids": "ids must be unique", "unknown role": "roles must be", "empty roles": "roles must be",
    "validator without node key": "validator bank-c must", "validator without the role": "validator bank-b must",
    "validator not a member": "validator bank-q must", "duplicate validator": "validators must be unique",
    "no validators": "validators must be unique", "float balance": "no canonical form",
    "bool balance": "EUR: an integer", "negative balance": "EUR: an integer", "balance over the limit": "EUR: an integer",
    "string balance": "EUR: an integer", "unknown currency": "unknown currency GBP",
    "lowercase currency": "currencies must be", "no currencies": "currencies must be", "bad id": "'Bank B' is invalid",
    "short key": "32 bytes", "non-hex key": "not a hex string", "key listed twice": "listed twice",
    "node key reused as client key": "listed twice", "unknown consensus parameter": "consensus.speed",
    "negative consensus parameter": "consensus.window", "float anywhere": "no canonical form",
    "negative genesis time": "genesis_time_ms", "lone surrogate in a name": "no canonical form",
    "institution not an object": "must be an object", "currency total over the limit": "total of EUR",
    "threshold out of its range": "parameters.governance_threshold_bps: an integer in [5001, 10000]",
    "empty netting queue": "parameters.netting_queue_max: an integer in [1, ",
    "parameter over the maximum": "parameters.custom: an integer in [0, 4611686018427387904]",
    "parameter not an integer": "parameters.proposal_ttl_blocks: an integer in [1, ",
    "endpoint without a node key": "bank-b.node_endpoint: only an institution with a node_key",
    "endpoint without a port": "bank-a.node_endpoint: an endpoint is host:port",
    "endpoint port out of range": "bank-a.node_endpoint: the port must be an integer from 1 to 65535",
    "endpoint not a string": "bank-a.node_endpoint: an endpoint is a string",
    "endpoint with a bad IPv4 host": "bank-a.node_endpoint: a host ending in a number must be an IPv4 address",
    "endpoint too long": "bank-a.node_endpoint: an endpoint is a string of 1 to 255 characters",
}


@pytest.mark.parametrize("name", GENESIS_ERRORS)
def test_parse_genesis_refuses(name):
    with pytest.raises(GenesisError, match=re.escape(GENESIS_MESSAGES[name])):
        parse_genesis(_broken(GENESIS_ERRORS[name]))


@pytest.mark.parametrize("document", [None, [], "genesis"])
def test_parse_genesis_refuses_non_objects(document):
    with pytest.raises(GenesisError):
        parse_genesis(document)


def test_genesis_total_at_the_limit_is_accepted_and_can_be_concentrated():
    # Money is conserved, so capping each currency's total at AMOUNT_MAX
    # keeps every balance encodable whatever the payments.
    document = unit_document()
    for iid, amount in (("bank-a", AMOUNT_MAX - 2), ("bank-b", 1), ("bank-c", 1)):
        _institution(document, iid)["balances"] = {"EUR": amount}
    genesis = parse_genesis(document)
    chain = Chain(genesis, DictState(genesis_state(genesis)), Executor())
    result = chain.apply([chain.sign("bank-b", 0, pay("bank-b", "bank-a", 1)),
                          chain.sign("bank-c", 0, pay("bank-c", "bank-a", 1))])
    assert [r.code for r in result.receipts] == ["ok", "ok"]
    assert chain.balance("bank-a") == AMOUNT_MAX


def test_genesis_parse_and_chain_id():
    document = unit_document()
    genesis = parse_genesis(document)
    assert genesis.chain_id == hashing.digest("genesis", encoding.encode(document))
    assert genesis.validators == ("bank-a", "bank-c")
    assert genesis.validator_keys == (key("bank-a/node").public_key, key("bank-c/node").public_key)
    assert genesis.consensus["window"] == CONSENSUS_DEFAULTS["window"]
    assert genesis.institution("bank-a").balances == (("EUR", 1000), ("USD", 50))
    reordered = json.loads(json.dumps(document, sort_keys=True))
    assert parse_genesis(reordered).chain_id == genesis.chain_id
    document["institutions"][0]["name"] = "Other"
    assert parse_genesis(document).chain_id != genesis.chain_id


def test_genesis_state():
    genesis = parse_genesis(unit_document())
    state = genesis_state(genesis)
    assert list(state) == sorted(state)
    assert encoding.decode(state[account_key("bank-a", "EUR")]) == 1000
    assert encoding.decode(state[account_key("bank-b", "USD")]) == 0
    assert encoding.decode(state[account_key("bank-c", "EUR")]) == 0
    assert account_key("aud", "EUR") not in state
    assert encoding.decode(state[client_key_key(key("aud/client").public_key)]) == "aud"
    assert client_key_key(key("bank-a/node").public_key) not in state  # node keys do not sign txs
    assert encoding.decode(state[institution_key("bank-b")]) == {"name": "BANK-B", "roles": ["member"]}


# --- executor semantics with a contract that writes before it fails -------------

def _write_then_fail(scope, call):
    scope.put(b"scratch/" + call.institution.encode(), b"written")
    if call.args.get("fail"):
        raise executor_module.ContractError("refused", "asked to fail")
    return {}


def test_a_failing_contract_leaves_no_writes_behind(chain):
    from contracts.interface import TxType
    from contracts.schema import Field

    chain.executor = Executor({"test.write": TxType(apply=_write_then_fail, roles=("member",),
                                                    fields=(Field("fail", bool, required=False),))})
    failing = chain.sign("bank-b", 0, {"fail": True}, tx_type="test.write")
    result = chain.apply([failing])
    assert [(r.code, r.detail) for r in result.receipts] == [("refused", "asked to fail")]
    assert [k for k, _ in result.writes] == [nonce_key(failing.sender)]
    succeeding = chain.sign("bank-b", 1, {}, tx_type="test.write")
    result = chain.apply([succeeding])
    assert result.receipts[0].ok
    assert chain.state.get(b"scratch/bank-b") == b"written"
    # settlement is not registered in this executor
    assert chain.apply([chain.sign("bank-a", 0, pay("bank-a", "bank-b", 1))]).receipts[0].code == "unknown_type"


def _write_then_raise(exc: BaseException):
    def apply(scope, call):
        scope.put(b"scratch/" + call.institution.encode(), b"written")
        raise exc
    return apply


def _executor_with(apply) -> Executor:
    from contracts.interface import TxType
    from contracts.registry import TX_TYPES

    return Executor({"settlement.pay": TX_TYPES["settlement.pay"], "test.raise": TxType(apply, ("member",))})


@pytest.mark.parametrize("exc", [ValueError("boom"), KeyError("k"), ZeroDivisionError(), TypeError("t"),
                                 AssertionError("a contract's own check"), encoding.EncodingError("2^64"),
                                 IndexError(), RuntimeError("r")], ids=lambda e: type(e).__name__)
def test_an_exception_in_contract_code_fails_its_transaction_not_the_block(chain, caplog, exc):
    chain.executor = _executor_with(_write_then_raise(exc))
    raising = chain.sign("bank-b", 0, {}, tx_type="test.raise")
    block = [chain.sign("bank-a", 0, pay("bank-a", "bank-b", 5)), raising,
             chain.sign("bank-a", 1, pay("bank-a", "bank-b", 7))]
    with caplog.at_level("ERROR", logger="contracts.executor"):
        result = chain.apply(block)
    assert [(r.code, r.detail) for r in result.receipts] == [
        ("ok", ""), ("internal_error", type(exc).__name__), ("ok", "")]
    assert result.receipts[1].output is None
    assert [encoding.encode(r.to_wire()) for r in result.receipts] == list(result.receipt_leaves)
    written = {k for k, _ in result.writes}
    assert b"scratch/bank-b" not in written and nonce_key(raising.sender) in written
    assert chain.balance("bank-b") == 512
    assert raising.hash.hex() in caplog.text and type(exc).__name__ in caplog.text
    # its nonce stays used, as for any other failure
    assert chain.apply([raising]).receipts[0].code == "nonce_used"


def test_a_raising_transaction_leaves_only_its_nonce_behind(chain):
    chain.executor = _executor_with(_write_then_raise(ValueError("boom")))
    raising = chain.sign("bank-b", 0, {}, tx_type="test.raise")
    result = chain.apply([raising])
    assert [k for k, _ in result.writes] == [nonce_key(raising.sender)]


@pytest.mark.parametrize("exc", [MemoryError, RecursionError])
def test_resource_exhaustion_in_contract_code_stops_the_node(chain, exc):
    # Not the same on every machine: a receipt for it could split the chain.
    chain.executor = _executor_with(_write_then_raise(exc()))
    with pytest.raises(exc):
        chain.apply([chain.sign("bank-b", 0, {}, tx_type="test.raise")])


def test_an_exception_in_an_end_of_block_hook_propagates(chain):
    def hook(state, height):
        raise ValueError("our own bug")

    chain.executor = Executor(hooks=(hook,))
    with pytest.raises(ValueError, match="our own bug"):
        chain.apply([chain.sign("bank-a", 0, pay("bank-a", "bank-b", 5))])


def test_the_block_result_names_each_transactions_sender(chain):
    stranger = sign_tx(key("nobody").signer(), chain.chain_id, 0, "settlement.pay", pay("bank-a", "bank-b", 1))
    result = chain.apply([chain.sign("bank-a", 0, pay("bank-a", "bank-b", 1)), stranger.wire(), b"\x01junk",
                          chain.sign("bank-b", 0, pay("bank-b", "bank-a", 1))])
    assert result.senders == ("bank-a", None, None, "bank-b")
