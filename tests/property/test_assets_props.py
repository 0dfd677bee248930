"""Property tests for the asset-rights registry through the executor, over
random sequences of signed transactions (every asset operation, DvP,
replays of earlier transactions, jumps in height), one transaction per
block so each can be judged on its own:

- a failed transaction changes nothing but its sender's nonce window;
- money is conserved, and only a successful DvP or redeem moves any;
- units are conserved within an asset and its parts, except that register
  creates them and redeem retires them;
- units leave a holding only by the right party: the holder (or a buyer
  accepting the holder's offer), and if the holding is pledged only with
  the pledgee's consent or by the pledgee enforcing; a frozen asset does
  not change at all (but for unfreeze and its history);
- a replayed transaction is refused and writes nothing;
- two executors given the same blocks write byte-identical results, also
  when the same transactions are grouped into larger blocks.

Hypothesis draws each step from the current state (mostly plausible
senders and amounts, sometimes wrong ones), so most operations succeed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, given, settings, strategies as st

from contracts import assets_pledge, settlement
from contracts.assets import get_asset, get_offer, list_assets
from contracts.executor import BlockContext, Executor
from contracts.genesis import account_key, genesis_state, parse_genesis
from contracts.state import DictState
from contracts.tx import sign_tx
from crypto import encoding
from fixtures import genesis_document, key

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STEPS_MIN, STEPS_MAX = 10, 40

HOLDERS = ("bank-a", "bank-b", "bank-c", "bank-d")
ACTORS = (*HOLDERS, "aud", "reg")
CURRENCIES = ("EUR", "USD")
OPENING = {"bank-a": {"EUR": 5000, "USD": 500}, "bank-b": {"EUR": 3000, "USD": 300},
           "bank-c": {"EUR": 1000, "USD": 100}, "bank-d": {"EUR": 800}}
ROLES = {"bank-a": ["validator", "member"], "bank-b": ["member"], "bank-c": ["validator", "member"],
         "bank-d": ["member"], "aud": ["auditor"], "reg": ["regulator"]}
# Weighted; "transfer" comes first because Hypothesis favours the first choice.
OPS = (("transfer",) * 3 + ("register",) * 2 + ("split",) * 2 + ("merge",) * 2 + ("pledge",) * 3
       + ("consent",) * 3 + ("release",) * 2 + ("enforce",) * 3 + ("freeze", "unfreeze", "unfreeze")
       + ("redeem",) * 3 + ("offer",) * 3 + ("cancel_offer",) + ("dvp",) * 5 + ("replay", "wait", "wait"))


KEYS = {iid: key(f"{iid}/client") for iid in ACTORS}
GENESIS = parse_genesis(genesis_document(ROLES, chain_name="assets-props", currencies=CURRENCIES, balances=OPENING))


def fresh_state() -> DictState:
    return DictState(genesis_state(GENESIS))


def apply_block(state: DictState, executor: Executor, context: BlockContext, txs: list[bytes]):
    result = executor.execute(state, context, txs)
    state.apply(result.writes)
    return result


@dataclass
class Run:
    state: DictState = field(default_factory=fresh_state)
    executor: Executor = field(default_factory=Executor)
    height: int = 0
    nonces: dict[str, int] = field(default_factory=dict)
    blocks: list[tuple[BlockContext, list[bytes]]] = field(default_factory=list)
    results: list = field(default_factory=list)
    offers: list[str] = field(default_factory=list)

    def sign(self, who: str, tx_type: str, args: dict) -> bytes:
        self.nonces[who] = self.nonces.get(who, 0) + 1
        return sign_tx(KEYS[who].signer(), GENESIS.chain_id, self.nonces[who], tx_type, args).wire()

    def apply(self, raw: bytes):
        self.height += 1
        context = BlockContext(GENESIS.chain_id, self.height, self.height * 1000)
        result = apply_block(self.state, self.executor, context, [raw])
        self.blocks.append((context, [raw]))
        self.results.append(result)
        return result


# --- drawing plausible (and implausible) transactions --------------------------

def one_of_mostly(data, likely: list, label: str):
    """Usually one of `likely`, sometimes any actor."""
    pool = st.sampled_from(sorted(likely)) if likely else st.sampled_from(ACTORS)
    return data.draw(st.one_of(pool, pool, pool, st.sampled_from(ACTORS)), label=label)


def pick_asset(data, run: Run, prefer=None) -> dict:
    """Usually an asset for which `prefer(asset)` holds, if any does."""
    records = [get_asset(run.state, i) for i in list_assets(run.state)]
    preferred = [a for a in records if prefer is None or prefer(a)]
    pool = [st.sampled_from(preferred)] * 3 if preferred else []
    unknown = {"id": "A000000000999", "holders": {}, "pledges": {}, "issuer": "bank-a"}
    return data.draw(st.one_of(*pool, st.sampled_from(records or [unknown])), label="asset")


def movable(asset: dict) -> bool:
    return asset["status"] == "active" and not asset["frozen"]


def consent_for(asset: dict, holder: str, op: str) -> dict | None:
    pledge = asset["pledges"].get(holder)
    consent = pledge and pledge["consent"]
    return consent if consent and consent["op"] == op else None


def draw_register(data, run: Run) -> tuple[str, dict]:
    who = one_of_mostly(data, list(HOLDERS), "issuer")
    holder_ids = st.one_of(*[st.sampled_from(HOLDERS)] * 4, st.sampled_from(("aud", "bank-z")))
    holders = data.draw(st.dictionaries(holder_ids, st.integers(1, 40), min_size=1, max_size=3), label="holders")
    args = {"class": data.draw(st.sampled_from(("receivable", "bill", "equity_share")), label="class"),
            "holders": holders, "documents_hash": bytes(32)}
    if args["class"] != "equity_share" or data.draw(st.booleans()):
        args |= {"currency": data.draw(st.sampled_from(CURRENCIES)), "face_value": data.draw(st.integers(1, 5))}
    if data.draw(st.booleans(), label="dated"):
        args["maturity_height"] = run.height + 1 + data.draw(st.integers(1, 8), label="maturity_in")
    return who, args


def draw_holder_op(data, run: Run, op: str) -> tuple[str, dict]:
    def fits(a: dict) -> bool:
        return movable(a) and (op != "merge" or a["parent"] is not None)
    consented = [a for a in map(lambda i: get_asset(run.state, i), list_assets(run.state))
                 if fits(a) and any(consent_for(a, h, op) for h in a["pledges"])]
    asset = pick_asset(data, run, lambda a: a in consented) if consented else pick_asset(data, run, fits)
    likely = [h for h in asset["holders"] if consent_for(asset, h, op)] or list(asset["holders"])
    who = one_of_mostly(data, likely, "holder")
    have = asset["holders"].get(who, 0)
    units = data.draw(st.integers(1, have + 1), label="units")
    consent = consent_for(asset, who, op)
    if consent is not None and data.draw(st.sampled_from((True, True, True, False)), label="use_consent"):
        units, party = consent["units"], consent["party"]
    else:
        party = one_of_mostly(data, [a for a in HOLDERS if a != who], "party")
    if op == "transfer":
        return who, {"asset": asset["id"], "to": party, "units": units}
    if op == "split":
        rest = data.draw(st.lists(st.integers(1, 5), max_size=2), label="more_parts") if units > 1 else []
        rest = rest if sum(rest) < units else []
        return who, {"asset": asset["id"], "parts": [units - sum(rest), *rest]}
    if op == "merge":
        return who, {"part": asset["id"], **({"units": units} if data.draw(st.booleans()) else {})}
    if op == "pledge":
        return who, {"asset": asset["id"], "pledgee": party, "secured_amount": data.draw(st.integers(1, 900)),
                     "currency": "EUR", "due_height": run.height + 1 + data.draw(st.integers(1, 5), label="due_in")}
    return who, {"asset": asset["id"], "units": units, "buyer": party, "price": data.draw(st.integers(1, 400)),
                 "currency": data.draw(st.sampled_from(CURRENCIES)),
                 "expiry_height": run.height + 1 + data.draw(st.integers(0, 20), label="expiry_in")}


def draw_pledgee_op(data, run: Run, op: str) -> tuple[str, dict]:
    asset = pick_asset(data, run, lambda a: movable(a) and bool(a["pledges"]))
    holder = one_of_mostly(data, list(asset["pledges"]), "pledgor")
    pledge = asset["pledges"].get(holder)
    who = one_of_mostly(data, [pledge["pledgee"]] if pledge else [], "pledgee")
    args = {"asset": asset["id"], "holder": holder}
    if op != "consent":
        return who, args
    consent_op = data.draw(st.sampled_from(sorted(assets_pledge.CONSENT_SHAPES)), label="consent_op")
    needs_units, needs_party = assets_pledge.CONSENT_SHAPES[consent_op]
    if needs_units:
        args["units"] = data.draw(st.integers(1, max(1, asset["holders"].get(holder, 1))), label="consent_units")
    if needs_party:
        args["party"] = one_of_mostly(data, [a for a in HOLDERS if a != holder], "consent_party")
    return who, {**args, "op": consent_op}


def open_offer_ids(run: Run) -> list[str]:
    """Offers a buyer could still accept in the next block."""
    return [o for o in run.offers
            if get_offer(run.state, o)["status"] == "open" and get_offer(run.state, o)["expiry_height"] > run.height]


def draw_tx(data, run: Run, op: str) -> tuple[str, str, dict]:
    if op == "register":
        return ("assets.register", *draw_register(data, run))
    if op in ("transfer", "split", "merge", "pledge", "offer"):
        return (f"assets.{op}", *draw_holder_op(data, run, op))
    if op in ("consent", "release", "enforce"):
        return (f"assets.{op}", *draw_pledgee_op(data, run, op))
    if op in ("freeze", "unfreeze", "redeem"):
        asset = pick_asset(data, run, lambda a: a["frozen"] == (op == "unfreeze"))
        who = one_of_mostly(data, ["reg"] if op != "redeem" else [asset["issuer"]], "authority")
        return f"assets.{op}", who, {"asset": asset["id"]}
    open_offers = open_offer_ids(run)
    offer_id = data.draw(st.sampled_from(open_offers or run.offers or ["O000000000001"]), label="offer")
    record = get_offer(run.state, offer_id) or {"seller": "bank-a", "buyer": "bank-b"}
    who = one_of_mostly(data, [record["buyer" if op == "dvp" else "seller"]], "party")
    return ("settlement.dvp" if op == "dvp" else "assets.cancel_offer"), who, {"offer": offer_id}


# --- what must hold after each transaction -------------------------------------

@dataclass(frozen=True)
class Snapshot:
    items: dict[bytes, bytes]
    assets: dict[str, dict]
    balances: dict[tuple[str, str], int]

    @classmethod
    def of(cls, state: DictState) -> "Snapshot":
        return cls(dict(state.items), {i: get_asset(state, i) for i in list_assets(state)},
                   {(iid, c): encoding.decode(state.items[account_key(iid, c)]) for iid in HOLDERS for c in CURRENCIES})

    def without_nonces(self) -> dict[bytes, bytes]:
        return {k: v for k, v in self.items.items() if not k.startswith(b"nonce/")}


@dataclass(frozen=True)
class Step:
    tx_type: str
    sender: str
    args: dict
    height: int
    output: dict
    offer: dict | None  # the DvP offer as it was before the step


def check_money(before: Snapshot, after: Snapshot, step: Step) -> None:
    for currency in CURRENCIES:
        assert sum(v for (_, c), v in before.balances.items() if c == currency) == \
            sum(v for (_, c), v in after.balances.items() if c == currency)
    delta = {k: after.balances[k] - before.balances[k] for k in before.balances if after.balances[k] != before.balances[k]}
    if step.tx_type == "settlement.dvp":
        offer = step.offer
        expected = {(offer["buyer"], offer["currency"]): -offer["price"], (offer["seller"], offer["currency"]): offer["price"]}
    elif step.tx_type == "assets.redeem":
        asset = before.assets[step.args["asset"]]
        payouts = {h: units * asset["face_value"] for h, units in asset["holders"].items() if h != asset["issuer"]}
        assert step.output["payouts"] == payouts
        expected = {(h, asset["currency"]): amount for h, amount in payouts.items()}
        if payouts:
            expected[(asset["issuer"], asset["currency"])] = -sum(payouts.values())
    else:
        expected = {}
    assert delta == expected


def _family_totals(assets: dict[str, dict]) -> dict[str, int]:
    def root(asset_id: str) -> str:
        while assets[asset_id]["parent"] is not None:
            asset_id = assets[asset_id]["parent"]
        return asset_id
    totals: dict[str, int] = {}
    for asset_id, asset in assets.items():
        assert asset["units"] == sum(asset["holders"].values()) and all(u > 0 for u in asset["holders"].values())
        totals[root(asset_id)] = totals.get(root(asset_id), 0) + asset["units"]
    return totals


def check_units(before: Snapshot, after: Snapshot, step: Step) -> None:
    old, new = _family_totals(before.assets), _family_totals(after.assets)
    created = set(new) - set(old)
    if step.tx_type == "assets.register":
        assert created == {step.output["asset"]} and new[step.output["asset"]] == step.output["units"]
    else:
        assert not created
    retired = {}
    if step.tx_type == "assets.redeem":
        redeemed = step.args["asset"]
        retired = {redeemed: before.assets[redeemed]["units"]}
        while before.assets[redeemed]["parent"] is not None:
            redeemed = before.assets[redeemed]["parent"]
        retired = {redeemed: sum(retired.values())}
    for root, total in old.items():
        assert new[root] == total - retired.get(root, 0)
    if step.tx_type not in ("assets.split", "assets.merge", "assets.redeem"):
        assert all(after.assets[i]["units"] == a["units"] for i, a in before.assets.items())


HOLDER_OPS = {"assets.transfer": "transfer", "assets.split": "split", "assets.merge": "merge"}


def check_right_party(old: dict, new: dict, step: Step) -> None:
    if old["frozen"]:
        def unfrozen(a): return {k: v for k, v in a.items() if k not in ("frozen", "history_count")}
        assert unfrozen(old) == unfrozen(new)
        assert new["frozen"] or (step.tx_type, step.sender) == ("assets.unfreeze", "reg")
        return
    if new["status"] == "redeemed" != old["status"]:
        assert (step.tx_type, step.sender, old["pledges"]) == ("assets.redeem", old["issuer"], {})
        assert old["maturity_height"] is not None and step.height >= old["maturity_height"]
        return
    offer = step.offer if step.tx_type == "settlement.dvp" else None
    for holder, units in old["holders"].items():
        pledge = old["pledges"].get(holder)
        bought = offer is not None and offer["seller"] == holder and step.sender == offer["buyer"]
        if new["holders"].get(holder, 0) >= units:
            continue
        if pledge is None:
            assert step.sender == holder or bought
            continue
        enforced = (step.tx_type == "assets.enforce" and step.sender == pledge["pledgee"]
                    and step.height >= pledge["due_height"])
        consented = (step.sender == holder and pledge["consent"] is not None
                     and pledge["consent"]["op"] == HOLDER_OPS.get(step.tx_type))
        assert enforced or consented or (bought and offer["pledge"] == pledge["id"])
        event("pledged units moved: " + ("enforced" if enforced else "consented" if consented else "consented offer"))
    for holder, pledge in old["pledges"].items():
        now = new["pledges"].get(holder)
        if now is None or now["id"] != pledge["id"]:  # released, enforced, replaced or discharged
            assert (step.sender == pledge["pledgee"] and step.tx_type in ("assets.release", "assets.enforce")) \
                or (step.sender == holder and pledge["consent"] is not None) \
                or (offer is not None and offer["pledge"] == pledge["id"])
        elif now["consent"] is not None and now["consent"] != pledge["consent"]:
            assert (step.tx_type, step.sender) == ("assets.consent", pledge["pledgee"])


def check_step(before: Snapshot, after: Snapshot, step: Step, ok: bool) -> None:
    if not ok:
        assert after.without_nonces() == before.without_nonces()
        return
    check_money(before, after, step)
    check_units(before, after, step)
    for asset_id, old in before.assets.items():
        check_right_party(old, after.assets[asset_id], step)


# --- the runs -----------------------------------------------------------------

def run_step(data, run: Run, op: str) -> None:
    if op == "wait":
        run.height += data.draw(st.integers(1, 4), label="wait")
        return
    if op == "replay":
        raw = data.draw(st.sampled_from([txs[0] for _, txs in run.blocks]), label="replayed")
        result = run.apply(raw)
        assert result.receipts[0].code in ("nonce_used", "nonce_too_old") and result.writes == []
        return
    tx_type, who, args = draw_tx(data, run, op)
    before = Snapshot.of(run.state)
    offer = get_offer(run.state, args["offer"]) if tx_type == "settlement.dvp" else None
    receipt = run.apply(run.sign(who, tx_type, args)).receipts[0]
    event(f"{tx_type}: {receipt.code}")
    if receipt.ok and tx_type == "assets.offer":
        run.offers.append(receipt.output["offer"])
    step = Step(tx_type, who, args, run.height, receipt.output or {}, offer)
    after = Snapshot.of(run.state)
    check_step(before, after, step, receipt.ok)
    if receipt.ok and tx_type in ("settlement.dvp", "assets.redeem"):  # who may read the record: whoever it paid
        paid = {iid for iid, c in after.balances if after.balances[iid, c] != before.balances[iid, c]}
        parties = settlement.finality_parties(settlement.finality(run.state, receipt.tx_hash))
        assert paid <= parties and (tx_type != "assets.redeem" or who in parties), (paid, parties)


def prerequisite(run: Run, op: str) -> str:
    """`op`, or the operation that makes it possible when nothing could
    succeed yet (a DvP needs an open offer, a merge a part, ...)."""
    records = [get_asset(run.state, i) for i in list_assets(run.state)]
    if not records or (op == "replay" and not run.blocks):
        return "register"
    if op in ("dvp", "cancel_offer") and not open_offer_ids(run):
        return "offer"
    if op == "merge" and not any(a["parent"] and a["status"] == "active" for a in records):
        return "split"
    if op in ("consent", "release", "enforce") and not any(a["pledges"] for a in records):
        return "pledge"
    if op == "unfreeze" and not any(a["frozen"] for a in records):
        return "transfer"
    consented = sorted({p["consent"]["op"] for a in records for p in a["pledges"].values() if p["consent"]})
    if op == "transfer" and consented:  # follow an outstanding consent up
        return consented[0]
    return op


def replay_blocks(blocks: list[tuple[BlockContext, list[bytes]]]) -> tuple[DictState, list]:
    state, executor = fresh_state(), Executor()
    return state, [apply_block(state, executor, context, txs) for context, txs in blocks]


@SETTINGS
@given(st.data())
def test_random_operations_keep_the_registry_invariants(data):
    run = Run()
    for _ in range(data.draw(st.integers(STEPS_MIN, STEPS_MAX), label="steps")):
        run_step(data, run, prerequisite(run, data.draw(st.sampled_from(OPS), label="op")))
    # Determinism: a second executor given the same blocks writes the same bytes.
    state, results = replay_blocks(run.blocks)
    assert [(r.writes, r.receipts) for r in results] == [(r.writes, r.receipts) for r in run.results]
    assert state.items == run.state.items
    # The same transactions in larger blocks: two executors still agree byte for byte.
    txs = [raw for _, block_txs in run.blocks for raw in block_txs]
    sizes = data.draw(st.lists(st.integers(1, 6), min_size=len(txs), max_size=len(txs)), label="block_sizes")
    blocks, start = [], 0
    for height, size in enumerate(sizes, start=1):
        if start < len(txs):
            blocks.append((BlockContext(GENESIS.chain_id, height, height * 1000), txs[start:start + size]))
            start += size
    (state_1, results_1), (state_2, results_2) = replay_blocks(blocks), replay_blocks(blocks)
    assert [(r.writes, r.receipts) for r in results_1] == [(r.writes, r.receipts) for r in results_2]
    assert state_1.items == state_2.items
