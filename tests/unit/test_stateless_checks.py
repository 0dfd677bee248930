"""Unit tests for contracts.executor.check_stateless: what the node's
admission can refuse before anything reaches a block (an unknown type,
arguments that do not fit the type's schema), with the codes the executor
would put in the receipt, and the executor's agreement with it whatever
the sender's role or the contract's switch."""

from __future__ import annotations

import dataclasses

import pytest

from conftest_crypto import Chain
from contracts import mpc
from contracts.assets_state import ID_LENGTH
from contracts.executor import check_stateless
from contracts.registry import GOVERNANCE_ACTIONS, TX_TYPES, contract_switch_key
from contracts.schema import AMOUNT_MAX, ContractError, Field
from contracts.tx import Transaction, sign_tx
from crypto import encoding
from fixtures import VALID_ARGS, key

_BASE = sign_tx(key("bank-a/client").signer(), bytes(32), 0, "settlement.pay", {})
WRONG_TYPED = {str: (5, b"bank-a", None), int: ("5", True, 1.5, None), bytes: ("00" * 32, 5), bool: (1, "yes"),
               list: ({}, "1,2", 3), dict: ([], "x")}
FIELDS = [(name, f) for name in sorted(TX_TYPES) for f in TX_TYPES[name].fields]


def tx_of(tx_type: str, args) -> Transaction:
    """A transaction object carrying `args` as given, encodable or not: the
    executor and check_stateless take objects as already verified."""
    return dataclasses.replace(_BASE, type=tx_type, args=args)


def code_of(tx: Transaction) -> str:
    try:
        check_stateless(tx)
    except ContractError as exc:
        return exc.code
    return "ok"


def changed(tx_type: str, **change) -> dict:
    return {**VALID_ARGS[tx_type], **change}


def test_every_type_has_valid_arguments_in_the_fixtures():
    assert sorted(VALID_ARGS) == sorted(TX_TYPES)


@pytest.mark.parametrize("tx_type", sorted(TX_TYPES))
def test_valid_arguments_pass(tx_type):
    check_stateless(tx_of(tx_type, VALID_ARGS[tx_type]))


@pytest.mark.parametrize("tx_type, name", [(t, f.name) for t, f in FIELDS if f.required])
def test_a_missing_argument_is_refused(tx_type, name):
    args = {k: v for k, v in VALID_ARGS[tx_type].items() if k != name}
    with pytest.raises(ContractError, match=f"missing field {name}") as refused:
        check_stateless(tx_of(tx_type, args))
    assert refused.value.code == "bad_args"


@pytest.mark.parametrize("tx_type", sorted(TX_TYPES))
def test_an_unknown_argument_is_refused(tx_type):
    with pytest.raises(ContractError, match="unknown field memo") as refused:
        check_stateless(tx_of(tx_type, changed(tx_type, memo="x")))
    assert refused.value.code == "bad_args"


@pytest.mark.parametrize("tx_type, field", FIELDS, ids=[f"{t}.{f.name}" for t, f in FIELDS])
def test_a_wrong_typed_argument_is_refused(tx_type, field):
    for value in WRONG_TYPED[field.kind]:
        assert code_of(tx_of(tx_type, changed(tx_type, **{field.name: value}))) == "bad_args", value


def test_an_unknown_type_is_refused():
    with pytest.raises(ContractError) as refused:
        check_stateless(tx_of("settlement.teleport", VALID_ARGS["settlement.pay"]))
    assert (refused.value.code, refused.value.detail) == ("unknown_type", "settlement.teleport")


@pytest.mark.parametrize("args", [[], "args", None])
def test_arguments_that_are_not_a_map_are_refused(args):
    assert code_of(tx_of("settlement.pay", args)) == "bad_args"


STATELESS_REFUSALS = [
    ("settlement.pay", {"amount": -5}, "bad_args"),
    ("settlement.pay", {"amount": 0}, "bad_args"),
    ("settlement.pay", {"amount": AMOUNT_MAX + 1}, "bad_args"),
    ("settlement.pay", {"amount": 2**64}, "bad_args"),
    ("settlement.pay", {"to": "bank-a"}, "bad_args"),
    ("settlement.pay", {"currency": "EURO"}, "bad_args"),
    ("settlement.pay", {"from": "x" * 33}, "bad_args"),
    ("settlement.instruct", {"to": "bank-a"}, "bad_args"),
    ("settlement.instruct", {"idempotency_key": ""}, "bad_args"),
    ("settlement.cancel", {"instruction": 0}, "bad_args"),
    ("assets.register", {"documents_hash": bytes(31)}, "bad_args"),
    ("assets.register", {"documents_hash": bytes(33)}, "bad_args"),
    ("assets.register", {"class": "bond"}, "bad_args"),
    ("assets.register", {"face_value": None}, "bad_args"),
    ("assets.register", {"holders": {}}, "bad_args"),
    ("assets.register", {"holders": {"bank-a": 0}}, "bad_args"),
    ("assets.register", {"holders": {"bank-a": -1}}, "bad_args"),
    ("assets.register", {"holders": {"bank-a": True}}, "bad_args"),
    ("assets.register", {"holders": {"": 1}}, "bad_args"),
    ("assets.register", {"holders": {"x" * 33: 1}}, "bad_args"),
    ("assets.register", {"holders": {"bank-a": AMOUNT_MAX, "bank-b": 1}}, "bad_args"),
    ("assets.register", {"holders": {"bank-a": 2**61}, "face_value": 3}, "bad_args"),
    ("assets.split", {"parts": [0]}, "bad_args"),
    ("assets.split", {"parts": ["1"]}, "bad_args"),
    ("assets.split", {"parts": [AMOUNT_MAX, 1]}, "bad_args"),
    ("assets.split", {"parts": [1] * 17}, "bad_args"),
    ("assets.transfer", {"asset": "A1"}, "bad_args"),
    ("assets.transfer", {"asset": "A0000000000001"}, "bad_args"),
    ("assets.cancel_offer", {"offer": "O00000000001"}, "bad_args"),
    ("assets.consent", {"op": "burn"}, "bad_args"),
    ("assets.consent", {"op": "transfer", "party": None}, "bad_args"),
    ("assets.consent", {"op": "split", "party": "bank-b"}, "bad_args"),
    ("assets.offer", {"price": -1}, "bad_args"),
    ("assets.pledge", {"due_height": 0}, "bad_args"),
    ("governance.vote", {"yes": 1}, "bad_args"),
    ("mpc.open", {"participants": ["bank-a", "bank-b"]}, "bad_args"),
    ("mpc.open", {"participants": ["bank-b", "bank-a", "bank-c"]}, "bad_args"),
    ("mpc.open", {"protocol": "threshold"}, "bad_args"),
    ("mpc.open", {"params": {"length": 2}}, "bad_args"),
    ("mpc.open", {"result_to": ["*", "cb"]}, "bad_args"),
    ("mpc.open", {"protocol": "psi_intersection", "participants": ["bank-a", "bank-b"],
                  "params": {"set_size_max": 9}}, "bad_args"),
    ("mpc.commit", {"commitment": [bytes(31)]}, "bad_args"),
    ("mpc.commit", {"public": b""}, "bad_args"),
    ("mpc.result", {"count": 1}, "bad_args"),
    ("mpc.result", {"blindings": [b"\xff" * 32, bytes(32)]}, "bad_args"),
    ("mpc.result", {"signatures": {"bank-a": bytes(32)}}, "bad_args"),
    ("mpc.result", {"totals": None, "blindings": None, "sealed": {"cb": bytes(47)},
                    "result_commitment": bytes(32)}, "bad_args"),
    ("governance.propose", {"action": "dissolve"}, "unknown_action"),
    ("governance.propose", {"args": {"institution": "bank-a", "currency": "EUR"}}, "bad_args"),
    ("governance.propose", {"args": {"institution": "bank-a", "currency": "EUR", "amount": -1}}, "bad_args"),
    ("governance.propose", {"action": "add_institution", "args": {
        "id": "bank-e", "name": "E", "roles": ["member"], "client_keys": [bytes(31)]}}, "bad_args"),
    ("governance.propose", {"action": "add_institution", "args": {
        "id": "bank-e", "name": "E", "roles": [7], "client_keys": []}}, "bad_args"),
    ("governance.propose", {"action": "set_node_key", "args": {"id": "bank-a", "node_key": bytes(33)}}, "bad_args"),
    ("governance.propose", {"action": "set_parameter", "args": {"name": "x", "value": -1}}, "bad_args"),
    ("governance.propose", {"action": "set_node_endpoint", "args": {"id": "bank-a", "node_endpoint": "a:0"}},
     "bad_args"),
    ("governance.propose", {"action": "set_node_endpoint", "args": {"id": "bank-a", "node_endpoint": "::1:7000"}},
     "bad_args"),
    ("governance.propose", {"action": "set_node_key", "args": {"id": "bank-a", "node_key": bytes(32),
                                                               "node_endpoint": "a.example"}}, "bad_args"),
    ("governance.propose", {"action": "add_institution", "args": {
        "id": "bank-e", "name": "E", "roles": ["member"], "client_keys": [], "node_endpoint": "e.example:7000"}},
     "bad_args"),
]


def _without_none(args: dict) -> dict:
    return {k: v for k, v in args.items() if v is not None}


@pytest.mark.parametrize("tx_type, change, code", STATELESS_REFUSALS)
def test_stateless_refusals(tx_type, change, code):
    assert code_of(tx_of(tx_type, _without_none(changed(tx_type, **change)))) == code


def test_a_negative_payment_and_a_short_documents_hash_are_refused_before_any_state():
    with pytest.raises(ContractError) as refused:
        check_stateless(tx_of("settlement.pay", changed("settlement.pay", amount=-1)))
    assert refused.value.code == "bad_args" and "amount" in refused.value.detail
    with pytest.raises(ContractError) as refused:
        check_stateless(tx_of("assets.register", changed("assets.register", documents_hash=bytes(31))))
    assert refused.value.code == "bad_args" and "documents_hash" in refused.value.detail


def _all_fields() -> list[tuple[str, Field]]:
    found = [(f"{t}.{f.name}", f) for t, f in FIELDS]
    found += [(f"governance action {a}.{f.name}", f) for a, action in GOVERNANCE_ACTIONS.items() for f in action.fields]
    for where, f in list(found):
        found += [(f"{where}[]", inner) for inner in (f.items, f.keys) if inner is not None]
    return found


# Byte strings that are neither a hash, a key nor a signature: opaque to the
# contract, each with its own bound (mpc's per-session key material and a
# result sealed to one recipient).
OPAQUE_BYTES = {"public": mpc.PUBLIC_BYTES_MAX, "sealed box": mpc.SEALED_BYTES_MAX}


def test_schemas_state_exact_lengths_for_hashes_keys_and_ids_and_ranges_for_numbers():
    for where, f in _all_fields():
        if f.kind is bytes and f.name in OPAQUE_BYTES:
            assert 1 <= f.minimum <= f.length_max == OPAQUE_BYTES[f.name], where
        elif f.kind is bytes:  # every other byte-string argument is a hash or a key, or a signature
            assert f.minimum == f.length_max in (32, 64), where
            assert f.length_max == 32 or "signature" in f.name, where
        if f.kind is int:
            assert 0 <= f.minimum <= f.maximum <= AMOUNT_MAX, where
        if f.kind in (str, list, dict) or (f.kind is bytes and f.name not in OPAQUE_BYTES):
            assert f.length_max <= 256, where
        if f.name in ("asset", "part", "offer"):
            assert f.minimum == f.length_max == ID_LENGTH, where
        if f.kind in (list, dict) and f.name != "args":  # governance's args follow the action's schema
            assert f.items is not None, where


# --- the executor agrees -------------------------------------------------------------------

@pytest.mark.parametrize("tx_type, change, code", STATELESS_REFUSALS)
@pytest.mark.parametrize("who", ["bank-b", "aud"])
def test_the_executor_puts_the_same_code_in_the_receipt(tx_type, change, code, who):
    """Whatever the sender's role (an auditor may send none of these) the
    receipt says what check_stateless says."""
    chain = Chain.fresh()
    tx = dataclasses.replace(chain.sign(who, 0, {}), type=tx_type, args=_without_none(changed(tx_type, **change)))
    receipt = chain.apply([tx]).receipts[0]
    assert (receipt.code, receipt.detail) == (code, _detail(tx))
    encoding.encode(receipt.to_wire())


def _detail(tx: Transaction) -> str:
    try:
        check_stateless(tx)
    except ContractError as exc:
        return exc.detail
    raise AssertionError("expected a refusal")


def test_the_executor_checks_arguments_before_the_contract_switch():
    chain = Chain.fresh()
    chain.state.items[contract_switch_key("settlement")] = encoding.encode(False)
    bad = chain.sign("bank-a", 0, changed("settlement.pay", amount=0))
    good = chain.sign("bank-a", 1, VALID_ARGS["settlement.pay"])
    assert [r.code for r in chain.apply([bad, good]).receipts] == ["bad_args", "contract_disabled"]
