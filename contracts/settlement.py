"""Settlement accounts: gross (RTGS) payments, multilateral netting cycles,
and central-bank money issuance. Money moves only through `contracts.money`;
the netting arithmetic lives, pure, in `contracts.netting`. This module must
not scan state (get/put only) or read a clock: every record it keeps is
reached from a key it can compute.

Transaction types (roles; failure codes besides the executor's own):

- `settlement.pay` (member, validator): `from`, `to`, `currency`, `amount`,
  optional `reference`, `idempotency_key`. Moves the amount gross, in full or
  not at all, and writes a finality record. Signed by the payer
  (`not_authorized`); `bad_args`, `unknown_account`, `insufficient_funds`,
  `duplicate_instruction`. Net debit caps do not apply: a gross payment is
  prefunded.
- `settlement.mint` / `settlement.burn` (regulator): `institution`,
  `currency`, `amount`, optional `reference`. Credit or debit the account and
  the currency's supply; the receipt gives the new supply, not the
  account's balance. `unknown_account`, `insufficient_funds` (burn),
  `overflow` (a mint that would take the supply past AMOUNT_MAX, 2^62).
  Governance can also issue money through its own action, which calls
  `money.mint` directly.
- `settlement.instruct` (member, validator): the `pay` fields; queues the
  instruction in the open cycle of its currency. `not_authorized`,
  `bad_args`, `unknown_account`, `duplicate_instruction`,
  `member_queue_full` (the payer holds `netting_queue_per_member_max`
  instructions of the currency's queue, or its next would take its queued
  amount past the same share of AMOUNT_MAX: per_member_max / queue_max),
  `queue_full` (the queue holds `netting_queue_max` instructions, or the
  amounts queued would total more than AMOUNT_MAX, which keeps every
  cycle's gross total storable). So no one member can fill a queue that
  every member shares. No funds are checked or reserved.
- `settlement.cancel` (member, validator): `instruction` (id). Only the payer,
  only while queued: `unknown_instruction`, `not_authorized`, `not_queued`.
- `settlement.close_cycle` (validator, regulator): `currency`. Nets the whole
  queue of that currency and settles it atomically (`nothing_queued` if
  empty). Validators operate the chain and schedule closes; the regulator,
  as settlement-system operator, may force one. Members may not, so no
  participant picks the moment that suits its own position.

Netting rules. An institution's net debit in a cycle must not exceed its
balance nor its net debit cap `settlement/cap/<inst>/<ccy>`; an absent cap
means no cap beyond the balance (settlement is prefunded, so no credit is
extended either way), and a cap of 0 forbids being a net debtor. If the
queue cannot settle whole, the gridlock rule of `contracts.netting` removes
the latest-queued instructions of breaching payers until it can. Removed
instructions stay queued, in order, for the next cycle (the receipt lists
them under `removed`); their payer may cancel them. Every cycle settles or
drops each queued instruction, so `deferrals` counts the cycles in a row
that dropped it; the cycle that drops it for the
`netting_gridlock_cycles_max`-th time expires it instead: it leaves the
queue with status `expired`, and its record, the cycle record (`expired`:
[{instruction, reason}] by id) and the cycle's finality record say so,
with the reason "gridlocked for N cycles".

Idempotency keys: a (payer, key) pair is claimed by the first `pay` or
`instruct` that uses it and succeeds; any later use by either fails with
`duplicate_instruction`, detail = the first transaction's hash in hex, and
changes nothing. A cancelled instruction keeps its key. The records are
never deleted: one small record per key, like the finality record each
settlement leaves, and a window that forgot old keys would let a late retry
settle twice, which is what the key exists to prevent.

State keys (values canonical):
  acct/<inst>/<ccy>                  balance (contracts.money)
  settlement/supply/<ccy>            total issued (contracts.money)
  settlement/cap/<inst>/<ccy>        net debit cap (genesis, governance)
  settlement/finality/<tx hash hex>  finality record (contracts.money)
  settlement/idem/<payer>/<key>      {tx_hash, kind, height}
  settlement/queue/<ccy>             {first, last, count, amount}: a doubly linked
                                     list and the sum of its amounts
  settlement/queued/<ccy>/<inst>     {count, amount} of the payer's queued instructions
  settlement/instruction/<id>        instruction: status queued | settled | cancelled | expired
  settlement/cycles/<ccy>            number of closed cycles
  settlement/cycle/<ccy>/<n>         cycle record
  seq/settlement.instruction         last instruction id (ids start at 1)

Scoped reads: the API shows a member only what concerns it, and asks here
what that is: `netting_queue(state, currency, institution)` (the queued
instructions it pays or is paid by), `instruction_parties(record)` and
`finality_parties(record)` (who a finality record concerns, a gross
payment's in its receipt included).
"""

from __future__ import annotations

from contracts import money, netting, store
from contracts.genesis import PARAMETER_DEFAULTS
from contracts.interface import Call, TxType
from contracts.schema import AMOUNT_MAX, ContractError, Field, bounded
from contracts.state import Overlay

IDEMPOTENCY_KEY = Field("idempotency_key", str, required=False, minimum=1, length_max=64)
CURRENCY = Field("currency", str, minimum=3, length_max=3)
PAY_FIELDS = (
    Field("from", str, minimum=1, length_max=32),
    Field("to", str, minimum=1, length_max=32),
    CURRENCY,
    Field("amount", int, minimum=1),
    Field("reference", str, required=False, length_max=140),
    IDEMPOTENCY_KEY,
)
ISSUE_FIELDS = (
    Field("institution", str, minimum=1, length_max=32),
    CURRENCY,
    Field("amount", int, minimum=1),
    Field("reference", str, required=False, length_max=140),
)
CANCEL_FIELDS = (Field("instruction", int, minimum=1),)
CLOSE_FIELDS = (CURRENCY,)
EMPTY_QUEUE = {"first": 0, "last": 0, "count": 0, "amount": 0}


# --- state keys ----------------------------------------------------------------

def cap_key(institution_id: str, currency: str) -> bytes:
    return store.key("settlement", "cap", institution_id, currency)


def idempotency_key(payer: str, client_key: str) -> bytes:
    return store.key("settlement", "idem", payer, client_key)  # payer ids hold no "/"


def queue_key(currency: str) -> bytes:
    return store.key("settlement", "queue", currency)


def member_queued_key(currency: str, institution_id: str) -> bytes:
    return store.key("settlement", "queued", currency, institution_id)


def instruction_key(instruction_id: int) -> bytes:
    return store.key("settlement", "instruction", instruction_id)


def cycles_key(currency: str) -> bytes:
    return store.key("settlement", "cycles", currency)


def cycle_key(currency: str, number: int) -> bytes:
    return store.key("settlement", "cycle", currency, number)


# --- queries (pure reads) ---------------------------------------------------------

def balances(state, institution_ids: list[str], currencies: list[str]) -> dict[str, dict[str, int]]:
    """Balances of the named accounts that exist: {institution: {currency: amount}}, sorted."""
    found: dict[str, dict[str, int]] = {}
    for iid in sorted(set(institution_ids)):
        for currency in sorted(set(currencies)):
            value = money.balance(state, iid, currency)
            if value is not None:
                found.setdefault(iid, {})[currency] = value
    return found


def supply(state, currency: str) -> int:
    return store.get(state, money.total_key(currency)) or 0


def net_debit_cap(state, institution_id: str, currency: str) -> int | None:
    """The institution's net debit cap in `currency`; None: no cap beyond its balance."""
    return store.get(state, cap_key(institution_id, currency))


def finality(state, tx_hash: bytes) -> dict | None:
    return store.get(state, money.finality_key(tx_hash))


def idempotency_record(state, payer: str, client_key: str) -> dict | None:
    return store.get(state, idempotency_key(payer, client_key))


def instruction(state, instruction_id: int) -> dict | None:
    return store.get(state, instruction_key(instruction_id))


def netting_queue(state, currency: str, institution: str | None = None) -> list[dict]:
    """The queued instructions of `currency`, in queue order; with
    `institution`, only those it pays or is paid by (`instruction_parties`)."""
    records = _queued_records(state, _queue(state, currency))
    return records if institution is None else [r for r in records if institution in instruction_parties(r)]


def instruction_parties(record: dict) -> set[str]:
    """The institutions a netting instruction concerns: its payer and its payee."""
    return {record["payer"], record["payee"]}


def finality_parties(record: dict) -> set[str]:
    """The institutions a finality record (or a gross payment's, in its
    receipt's output) concerns; see contracts.money."""
    return money.finality_parties(record)


def member_queued(state, currency: str, institution_id: str) -> dict:
    """How many of `currency`'s queued instructions the institution pays, and their total."""
    return store.get(state, member_queued_key(currency, institution_id)) or {"count": 0, "amount": 0}


def cycles_count(state, currency: str) -> int:
    return store.get(state, cycles_key(currency)) or 0


def cycle(state, currency: str, number: int) -> dict | None:
    return store.get(state, cycle_key(currency, number))


def _queue(state, currency: str) -> dict:
    return store.get(state, queue_key(currency)) or dict(EMPTY_QUEUE)


def _queued_records(state, queue: dict) -> list[dict]:
    records = []
    next_id = queue["first"]
    for _ in range(queue["count"]):
        record = instruction(state, next_id)
        assert record is not None and record["status"] == "queued", f"queue broken at {next_id}"
        records.append(record)
        next_id = record["next"]
    assert next_id == 0, "queue longer than its count"
    return records


# --- gross payments and issuance --------------------------------------------------

def check_transfer(args: dict) -> None:
    """The stateless check of pay and instruct beyond their fields."""
    if args["from"] == args["to"]:
        raise ContractError("bad_args", "payer and payee are the same account")


def _require_payer(call: Call, payer: str) -> None:
    if call.institution != payer:
        raise ContractError("not_authorized", f"signed by {call.institution}, not by payer {payer}")


def _claim_idempotency(state, call: Call, payer: str, kind: str) -> None:
    """Record the instruction's idempotency key, if any; refuse a key already used."""
    client_key = call.args.get("idempotency_key")
    if client_key is None:
        return
    first = idempotency_record(state, payer, client_key)
    if first is not None:
        raise ContractError("duplicate_instruction", first["tx_hash"].hex())
    store.put(state, idempotency_key(payer, client_key),
              {"tx_hash": call.tx_hash, "kind": kind, "height": call.height})


def pay(state: Overlay, call: Call) -> dict:
    args = call.args
    payer, payee, currency, amount = args["from"], args["to"], args["currency"], args["amount"]
    _require_payer(call, payer)
    _claim_idempotency(state, call, payer, "payment")
    after = money.move(state, payer, payee, currency, amount)
    record = money.finality_record(state, call, "payment", {"from": payer, "to": payee, "currency": currency,
                                                            "amount": amount}, [(payer, currency), (payee, currency)],
                                   after)
    del record["tx_hash"]  # the receipt names it
    return {"finality": record}


def _issue(state: Overlay, call: Call, kind: str) -> dict:
    iid, currency, amount = call.args["institution"], call.args["currency"], call.args["amount"]
    if kind == "mint":
        money.mint(state, iid, currency, amount)
    else:
        money.burn(state, iid, currency, amount)
    money.record_finality(state, call, kind, {"institution": iid, "currency": currency, "amount": amount},
                          [(iid, currency)])
    return {"institution": iid, "currency": currency, "supply": supply(state, currency)}  # not its balance: on chain


def mint(state: Overlay, call: Call) -> dict:
    return _issue(state, call, "mint")


def burn(state: Overlay, call: Call) -> dict:
    return _issue(state, call, "burn")


# --- the netting queue ------------------------------------------------------------

def instruct(state: Overlay, call: Call) -> dict:
    args = call.args
    payer, payee, currency, amount = args["from"], args["to"], args["currency"], args["amount"]
    _require_payer(call, payer)
    money.require_balance(state, payer, currency)
    money.require_balance(state, payee, currency)
    queue = _queue(state, currency)
    _require_room(state, queue, currency, payer, amount)
    _claim_idempotency(state, call, payer, "instruction")
    new_id = store.next_id(state, "settlement.instruction")
    record = {"id": new_id, "payer": payer, "payee": payee, "currency": currency, "amount": amount,
              "tx_hash": call.tx_hash, "height": call.height, "timestamp_ms": call.timestamp_ms,
              "status": "queued", "prev": queue["last"], "next": 0, "deferrals": 0}
    for optional in ("reference", "idempotency_key"):
        if optional in args:
            record[optional] = args[optional]
    if queue["last"]:
        _set_link(state, queue["last"], "next", new_id)
    else:
        queue["first"] = new_id
    queue["last"] = new_id
    queue["count"] += 1
    queue["amount"] += amount
    store.put(state, instruction_key(new_id), record)
    store.put(state, queue_key(currency), queue)
    _count_member(state, currency, payer, 1, amount)
    return {"instruction": new_id, "currency": currency, "queued": queue["count"]}


def _require_room(state, queue: dict, currency: str, payer: str, amount: int) -> None:
    """Refuse an instruction the queue has no room for: the payer's own share
    first (member_queue_full), then the whole queue's (queue_full)."""
    queue_max = store.param(state, "netting_queue_max", PARAMETER_DEFAULTS["netting_queue_max"])
    member_max = store.param(state, "netting_queue_per_member_max", PARAMETER_DEFAULTS["netting_queue_per_member_max"])
    amount_share = min(AMOUNT_MAX, AMOUNT_MAX * member_max // queue_max)
    mine = member_queued(state, currency, payer)
    if mine["count"] >= member_max:
        raise ContractError("member_queue_full", f"{payer} has as many {currency} instructions queued as "
                                                 f"netting_queue_per_member_max allows")
    if mine["amount"] + amount > amount_share:
        raise ContractError("member_queue_full", f"{payer}'s queued {currency} amount would pass its share of 2^62 "
                                                 f"(netting_queue_per_member_max / netting_queue_max)")
    if queue["count"] >= queue_max:
        raise ContractError("queue_full", f"the {currency} queue holds as many instructions as "
                                          f"netting_queue_max allows")
    if queue["amount"] + amount > AMOUNT_MAX:  # keeps every cycle's gross total storable
        raise ContractError("queue_full", f"the {currency} queue's total would exceed 2^62")


def _count_member(state, currency: str, payer: str, count: int, amount: int) -> None:
    """Add to (or, negative, take from) the payer's queued count and amount."""
    mine = member_queued(state, currency, payer)
    mine = {"count": mine["count"] + count, "amount": mine["amount"] + amount}
    assert mine["count"] >= 0 and mine["amount"] >= 0, mine
    if mine["count"]:
        store.put(state, member_queued_key(currency, payer), mine)
    else:
        state.delete(member_queued_key(currency, payer))


def _set_link(state, instruction_id: int, link: str, value: int) -> None:
    """Point a queued instruction's `prev` or `next` link at `value` (0: none)."""
    record = instruction(state, instruction_id)
    assert record is not None and record["status"] == "queued" and link in ("prev", "next")
    record[link] = value
    store.put(state, instruction_key(instruction_id), record)


def cancel(state: Overlay, call: Call) -> dict:
    instruction_id = call.args["instruction"]
    record = instruction(state, instruction_id)
    if record is None:
        raise ContractError("unknown_instruction", str(instruction_id))
    if record["payer"] != call.institution:
        raise ContractError("not_authorized", f"only its payer may cancel instruction {instruction_id}")
    if record["status"] != "queued":
        raise ContractError("not_queued", f"instruction {instruction_id} is {record['status']}")
    queue = _queue(state, record["currency"])
    if record["prev"]:
        _set_link(state, record["prev"], "next", record["next"])
    else:
        queue["first"] = record["next"]
    if record["next"]:
        _set_link(state, record["next"], "prev", record["prev"])
    else:
        queue["last"] = record["prev"]
    queue["count"] -= 1
    queue["amount"] -= record["amount"]
    store.put(state, queue_key(record["currency"]), queue)
    _count_member(state, record["currency"], record["payer"], -1, -record["amount"])
    record.update(status="cancelled", prev=0, next=0, cancelled_height=call.height)
    store.put(state, instruction_key(instruction_id), record)
    return {"instruction": instruction_id, "currency": record["currency"], "queued": queue["count"]}


# --- closing a cycle --------------------------------------------------------------

def _net_debit_limits(state, currency: str, instructions: list[netting.Instruction]) -> dict[str, int]:
    """Per participant, the largest net debit it may settle: min(balance, cap)."""
    limits = {}
    for iid in sorted({i.payer for i in instructions} | {i.payee for i in instructions}):
        balance = money.require_balance(state, iid, currency)
        cap = net_debit_cap(state, iid, currency)
        limits[iid] = balance if cap is None else min(cap, balance)
    return limits


def _requeue(state, currency: str, records: list[dict]) -> dict:
    """Rebuild the queue from `records` (in order)."""
    ids = [r["id"] for r in records]
    for n, record in enumerate(records):
        record.update(prev=ids[n - 1] if n else 0, next=ids[n + 1] if n + 1 < len(ids) else 0)
        store.put(state, instruction_key(record["id"]), record)
    queue = {"first": ids[0] if ids else 0, "last": ids[-1] if ids else 0, "count": len(ids),
             "amount": sum(r["amount"] for r in records)}
    store.put(state, queue_key(currency), queue)
    return queue


def close_cycle(state: Overlay, call: Call) -> dict:
    """Net the whole queue of a currency and settle what the gridlock rule
    leaves, atomically; expire what it has dropped too many cycles in a row.
    Work is bounded by `netting_queue_max` instructions."""
    currency = call.args["currency"]
    records = _queued_records(state, _queue(state, currency))
    if not records:
        raise ContractError("nothing_queued", f"no {currency} instructions are queued")
    instructions = [netting.Instruction(r["id"], r["payer"], r["payee"], r["amount"]) for r in records]
    resolution = netting.resolve(instructions, _net_debit_limits(state, currency, instructions))
    money.settle_net(state, currency, resolution.positions)
    number = bounded(cycles_count(state, currency) + 1, f"{currency} cycle count")
    removed_ids = {i.id for i in resolution.removed}
    cycles_max = store.param(state, "netting_gridlock_cycles_max", PARAMETER_DEFAULTS["netting_gridlock_cycles_max"])
    kept, expired, participants = [], [], set(resolution.positions)
    for record in records:  # queue order, which is id order
        if record["id"] not in removed_ids:
            record.update(status="settled", cycle=number, prev=0, next=0)
            store.put(state, instruction_key(record["id"]), record)
            continue
        record["deferrals"] += 1
        if record["deferrals"] < cycles_max:
            kept.append(record)
            continue
        reason = f"gridlocked for {record['deferrals']} cycles"
        record.update(status="expired", reason=reason, expired_cycle=number, prev=0, next=0)
        store.put(state, instruction_key(record["id"]), record)
        expired.append({"instruction": record["id"], "reason": reason})
        participants |= instruction_parties(record)
    queue = _requeue(state, currency, kept)
    _recount_members(state, currency, records, kept)
    summary = _record_cycle(state, call, currency, number, resolution, expired, sorted(participants))
    return {**summary, "queued": queue["count"]}


def _recount_members(state, currency: str, before: list[dict], after: list[dict]) -> None:
    """Set each payer's queued count and amount from what is still queued."""
    still: dict[str, dict] = {}
    for record in after:
        mine = still.setdefault(record["payer"], {"count": 0, "amount": 0})
        mine["count"] += 1
        mine["amount"] += record["amount"]
    for payer in sorted({r["payer"] for r in before}):
        if payer in still:
            store.put(state, member_queued_key(currency, payer), still[payer])
        else:
            state.delete(member_queued_key(currency, payer))


def _record_cycle(state, call: Call, currency: str, number: int, resolution: netting.Resolution,
                  expired: list[dict], participants: list[str]) -> dict:
    """Write the cycle record and the finality record (which names the
    participants of what the cycle settled or expired); return the cycle's summary."""
    settled_ids = [i.id for i in resolution.settled]
    summary = {"cycle": number, "currency": currency, "settled": settled_ids,
               "removed": [i.id for i in resolution.removed], "expired": expired, "positions": resolution.positions,
               "gross_total": bounded(sum(i.amount for i in resolution.settled), "the gross total"),
               "net_total": bounded(sum(netting.net_debit(p) for p in resolution.positions.values()), "the net total")}
    store.put(state, cycle_key(currency, number), {
        **summary, "height": call.height, "timestamp_ms": call.timestamp_ms, "tx_hash": call.tx_hash,
        "closed_by": call.institution})
    store.put(state, cycles_key(currency), number)
    details = {"currency": currency, "cycle": number, "settled": settled_ids,
               "expired": [e["instruction"] for e in expired], "participants": participants}
    money.record_finality(state, call, "netting", details, [(iid, currency) for iid in resolution.positions])
    return summary


TX_TYPES = {
    "settlement.pay": TxType(apply=pay, roles=("member", "validator"), fields=PAY_FIELDS, check=check_transfer),
    "settlement.mint": TxType(apply=mint, roles=("regulator",), fields=ISSUE_FIELDS),
    "settlement.burn": TxType(apply=burn, roles=("regulator",), fields=ISSUE_FIELDS),
    "settlement.instruct": TxType(apply=instruct, roles=("member", "validator"), fields=PAY_FIELDS,
                                  check=check_transfer),
    "settlement.cancel": TxType(apply=cancel, roles=("member", "validator"), fields=CANCEL_FIELDS),
    "settlement.close_cycle": TxType(apply=close_cycle, roles=("validator", "regulator"), fields=CLOSE_FIELDS),
}
