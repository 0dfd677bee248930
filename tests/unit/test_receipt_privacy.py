"""Receipts are on chain for every node to read, so a refusal's detail names
the rule that failed and never a figure from the state that the transaction
did not carry itself: no balance, cap, holding, price, queue count or
amount, pledge term, maturity or expiry height, parameter value. Nor does
it name an institution other than the sender and those the transaction
names.

One world is built through the executor with distinctive figures (every
balance, holding and price a number no transaction below carries); then
each row sends one transaction against a copy of it, expects its refusal
code, and checks the detail: every number in it is one the transaction
carried (or the block height, or a published constant of the rules), no
figure of the state occurs in it as a decimal string, and every
institution it names is the sender or one the transaction names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from contracts import governance, money
from contracts.assets_state import HOLDERS_MAX
from contracts.executor import BlockContext, Executor, Receipt
from contracts.genesis import genesis_state, parse_genesis
from contracts.governance import CLIENT_KEYS_MAX, INSTITUTIONS_MAX
from contracts.schema import AMOUNT_MAX, ContractError
from contracts.state import DictState, Overlay
from contracts.tx import Transaction, sign_tx
from crypto import encoding
from fixtures import genesis_document, key

DOCS = bytes(range(32))
FAR = 9_001          # a maturity or due height no row reaches
EXTRA_MEMBERS = [f"m-{n:02d}" for n in range(1, 31)]  # enough holders to fill an asset
BANKS = ["bank-a", "bank-b", "bank-c", "bank-d"]
ROLES = {"bank-a": ["validator", "member"], "bank-b": ["validator", "member"], "bank-c": ["validator", "member"],
         "bank-d": ["member"], "reg": ["regulator"], "aud": ["auditor"], **{m: ["member"] for m in EXTRA_MEMBERS}}
BALANCES = {"bank-a": {"EUR": 7_340_021, "USD": 3_310_577}, "bank-b": {"EUR": 6_150_337, "USD": 2_270_413},
            "bank-c": {"EUR": 5_290_443}, "bank-d": {"EUR": 4_870_219}}
CAPS = {"bank-c": {"EUR": 1_270_009}}
PARAMETERS = {"netting_queue_max": 3, "netting_queue_per_member_max": 2, "open_proposals_max": 4,
              "open_proposals_per_institution_max": 2, "proposal_ttl_blocks": 500}
BANK_D_KEYS = ["bank-d/client", *[f"bank-d/k{n:02d}" for n in range(1, CLIENT_KEYS_MAX)]]
RULE_CONSTANTS = {HOLDERS_MAX, CLIENT_KEYS_MAX, INSTITUTIONS_MAX}


@dataclass
class World:
    """A chain of one-transaction-or-more blocks, per-key nonces, and the ids
    of what the setup made (assets, offers, instructions, proposals)."""

    chain_id: bytes
    state: DictState
    height: int = 0
    nonces: dict[bytes, int] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> "World":
        return World(self.chain_id, DictState(dict(self.state.items)), self.height, dict(self.nonces), self.ids)

    def tx(self, who: str, tx_type: str, args: dict, label: str | None = None, nonce: int | None = None):
        signer = key(label or f"{who}/client").signer()
        if nonce is None:
            nonce = self.nonces.get(signer.public_key, 0)
            self.nonces[signer.public_key] = nonce + 1
        return sign_tx(signer, self.chain_id, nonce, tx_type, args)

    def block(self, txs: list[Transaction], height: int | None = None) -> list[Receipt]:
        self.height = self.height + 1 if height is None else height
        result = Executor().execute(self.state, BlockContext(self.chain_id, self.height, 1000 * self.height), txs)
        self.state.apply(result.writes)
        return list(result.receipts)

    def ok(self, who: str, tx_type: str, **args) -> dict:
        [receipt] = self.block([self.tx(who, tx_type, args)])
        assert receipt.ok, (tx_type, receipt.code, receipt.detail)
        return receipt.output or {}

    def enact(self, action: str, **args) -> None:
        """Propose and have every member vote yes, in one block; it must pass."""
        proposal_id = self.ok("bank-a", "governance.propose", action=action, args=args)["proposal"]
        self.block([self.tx(m, "governance.vote", {"proposal": proposal_id, "yes": True})
                    for m in governance.members(self.state)])
        assert governance.proposal(self.state, proposal_id)["status"] == "passed", action

    def register(self, asset_class: str, holders: dict, **terms) -> str:
        return self.ok("bank-a", "assets.register", **{"class": asset_class, "holders": holders,
                                                      "documents_hash": DOCS, **terms})["asset"]

    def offer(self, asset: str, units: int, buyer: str, price: int, expiry_height: int = FAR) -> str:
        return self.ok("bank-a", "assets.offer", asset=asset, units=units, buyer=buyer, price=price, currency="EUR",
                       expiry_height=expiry_height)["offer"]


def _settlement(world: World) -> None:
    ids = world.ids
    world.ok("bank-a", "settlement.pay", **{"from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": 1_001,
                                            "idempotency_key": "k-1"})
    ids["deferred"] = world.ok("bank-c", "settlement.instruct", **{
        "from": "bank-c", "to": "bank-a", "currency": "EUR", "amount": 1_500_007})["instruction"]  # past bank-c's cap
    ids["settled"] = world.ok("bank-a", "settlement.instruct", **{
        "from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": 10_007})["instruction"]
    world.ok("bank-a", "settlement.close_cycle", currency="EUR")  # settles bank-a's, defers bank-c's
    for payee, amount in (("bank-b", 20_011), ("bank-d", 30_013)):  # bank-a's share and the queue are now full
        world.ok("bank-a", "settlement.instruct", **{"from": "bank-a", "to": payee, "currency": "EUR",
                                                     "amount": amount})
    world.ok("bank-a", "settlement.instruct", **{"from": "bank-a", "to": "bank-b", "currency": "USD",
                                                 "amount": 2_000_000_000_000_000_003})
    world.ok("bank-b", "settlement.instruct", **{"from": "bank-b", "to": "bank-a", "currency": "USD",
                                                 "amount": 2_500_000_000_000_000_011})


def _assets(world: World) -> None:
    ids, now = world.ids, lambda: world.height
    ids["pledged"] = world.register("receivable", {"bank-a": 40_013, "bank-b": 30_011}, currency="EUR",
                                    face_value=1_003, maturity_height=FAR)
    world.ok("bank-b", "assets.pledge", asset=ids["pledged"], pledgee="bank-c", secured_amount=777_001,
             currency="EUR", due_height=FAR - 1)
    ids["costly"] = world.register("bill", {"bank-b": 50_021}, currency="EUR", face_value=200_003,
                                   maturity_height=now() + 2)
    ids["equity"] = world.register("equity_share", {"bank-a": 10_007})
    ids["unmatured"] = world.register("receivable", {"bank-a": 60_017}, currency="EUR", face_value=3,
                                      maturity_height=FAR)
    ids["frozen"] = world.register("warehouse_receipt", {"bank-a": 70_001})
    world.ok("reg", "assets.freeze", asset=ids["frozen"], reason="court order")
    ids["redeemed"] = world.register("bill", {"bank-d": 3}, currency="EUR", face_value=5, maturity_height=now() + 2)
    world.ok("bank-a", "assets.redeem", asset=ids["redeemed"])
    [ids["retired"]] = world.ok("bank-a", "assets.split", asset=ids["equity"], parts=[7])["parts"]
    world.ok("bank-a", "assets.merge", part=ids["retired"])
    crowd = {holder: 1 for holder in ["bank-b", "bank-c", "bank-d", *EXTRA_MEMBERS[:HOLDERS_MAX - 4]]}
    ids["crowded"] = world.register("equity_share", {"bank-a": 2, **crowd})
    ids["unaffordable"] = world.offer(ids["equity"], 5, "bank-d", 9_999_999_937)
    ids["expired"] = world.offer(ids["equity"], 5, "bank-b", 11, expiry_height=now() + 1)
    ids["withdrawn"] = world.offer(ids["equity"], 1, "bank-b", 13)
    world.ok("bank-a", "assets.cancel_offer", offer=ids["withdrawn"])
    ids["sold_off"] = world.offer(ids["unmatured"], 60_017, "bank-b", 17)
    world.ok("bank-a", "assets.transfer", asset=ids["unmatured"], to="bank-d", units=60_017)
    ids["too_many"] = world.offer(ids["equity"], 10_000, "bank-b", 19)
    world.ok("bank-a", "assets.transfer", asset=ids["equity"], to="bank-c", units=5_000)
    ids["later_pledged"] = world.register("equity_share", {"bank-a": 90_001})
    ids["unconsented"] = world.offer(ids["later_pledged"], 100, "bank-d", 23)
    world.ok("bank-a", "assets.pledge", asset=ids["later_pledged"], pledgee="bank-c", secured_amount=555_007,
             currency="EUR", due_height=FAR - 1)


def _governance(world: World) -> None:
    ids = world.ids
    world.enact("remove_institution", id=EXTRA_MEMBERS[-1])
    world.enact("remove_validator", id="bank-b")
    world.enact("remove_validator", id="bank-c")  # the planned set is bank-a alone
    ids["passed"] = 1
    ids["open"] = [world.ok("bank-c", "governance.propose", action="mint",
                            args={"institution": "bank-c", "currency": "EUR", "amount": 41 + n})["proposal"]
                   for n in range(2)]
    world.ok("bank-a", "governance.vote", proposal=ids["open"][0], yes=True)


@pytest.fixture(scope="module")
def world() -> World:
    document = genesis_document(ROLES, chain_name="privacy", balances=BALANCES, net_debit_caps=CAPS,
                                client_keys={"bank-d": BANK_D_KEYS}, currencies=("EUR", "USD", "GBP"),
                                parameters=PARAMETERS)
    genesis = parse_genesis(document)
    built = World(genesis.chain_id, DictState(genesis_state(genesis)))
    for step in (_settlement, _assets, _governance):
        step(built)
    return built


# --- the rows ---------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    code: str
    who: str
    tx_type: str
    args: Callable[[dict], dict]       # the world's ids -> the transaction's arguments
    prelude: Callable[[World], None] | None = None
    blocks_later: int = 1              # the row's block height above the world's
    label: str | None = None           # the signing key's label, if not "<who>/client"
    nonce: int | None = None


def pay(payer: str, payee: str, amount: int, currency: str = "EUR", **extra) -> Callable[[dict], dict]:
    return lambda ids: {"from": payer, "to": payee, "currency": currency, "amount": amount, **extra}


def fixed(**args) -> Callable[[dict], dict]:
    return lambda ids: args


def on(name: str, **args) -> Callable[[dict], dict]:
    """Arguments naming the world's `name` asset (or offer or instruction, by `field`)."""
    id_field = args.pop("field", "asset")
    return lambda ids: {id_field: ids[name], **args}


def propose(action: str, **args) -> Callable[[dict], dict]:
    return lambda ids: {"action": action, "args": args}


def _two_more_proposals(world: World) -> None:
    for amount in (51, 52):
        world.ok("bank-b", "governance.propose", action="mint",
                 args={"institution": "bank-b", "currency": "EUR", "amount": amount})


def _far_nonce(world: World) -> None:
    world.block([world.tx("bank-d", "settlement.pay", {}, label="bank-d/k01", nonce=5_000)])


def _assets_off(world: World) -> None:
    world.enact("disable_contract", contract="assets")


MINT = {"institution": "bank-d", "currency": "EUR", "amount": 1_234_567}
ROWS = {
    # gross payments, issuance, idempotency
    "pay beyond the balance": Row("insufficient_funds", "bank-d", "settlement.pay", pay("bank-d", "bank-a", 9_000_001)),
    "burn beyond the balance": Row("insufficient_funds", "reg", "settlement.burn",
                                   fixed(institution="bank-c", currency="EUR", amount=8_000_009)),
    "mint past the supply bound": Row("overflow", "reg", "settlement.mint",
                                      fixed(institution="bank-a", currency="EUR", amount=AMOUNT_MAX)),
    "pay for another": Row("not_authorized", "bank-b", "settlement.pay", pay("bank-a", "bank-c", 1_009)),
    "pay to no account": Row("unknown_account", "bank-a", "settlement.pay", pay("bank-a", "aud", 1_009)),
    "idempotency key reused": Row("duplicate_instruction", "bank-a", "settlement.pay",
                                  pay("bank-a", "bank-c", 1_013, idempotency_key="k-1")),
    # the netting queue and its limits
    "member's count share": Row("member_queue_full", "bank-a", "settlement.instruct", pay("bank-a", "bank-c", 40_009)),
    "queue count": Row("queue_full", "bank-b", "settlement.instruct", pay("bank-b", "bank-c", 40_009)),
    "member's amount share": Row("member_queue_full", "bank-a", "settlement.instruct",
                                 pay("bank-a", "bank-c", 1_100_000_000_000_000_007, "USD")),
    "queue amount": Row("queue_full", "bank-c", "settlement.instruct",
                        pay("bank-c", "bank-a", 200_000_000_000_000_013, "USD")),
    "cancel another's": Row("not_authorized", "bank-b", "settlement.cancel", on("deferred", field="instruction")),
    "cancel a settled one": Row("not_queued", "bank-a", "settlement.cancel", on("settled", field="instruction")),
    "cancel none": Row("unknown_instruction", "bank-a", "settlement.cancel", fixed(instruction=999)),
    "close an empty queue": Row("nothing_queued", "bank-a", "settlement.close_cycle", fixed(currency="GBP")),
    "close under a net debit cap": Row("ok", "bank-a", "settlement.close_cycle", fixed(currency="EUR")),
    # assets
    "redeem beyond the balance": Row("insufficient_funds", "bank-a", "assets.redeem", on("costly")),
    "redeem what has no face value": Row("not_redeemable", "bank-a", "assets.redeem", on("equity")),
    "redeem before maturity": Row("not_matured", "bank-a", "assets.redeem", on("unmatured")),
    "redeem another's": Row("not_issuer", "bank-b", "assets.redeem", on("pledged")),
    "redeem pledged holdings": Row("asset_pledged", "bank-a", "assets.redeem", on("pledged")),
    "move pledged units": Row("asset_pledged", "bank-b", "assets.transfer", on("pledged", to="bank-d", units=5)),
    "enforce early": Row("not_due", "bank-c", "assets.enforce", on("pledged", holder="bank-b")),
    "release another's pledge": Row("not_pledgee", "bank-d", "assets.release", on("pledged", holder="bank-b")),
    "move none": Row("not_holder", "bank-b", "assets.transfer", on("unmatured", to="bank-c", units=1)),
    "move too many": Row("insufficient_units", "bank-a", "assets.transfer", on("pledged", to="bank-d", units=40_014)),
    "move to an auditor": Row("ineligible_holder", "bank-a", "assets.transfer", on("pledged", to="aud", units=1)),
    "pledge in an unknown currency": Row("unknown_currency", "bank-a", "assets.pledge", on(
        "pledged", pledgee="bank-c", secured_amount=1_019, currency="JPY", due_height=FAR)),
    "move frozen units": Row("asset_frozen", "bank-a", "assets.transfer", on("frozen", to="bank-b", units=1)),
    "freeze twice": Row("asset_frozen", "reg", "assets.freeze", on("frozen")),
    "unfreeze what is not frozen": Row("not_frozen", "reg", "assets.unfreeze", on("pledged")),
    "move redeemed units": Row("already_redeemed", "bank-d", "assets.transfer", on("redeemed", to="bank-b", units=1)),
    "move a retired part": Row("asset_retired", "bank-a", "assets.transfer", on("retired", to="bank-b", units=1)),
    "a holder too many": Row("too_many_holders", "bank-a", "assets.transfer",
                             on("crowded", to=EXTRA_MEMBERS[HOLDERS_MAX - 4], units=1)),
    "register for another issuer": Row("not_authorized", "bank-b", "assets.register", fixed(
        **{"class": "equity_share", "issuer": "bank-a", "holders": {"bank-b": 1}, "documents_hash": DOCS})),
    # delivery versus payment
    "buy beyond the balance": Row("insufficient_funds", "bank-d", "settlement.dvp", on("unaffordable", field="offer")),
    "buy after expiry": Row("offer_expired", "bank-b", "settlement.dvp", on("expired", field="offer")),
    "buy a withdrawn offer": Row("offer_closed", "bank-b", "settlement.dvp", on("withdrawn", field="offer")),
    "buy another's offer": Row("not_authorized", "bank-c", "settlement.dvp", on("unaffordable", field="offer")),
    "withdraw another's offer": Row("not_authorized", "bank-c", "assets.cancel_offer",
                                    on("unaffordable", field="offer")),
    "buy from a seller who sold out": Row("not_holder", "bank-b", "settlement.dvp", on("sold_off", field="offer")),
    "buy more than the seller holds": Row("insufficient_units", "bank-b", "settlement.dvp",
                                          on("too_many", field="offer")),
    "buy what was pledged since": Row("asset_pledged", "bank-d", "settlement.dvp", on("unconsented", field="offer")),
    "buy no offer": Row("unknown_offer", "bank-b", "settlement.dvp", fixed(offer="O000000000999")),
    # governance
    "another's client key": Row("key_in_use", "bank-a", "governance.propose", propose(
        "add_client_key", id="bank-c", key=key("bank-b/client").public_key)),
    "another's node key": Row("key_in_use", "bank-b", "governance.propose", propose(
        "set_node_key", id="bank-d", node_key=key("bank-a/node").public_key)),
    "add an existing institution": Row("institution_exists", "bank-a", "governance.propose", propose(
        "add_institution", id="bank-b", name="B", roles=["member"], client_keys=[])),
    "remove an unknown institution": Row("unknown_institution", "bank-a", "governance.propose", propose(
        "remove_institution", id="bank-q")),
    "remove a removed institution": Row("institution_removed", "bank-a", "governance.propose", propose(
        "remove_institution", id=EXTRA_MEMBERS[-1])),
    "remove a validator's institution": Row("still_validator", "bank-b", "governance.propose", propose(
        "remove_institution", id="bank-a")),
    "a client key too many": Row("too_many_keys", "bank-a", "governance.propose", propose(
        "add_client_key", id="bank-d", key=key("bank-d/spare").public_key)),
    "remove another's client key": Row("unknown_key", "bank-a", "governance.propose", propose(
        "remove_client_key", id="bank-d", key=key("bank-a/client").public_key)),
    "validator without a node key": Row("not_validator_capable", "bank-a", "governance.propose", propose(
        "add_validator", id="reg")),
    "add a validator twice": Row("already_validator", "bank-b", "governance.propose", propose(
        "add_validator", id="bank-a")),
    "remove a non-validator": Row("not_validator", "bank-a", "governance.propose", propose(
        "remove_validator", id="bank-d")),
    "remove the last validator": Row("last_validator", "bank-b", "governance.propose", propose(
        "remove_validator", id="bank-a")),
    "an endpoint without a node": Row("no_node_key", "bank-a", "governance.propose", propose(
        "set_node_endpoint", id="aud", node_endpoint="aud.example:7000")),
    "an unknown parameter": Row("unknown_parameter", "bank-a", "governance.propose", propose(
        "set_parameter", name="block_reward", value=1_021)),
    "mint to no account": Row("unknown_account", "bank-a", "governance.propose", propose(
        "mint", institution="reg", currency="GBP", amount=1_031)),
    "governance mint past the bound": Row("overflow", "bank-a", "governance.propose", propose(
        "mint", institution="bank-a", currency="EUR", amount=AMOUNT_MAX)),
    "a proposer's share of proposals": Row("too_many_proposals", "bank-c", "governance.propose",
                                           propose("mint", **MINT)),
    "all open proposals": Row("too_many_proposals", "bank-d", "governance.propose", propose("mint", **MINT),
                              prelude=_two_more_proposals),
    "vote on no proposal": Row("unknown_proposal", "bank-a", "governance.vote", fixed(proposal=999, yes=True)),
    "vote on a closed proposal": Row("proposal_closed", "bank-d", "governance.vote",
                                     lambda ids: {"proposal": ids["passed"], "yes": True}),
    "vote after expiry": Row("proposal_expired", "bank-b", "governance.vote",
                             lambda ids: {"proposal": ids["open"][1], "yes": True},
                             blocks_later=PARAMETERS["proposal_ttl_blocks"] + 7),
    "vote twice": Row("already_voted", "bank-a", "governance.vote",
                      lambda ids: {"proposal": ids["open"][0], "yes": False}),
    "switch an unknown contract": Row("unknown_contract", "bank-a", "governance.propose", propose(
        "disable_contract", contract="casino")),
    "switch governance": Row("contract_protected", "bank-a", "governance.propose", propose(
        "disable_contract", contract="governance")),
    # the executor's own
    "a used nonce": Row("nonce_used", "bank-a", "settlement.pay", pay("bank-a", "bank-c", 1_039), nonce=0),
    "a nonce below the window": Row("nonce_too_old", "bank-d", "settlement.pay", pay("bank-d", "bank-c", 1_049),
                                    prelude=_far_nonce, label="bank-d/k01", nonce=3),
    "a role that may not": Row("not_permitted", "aud", "settlement.pay", pay("aud", "bank-c", 1_051)),
    "a switched-off contract": Row("contract_disabled", "bank-a", "assets.transfer",
                                   on("equity", to="bank-b", units=1), prelude=_assets_off),
    "an unknown key": Row("unknown_sender", "bank-q", "settlement.pay", pay("bank-q", "bank-c", 1_061)),
}


# --- what a detail may say ----------------------------------------------------------

HEX_WORD = re.compile(r"\b[0-9a-f]{64}\b")       # a key or a hash: a name, not a figure
RECORD_ID = re.compile(r"\b[AOP][0-9]{12}\b")     # an asset, offer or pledge id
NUMBER = re.compile(r"[0-9]+")


def numbers_in(value: Any) -> set[int]:
    """Every integer in a canonical value, and every number written in its strings."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, str):
        return {int(n) for n in NUMBER.findall(RECORD_ID.sub(" ", value))}
    if isinstance(value, dict):
        return set().union(*(numbers_in(k) | numbers_in(v) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(numbers_in(v) for v in value))
    return set()


def strings_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(strings_in(k) | strings_in(v) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(strings_in(v) for v in value))
    return set()


def state_figures(state: DictState) -> set[int]:
    """Every integer stored anywhere in the state."""
    return set().union(*(numbers_in(encoding.decode(raw)) for raw in state.items.values()))


def institutions_named(detail: str, state: DictState) -> set[str]:
    return {iid for iid in governance.institution_ids(state)
            if re.search(rf"(?<![a-z0-9-]){re.escape(iid)}(?![a-z0-9-])", detail)}


def leaks(detail: str, tx: Transaction, sender: str, height: int, state: DictState) -> list[str]:
    """What in `detail` the transaction did not carry: numbers, figures of
    the state, institutions. Empty when the detail names only the rule."""
    carried = numbers_in(tx.args) | {tx.nonce, height} | RULE_CONSTANTS
    named = institutions_named(detail, state)
    scrubbed = RECORD_ID.sub(" ", HEX_WORD.sub(" ", detail))
    plain = scrubbed.replace("2^62", " ")
    for iid in sorted(named, key=len, reverse=True):
        plain = plain.replace(iid, " ")
    found = [f"number {n}" for n in sorted({int(n) for n in NUMBER.findall(plain)} - carried)]
    found += [f"figure {figure}" for figure in sorted(state_figures(state) - carried)
              if figure >= 1000 and str(figure) in scrubbed and not any(str(figure) in str(c) for c in carried)]
    found += [f"institution {iid}" for iid in sorted(named - {sender} - strings_in(tx.args))]
    return found


@pytest.mark.parametrize("name", ROWS)
def test_a_refusal_names_the_rule_and_no_figure_of_the_state(world, name):
    row = ROWS[name]
    here = world.copy()
    if row.prelude is not None:
        row.prelude(here)
    tx = here.tx(row.who, row.tx_type, row.args(here.ids), label=row.label, nonce=row.nonce)
    before = DictState(dict(here.state.items))
    [receipt] = here.block([tx], height=here.height + row.blocks_later)
    assert receipt.code == row.code, (receipt.code, receipt.detail)
    assert leaks(receipt.detail, tx, row.who, here.height, before) == [], receipt.detail


def test_the_rows_make_every_refusal_code_the_state_decides():
    """The table covers every code that depends on the state (the stateless
    ones, bad_args and unknown_type/unknown_action, depend on the transaction alone)."""
    made = {row.code for row in ROWS.values()}
    assert made >= {
        "insufficient_funds", "overflow", "not_authorized", "unknown_account", "duplicate_instruction",
        "member_queue_full", "queue_full", "unknown_instruction", "not_queued", "nothing_queued",
        "not_redeemable", "not_matured", "not_issuer", "asset_pledged", "not_due", "not_pledgee", "not_holder",
        "insufficient_units", "ineligible_holder", "unknown_currency", "asset_frozen", "not_frozen",
        "already_redeemed", "asset_retired", "too_many_holders", "offer_expired", "offer_closed", "unknown_offer",
        "key_in_use", "institution_exists", "unknown_institution", "institution_removed", "still_validator",
        "too_many_keys", "unknown_key", "not_validator_capable", "already_validator", "not_validator",
        "last_validator", "no_node_key", "unknown_parameter", "too_many_proposals", "unknown_proposal", "proposal_closed",
        "proposal_expired", "already_voted", "unknown_contract", "contract_protected", "nonce_used",
        "nonce_too_old", "not_permitted", "contract_disabled", "unknown_sender"}


def test_a_net_settlement_refusal_names_no_institution_or_balance(world):
    """settle_net's own refusal (netting never reaches it: the gridlock rule
    keeps every net debit within the balance) says neither who nor how much."""
    scope = Overlay(world.state)
    with pytest.raises(ContractError) as refused:
        money.settle_net(scope, "EUR", {"bank-a": 9_000_001, "bank-d": -9_000_001})
    assert refused.value.code == "insufficient_funds"
    balance = money.balance(world.state, "bank-d", "EUR")
    assert str(balance) not in refused.value.detail
    assert institutions_named(refused.value.detail, world.state) == set()


def test_the_leak_check_sees_what_the_old_details_said(world):
    """The checker itself: details of the kind receipts used to carry are caught."""
    tx = world.tx("bank-d", "settlement.pay", pay("bank-d", "bank-a", 9_000_001)({}), nonce=0)
    balance = money.balance(world.state, "bank-d", "EUR")
    assert leaks(f"bank-d holds {balance} EUR", tx, "bank-d", 99, world.state) == [
        f"number {balance}", f"figure {balance}"]
    assert leaks("bank-a has 2 EUR instructions queued (max 2)", tx, "bank-a", 99, world.state) == ["number 2"]
    assert leaks("O000000000001 is addressed to bank-b", tx, "bank-d", 99, world.state) == ["institution bank-b"]
    assert leaks("bank-d's EUR balance is too low for this payment", tx, "bank-d", 99, world.state) == []


@pytest.mark.parametrize("tx_type", ["settlement.mint", "settlement.burn"])
def test_an_issuance_receipt_does_not_carry_the_account_holders_balance(world, tx_type):
    """A regulator's mint or burn is on chain for every node: its receipt
    says what was issued and the currency's supply, not what bank-c now holds."""
    here = world.copy()
    [receipt] = here.block([here.tx("reg", tx_type, {"institution": "bank-c", "currency": "EUR", "amount": 1_117})])
    assert receipt.ok, receipt
    balance = money.balance(here.state, "bank-c", "EUR")
    assert balance not in numbers_in(receipt.output)
    assert receipt.output == {"institution": "bank-c", "currency": "EUR",
                              "supply": encoding.decode(here.state.get(money.total_key("EUR")))}
