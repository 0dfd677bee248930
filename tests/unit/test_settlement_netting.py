"""Unit tests for settlement beyond gross payment: netting cycles (known
answers worked by hand, the gridlock rule), idempotency keys, mint and burn,
finality records, and the pure arithmetic of contracts.netting.

Every transaction is signed and run through the real executor; the
consortium below adds a regulator (`cb`) to the usual banks and auditor.
"""

from __future__ import annotations

import pytest

from conftest_crypto import ROLES, Chain
from contracts import netting, settlement
from contracts.executor import Executor, Receipt, nonce_key
from contracts.genesis import PARAMETER_DEFAULTS, genesis_state, parse_genesis
from contracts.netting import Instruction
from contracts.schema import AMOUNT_MAX
from contracts.state import DictState
from crypto import encoding, hashing
from fixtures import genesis_document, key

A, B, C = "bank-a", "bank-b", "bank-c"


class Ledger:
    """A chain plus a nonce counter per signer: one transaction per block.
    bank-a and bank-c validate, bank-b is a member, cb regulates, aud audits."""

    def __init__(self, balances, caps=None, parameters=None) -> None:
        genesis = parse_genesis(genesis_document({**ROLES, "cb": ["regulator"]}, chain_name="netting",
                                                 balances=balances, net_debit_caps=caps, parameters=parameters))
        self.chain = Chain(genesis, DictState(genesis_state(genesis)), Executor())
        self.nonces: dict[str, int] = {}
        self.last_writes: list = []

    def sign(self, who: str, tx_type: str, args: dict):
        nonce = self.nonces.get(who, 0)
        self.nonces[who] = nonce + 1
        return self.chain.sign(who, nonce, args, tx_type=tx_type)

    def run(self, who: str, tx_type: str, args: dict) -> Receipt:
        result = self.chain.apply([self.sign(who, tx_type, args)])
        self.last_writes = result.writes
        return result.receipts[0]

    def ok(self, who: str, tx_type: str, args: dict) -> dict:
        receipt = self.run(who, tx_type, args)
        assert receipt.ok, (receipt.code, receipt.detail)
        return receipt.output or {}

    def instruct(self, payer: str, payee: str, amount: int, currency: str = "EUR", **extra) -> int:
        args = {"from": payer, "to": payee, "currency": currency, "amount": amount, **extra}
        return self.ok(payer, "settlement.instruct", args)["instruction"]

    def balances(self, currency: str = "EUR") -> dict[str, int]:
        return {iid: self.chain.balance(iid, currency) for iid in (A, B, C)}

    @property
    def state(self) -> DictState:
        return self.chain.state


def pay_args(payer: str, payee: str, amount: int, currency: str = "EUR", **extra) -> dict:
    return {"from": payer, "to": payee, "currency": currency, "amount": amount, **extra}


def issue_args(iid: str, amount: int, currency: str = "EUR") -> dict:
    return {"institution": iid, "currency": currency, "amount": amount}


def expected_balances_hash(entries: list[tuple[str, str, int]]) -> bytes:
    return hashing.digest("balances", encoding.encode([list(e) for e in sorted(entries)]))


# --- netting through the executor: known answers -----------------------------------

def test_three_banks_net_to_the_hand_computed_positions():
    """Opening EUR: A 1000, B 500, C 0. Queue: #1 A->B 100, #2 B->C 80,
    #3 C->A 50, #4 B->A 10.

    A pays 100 and receives 50 + 10:     -100 + 60 = -40
    B receives 100 and pays 80 + 10:      100 - 90 = +10
    C receives 80 and pays 50:             80 - 50 = +30
    The positions sum to zero. Closing leaves A 960, B 510, C 30: C's
    payment of 50 settles although C held nothing. Gross 240 settled with
    net debits of 40 in total.
    """
    ledger = Ledger({A: {"EUR": 1000}, B: {"EUR": 500}})
    ids = [ledger.instruct(A, B, 100), ledger.instruct(B, C, 80), ledger.instruct(C, A, 50),
           ledger.instruct(B, A, 10)]
    assert ids == [1, 2, 3, 4]
    assert [r["id"] for r in settlement.netting_queue(ledger.state, "EUR")] == ids
    assert ledger.balances() == {A: 1000, B: 500, C: 0}  # queueing moves nothing

    close = ledger.run(A, "settlement.close_cycle", {"currency": "EUR"})
    assert close.ok
    assert close.output == {"cycle": 1, "currency": "EUR", "settled": [1, 2, 3, 4], "removed": [], "expired": [],
                            "positions": {A: -40, B: 10, C: 30}, "gross_total": 240, "net_total": 40,
                            "queued": 0}
    assert ledger.balances() == {A: 960, B: 510, C: 30}
    assert settlement.supply(ledger.state, "EUR") == 1500
    assert settlement.netting_queue(ledger.state, "EUR") == []
    assert settlement.cycles_count(ledger.state, "EUR") == 1
    record = settlement.cycle(ledger.state, "EUR", 1)
    assert record["settled"] == [1, 2, 3, 4] and record["positions"] == {A: -40, B: 10, C: 30}
    assert (record["height"], record["timestamp_ms"], record["tx_hash"], record["closed_by"]) == (
        5, 5000, close.tx_hash, A)
    assert [settlement.instruction(ledger.state, i)["status"] for i in ids] == ["settled"] * 4
    assert settlement.instruction(ledger.state, 1)["cycle"] == 1
    final = settlement.finality(ledger.state, close.tx_hash)
    assert final["kind"] == "netting" and final["details"] == {
        "currency": "EUR", "cycle": 1, "settled": ids, "expired": [], "participants": [A, B, C]}
    assert final["balances_hash"] == expected_balances_hash([(A, "EUR", 960), (B, "EUR", 510), (C, "EUR", 30)])
    assert settlement.cycle(ledger.state, "EUR", 2) is None
    assert settlement.cycles_count(ledger.state, "USD") == 0


def test_a_cap_defers_the_breaching_payers_latest_instruction_to_the_next_cycle():
    """As above, A's net debit cap is 40 EUR, and A adds #5 A->C 25 last.

    All five: A -100 + 60 - 25 = -65, beyond its cap of 40: A breaches.
    The gridlock rule removes A's latest instruction, #5; the rest is the
    known answer above (A -40, B +10, C +30) and settles. #5 stays queued
    and settles alone in cycle 2: A 960 - 25 = 935, C 30 + 25 = 55.
    """
    ledger = Ledger({A: {"EUR": 1000}, B: {"EUR": 500}}, caps={A: {"EUR": 40}})
    assert settlement.net_debit_cap(ledger.state, A, "EUR") == 40
    assert settlement.net_debit_cap(ledger.state, B, "EUR") is None
    for payer, payee, amount in ((A, B, 100), (B, C, 80), (C, A, 50), (B, A, 10), (A, C, 25)):
        ledger.instruct(payer, payee, amount)

    first = ledger.ok(C, "settlement.close_cycle", {"currency": "EUR"})
    assert (first["settled"], first["removed"], first["positions"], first["queued"]) == (
        [1, 2, 3, 4], [5], {A: -40, B: 10, C: 30}, 1)
    assert ledger.balances() == {A: 960, B: 510, C: 30}
    queued = settlement.netting_queue(ledger.state, "EUR")
    assert [(r["id"], r["status"], r["deferrals"]) for r in queued] == [(5, "queued", 1)]

    second = ledger.ok("cb", "settlement.close_cycle", {"currency": "EUR"})
    assert (second["cycle"], second["settled"], second["removed"], second["positions"]) == (
        2, [5], [], {A: -25, C: 25})
    assert ledger.balances() == {A: 935, B: 510, C: 55}
    assert settlement.cycles_count(ledger.state, "EUR") == 2


def test_a_balance_shortfall_cascades_through_the_gridlock_rule():
    """Opening EUR: A 0, B 0, C 30; no caps. Queue: #1 A->B 50, #2 B->C 50,
    #3 C->A 30.

    All three: A -50 + 30 = -20 with nothing to pay it: remove A's latest, #1.
    Then A +30, B -50 with nothing: remove B's latest, #2.
    Then A +30, C -30, within C's 30: #3 settles alone. A 30, B 0, C 0;
    #1 and #2 stay queued, in their order.
    """
    ledger = Ledger({C: {"EUR": 30}})
    for payer, payee, amount in ((A, B, 50), (B, C, 50), (C, A, 30)):
        ledger.instruct(payer, payee, amount)
    output = ledger.ok(A, "settlement.close_cycle", {"currency": "EUR"})
    assert (output["settled"], output["removed"], output["positions"]) == ([3], [1, 2], {A: 30, C: -30})
    assert ledger.balances() == {A: 30, B: 0, C: 0}
    assert [r["id"] for r in settlement.netting_queue(ledger.state, "EUR")] == [1, 2]


def test_a_cap_of_zero_forbids_a_net_debit_and_a_full_gridlock_still_records_its_cycle():
    ledger = Ledger({A: {"EUR": 1000}}, caps={A: {"EUR": 0}})
    ledger.instruct(A, B, 10)
    output = ledger.ok(A, "settlement.close_cycle", {"currency": "EUR"})
    assert (output["settled"], output["removed"], output["positions"], output["net_total"]) == ([], [1], {}, 0)
    assert ledger.balances() == {A: 1000, B: 0, C: 0}
    assert settlement.cycle(ledger.state, "EUR", 1)["removed"] == [1]
    # once B pays A more than A pays B, A is a net creditor and both settle
    ledger.ok("cb", "settlement.mint", issue_args(B, 15))
    ledger.instruct(B, A, 15)
    output = ledger.ok(A, "settlement.close_cycle", {"currency": "EUR"})
    assert (output["settled"], output["positions"]) == ([1, 2], {A: 5, B: -5})


def test_close_cycle_roles_and_empty_queue():
    ledger = Ledger({A: {"EUR": 100}})
    assert ledger.run(A, "settlement.close_cycle", {"currency": "EUR"}).code == "nothing_queued"
    ledger.instruct(A, B, 10)
    for who in (B, "aud"):
        assert ledger.run(who, "settlement.close_cycle", {"currency": "EUR"}).code == "not_permitted"
    assert ledger.run("cb", "settlement.close_cycle", {"currency": "USD"}).code == "nothing_queued"
    assert ledger.run("cb", "settlement.close_cycle", {"currency": "eur"}).code == "nothing_queued"
    assert ledger.ok("cb", "settlement.close_cycle", {"currency": "EUR"})["settled"] == [1]


def test_currencies_have_separate_queues_and_cycles():
    ledger = Ledger({A: {"EUR": 100, "USD": 100}})
    ledger.instruct(A, B, 10, "USD")
    ledger.instruct(A, B, 20, "EUR")
    assert ledger.ok(C, "settlement.close_cycle", {"currency": "EUR"})["settled"] == [2]
    assert [r["id"] for r in settlement.netting_queue(ledger.state, "USD")] == [1]
    assert ledger.balances("USD") == {A: 100, B: 0, C: 0}
    assert settlement.cycles_count(ledger.state, "USD") == 0


@pytest.mark.parametrize("per_member_max, codes", [
    (None, ["member_queue_full"] * 4 + ["nothing_queued"]),  # the default share is a tenth of the amount bound
    (10_000, ["ok", "member_queue_full", "queue_full", "queue_full", "ok"]),  # a share of it all: the queue bound
])
def test_colluding_members_cannot_push_a_cycle_past_the_largest_stored_integer(per_member_max, codes):
    """B and C hold nothing. Each instructs 2^62 to the other twice: the net
    positions are zero, so the cycle is feasible, but its gross total would
    be 2^64, past what the canonical encoder can store (this halted every
    node). Refusing the instructions that take a member's share or the
    queue past AMOUNT_MAX keeps every total bounded; the block executes and
    every receipt encodes."""
    ledger = Ledger({A: {"EUR": 100}}, parameters=per_member_max and {"netting_queue_per_member_max": per_member_max})
    block = [ledger.sign(payer, "settlement.instruct", pay_args(payer, payee, AMOUNT_MAX))
             for payer, payee in ((B, C), (B, C), (C, B), (C, B))]
    block.append(ledger.sign("cb", "settlement.close_cycle", {"currency": "EUR"}))
    result = ledger.chain.apply(block)
    assert [r.code for r in result.receipts] == codes
    assert [encoding.encode(r.to_wire()) for r in result.receipts] == list(result.receipt_leaves)
    assert ledger.balances() == {A: 100, B: 0, C: 0}
    close = result.receipts[-1]
    if close.ok:
        assert close.output["removed"] == [1] and close.output["gross_total"] == 0
        assert settlement.cycle(ledger.state, "EUR", 1)["gross_total"] == 0


# --- instruct and cancel ------------------------------------------------------------

@pytest.mark.parametrize("who,args,code", [
    (A, pay_args(B, C, 5), "not_authorized"),
    (A, pay_args(A, A, 5), "bad_args"),
    (A, pay_args(A, "aud", 5), "unknown_account"),
    (A, pay_args(A, B, 5, "GBP"), "unknown_account"),
    (A, pay_args(A, B, 0), "bad_args"),
    (A, pay_args(A, B, 5, idempotency_key=""), "bad_args"),
    (A, pay_args(A, B, 5, idempotency_key="k" * 65), "bad_args"),
    ("aud", pay_args("aud", B, 5), "not_permitted"),
    ("cb", pay_args("cb", B, 5), "not_permitted"),
])
def test_instruct_refusals_change_nothing(who, args, code):
    ledger = Ledger({A: {"EUR": 100}})
    receipt = ledger.run(who, "settlement.instruct", args)
    assert receipt.code == code
    assert [k for k, _ in ledger.last_writes] == [nonce_key(key(f"{who}/client").public_key)]


def test_the_queue_is_bounded_by_the_netting_queue_max_parameter():
    ledger = Ledger({A: {"EUR": 100}}, parameters={"netting_queue_max": 2})
    ledger.instruct(A, B, 1)
    ledger.instruct(B, C, 1)
    receipt = ledger.run(C, "settlement.instruct", pay_args(C, A, 1))
    assert (receipt.code, receipt.detail) == ("queue_full", "the EUR queue holds as many instructions as "
                                                            "netting_queue_max allows")
    assert ledger.instruct(C, A, 1, "USD") == 3  # another currency has its own queue
    ledger.ok(A, "settlement.cancel", {"instruction": 1})
    assert ledger.instruct(C, A, 1) == 4


def test_one_member_filling_its_own_share_of_the_queue_does_not_stop_another():
    """With the default limits: A, holding nothing, queues as many
    instructions as it may (each would gridlock forever); its next one is
    refused as A's own limit, and B and C still queue theirs."""
    assert PARAMETER_DEFAULTS["netting_queue_per_member_max"] < PARAMETER_DEFAULTS["netting_queue_max"]
    ledger = Ledger({B: {"EUR": 10}})
    share = PARAMETER_DEFAULTS["netting_queue_per_member_max"]
    flood = [ledger.sign(A, "settlement.instruct", pay_args(A, B, 1)) for _ in range(share + 1)]
    others = [ledger.sign(B, "settlement.instruct", pay_args(B, C, 1)),
              ledger.sign(C, "settlement.instruct", pay_args(C, A, 1))]
    receipts = ledger.chain.apply(flood + others).receipts
    assert [r.code for r in receipts] == ["ok"] * share + ["member_queue_full", "ok", "ok"]
    assert receipts[share].detail == f"{A} has as many EUR instructions queued as netting_queue_per_member_max allows"
    assert settlement.member_queued(ledger.state, "EUR", A) == {"count": share, "amount": share}
    assert settlement.member_queued(ledger.state, "EUR", B) == {"count": 1, "amount": 1}
    assert ledger.instruct(A, B, 1, "USD")  # a share is per currency
    ledger.ok(A, "settlement.cancel", {"instruction": 1})
    assert ledger.instruct(A, B, 1)  # a place of its own came free


def test_a_members_share_of_the_queued_amount_is_bounded_too():
    """A share of the places is the same share of the amount a currency's
    queue may hold (AMOUNT_MAX): one instruction of 2^62 cannot take it all."""
    ledger = Ledger({}, parameters={"netting_queue_max": 4, "netting_queue_per_member_max": 1})
    share = AMOUNT_MAX // 4
    assert ledger.run(A, "settlement.instruct", pay_args(A, B, share + 1)).code == "member_queue_full"
    ledger.instruct(A, B, share)
    ledger.instruct(B, C, share)
    ledger.instruct(C, A, share)
    assert ledger.run(A, "settlement.instruct", pay_args(A, C, 1)).code == "member_queue_full"
    assert settlement.netting_queue(ledger.state, "EUR")[-1]["amount"] == share


def test_an_instruction_dropped_by_gridlock_in_n_consecutive_cycles_expires_at_the_nth():
    """A holds nothing and instructs A->B 10 (#1); B instructs B->C 5 (#2)
    with funds. Each cycle settles what it can and drops #1; with
    netting_gridlock_cycles_max = 3, the third cycle that drops #1 expires
    it: out of the queue, its record says why, the cycle record lists it."""
    ledger = Ledger({B: {"EUR": 100}}, parameters={"netting_gridlock_cycles_max": 3})
    ledger.instruct(A, B, 10)
    for cycle in (1, 2):
        ledger.instruct(B, C, 5)
        output = ledger.ok(C, "settlement.close_cycle", {"currency": "EUR"})
        assert (output["cycle"], output["removed"], output["expired"], output["queued"]) == (cycle, [1], [], 1)
        assert settlement.instruction(ledger.state, 1)["deferrals"] == cycle
    closing = ledger.run(C, "settlement.close_cycle", {"currency": "EUR"})
    third = closing.output
    assert (third["settled"], third["removed"], third["queued"]) == ([], [1], 0)
    assert third["expired"] == [{"instruction": 1, "reason": "gridlocked for 3 cycles"}]
    assert settlement.cycle(ledger.state, "EUR", 3)["expired"] == third["expired"]
    record = settlement.instruction(ledger.state, 1)
    assert (record["status"], record["reason"], record["expired_cycle"], record["deferrals"]) == (
        "expired", "gridlocked for 3 cycles", 3, 3)
    assert (record["prev"], record["next"]) == (0, 0)
    final = settlement.finality(ledger.state, closing.tx_hash)
    assert final["details"] == {"currency": "EUR", "cycle": 3, "settled": [], "expired": [1],
                                "participants": [A, B]}  # an expired instruction's parties are the cycle's too
    assert settlement.finality_parties(final) == {A, B}
    assert settlement.netting_queue(ledger.state, "EUR") == []
    assert settlement.member_queued(ledger.state, "EUR", A) == {"count": 0, "amount": 0}
    assert ledger.run(A, "settlement.cancel", {"instruction": 1}).code == "not_queued"
    assert ledger.balances() == {A: 0, B: 90, C: 10}


def test_instructions_expire_in_queue_order_and_the_others_stay():
    """#1 A->B 10 and #3 A->C 10 gridlock (A holds nothing); #2 B->C 1
    settles. With expiry at the first drop, #1 and #3 both expire, in id
    order, and the cycle still settles #2."""
    ledger = Ledger({B: {"EUR": 1}}, parameters={"netting_gridlock_cycles_max": 1})
    ledger.instruct(A, B, 10)
    ledger.instruct(B, C, 1)
    ledger.instruct(A, C, 10)
    output = ledger.ok(C, "settlement.close_cycle", {"currency": "EUR"})
    assert (output["settled"], output["removed"]) == ([2], [1, 3])
    assert output["expired"] == [{"instruction": 1, "reason": "gridlocked for 1 cycles"},
                                 {"instruction": 3, "reason": "gridlocked for 1 cycles"}]


def test_cancel_unlinks_from_anywhere_in_the_queue_and_only_the_payer_may():
    ledger = Ledger({A: {"EUR": 100}, B: {"EUR": 10}})
    ids = [ledger.instruct(A, B, 1), ledger.instruct(B, C, 2), ledger.instruct(A, C, 3), ledger.instruct(C, A, 4)]
    assert ledger.run(B, "settlement.cancel", {"instruction": 1}).code == "not_authorized"
    assert ledger.run("aud", "settlement.cancel", {"instruction": 1}).code == "not_permitted"
    assert ledger.run(A, "settlement.cancel", {"instruction": 99}).code == "unknown_instruction"
    assert ledger.run(A, "settlement.cancel", {"instruction": 0}).code == "bad_args"
    assert ledger.ok(A, "settlement.cancel", {"instruction": 3}) == {"instruction": 3, "currency": "EUR", "queued": 3}
    assert ledger.ok(A, "settlement.cancel", {"instruction": 1})["queued"] == 2
    assert ledger.ok(C, "settlement.cancel", {"instruction": 4})["queued"] == 1
    queued = settlement.netting_queue(ledger.state, "EUR")
    assert [(r["id"], r["prev"], r["next"]) for r in queued] == [(2, 0, 0)]
    assert ledger.run(A, "settlement.cancel", {"instruction": 1}).code == "not_queued"
    assert settlement.instruction(ledger.state, 1)["status"] == "cancelled"
    ledger.instruct(C, B, 5)
    assert [r["id"] for r in settlement.netting_queue(ledger.state, "EUR")] == [2, ids[-1] + 1]
    # B +3, C -3 with nothing: C's #5 is deferred, B's #2 settles
    assert ledger.ok(A, "settlement.close_cycle", {"currency": "EUR"})["removed"] == [5]
    assert ledger.run(B, "settlement.cancel", {"instruction": 2}).code == "not_queued"
    assert ledger.ok(C, "settlement.cancel", {"instruction": 5})["queued"] == 0  # a deferred one may go
    assert ledger.balances() == {A: 100, B: 8, C: 2}


# --- idempotency keys ----------------------------------------------------------------

def test_a_retried_payment_settles_once():
    ledger = Ledger({A: {"EUR": 1000}, B: {"EUR": 100}})
    first = ledger.run(A, "settlement.pay", pay_args(A, B, 300, idempotency_key="inv-7"))
    assert first.ok
    retry = ledger.run(A, "settlement.pay", pay_args(A, B, 300, idempotency_key="inv-7"))
    assert (retry.code, retry.detail) == ("duplicate_instruction", first.tx_hash.hex())
    assert [k for k, _ in ledger.last_writes] == [nonce_key(key(f"{A}/client").public_key)]
    assert ledger.balances() == {A: 700, B: 400, C: 0}
    assert settlement.idempotency_record(ledger.state, A, "inv-7") == {
        "tx_hash": first.tx_hash, "kind": "payment", "height": 1}
    # the key belongs to the payer: another payer may use it, and so may A for a different key
    assert ledger.run(B, "settlement.pay", pay_args(B, A, 1, idempotency_key="inv-7")).ok
    assert ledger.run(A, "settlement.pay", pay_args(A, B, 1, idempotency_key="inv-8")).ok
    # pay and instruct share one key space per payer
    dup = ledger.run(A, "settlement.instruct", pay_args(A, B, 5, idempotency_key="inv-7"))
    assert (dup.code, dup.detail) == ("duplicate_instruction", first.tx_hash.hex())


def test_a_failed_attempt_does_not_use_up_its_key():
    ledger = Ledger({A: {"EUR": 100}})
    assert ledger.run(A, "settlement.pay", pay_args(A, B, 500, idempotency_key="k")).code == "insufficient_funds"
    assert settlement.idempotency_record(ledger.state, A, "k") is None
    assert ledger.run(A, "settlement.pay", pay_args(A, B, 50, idempotency_key="k")).ok
    assert ledger.run(A, "settlement.pay", pay_args(A, B, 50, idempotency_key="k")).code == "duplicate_instruction"
    assert ledger.balances() == {A: 50, B: 50, C: 0}


def test_a_retried_instruction_is_queued_once_and_a_cancelled_one_keeps_its_key():
    ledger = Ledger({A: {"EUR": 100}})
    first = ledger.run(A, "settlement.instruct", pay_args(A, B, 10, idempotency_key="batch-1/9"))
    retry = ledger.run(A, "settlement.instruct", pay_args(A, B, 10, idempotency_key="batch-1/9"))
    assert (retry.code, retry.detail) == ("duplicate_instruction", first.tx_hash.hex())
    assert len(settlement.netting_queue(ledger.state, "EUR")) == 1
    assert settlement.instruction(ledger.state, 1)["idempotency_key"] == "batch-1/9"
    ledger.ok(A, "settlement.cancel", {"instruction": 1})
    again = ledger.run(A, "settlement.instruct", pay_args(A, B, 10, idempotency_key="batch-1/9"))
    assert again.code == "duplicate_instruction"


# --- gross payments leave a finality record --------------------------------------------

def test_a_payment_carries_its_finality_record_in_its_receipt():
    """Gross payments are many: their finality record is the receipt's output
    (certified by the next header's receipts root), not a state record."""
    ledger = Ledger({A: {"EUR": 1000}})
    receipt = ledger.run(A, "settlement.pay", pay_args(A, B, 250, reference="inv-1"))
    assert receipt.ok
    assert receipt.output == {"finality": {
        "kind": "payment", "height": 1, "timestamp_ms": 1000,
        "details": {"from": A, "to": B, "currency": "EUR", "amount": 250},
        "balances_hash": expected_balances_hash([(A, "EUR", 750), (B, "EUR", 250)])}}
    assert settlement.finality(ledger.state, receipt.tx_hash) is None
    assert settlement.finality(ledger.state, b"\x01" * 32) is None
    assert settlement.balances(ledger.state, [B, A, "aud"], ["USD", "EUR", "GBP"]) == {
        A: {"EUR": 750, "USD": 0}, B: {"EUR": 250, "USD": 0}}


# --- scoped reads: what concerns one institution ----------------------------------------

def test_a_members_view_of_the_queue_holds_what_it_pays_or_is_paid():
    ledger = Ledger({A: {"EUR": 100}})
    first, second, third = ledger.instruct(A, B, 1), ledger.instruct(B, C, 2), ledger.instruct(C, A, 3)
    ledger.instruct(B, A, 4, "USD")
    queue = settlement.netting_queue(ledger.state, "EUR")
    assert [r["id"] for r in queue] == [first, second, third]
    assert [r["id"] for r in settlement.netting_queue(ledger.state, "EUR", A)] == [first, third]
    assert [r["id"] for r in settlement.netting_queue(ledger.state, "EUR", B)] == [first, second]
    assert [r["id"] for r in settlement.netting_queue(ledger.state, "EUR", C)] == [second, third]
    assert settlement.netting_queue(ledger.state, "EUR", "aud") == []
    assert settlement.netting_queue(ledger.state, "EUR", "bank-q") == []
    assert settlement.netting_queue(ledger.state, "EUR", A)[0] == queue[0]  # whole records, as unscoped
    assert [settlement.instruction_parties(r) for r in queue] == [{A, B}, {B, C}, {C, A}]


def test_finality_parties_of_payments_issuance_and_cycles():
    ledger = Ledger({A: {"EUR": 1000}, B: {"EUR": 10}})
    paid = ledger.run(A, "settlement.pay", pay_args(A, B, 250))
    assert settlement.finality_parties(paid.output["finality"]) == {A, B}  # the receipt's own record
    minted = ledger.run("cb", "settlement.mint", issue_args(C, 5))
    assert settlement.finality_parties(settlement.finality(ledger.state, minted.tx_hash)) == {C}
    burned = ledger.run("cb", "settlement.burn", issue_args(B, 5))
    assert settlement.finality_parties(settlement.finality(ledger.state, burned.tx_hash)) == {B}
    ledger.instruct(A, B, 7)
    ledger.instruct(B, A, 3)
    closed = ledger.run(C, "settlement.close_cycle", {"currency": "EUR"})  # C closes, takes no part
    assert settlement.finality_parties(settlement.finality(ledger.state, closed.tx_hash)) == {A, B}
    # a kind it does not know concerns no member: only auditors and regulators see it
    assert settlement.finality_parties({"kind": "teleport", "details": {"from": A}}) == set()
    assert settlement.finality_parties({}) == set()


# --- mint and burn -----------------------------------------------------------------------

def test_only_the_regulator_mints_and_burns_and_only_they_change_the_supply():
    ledger = Ledger({A: {"EUR": 100}})
    for who in (A, B, "aud"):
        for tx_type in ("settlement.mint", "settlement.burn"):
            assert ledger.run(who, tx_type, issue_args(B, 10)).code == "not_permitted"
            assert settlement.supply(ledger.state, "EUR") == 100
    minted = ledger.run("cb", "settlement.mint", issue_args(B, 400))
    assert minted.output == {"institution": B, "currency": "EUR", "supply": 500}
    assert settlement.finality(ledger.state, minted.tx_hash)["kind"] == "mint"
    burned = ledger.ok("cb", "settlement.burn", issue_args(A, 60))
    assert burned == {"institution": A, "currency": "EUR", "supply": 440}
    assert ledger.run("cb", "settlement.burn", issue_args(A, 41)).code == "insufficient_funds"
    assert ledger.run("cb", "settlement.mint", issue_args("aud", 1)).code == "unknown_account"
    assert ledger.run("cb", "settlement.mint", issue_args(A, 1, "GBP")).code == "unknown_account"
    room = AMOUNT_MAX - settlement.supply(ledger.state, "EUR")
    assert ledger.run("cb", "settlement.mint", issue_args(A, room + 1)).code == "overflow"  # past the supply's bound
    assert ledger.run("cb", "settlement.mint", issue_args(A, room)).ok  # up to it
    assert ledger.run("cb", "settlement.mint", issue_args(B, 1)).code == "overflow"
    ledger.ok("cb", "settlement.burn", issue_args(A, room))
    assert ledger.run("cb", "settlement.burn", issue_args(A, 0)).code == "bad_args"
    assert ledger.balances() == {A: 40, B: 400, C: 0}
    assert settlement.supply(ledger.state, "EUR") == 440 == sum(ledger.balances().values())
    assert settlement.supply(ledger.state, "USD") == 0


# --- contracts.netting on its own ------------------------------------------------------------

def _instructions(*triples) -> list[Instruction]:
    return [Instruction(n, payer, payee, amount) for n, (payer, payee, amount) in enumerate(triples, start=1)]


def test_net_positions_known_answer_and_gross_equivalence():
    instructions = _instructions((A, B, 100), (B, C, 80), (C, A, 50), (B, A, 10))
    assert netting.net_positions(instructions) == {A: -40, B: 10, C: 30}
    opening = {A: 1000, B: 500, C: 0}
    netted = {iid: opening[iid] + p for iid, p in netting.net_positions(instructions).items()}
    assert netting.apply_gross(opening, instructions) == netted == {A: 960, B: 510, C: 30}
    assert netting.net_positions([]) == {}
    assert netting.net_positions(_instructions((A, B, 5), (B, A, 5))) == {A: 0, B: 0}


def test_feasibility_against_limits():
    positions = {A: -40, B: 10, C: 30}
    assert netting.feasible(positions, {A: 40})
    assert netting.violators(positions, {A: 39}) == [A]
    assert netting.violators(positions, {}) == [A]  # no limit given: may not be a net debtor
    assert netting.net_debit(-7) == 7 and netting.net_debit(7) == 0


def test_gridlock_removes_a_breaching_payers_instruction_not_the_latest_overall():
    """#1 A->B 10, #2 B->C 10, #3 C->B 1; A may not be a net debtor, B and C
    may owe 100. Positions: A -10 (breach), B +1, C +9. The latest
    instruction, #3, is C's and C is within its limit, so the rule removes
    A's #1 instead: then B -9 and C +9, and #2, #3 settle."""
    instructions = _instructions((A, B, 10), (B, C, 10), (C, B, 1))
    resolution = netting.resolve(instructions, {A: 0, B: 100, C: 100})
    assert [i.id for i in resolution.settled] == [2, 3]
    assert [i.id for i in resolution.removed] == [1]
    assert resolution.positions == {B: -9, C: 9}


def test_gridlock_takes_the_latest_instruction_among_several_breaching_payers():
    """#1 A->C 5, #2 B->C 5, #3 A->C 5, #4 B->C 5; A may owe 5, B may owe 5.
    A -10 and B -10 both breach; the latest of theirs is B's #4, then A's #3.
    """
    instructions = _instructions((A, C, 5), (B, C, 5), (A, C, 5), (B, C, 5))
    resolution = netting.resolve(instructions, {A: 5, B: 5, C: 0})
    assert [i.id for i in resolution.removed] == [3, 4]
    assert resolution.positions == {A: -5, B: -5, C: 10}
    assert netting.resolve([], {}) == netting.Resolution((), (), {})


def test_instructions_refuse_nonsense():
    with pytest.raises(AssertionError):
        Instruction(1, A, B, 0)
    with pytest.raises(AssertionError):
        Instruction(1, A, A, 5)


# --- what one party may see (the API's read scoping) ---------------------------------

def test_a_partys_queue_entries_and_finality_records():
    ledger = Ledger({A: {"EUR": 1000}, B: {"EUR": 500}})
    first, second = ledger.instruct(A, B, 100), ledger.instruct(B, C, 80)
    assert [r["id"] for r in settlement.netting_queue(ledger.state, "EUR", institution=A)] == [first]
    assert [r["id"] for r in settlement.netting_queue(ledger.state, "EUR", institution=B)] == [first, second]
    assert settlement.netting_queue(ledger.state, "EUR", institution="aud") == []
    paid = ledger.run(A, "settlement.pay", pay_args(A, C, 5))
    assert settlement.finality_parties(paid.output["finality"]) == {A, C}
    minted = ledger.run("cb", "settlement.mint", issue_args(B, 7))
    assert settlement.finality_parties(settlement.finality(ledger.state, minted.tx_hash)) == {B}
    closed = ledger.run("cb", "settlement.close_cycle", {"currency": "EUR"})
    assert settlement.finality_parties(settlement.finality(ledger.state, closed.tx_hash)) == {A, B, C}  # what it settled
