"""Property tests for settlement through the executor: money is neither
created nor destroyed, no balance goes negative, a transaction executes at
most once, failures change nothing, and execution is deterministic.

Hypothesis draws a genesis (opening balances), a sequence of payments (any
signer, payer, payee, currency and amount, raw or decoded, replays and
forgeries included) and a split into blocks. A small model predicts each
receipt code; the executor must agree with it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings, strategies as st

from contracts.executor import NONCE_WINDOW, BlockContext, Executor, use_nonce
from contracts.genesis import Genesis, genesis_state, parse_genesis
from contracts.schema import AMOUNT_MAX, ContractError
from contracts.state import DictState, Overlay
from contracts.tx import NONCE_MAX, sign_tx
from crypto import encoding
from fixtures import accounts, genesis_document, key, run, split_blocks, wire

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MEMBERS = ("bank-a", "bank-b", "bank-c", "bank-d")
AUDITOR = "aud"
CURRENCIES = ("EUR", "USD")


ROLES = {"bank-a": ["validator", "member"], "bank-b": ["validator", "member"], "bank-c": ["validator", "member"],
         "bank-d": ["member"], AUDITOR: ["auditor"]}

# signer label -> (institution or None for an unregistered key, key pair); fixed
# seeds, so a failing example reproduces byte for byte
SIGNERS = {label: (owner, key(label)) for label, owner in (
    ("bank-a/0", "bank-a"), ("bank-a/1", "bank-a"), ("bank-b/0", "bank-b"), ("bank-c/0", "bank-c"),
    ("bank-d/0", "bank-d"), ("aud/0", AUDITOR), ("stranger", None))}


def genesis_with(balances: dict[str, dict[str, int]]) -> Genesis:
    client_keys = {iid: [label for label, (owner, _) in SIGNERS.items() if owner == iid] for iid in ROLES}
    return parse_genesis(genesis_document(ROLES, chain_name="props", currencies=CURRENCIES, balances=balances,
                                          client_keys=client_keys))


opening_balances = st.fixed_dictionaries(
    {iid: st.fixed_dictionaries({c: st.integers(0, 500) for c in CURRENCIES}) for iid in MEMBERS})

nonces = st.one_of(
    st.integers(0, 6), st.integers(0, 6), st.integers(0, 6),
    st.sampled_from([NONCE_WINDOW - 1, NONCE_WINDOW + 3, 10**9, NONCE_MAX - 1]),
)
amounts = st.one_of(
    st.integers(1, 300), st.integers(1, 300), st.integers(1, 300), st.integers(1, 600),
    st.sampled_from([0, -1, -500, True, "5", AMOUNT_MAX + 1, AMOUNT_MAX]),
)
parties = st.sampled_from((*MEMBERS, AUDITOR, "bank-zz"))


@dataclass(frozen=True)
class Spec:
    """One submitted transaction, before signing."""

    signer: str
    nonce: int
    payer: str | None  # None: the signer's own institution
    payee: str
    currency: str
    amount: object
    extra_field: bool
    tx_type: str
    wrong_chain: bool
    raw: bool
    forged: bool


wild_specs = st.builds(
    Spec,
    signer=st.sampled_from(sorted(SIGNERS)),
    nonce=nonces,
    payer=st.one_of(st.none(), st.none(), parties),
    payee=parties,
    currency=st.sampled_from(("EUR", "EUR", "USD", "GBP")),
    amount=amounts,
    extra_field=st.integers(0, 9).map(lambda n: n == 0),
    tx_type=st.sampled_from(("settlement.pay",) * 9 + ("settlement.teleport",)),
    wrong_chain=st.integers(0, 9).map(lambda n: n == 0),
    raw=st.booleans(),
    forged=st.integers(0, 9).map(lambda n: n == 0),
)
# Payments that usually go through, so balances really move.
plausible_specs = st.builds(
    Spec,
    signer=st.sampled_from([label for label, (owner, _) in SIGNERS.items() if owner in MEMBERS]),
    nonce=st.integers(0, 40),
    payer=st.none(),
    payee=st.sampled_from(MEMBERS),
    currency=st.sampled_from(CURRENCIES),
    amount=st.integers(1, 250),
    extra_field=st.just(False),
    tx_type=st.just("settlement.pay"),
    wrong_chain=st.just(False),
    raw=st.booleans(),
    forged=st.just(False),
)

# ("new", spec) submits a fresh transaction; ("replay", k, raw) resubmits an earlier one
steps = st.lists(
    st.one_of(st.tuples(st.just("new"), plausible_specs), st.tuples(st.just("new"), plausible_specs),
              st.tuples(st.just("new"), wild_specs),
              st.tuples(st.just("replay"), st.integers(0, 100), st.booleans())),
    min_size=1, max_size=30,
)


@dataclass(frozen=True)
class Item:
    spec: Spec
    payload: object  # a Transaction, or wire bytes
    tx_hash: bytes


def build_items(chain_id: bytes, plan: list) -> list[Item]:
    items: list[Item] = []
    for step in plan:
        if step[0] == "replay":
            if not items:
                continue
            earlier = items[step[1] % len(items)]
            tx = earlier.payload if not isinstance(earlier.payload, bytes) else None
            if tx is not None and step[2]:
                items.append(Item(earlier.spec, tx.wire(), earlier.tx_hash))
            else:
                items.append(earlier)
            continue
        spec = step[1]
        owner, key_pair = SIGNERS[spec.signer]
        args = {"from": spec.payer or owner or "bank-a", "to": spec.payee, "currency": spec.currency,
                "amount": spec.amount}
        if spec.extra_field:
            args["memo"] = "x"
        tx = sign_tx(key_pair.signer(), bytes(32) if spec.wrong_chain else chain_id, spec.nonce, spec.tx_type, args)
        if spec.forged:
            forger = SIGNERS["stranger" if spec.signer != "stranger" else "bank-a/0"][1]
            payload = encoding.encode([tx.body, forger.signer().sign("tx", tx.body)])
        else:
            payload = tx.wire() if spec.raw else tx
        items.append(Item(spec, payload, tx.hash))
    return items


class Model:
    """What the ledger should do, written independently of the executor."""

    def __init__(self, balances: dict[str, dict[str, int]]) -> None:
        self.balances = {(iid, c): balances[iid][c] for iid in MEMBERS for c in CURRENCIES}
        self.windows: dict[str, tuple[int, set[int]]] = {}

    def _nonce(self, signer: str, nonce: int) -> str | None:
        top, used = self.windows.get(signer, (0, set()))
        if nonce >= top:
            self.windows[signer] = (nonce + 1, used | {nonce})
            return None
        if top - 1 - nonce >= NONCE_WINDOW:
            return "nonce_too_old"
        if nonce in used:
            return "nonce_used"
        self.windows[signer] = (top, used | {nonce})
        return None

    def apply(self, item: Item) -> str:
        spec = item.spec
        owner = SIGNERS[spec.signer][0]
        if spec.forged and isinstance(item.payload, bytes):
            return "bad_signature"
        if spec.wrong_chain:
            return "wrong_chain"
        if owner is None:
            return "unknown_sender"
        code = self._nonce(spec.signer, spec.nonce)
        if code:
            return code
        if spec.tx_type != "settlement.pay":
            return "unknown_type"
        payer = spec.payer or owner
        amount = spec.amount
        if spec.extra_field or type(amount) is not int or not 1 <= amount <= AMOUNT_MAX or payer == spec.payee:
            return "bad_args"  # judged without state, before the role
        if owner == AUDITOR:
            return "not_permitted"
        if payer != owner:
            return "not_authorized"
        if (payer, spec.currency) not in self.balances or (spec.payee, spec.currency) not in self.balances:
            return "unknown_account"
        if self.balances[payer, spec.currency] < amount:
            return "insufficient_funds"
        self.balances[payer, spec.currency] -= amount
        self.balances[spec.payee, spec.currency] += amount
        return "ok"


def totals(balances: dict[tuple[str, str], int]) -> dict[str, int]:
    return {c: sum(v for (_, cur), v in balances.items() if cur == c) for c in CURRENCIES}


def without_block_times(items: dict[bytes, bytes]) -> dict[bytes, object]:
    """The state with the block height and time left out of finality records,
    which legitimately depend on how transactions were split into blocks."""
    plain: dict[bytes, object] = dict(items)
    for state_key in sorted(k for k in items if k.startswith(b"settlement/finality/")):
        record = encoding.decode(items[state_key])
        plain[state_key] = {k: v for k, v in record.items() if k not in ("height", "timestamp_ms")}
    return plain


def without_receipt_times(receipt):
    """A receipt with the block height and time left out of its finality record."""
    finality = (receipt.output or {}).get("finality")
    if finality is None:
        return receipt
    plain = {k: v for k, v in finality.items() if k not in ("height", "timestamp_ms")}
    return (receipt.tx_hash, receipt.code, receipt.detail, plain)


@SETTINGS
@given(opening_balances, steps, st.data())
def test_settlement_invariants(balances, plan, data):
    genesis = genesis_with(balances)
    items = build_items(genesis.chain_id, plan)
    cuts = data.draw(st.lists(st.booleans(), min_size=len(items), max_size=len(items)), label="cuts")
    blocks = split_blocks(items, cuts)
    opening = accounts(DictState(genesis_state(genesis)))
    opening_totals = totals(opening)

    # Run A, checked block by block.
    state = DictState(genesis_state(genesis))
    executor = Executor()
    model = Model(balances)
    ok_hashes: set[bytes] = set()
    results_a = []
    for height, block in enumerate(blocks, start=1):
        result = executor.execute(state, BlockContext(genesis.chain_id, height, 1000 * height),
                                  [item.payload for item in block])
        results_a.append(result)
        state.apply(result.writes)
        assert [r.tx_hash for r in result.receipts] == [item.tx_hash for item in block]
        assert [r.code for r in result.receipts] == [model.apply(item) for item in block]
        for receipt in result.receipts:
            event(f"receipt code: {receipt.code}")
            if receipt.ok:
                assert receipt.tx_hash not in ok_hashes, "a transaction executed twice"
                ok_hashes.add(receipt.tx_hash)
        now = accounts(state)
        assert set(now) == set(opening)
        assert totals(now) == opening_totals
        assert min(now.values(), default=0) >= 0
        assert now == model.balances

    # Run B: another executor over another copy of genesis, same blocks.
    results_b, state_b = run(genesis, [[item.payload for item in block] for block in blocks])
    assert [wire(r) for r in results_b] == [wire(r) for r in results_a]
    assert state_b.items == state.items

    # Run C: one transaction per block. Same receipts and final state, whatever
    # the block split, and each failure leaves every balance where it was.
    results_c, state_c = run(genesis, [[item.payload] for item in items])
    receipts_a = [without_receipt_times(r) for result in results_a for r in result.receipts]
    assert [without_receipt_times(r) for result in results_c for r in result.receipts] == receipts_a
    assert without_block_times(state_c.items) == without_block_times(state.items)
    replay = DictState(genesis_state(genesis))
    for item, result in zip(items, results_c):
        before = accounts(replay)
        replay.apply(result.writes)
        after = accounts(replay)
        changed = {k for k in before if before[k] != after[k]}
        if result.receipts[0].ok:
            spec = item.spec
            payer = spec.payer or SIGNERS[spec.signer][0]
            assert changed == {(payer, spec.currency), (spec.payee, spec.currency)}
            assert after[payer, spec.currency] == before[payer, spec.currency] - spec.amount
            assert after[spec.payee, spec.currency] == before[spec.payee, spec.currency] + spec.amount
        else:
            assert changed == set()
            assert all(not k.startswith(b"acct/") for k, _ in result.writes)
            assert len(result.writes) <= 1  # at most the sender's nonce window


@SETTINGS
@given(opening_balances, st.lists(st.tuples(st.sampled_from(MEMBERS), st.sampled_from(MEMBERS),
                                            st.integers(1, 400)), min_size=1, max_size=25))
def test_a_block_replayed_whole_executes_nothing(balances, payments):
    genesis = genesis_with(balances)
    signer_of = {owner: kp for owner, kp in SIGNERS.values() if owner}
    block = [sign_tx(signer_of[payer].signer(), genesis.chain_id, n, "settlement.pay",
                     {"from": payer, "to": payee, "currency": "EUR", "amount": amount})
             for n, (payer, payee, amount) in enumerate(payments)]
    results, state = run(genesis, [block, block, [tx.wire() for tx in block]])
    assert all(not r.ok for result in results[1:] for r in result.receipts)
    assert [w for w in results[1].writes if w[0].startswith(b"acct/")] == []
    assert [w for w in results[2].writes if w[0].startswith(b"acct/")] == []
    assert totals(accounts(state)) == totals(accounts(DictState(genesis_state(genesis))))


# --- the replay window against a plain set ---------------------------------------

window_nonces = st.lists(
    st.one_of(st.integers(0, 40), st.integers(0, 3 * NONCE_WINDOW),
              st.integers(NONCE_WINDOW - 40, NONCE_WINDOW + 40), st.integers(0, NONCE_MAX - 1)),
    min_size=1, max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(window_nonces)
def test_nonce_window_matches_a_set_model(sequence):
    state = DictState()
    top, used = 0, set()
    for nonce in sequence:
        if nonce in used:
            expected = "nonce_too_old" if top - 1 - nonce >= NONCE_WINDOW else "nonce_used"
        elif nonce < top and top - 1 - nonce >= NONCE_WINDOW:
            expected = "nonce_too_old"
        else:
            expected = "ok"
        overlay = Overlay(state)
        try:
            use_nonce(overlay, b"\x07" * 32, nonce)
            got = "ok"
        except ContractError as exc:
            got = exc.code
            assert overlay.writes == {}
        assert got == expected, (nonce, top)
        if got == "ok":
            used.add(nonce)
            top = max(top, nonce + 1)
            state.apply(overlay.sorted_writes())
