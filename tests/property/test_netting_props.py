"""Property tests for netting, idempotency keys, mint and burn through the
executor.

Hypothesis draws opening balances, net debit caps, a per-member queue
limit, the number of cycles gridlock may drop an instruction before it
expires, and a sequence of instruct / cancel / close_cycle / pay / mint /
burn transactions (from any signer, some of them refused, some replayed)
split into blocks. A model written independently of the contract predicts
every receipt code, the balances, the supply, the queues, each member's
queued count and amount, and which instructions expire; on top of that:

- money per currency is conserved except by mint and burn: the balances
  sum to `settlement/supply/<ccy>`, and no balance is ever negative;
- in every settled cycle no institution's net debit exceeds its cap or its
  balance, and the cycle's result equals applying its settled instructions
  gross;
- every finality record's balances_hash covers the balances just after it,
  and every institution whose balance it hashes is among its parties
  (`finality_parties`, which scopes who may read it);
- two executors produce byte-identical writes and receipts, and replaying
  every transaction again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings, strategies as st

from contracts import netting, settlement
from contracts.executor import BlockContext, Executor
from contracts.genesis import genesis_state, parse_genesis
from contracts.state import DictState
from contracts.tx import sign_tx
from crypto import encoding, hashing
from fixtures import accounts, genesis_document, key, split_blocks, wire

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BANKS = ("bank-a", "bank-b", "bank-c", "bank-d")
VALIDATORS = ("bank-a", "bank-b", "bank-c")
ROLES = {"bank-a": ("validator", "member"), "bank-b": ("validator", "member"), "bank-c": ("validator", "member"),
         "bank-d": ("member",), "cb": ("regulator",), "aud": ("auditor",)}
SIGNERS = tuple(ROLES)
CURRENCIES = ("EUR", "USD")
QUEUE_MAX = 6
per_member_maxes = st.sampled_from((2, 3, QUEUE_MAX))  # QUEUE_MAX: one member may fill the queue
gridlock_cycles_maxes = st.sampled_from((1, 2, 3, 10_000))  # 10,000: nothing expires in a run
KEYS = {iid: key(f"{iid}/client") for iid in ROLES}
TX_ROLES = {"pay": ("member", "validator"), "instruct": ("member", "validator"), "cancel": ("member", "validator"),
            "close_cycle": ("validator", "regulator"), "mint": ("regulator",), "burn": ("regulator",)}


opening_balances = st.fixed_dictionaries(
    {iid: st.fixed_dictionaries({c: st.integers(0, 300) | st.integers(150, 300) for c in CURRENCIES}) for iid in BANKS})
net_debit_caps = st.fixed_dictionaries(
    {iid: st.dictionaries(st.sampled_from(CURRENCIES), st.integers(0, 250), max_size=2) for iid in BANKS})

amounts = st.integers(0, 200)  # 0 is refused by the schema
idempotency_keys = st.sampled_from((None, None, None, "k1", "k2"))
currencies = st.sampled_from(CURRENCIES)


@st.composite
def transfers(draw, kind: str) -> tuple:
    """An instruct or pay: usually from a bank, as itself, to another bank."""
    signer = draw(st.sampled_from(BANKS * 8 + ("cb", "aud")))
    payer = draw(st.sampled_from((None,) * 12 + BANKS))  # None: the signer
    others = [b for b in BANKS if b != (payer or signer)]
    payee = draw(st.sampled_from(others * 8 + [payer or signer, "aud", "cb"]))
    return (kind, signer, payer, payee, draw(currencies), draw(amounts), draw(idempotency_keys))


operations = st.one_of(
    transfers("instruct"), transfers("instruct"), transfers("instruct"), transfers("pay"),
    st.tuples(st.just("cancel"), st.sampled_from(BANKS * 4 + ("aud",)), st.integers(1, 8)),
    st.tuples(st.just("close_cycle"), st.sampled_from(SIGNERS + VALIDATORS * 2), currencies),
    st.tuples(st.sampled_from(("mint", "burn")), st.sampled_from(("cb",) * 4 + BANKS + ("aud",)),
              st.sampled_from(BANKS * 3 + ("aud",)), currencies, amounts),
    st.tuples(st.just("replay"), st.integers(0, 60)),
)


@dataclass(frozen=True)
class Item:
    op: tuple
    signer: str
    tx: object
    replay: bool


def args_of(op: tuple, signer: str) -> dict:
    kind = op[0]
    if kind in ("instruct", "pay"):
        _, _, payer, payee, currency, amount, client_key = op
        args = {"from": payer or signer, "to": payee, "currency": currency, "amount": amount}
        if client_key is not None:
            args["idempotency_key"] = client_key
        return args
    if kind == "cancel":
        return {"instruction": op[2]}
    if kind == "close_cycle":
        return {"currency": op[2]}
    _, _, target, currency, amount = op
    return {"institution": target, "currency": currency, "amount": amount}


def build_items(chain_id: bytes, plan: list[tuple]) -> list[Item]:
    items: list[Item] = []
    nonces = {iid: 0 for iid in ROLES}
    for op in plan:
        if op[0] == "replay":
            if items:
                earlier = items[op[1] % len(items)]
                items.append(Item(earlier.op, earlier.signer, earlier.tx, True))
            continue
        signer = op[1]
        tx = sign_tx(KEYS[signer].signer(), chain_id, nonces[signer], f"settlement.{op[0]}", args_of(op, signer))
        nonces[signer] += 1
        items.append(Item(op, signer, tx, False))
    return items


class Model:
    """What settlement should do, written without the contract's code."""

    def __init__(self, balances: dict, caps: dict, per_member_max: int, cycles_max: int) -> None:
        self.per_member_max, self.cycles_max = per_member_max, cycles_max
        self.deferrals: dict[int, int] = {}
        self.balances = {(iid, c): balances[iid][c] for iid in BANKS for c in CURRENCIES}
        self.supply = {c: sum(balances[iid][c] for iid in BANKS) for c in CURRENCIES}
        self.caps = {(iid, c): cap for iid in BANKS for c, cap in caps[iid].items()}
        self.queues: dict[str, list[netting.Instruction]] = {c: [] for c in CURRENCIES}
        self.instructions: dict[int, tuple[str, str]] = {}  # id -> (payer, status)
        self.keys: set[tuple[str, str]] = set()
        self.last_id = 0
        self.cycles = {c: 0 for c in CURRENCIES}
        self.touched: list[tuple[str, str]] = []  # accounts the last success must hash
        self.cycle_result: tuple | None = None

    def apply(self, item: Item) -> str:
        self.touched, self.cycle_result = [], None
        if item.replay:
            return "nonce_used"
        kind = item.op[0]
        args = args_of(item.op, item.signer)
        if args.get("amount", 1) == 0 or ("to" in args and args["from"] == args["to"]):
            return "bad_args"  # judged without state, before the role
        if not set(ROLES[item.signer]) & set(TX_ROLES[kind]):
            return "not_permitted"
        return getattr(self, kind)(item, args)

    def _has(self, *accounts: tuple[str, str]) -> bool:
        return all(a in self.balances for a in accounts)

    def _claim(self, payer: str, args: dict) -> bool:
        client_key = args.get("idempotency_key")
        if client_key is None:
            return True
        if (payer, client_key) in self.keys:
            return False
        self.keys.add((payer, client_key))
        return True

    def pay(self, item: Item, args: dict) -> str:
        payer, payee, currency, amount = args["from"], args["to"], args["currency"], args["amount"]
        if payer != item.signer:
            return "not_authorized"
        if args.get("idempotency_key") and (payer, args["idempotency_key"]) in self.keys:
            return "duplicate_instruction"
        if not self._has((payer, currency), (payee, currency)):
            return "unknown_account"
        if self.balances[payer, currency] < amount:
            return "insufficient_funds"
        self._claim(payer, args)
        self.balances[payer, currency] -= amount
        self.balances[payee, currency] += amount
        self.touched = [(payer, currency), (payee, currency)]
        return "ok"

    def instruct(self, item: Item, args: dict) -> str:
        payer, payee, currency, amount = args["from"], args["to"], args["currency"], args["amount"]
        if payer != item.signer:
            return "not_authorized"
        if not self._has((payer, currency), (payee, currency)):
            return "unknown_account"
        if len([i for i in self.queues[currency] if i.payer == payer]) >= self.per_member_max:
            return "member_queue_full"
        if len(self.queues[currency]) >= QUEUE_MAX:
            return "queue_full"
        if not self._claim(payer, args):
            return "duplicate_instruction"
        self.last_id += 1
        self.queues[currency].append(netting.Instruction(self.last_id, payer, payee, amount))
        self.instructions[self.last_id] = (payer, "queued")
        return "ok"

    def cancel(self, item: Item, args: dict) -> str:
        found = self.instructions.get(args["instruction"])
        if found is None:
            return "unknown_instruction"
        if found[0] != item.signer:
            return "not_authorized"
        if found[1] != "queued":
            return "not_queued"
        for currency in CURRENCIES:
            self.queues[currency] = [i for i in self.queues[currency] if i.id != args["instruction"]]
        self.instructions[args["instruction"]] = (found[0], "cancelled")
        return "ok"

    def close_cycle(self, item: Item, args: dict) -> str:
        currency = args["currency"]
        queue = self.queues[currency]
        if not queue:
            return "nothing_queued"
        settled, removed = reference_gridlock(queue, self._limits(currency))
        opening = {iid: self.balances[iid, currency] for iid in BANKS}
        after = netting.apply_gross(opening, settled)  # the gross equivalent of the cycle
        for iid in BANKS:
            self.balances[iid, currency] = after[iid]
        for instruction in settled:
            self.instructions[instruction.id] = (instruction.payer, "settled")
        expired = []
        for instruction in removed:
            self.deferrals[instruction.id] = self.deferrals.get(instruction.id, 0) + 1
            if self.deferrals[instruction.id] >= self.cycles_max:
                self.instructions[instruction.id] = (instruction.payer, "expired")
                expired.append({"instruction": instruction.id,
                                "reason": f"gridlocked for {self.deferrals[instruction.id]} cycles"})
        self.queues[currency] = [i for i in removed if self.instructions[i.id][1] == "queued"]
        self.cycles[currency] += 1
        self.touched = sorted({(i.payer, currency) for i in settled} | {(i.payee, currency) for i in settled})
        self.cycle_result = ([i.id for i in settled], [i.id for i in removed], opening, expired)
        return "ok"

    def _limits(self, currency: str) -> dict[str, int]:
        limits = {}
        for iid in BANKS:
            cap = self.caps.get((iid, currency))
            balance = self.balances[iid, currency]
            limits[iid] = balance if cap is None else min(balance, cap)
        return limits

    def _issue(self, args: dict, sign: int) -> str:
        account = (args["institution"], args["currency"])
        if account not in self.balances:
            return "unknown_account"
        if sign < 0 and self.balances[account] < args["amount"]:
            return "insufficient_funds"
        self.balances[account] += sign * args["amount"]
        self.supply[args["currency"]] += sign * args["amount"]
        self.touched = [account]
        return "ok"

    def mint(self, item: Item, args: dict) -> str:
        return self._issue(args, 1)

    def burn(self, item: Item, args: dict) -> str:
        return self._issue(args, -1)


def reference_gridlock(queue: list[netting.Instruction], limits: dict[str, int]):
    """The gridlock rule the slow way: recompute everything after each removal."""
    kept, removed = list(queue), []
    while True:
        positions: dict[str, int] = {}
        for i in kept:
            positions[i.payer] = positions.get(i.payer, 0) - i.amount
            positions[i.payee] = positions.get(i.payee, 0) + i.amount
        breaching = {iid for iid, p in positions.items() if -p > limits[iid]}
        if not breaching:
            return kept, sorted(removed, key=lambda i: i.id)
        victim = max(n for n, i in enumerate(kept) if i.payer in breaching)
        removed.append(kept.pop(victim))


def check_block(state: DictState, model: Model, block: list[Item], result, caps: dict) -> None:
    """Replay the block in the model; check each receipt, its finality record and the cycle."""
    for item, receipt in zip(block, result.receipts):
        expected = model.apply(item)
        event(f"{item.op[0]}: {receipt.code}")
        assert (receipt.code, item.op) == (expected, item.op), receipt.detail
        if not receipt.ok:
            continue
        if model.touched:
            entries = [[iid, c, model.balances[iid, c]] for iid, c in sorted(model.touched)]
            record = settlement.finality(state, receipt.tx_hash) or (receipt.output or {}).get("finality")
            assert record["balances_hash"] == hashing.digest("balances", encoding.encode(entries))
            assert {iid for iid, _ in model.touched} <= settlement.finality_parties(record)
        if model.cycle_result is not None:
            check_cycle(receipt.output, model, caps)


def check_cycle(output: dict, model: Model, caps: dict) -> None:
    settled, removed, opening, expired = model.cycle_result
    assert (output["settled"], output["removed"], output["expired"]) == (settled, removed, expired)
    event(f"cycle: {'some' if expired else 'no'} instructions expired")
    event(f"cycle: {'some' if removed else 'no'} instructions deferred, {'some' if settled else 'none'} settled")
    currency = output["currency"]
    assert sum(output["positions"].values()) == 0
    for iid, position in output["positions"].items():
        debit = netting.net_debit(position)
        assert debit <= opening[iid], "a net debtor beyond its balance"
        assert debit <= caps[iid].get(currency, debit), "a net debtor beyond its cap"
        assert opening[iid] + position == model.balances[iid, currency]  # equals the gross result


@SETTINGS
@given(opening_balances, net_debit_caps, per_member_maxes, gridlock_cycles_maxes,
       st.lists(operations, min_size=10, max_size=40), st.data())
def test_netting_invariants(balances, caps, per_member_max, cycles_max, plan, data):
    parameters = {"netting_queue_max": QUEUE_MAX, "netting_queue_per_member_max": per_member_max,
                  "netting_gridlock_cycles_max": cycles_max}
    genesis = parse_genesis(genesis_document(ROLES, chain_name="netting-props", currencies=CURRENCIES,
                                             balances=balances, net_debit_caps=caps, parameters=parameters))
    items = build_items(genesis.chain_id, plan)
    cuts = data.draw(st.lists(st.booleans(), min_size=len(items), max_size=len(items)), label="cuts")
    blocks = split_blocks(items, cuts)

    def run(check: bool):
        state, executor, results = DictState(genesis_state(genesis)), Executor(), []
        model = Model(balances, caps, per_member_max, cycles_max)
        for height, block in enumerate(blocks, start=1):
            result = executor.execute(state, BlockContext(genesis.chain_id, height, 1000 * height),
                                      [item.tx for item in block])
            state.apply(result.writes)
            results.append(result)
            if check:
                check_block(state, model, block, result, caps)
                check_state(state, model)
        return state, results

    state_a, results_a = run(check=True)
    state_b, results_b = run(check=False)
    assert [wire(r) for r in results_b] == [wire(r) for r in results_a]
    assert state_b.items == state_a.items

    # Replaying every transaction again, in one block, changes nothing.
    again = Executor().execute(state_a, BlockContext(genesis.chain_id, len(blocks) + 1, 10**9),
                               [item.tx for item in items])
    assert again.writes == []
    assert {r.code for r in again.receipts} <= {"nonce_used"}


def check_state(state: DictState, model: Model) -> None:
    balances = accounts(state)
    assert balances == model.balances
    assert min(balances.values()) >= 0
    for currency in CURRENCIES:
        total = sum(v for (_, c), v in balances.items() if c == currency)
        assert total == settlement.supply(state, currency) == model.supply[currency]
        queue = model.queues[currency]
        assert [r["id"] for r in settlement.netting_queue(state, currency)] == [i.id for i in queue]
        for iid in BANKS:
            mine = [i.amount for i in queue if i.payer == iid]
            assert settlement.member_queued(state, currency, iid) == {"count": len(mine), "amount": sum(mine)}
        assert settlement.cycles_count(state, currency) == model.cycles[currency]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(BANKS), st.sampled_from(BANKS), st.integers(1, 100)), max_size=25),
       st.fixed_dictionaries({iid: st.integers(0, 150) for iid in BANKS}))
def test_resolve_matches_the_reference_and_is_feasible(triples, limits):
    instructions = [netting.Instruction(n, payer, payee, amount)
                    for n, (payer, payee, amount) in enumerate(triples, start=1) if payer != payee]
    resolution = netting.resolve(instructions, limits)
    settled, removed = reference_gridlock(instructions, limits)
    assert list(resolution.settled) == settled and list(resolution.removed) == removed
    assert netting.feasible(resolution.positions, limits)
    assert sorted(resolution.settled + resolution.removed, key=lambda i: i.id) == instructions
    assert netting.net_positions(resolution.settled) == resolution.positions
    if netting.feasible(netting.net_positions(instructions), limits):
        assert resolution.removed == ()
