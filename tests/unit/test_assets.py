"""Unit tests for the asset-rights registry (contracts/assets*.py), driven
through the executor with signed transactions: every operation, every
refusal code, the history and the queries.

The consortium is conftest_crypto's plus "reg", a regulator: bank-a, bank-b
and bank-c may hold assets; aud (auditor) and reg may not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from conftest_crypto import ROLES, Chain, unit_document
from contracts import assets, assets_state, money
from contracts.assets import asset_history, get_asset, get_offer, list_assets
from contracts.executor import Executor, Receipt
from contracts.registry import contract_switch_key
from contracts.genesis import genesis_state, parse_genesis
from contracts.state import DictState
from crypto import encoding
from fixtures import VALID_ARGS

DOCS = bytes(range(32))


@dataclass
class AssetChain(Chain):
    """A Chain with a regulator, per-signer nonces and one block per send."""

    nonces: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fresh(cls) -> "AssetChain":
        genesis = parse_genesis(unit_document({**ROLES, "reg": ["regulator"]}))
        return cls(genesis, DictState(genesis_state(genesis)), Executor())

    def tx(self, who: str, tx_type: str, args: dict):
        self.nonces[who] = self.nonces.get(who, 0) + 1
        return self.sign(who, self.nonces[who], args, tx_type)

    def send(self, who: str, tx_type: str, **args) -> Receipt:
        result = self.apply([self.tx(who, tx_type, args)])
        return result.receipts[0]

    def ok(self, who: str, tx_type: str, **args) -> dict:
        receipt = self.send(who, tx_type, **args)
        assert receipt.ok, (receipt.code, receipt.detail)
        return receipt.output or {}

    def refused(self, code: str, who: str, tx_type: str, **args) -> None:
        """The transaction fails with `code` and changes nothing but the nonce window."""
        before = self._non_nonce_state()
        receipt = self.send(who, tx_type, **args)
        assert (receipt.code, receipt.output) == (code, None), receipt.detail
        assert self._non_nonce_state() == before

    def _non_nonce_state(self) -> dict:
        return {k: v for k, v in self.state.items.items() if not k.startswith(b"nonce/")}

    def asset(self, asset_id: str) -> dict:
        return get_asset(self.state, asset_id)

    def register(self, who: str = "bank-a", holders: dict | None = None, **extra) -> str:
        args = {"class": "receivable", "holders": holders or {"bank-a": 100}, "currency": "EUR",
                "face_value": 2, "maturity_height": self.height + 5, "documents_hash": DOCS, **extra}
        return self.ok(who, "assets.register", **{k: v for k, v in args.items() if v is not None})["asset"]

    def ops(self, asset_id: str) -> list[str]:
        return [entry["op"] for entry in asset_history(self.state, asset_id)]


@pytest.fixture
def chain() -> AssetChain:
    return AssetChain.fresh()


# --- register -----------------------------------------------------------------

def test_register_records_terms_holders_and_history(chain):
    receipt = chain.send("bank-a", "assets.register", **{
        "class": "bill", "holders": {"bank-b": 30, "bank-a": 70}, "currency": "EUR", "face_value": 5,
        "maturity_height": 10, "documents_hash": DOCS})
    assert receipt.ok and receipt.output == {"asset": "A000000000001", "units": 100}
    asset = chain.asset("A000000000001")
    assert asset == {
        "id": "A000000000001", "class": "bill", "issuer": "bank-a", "currency": "EUR", "face_value": 5,
        "maturity_height": 10, "documents_hash": DOCS, "parent": None, "status": "active", "frozen": False,
        "holders": {"bank-a": 70, "bank-b": 30}, "units": 100, "pledges": {}, "registered_height": 1,
        "history_count": 1}
    [entry] = asset_history(chain.state, "A000000000001")
    assert entry == {"n": 1, "height": 1, "tx_hash": receipt.tx_hash, "op": "register",
                     "details": {"issuer": "bank-a", "holders": {"bank-a": 70, "bank-b": 30}}}


def test_asset_ids_follow_one_sequence(chain):
    assert [chain.register() for _ in range(3)] == ["A000000000001", "A000000000002", "A000000000003"]
    assert list_assets(chain.state) == ["A000000000001", "A000000000002", "A000000000003"]


def test_register_without_face_value_or_maturity_for_unpriced_classes(chain):
    for asset_class in ("warehouse_receipt", "equity_share"):
        asset_id = chain.ok("bank-b", "assets.register", **{
            "class": asset_class, "holders": {"bank-b": 1}, "documents_hash": DOCS})["asset"]
        asset = chain.asset(asset_id)
        assert (asset["issuer"], asset["currency"], asset["face_value"], asset["maturity_height"]) == \
            ("bank-b", None, None, None)


@pytest.mark.parametrize("change, code", [
    ({"class": "bond"}, "bad_args"),
    ({"class": "loan_participation", "currency": None, "face_value": None}, "bad_args"),
    ({"face_value": None}, "bad_args"),
    ({"currency": None}, "bad_args"),
    ({"currency": "JPY"}, "unknown_currency"),
    ({"face_value": 0}, "bad_args"),
    ({"maturity_height": 1}, "bad_args"),
    ({"documents_hash": b"short"}, "bad_args"),
    ({"holders": {}}, "bad_args"),
    ({"holders": {"bank-a": 0}}, "bad_args"),
    ({"holders": {"bank-a": True}}, "bad_args"),
    ({"holders": {"bank-a": "5"}}, "bad_args"),
    ({"holders": {"bank-a": 2**62, "bank-b": 1}}, "bad_args"),
    ({"holders": {"bank-a": 2**61}, "face_value": 3}, "bad_args"),
    ({"holders": {"bank-z": 1}}, "unknown_institution"),
    ({"holders": {"aud": 1}}, "ineligible_holder"),
    ({"holders": {"reg": 1}}, "ineligible_holder"),
    ({"issuer": "bank-b"}, "not_authorized"),
    ({"colour": "red"}, "bad_args"),
])
def test_register_refusals(chain, change, code):
    args = {"class": "receivable", "holders": {"bank-a": 10}, "currency": "EUR", "face_value": 2,
            "maturity_height": 9, "documents_hash": DOCS, **change}
    chain.refused(code, "bank-a", "assets.register", **{k: v for k, v in args.items() if v is not None})
    assert list_assets(chain.state) == []


def test_register_with_issuer_named_and_largest_amounts(chain):
    asset_id = chain.register(issuer="bank-a", holders={"bank-a": 2**61}, face_value=2)
    assert chain.asset(asset_id)["units"] == 2**61


@pytest.mark.parametrize("who", ["aud", "reg"])
def test_auditors_and_regulators_cannot_register(chain, who):
    chain.refused("not_permitted", who, "assets.register", **{
        "class": "equity_share", "holders": {"bank-a": 1}, "documents_hash": DOCS})


@pytest.mark.parametrize("tx_type", sorted(assets.TX_TYPES))
def test_auditor_may_send_nothing(chain, tx_type):
    assert "auditor" not in assets.TX_TYPES[tx_type].roles
    chain.refused("not_permitted", "aud", tx_type, **VALID_ARGS[tx_type])  # arguments are checked first


def test_only_regulators_freeze():
    assert {name for name, t in assets.TX_TYPES.items() if "regulator" in t.roles} == \
        {"assets.freeze", "assets.unfreeze"}
    assert all(t.roles == ("regulator",) for name, t in assets.TX_TYPES.items() if "regulator" in t.roles)


# --- transfer -----------------------------------------------------------------

def test_transfer_part_then_all(chain):
    asset_id = chain.register()
    assert chain.ok("bank-a", "assets.transfer", asset=asset_id, to="bank-b", units=40) == \
        {"asset": asset_id, "from": "bank-a", "to": "bank-b", "units": 40}
    assert chain.asset(asset_id)["holders"] == {"bank-a": 60, "bank-b": 40}
    chain.ok("bank-a", "assets.transfer", asset=asset_id, to="bank-c", units=60)
    assert chain.asset(asset_id)["holders"] == {"bank-b": 40, "bank-c": 60}
    assert chain.ops(asset_id) == ["register", "transfer", "transfer"]
    assert asset_history(chain.state, asset_id)[2]["details"] == {"from": "bank-a", "to": "bank-c", "units": 60}


@pytest.mark.parametrize("who, change, code", [
    ("bank-b", {"to": "bank-c"}, "not_holder"),
    ("bank-a", {"units": 101}, "insufficient_units"),
    ("bank-a", {"units": 0}, "bad_args"),
    ("bank-a", {"to": "bank-a"}, "bad_args"),
    ("bank-a", {"to": "bank-z"}, "unknown_institution"),
    ("bank-a", {"to": "aud"}, "ineligible_holder"),
    ("bank-a", {"asset": "A000000000099"}, "unknown_asset"),
])
def test_transfer_refusals(chain, who, change, code):
    asset_id = chain.register()
    chain.refused(code, who, "assets.transfer", **{"asset": asset_id, "to": "bank-b", "units": 10, **change})


def test_transfer_to_a_new_holder_beyond_the_limit(chain, monkeypatch):
    asset_id = chain.register(holders={"bank-a": 10, "bank-b": 10})
    monkeypatch.setattr(assets_state, "HOLDERS_MAX", 2)
    chain.refused("too_many_holders", "bank-a", "assets.transfer", asset=asset_id, to="bank-c", units=1)
    chain.ok("bank-a", "assets.transfer", asset=asset_id, to="bank-b", units=1)


def test_replayed_transfer_changes_nothing(chain):
    asset_id = chain.register()
    tx = chain.tx("bank-a", "assets.transfer", {"asset": asset_id, "to": "bank-b", "units": 10})
    assert chain.apply([tx]).receipts[0].ok
    again = chain.apply([tx])
    assert again.receipts[0].code == "nonce_used" and again.writes == []
    assert chain.asset(asset_id)["holders"] == {"bank-a": 90, "bank-b": 10}


# --- split and merge ----------------------------------------------------------

def test_split_creates_parts_with_the_parents_terms(chain):
    asset_id = chain.register(holders={"bank-a": 100, "bank-b": 5})
    output = chain.ok("bank-a", "assets.split", asset=asset_id, parts=[30, 20])
    assert output == {"asset": asset_id, "parts": ["A000000000002", "A000000000003"]}
    parent = chain.asset(asset_id)
    assert parent["holders"] == {"bank-a": 50, "bank-b": 5} and parent["units"] == 55
    for part_id, units in zip(output["parts"], [30, 20]):
        part = chain.asset(part_id)
        assert assets_state.terms_of(part) == assets_state.terms_of(parent)
        assert (part["parent"], part["holders"], part["units"]) == (asset_id, {"bank-a": units}, units)
        assert chain.ops(part_id) == ["split_from"]
    assert asset_history(chain.state, asset_id)[-1]["details"] == \
        {"holder": "bank-a", "parts": output["parts"], "units": [30, 20]}


def test_split_the_whole_holding(chain):
    asset_id = chain.register(holders={"bank-a": 10, "bank-b": 5})
    [part_id] = chain.ok("bank-b", "assets.split", asset=asset_id, parts=[5])["parts"]
    assert chain.asset(asset_id)["holders"] == {"bank-a": 10}
    assert chain.asset(part_id)["holders"] == {"bank-b": 5}


@pytest.mark.parametrize("who, parts, code", [
    ("bank-b", [1], "not_holder"),
    ("bank-a", [60, 41], "insufficient_units"),
    ("bank-a", [0], "bad_args"),
    ("bank-a", ["1"], "bad_args"),
    ("bank-a", [], "bad_args"),
    ("bank-a", [1] * 17, "bad_args"),
])
def test_split_refusals(chain, who, parts, code):
    asset_id = chain.register()
    chain.refused(code, who, "assets.split", asset=asset_id, parts=parts)


def test_merge_back_part_by_part_then_retire(chain):
    asset_id = chain.register()
    [part_id] = chain.ok("bank-a", "assets.split", asset=asset_id, parts=[40])["parts"]
    chain.ok("bank-a", "assets.transfer", asset=part_id, to="bank-b", units=15)
    assert chain.ok("bank-b", "assets.merge", part=part_id) == \
        {"part": part_id, "asset": asset_id, "units": 15, "retired": False}
    assert chain.asset(asset_id)["holders"] == {"bank-a": 60, "bank-b": 15}
    assert chain.ok("bank-a", "assets.merge", part=part_id, units=25)["retired"] is True
    part = chain.asset(part_id)
    assert (part["status"], part["units"], part["holders"]) == ("retired", 0, {})
    assert chain.asset(asset_id)["holders"] == {"bank-a": 85, "bank-b": 15}
    assert chain.ops(part_id) == ["split_from", "transfer", "merge", "merge"]
    assert chain.ops(asset_id) == ["register", "split", "merge_from", "merge_from"]
    chain.refused("asset_retired", "bank-a", "assets.transfer", asset=part_id, to="bank-b", units=1)


def test_merge_refusals(chain):
    asset_id = chain.register()
    [part_id] = chain.ok("bank-a", "assets.split", asset=asset_id, parts=[40])["parts"]
    chain.refused("bad_args", "bank-a", "assets.merge", part=asset_id)
    chain.refused("not_holder", "bank-b", "assets.merge", part=part_id)
    chain.refused("insufficient_units", "bank-a", "assets.merge", part=part_id, units=41)
    chain.refused("unknown_asset", "bank-a", "assets.merge", part="A000000000077")


def test_a_part_is_an_asset_of_its_own(chain):
    asset_id = chain.register()
    [part_id] = chain.ok("bank-a", "assets.split", asset=asset_id, parts=[40])["parts"]
    [grandchild] = chain.ok("bank-a", "assets.split", asset=part_id, parts=[10])["parts"]
    assert chain.asset(grandchild)["parent"] == part_id
    chain.ok("bank-a", "assets.merge", part=grandchild)
    assert chain.asset(part_id)["units"] == 40
    chain.height = 10
    chain.ok("bank-a", "assets.redeem", asset=part_id)
    chain.refused("already_redeemed", "bank-a", "assets.merge", part=part_id)
    assert chain.asset(asset_id)["units"] == 60


# --- pledge, consent, release, enforce ----------------------------------------

def pledge(chain, asset_id, holder="bank-a", pledgee="bank-c", due=None, **extra):
    return chain.ok(holder, "assets.pledge", **{"asset": asset_id, "pledgee": pledgee, "secured_amount": 500,
                                                "currency": "EUR", "due_height": due or chain.height + 3,
                                                **extra})["pledge"]


def test_pledge_records_the_pledge_on_the_holding(chain):
    asset_id = chain.register(holders={"bank-a": 100, "bank-b": 5})
    pledge_id = pledge(chain, asset_id, due=9)
    assert pledge_id == "P000000000001"
    assert chain.asset(asset_id)["pledges"] == {"bank-a": {
        "id": pledge_id, "pledgee": "bank-c", "secured_amount": 500, "currency": "EUR", "due_height": 9,
        "height": 2, "consent": None}}
    assert asset_history(chain.state, asset_id)[-1]["details"] == {
        "pledge": pledge_id, "holder": "bank-a", "pledgee": "bank-c", "units": 100, "secured_amount": 500,
        "currency": "EUR", "due_height": 9, "replaces": None}
    chain.ok("bank-b", "assets.transfer", asset=asset_id, to="bank-c", units=5)  # other holdings stay free


@pytest.mark.parametrize("who, change, code", [
    ("bank-b", {}, "not_holder"),
    ("bank-a", {"pledgee": "bank-a"}, "bad_args"),
    ("bank-a", {"pledgee": "aud"}, "ineligible_holder"),
    ("bank-a", {"pledgee": "bank-z"}, "unknown_institution"),
    ("bank-a", {"currency": "GBP"}, "unknown_currency"),
    ("bank-a", {"due_height": 2}, "bad_args"),
    ("bank-a", {"secured_amount": 0}, "bad_args"),
])
def test_pledge_refusals(chain, who, change, code):
    asset_id = chain.register()
    chain.refused(code, who, "assets.pledge", **{"asset": asset_id, "pledgee": "bank-c", "secured_amount": 9,
                                                 "currency": "EUR", "due_height": 9, **change})


def test_a_pledged_holding_moves_only_with_consent(chain):
    asset_id = chain.register()
    [part_id] = chain.ok("bank-a", "assets.split", asset=asset_id, parts=[10])["parts"]
    pledge(chain, asset_id)
    pledge(chain, part_id)
    refusals = [("assets.transfer", {"asset": asset_id, "to": "bank-b", "units": 1}),
                ("assets.split", {"asset": asset_id, "parts": [1]}),
                ("assets.merge", {"part": part_id}),
                ("assets.offer", {"asset": asset_id, "units": 1, "buyer": "bank-b", "price": 1,
                                  "currency": "EUR", "expiry_height": 20}),
                ("assets.pledge", {"asset": asset_id, "pledgee": "bank-b", "secured_amount": 1,
                                   "currency": "EUR", "due_height": 20})]
    for tx_type, args in refusals:
        chain.refused("asset_pledged", "bank-a", tx_type, **args)


def test_consent_is_for_one_exact_operation_once(chain):
    asset_id = chain.register()
    pledge_id = pledge(chain, asset_id)
    assert chain.ok("bank-c", "assets.consent", asset=asset_id, holder="bank-a", op="transfer", units=10,
                    party="bank-b") == {"asset": asset_id, "pledge": pledge_id}
    chain.refused("asset_pledged", "bank-a", "assets.transfer", asset=asset_id, to="bank-b", units=11)
    chain.refused("asset_pledged", "bank-a", "assets.transfer", asset=asset_id, to="bank-c", units=10)
    chain.ok("bank-a", "assets.transfer", asset=asset_id, to="bank-b", units=10)
    chain.refused("asset_pledged", "bank-a", "assets.transfer", asset=asset_id, to="bank-b", units=10)
    asset = chain.asset(asset_id)
    assert asset["holders"] == {"bank-a": 90, "bank-b": 10}
    assert asset["pledges"]["bank-a"]["consent"] is None
    assert chain.ops(asset_id) == ["register", "pledge", "consent", "transfer"]


def test_consented_split_and_merge(chain):
    asset_id = chain.register()
    pledge(chain, asset_id)
    chain.ok("bank-c", "assets.consent", asset=asset_id, holder="bank-a", op="split", units=30)
    [a, b] = chain.ok("bank-a", "assets.split", asset=asset_id, parts=[10, 20])["parts"]
    assert chain.asset(a)["pledges"] == {}  # the parts leave the pledge
    pledge(chain, a, pledgee="bank-b")
    chain.ok("bank-b", "assets.consent", asset=a, holder="bank-a", op="merge", units=10)
    assert chain.ok("bank-a", "assets.merge", part=a)["retired"] is True
    assert chain.asset(asset_id)["holders"] == {"bank-a": 80}
    assert "bank-a" in chain.asset(asset_id)["pledges"]  # merged units join the pledged holding
    chain.ok("bank-a", "assets.merge", part=b)  # merging into a pledged holding needs no consent
    assert chain.asset(asset_id)["holders"] == {"bank-a": 100}


def test_consent_to_move_everything_discharges_the_pledge(chain):
    asset_id = chain.register()
    pledge_id = pledge(chain, asset_id)
    chain.ok("bank-c", "assets.consent", asset=asset_id, holder="bank-a", op="transfer", units=100, party="bank-b")
    chain.ok("bank-a", "assets.transfer", asset=asset_id, to="bank-b", units=100)
    assert chain.asset(asset_id)["pledges"] == {}
    assert asset_history(chain.state, asset_id)[-1]["details"]["discharged_pledge"] == pledge_id


def test_pledge_again_with_consent_replaces_the_pledge(chain):
    asset_id = chain.register()
    first = pledge(chain, asset_id)
    chain.ok("bank-c", "assets.consent", asset=asset_id, holder="bank-a", op="pledge", party="bank-b")
    chain.refused("asset_pledged", "bank-a", "assets.pledge", asset=asset_id, pledgee="bank-c",
                  secured_amount=1, currency="EUR", due_height=20)
    second = pledge(chain, asset_id, pledgee="bank-b")
    assert chain.asset(asset_id)["pledges"]["bank-a"]["pledgee"] == "bank-b"
    assert asset_history(chain.state, asset_id)[-1]["details"]["replaces"] == first != second
    chain.refused("not_pledgee", "bank-c", "assets.release", asset=asset_id, holder="bank-a")


def test_receiving_into_a_pledged_holding_needs_no_consent(chain):
    asset_id = chain.register(holders={"bank-a": 10, "bank-b": 10})
    pledge(chain, asset_id)
    chain.ok("bank-b", "assets.transfer", asset=asset_id, to="bank-a", units=10)
    assert chain.asset(asset_id)["holders"] == {"bank-a": 20}


@pytest.mark.parametrize("who, change, code", [
    ("bank-b", {}, "not_pledgee"),
    ("bank-a", {}, "not_pledgee"),
    ("bank-c", {"holder": "bank-b"}, "not_pledgee"),
    ("bank-c", {"op": "redeem"}, "bad_args"),
    ("bank-c", {"units": None}, "bad_args"),
    ("bank-c", {"party": None}, "bad_args"),
    ("bank-c", {"op": "split"}, "bad_args"),
    ("bank-c", {"op": "pledge"}, "bad_args"),
    ("bank-c", {"asset": "A000000000009"}, "unknown_asset"),
])
def test_consent_refusals(chain, who, change, code):
    asset_id = chain.register(holders={"bank-a": 10, "bank-b": 10})
    pledge(chain, asset_id)
    args = {"asset": asset_id, "holder": "bank-a", "op": "transfer", "units": 1, "party": "bank-b", **change}
    chain.refused(code, who, "assets.consent", **{k: v for k, v in args.items() if v is not None})


def test_release_by_the_pledgee_frees_the_holding(chain):
    asset_id = chain.register()
    pledge_id = pledge(chain, asset_id)
    chain.refused("not_pledgee", "bank-a", "assets.release", asset=asset_id, holder="bank-a")
    chain.refused("not_pledgee", "bank-b", "assets.release", asset=asset_id, holder="bank-a")
    assert chain.ok("bank-c", "assets.release", asset=asset_id, holder="bank-a") == \
        {"asset": asset_id, "pledge": pledge_id}
    assert chain.asset(asset_id)["pledges"] == {}
    chain.refused("not_pledgee", "bank-c", "assets.release", asset=asset_id, holder="bank-a")
    chain.ok("bank-a", "assets.transfer", asset=asset_id, to="bank-b", units=100)


def test_enforce_from_the_due_height(chain):
    asset_id = chain.register(holders={"bank-a": 70, "bank-c": 5})
    pledge_id = pledge(chain, asset_id, due=5)  # at height 2
    chain.height = 3  # the next block is height 4
    chain.refused("not_due", "bank-c", "assets.enforce", asset=asset_id, holder="bank-a")
    chain.refused("not_pledgee", "bank-b", "assets.enforce", asset=asset_id, holder="bank-a")
    assert chain.ok("bank-c", "assets.enforce", asset=asset_id, holder="bank-a") == \
        {"asset": asset_id, "pledge": pledge_id, "units": 70}
    asset = chain.asset(asset_id)
    assert (asset["holders"], asset["pledges"]) == ({"bank-c": 75}, {})
    assert asset_history(chain.state, asset_id)[-1]["details"] == \
        {"from": "bank-a", "to": "bank-c", "units": 70, "pledge": pledge_id}


# --- freeze -------------------------------------------------------------------

def test_frozen_asset_refuses_every_operation(chain):
    asset_id = chain.register(holders={"bank-a": 50, "bank-b": 50}, maturity_height=3)
    [part_id] = chain.ok("bank-a", "assets.split", asset=asset_id, parts=[10])["parts"]
    offer_id = chain.ok("bank-a", "assets.offer", asset=asset_id, units=5, buyer="bank-b", price=7,
                        currency="EUR", expiry_height=50)["offer"]
    pledge(chain, asset_id, holder="bank-b", due=5)
    assert chain.ok("reg", "assets.freeze", asset=asset_id, reason="court order") == \
        {"asset": asset_id, "frozen": True}
    chain.height = 10
    attempts = [
        ("bank-a", "assets.transfer", {"asset": asset_id, "to": "bank-c", "units": 1}),
        ("bank-a", "assets.split", {"asset": asset_id, "parts": [1]}),
        ("bank-a", "assets.merge", {"part": part_id}),  # into the frozen parent
        ("bank-a", "assets.pledge", {"asset": asset_id, "pledgee": "bank-c", "secured_amount": 1,
                                     "currency": "EUR", "due_height": 20}),
        ("bank-c", "assets.consent", {"asset": asset_id, "holder": "bank-b", "op": "split", "units": 1}),
        ("bank-c", "assets.release", {"asset": asset_id, "holder": "bank-b"}),
        ("bank-c", "assets.enforce", {"asset": asset_id, "holder": "bank-b"}),
        ("bank-a", "assets.redeem", {"asset": asset_id}),
        ("bank-a", "assets.offer", {"asset": asset_id, "units": 1, "buyer": "bank-c", "price": 1,
                                    "currency": "EUR", "expiry_height": 50}),
        ("bank-b", "settlement.dvp", {"offer": offer_id}),
        ("reg", "assets.freeze", {"asset": asset_id}),
    ]
    for who, tx_type, args in attempts:
        chain.refused("asset_frozen", who, tx_type, **args)
    assert chain.ok("reg", "assets.unfreeze", asset=asset_id) == {"asset": asset_id, "frozen": False}
    chain.refused("not_frozen", "reg", "assets.unfreeze", asset=asset_id)
    chain.ok("bank-b", "settlement.dvp", offer=offer_id)
    assert chain.ops(asset_id)[-3:] == ["freeze", "unfreeze", "dvp"]


def test_a_frozen_part_cannot_merge_and_the_offer_can_be_withdrawn(chain):
    asset_id = chain.register()
    [part_id] = chain.ok("bank-a", "assets.split", asset=asset_id, parts=[10])["parts"]
    offer_id = chain.ok("bank-a", "assets.offer", asset=part_id, units=5, buyer="bank-b", price=7,
                        currency="EUR", expiry_height=50)["offer"]
    chain.ok("reg", "assets.freeze", asset=part_id)
    chain.refused("asset_frozen", "bank-a", "assets.merge", part=part_id)
    chain.ok("bank-a", "assets.cancel_offer", offer=offer_id)
    assert get_offer(chain.state, offer_id)["status"] == "cancelled"


@pytest.mark.parametrize("who, tx_type, code", [
    ("bank-a", "assets.freeze", "not_permitted"),
    ("bank-c", "assets.unfreeze", "not_permitted"),
    ("reg", "assets.unfreeze", "not_frozen"),
])
def test_freeze_refusals(chain, who, tx_type, code):
    asset_id = chain.register()
    chain.refused(code, who, tx_type, asset=asset_id)
    chain.refused("unknown_asset", "reg", tx_type, asset="A000000000042")


# --- redeem -------------------------------------------------------------------

def test_redeem_pays_every_holder_and_retires_the_units(chain):
    asset_id = chain.register(holders={"bank-a": 10, "bank-b": 20, "bank-c": 30}, face_value=3, maturity_height=4)
    chain.height = 3
    receipt = chain.send("bank-a", "assets.redeem", asset=asset_id)
    assert receipt.ok
    assert receipt.output["payouts"] == {"bank-b": 60, "bank-c": 90}  # bank-a's own units go unpaid
    assert (chain.balance("bank-a"), chain.balance("bank-b"), chain.balance("bank-c")) == (850, 560, 90)
    asset = chain.asset(asset_id)
    assert (asset["status"], asset["holders"], asset["units"]) == ("redeemed", {}, 0)
    finality = encoding.decode(chain.state.get(money.finality_key(receipt.tx_hash)))
    assert finality["kind"] == "redeem" and finality["balances_hash"] == receipt.output["balances_hash"]
    assert asset_history(chain.state, asset_id)[-1]["details"] == \
        {"units": 60, "currency": "EUR", "payouts": {"bank-b": 60, "bank-c": 90}}
    chain.refused("already_redeemed", "bank-a", "assets.redeem", asset=asset_id)
    chain.refused("already_redeemed", "reg", "assets.freeze", asset=asset_id)


def test_redeem_is_all_or_nothing(chain):
    asset_id = chain.register("bank-b", holders={"bank-a": 100, "bank-c": 100}, face_value=3, maturity_height=2)
    chain.refused("insufficient_funds", "bank-b", "assets.redeem", asset=asset_id)  # 300 of 600 payable
    assert (chain.balance("bank-a"), chain.balance("bank-b"), chain.balance("bank-c")) == (1000, 500, 0)


def test_redeem_refusals(chain):
    priced = chain.register(maturity_height=5)
    chain.refused("not_issuer", "bank-b", "assets.redeem", asset=priced)
    chain.refused("not_matured", "bank-a", "assets.redeem", asset=priced)  # height 3 < 5
    undated = chain.register(maturity_height=None)
    unpriced = chain.register(**{"class": "equity_share", "currency": None, "face_value": None})
    chain.height = 20
    chain.refused("not_matured", "bank-a", "assets.redeem", asset=undated)
    chain.refused("not_redeemable", "bank-a", "assets.redeem", asset=unpriced)
    chain.refused("unknown_asset", "bank-a", "assets.redeem", asset="A000000000042")
    pledge(chain, priced, holder="bank-a", pledgee="bank-b")
    chain.refused("asset_pledged", "bank-a", "assets.redeem", asset=priced)
    chain.ok("bank-b", "assets.release", asset=priced, holder="bank-a")
    chain.ok("bank-a", "assets.redeem", asset=priced)


# --- delivery versus payment --------------------------------------------------

def offer(chain, asset_id, seller="bank-a", buyer="bank-b", units=10, price=250, expiry=None, **extra):
    return chain.ok(seller, "assets.offer", **{
        "asset": asset_id, "units": units, "buyer": buyer, "price": price, "currency": "EUR",
        "expiry_height": expiry or chain.height + 5, **extra})["offer"]


def test_dvp_moves_units_and_money_together(chain):
    asset_id = chain.register()
    offer_id = offer(chain, asset_id, expiry=7)
    assert offer_id == "O000000000001"
    assert get_offer(chain.state, offer_id) == {
        "id": offer_id, "asset": asset_id, "seller": "bank-a", "buyer": "bank-b", "units": 10, "price": 250,
        "currency": "EUR", "expiry_height": 7, "pledge": None, "status": "open", "height": 2}
    receipt = chain.send("bank-b", "settlement.dvp", offer=offer_id)
    assert receipt.ok
    assert chain.asset(asset_id)["holders"] == {"bank-a": 90, "bank-b": 10}
    assert (chain.balance("bank-a"), chain.balance("bank-b")) == (1250, 250)
    assert get_offer(chain.state, offer_id)["status"] == "settled"
    finality = encoding.decode(chain.state.get(money.finality_key(receipt.tx_hash)))
    assert finality["kind"] == "dvp" and finality["height"] == 3
    assert finality["details"] == {"asset": asset_id, "from": "bank-a", "to": "bank-b", "units": 10,
                                   "offer": offer_id, "price": 250, "currency": "EUR"}
    assert finality["balances_hash"] == receipt.output["balances_hash"] == \
        money.balances_hash(chain.state, [("bank-a", "EUR"), ("bank-b", "EUR")])
    assert chain.ops(asset_id) == ["register", "offer", "dvp"]
    chain.refused("offer_closed", "bank-b", "settlement.dvp", offer=offer_id)


@pytest.mark.parametrize("who, change, code", [
    ("bank-b", {"buyer": "bank-c"}, "not_holder"),
    ("bank-a", {"units": 101}, "insufficient_units"),
    ("bank-a", {"buyer": "bank-a"}, "bad_args"),
    ("bank-a", {"buyer": "aud"}, "ineligible_holder"),
    ("bank-a", {"currency": "CHF"}, "unknown_currency"),
    ("bank-a", {"expiry_height": 1}, "bad_args"),
    ("bank-a", {"price": 0}, "bad_args"),
    ("bank-a", {"asset": "A000000000005"}, "unknown_asset"),
])
def test_offer_refusals(chain, who, change, code):
    asset_id = chain.register()
    chain.refused(code, who, "assets.offer", **{"asset": asset_id, "units": 10, "buyer": "bank-b", "price": 9,
                                                "currency": "EUR", "expiry_height": 9, **change})


def test_dvp_refusals(chain):
    asset_id = chain.register()
    offer_id = offer(chain, asset_id, expiry=10)
    chain.refused("unknown_offer", "bank-b", "settlement.dvp", offer="O000000000009")
    chain.refused("not_authorized", "bank-c", "settlement.dvp", offer=offer_id)
    chain.refused("not_authorized", "bank-a", "settlement.dvp", offer=offer_id)
    chain.height = 10  # the next block is height 11
    chain.refused("offer_expired", "bank-b", "settlement.dvp", offer=offer_id)


def test_offer_is_open_up_to_its_expiry_height(chain):
    asset_id = chain.register()
    offer_id = offer(chain, asset_id, expiry=10)
    chain.height = 9
    chain.ok("bank-b", "settlement.dvp", offer=offer_id)


def test_dvp_without_the_money_moves_nothing(chain):
    asset_id = chain.register()
    offer_id = offer(chain, asset_id, price=501)
    chain.refused("insufficient_funds", "bank-b", "settlement.dvp", offer=offer_id)
    assert get_offer(chain.state, offer_id)["status"] == "open"


def test_dvp_when_the_seller_no_longer_holds_the_units(chain):
    asset_id = chain.register()
    offer_id = offer(chain, asset_id, units=60)
    chain.ok("bank-a", "assets.transfer", asset=asset_id, to="bank-c", units=50)
    chain.refused("insufficient_units", "bank-b", "settlement.dvp", offer=offer_id)
    chain.ok("bank-a", "assets.transfer", asset=asset_id, to="bank-c", units=50)
    chain.refused("not_holder", "bank-b", "settlement.dvp", offer=offer_id)


def test_dvp_of_a_holding_pledged_after_the_offer(chain):
    asset_id = chain.register()
    offer_id = offer(chain, asset_id)
    pledge(chain, asset_id)
    chain.refused("asset_pledged", "bank-b", "settlement.dvp", offer=offer_id)


def test_dvp_of_a_pledged_holding_with_consent(chain):
    asset_id = chain.register()
    pledge_id = pledge(chain, asset_id)
    chain.ok("bank-c", "assets.consent", asset=asset_id, holder="bank-a", op="offer", units=10, party="bank-b")
    offer_id = offer(chain, asset_id)
    assert get_offer(chain.state, offer_id)["pledge"] == pledge_id
    chain.ok("bank-b", "settlement.dvp", offer=offer_id)
    asset = chain.asset(asset_id)
    assert asset["holders"] == {"bank-a": 90, "bank-b": 10} and "bank-a" in asset["pledges"]


def test_dvp_after_redeem_or_cancel(chain):
    asset_id = chain.register(maturity_height=3)
    offer_id = offer(chain, asset_id)
    chain.refused("not_authorized", "bank-b", "assets.cancel_offer", offer=offer_id)
    chain.ok("bank-a", "assets.redeem", asset=asset_id)
    chain.refused("already_redeemed", "bank-b", "settlement.dvp", offer=offer_id)
    assert chain.ok("bank-a", "assets.cancel_offer", offer=offer_id) == {"offer": offer_id}
    chain.refused("offer_closed", "bank-b", "settlement.dvp", offer=offer_id)
    chain.refused("offer_closed", "bank-a", "assets.cancel_offer", offer=offer_id)
    chain.refused("unknown_offer", "bank-a", "assets.cancel_offer", offer="O000000000099")


def test_buyer_at_the_holder_limit(chain, monkeypatch):
    asset_id = chain.register(holders={"bank-a": 10, "bank-c": 10})
    offer_id = offer(chain, asset_id, units=5)
    monkeypatch.setattr(assets_state, "HOLDERS_MAX", 2)
    chain.refused("too_many_holders", "bank-b", "settlement.dvp", offer=offer_id)


def test_governance_switch_stops_assets_and_dvp(chain):
    assert contract_switch_key("assets") == b"gov/contract/assets"
    asset_id = chain.register()
    offer_id = offer(chain, asset_id)
    chain.state.items[contract_switch_key("assets")] = encoding.encode(False)
    chain.refused("contract_disabled", "bank-a", "assets.transfer", asset=asset_id, to="bank-b", units=1)
    chain.refused("contract_disabled", "bank-b", "settlement.dvp", offer=offer_id)
    chain.state.items[contract_switch_key("assets")] = encoding.encode(True)
    chain.ok("bank-b", "settlement.dvp", offer=offer_id)


# --- queries ------------------------------------------------------------------

def test_queries_page_and_know_nothing_of_unknown_ids(chain):
    asset_id = chain.register()
    for _ in range(4):
        chain.ok("bank-a", "assets.transfer", asset=asset_id, to="bank-b", units=1)
    assert [e["n"] for e in asset_history(chain.state, asset_id)] == [1, 2, 3, 4, 5]
    assert [e["n"] for e in asset_history(chain.state, asset_id, start=2, limit=2)] == [2, 3]
    assert asset_history(chain.state, asset_id, start=6) == []
    assert asset_history(chain.state, asset_id, limit=0) == []
    assert asset_history(chain.state, "A000000000099") == []
    assert get_asset(chain.state, "A000000000099") is None and get_offer(chain.state, "O1") is None
    chain.register()
    assert list_assets(chain.state, start=2) == ["A000000000002"]
    assert list_assets(chain.state, limit=1) == ["A000000000001"]


def test_queries_are_bounded(chain, monkeypatch):
    monkeypatch.setattr(assets_state, "PAGE_MAX", 2)
    for _ in range(3):
        chain.register()
    assert list_assets(chain.state, limit=10**9) == ["A000000000001", "A000000000002"]


def test_parties_to_an_asset_are_its_issuer_holders_and_pledgees(chain):
    """`involves` and `list_assets(institution=...)`: what the API shows a member."""
    held_by_b = chain.register(holders={"bank-b": 10})
    own = chain.register()
    pledge(chain, own, pledgee="bank-c")
    record = chain.asset(held_by_b)
    assert assets.involves(record, "bank-a") and assets.involves(record, "bank-b")  # issuer, holder
    assert not assets.involves(record, "bank-c")
    assert assets.involves(chain.asset(own), "bank-c")  # the pledgee
    assert list_assets(chain.state, institution="bank-c") == [own]
    assert list_assets(chain.state, institution="bank-b") == [held_by_b]
    assert list_assets(chain.state, institution="aud") == []
    assert list_assets(chain.state) == [held_by_b, own]
