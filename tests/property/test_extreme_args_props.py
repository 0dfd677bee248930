"""Property test: no transaction can stop a block, store an integer past
AMOUNT_MAX, or create or destroy money, whatever its arguments.

Hypothesis draws transactions of every type in contracts.registry.TX_TYPES,
from every institution (members holding nothing and members holding all
of a currency, the regulator, the auditor), with each argument of the
type's schema left out, valid (tests/fixtures.VALID_ARGS) or extreme: 0, 1,
AMOUNT_MAX, AMOUNT_MAX + 1, 2^64 - 1, 2^64, negative numbers, wrong types,
empty and over-long strings, byte strings and lists, and unknown fields.
Arguments with no canonical encoding (2^64, a lone surrogate, a float)
cannot come over the wire; they are handed to the executor as transaction
objects, which it takes as verified. A fixed first block registers an
asset, offers it and queues an instruction, so the ids the pools name exist.

After every block: `Executor.execute` returned; every receipt encodes to
its receipts-root leaf; a transaction that could have come over the wire
never gets `internal_error` (that would be a contract bug within reach of
any member) and, when check_stateless refuses it, gets exactly that code;
each
currency's balances sum to its supply, and every integer in the state is
within AMOUNT_MAX. Two executors agree byte for byte.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, event, given, settings, strategies as st

from contracts import settlement
from contracts.executor import BlockContext, Executor, check_stateless
from contracts.genesis import genesis_state, parse_genesis
from contracts.registry import TX_TYPES
from contracts.schema import AMOUNT_MAX, ContractError
from contracts.state import DictState
from contracts.tx import TxError, sign_tx
from crypto import encoding
from fixtures import VALID_ARGS, accounts, genesis_document, key, split_blocks, wire

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ROLES = {"bank-a": ["validator", "member"], "bank-b": ["member"], "bank-c": ["validator", "member"],
         "cb": ["regulator"], "aud": ["auditor"]}
CURRENCIES = ("EUR", "USD")
# bank-a holds all the EUR there may be, bank-c nearly all the USD, bank-b nothing
BALANCES = {"bank-a": {"EUR": AMOUNT_MAX}, "bank-c": {"USD": AMOUNT_MAX - 1000}}
KEYS = {iid: key(f"{iid}/client") for iid in ROLES}
TX_TYPE_NAMES = sorted(TX_TYPES)

INTS = (0, 1, 2, 3, 100, AMOUNT_MAX // 2, AMOUNT_MAX - 1, AMOUNT_MAX, AMOUNT_MAX + 1, 2**63, 2**64 - 1, 2**64,
        -1, -(2**62), -(2**63), -(2**64))
STRS = ("", "a", "bank-a", "bank-b", "bank-c", "cb", "aud", "bank-e", "EUR", "USD", "GBP", "A000000000001",
        "A000000000002", "A000000000003", "O000000000001", "O000000000002", "receivable", "bill", "equity_share",
        "transfer", "offer", "split", "pledge", "merge", "mint", "set_parameter", "add_institution",
        "disable_contract", "netting_queue_max", "settlement", "governance", "x" * 33, "x" * 10_000, "é",
        "bank-a\n", "\ud800")
BYTES = (b"", bytes(31), bytes(32), b"\xff" * 32, bytes(33), bytes(10_000), key("bank-e/client").public_key)
LISTS = ([], [1], [1, 2], [0], [-1], [AMOUNT_MAX, AMOUNT_MAX], [AMOUNT_MAX // 2, AMOUNT_MAX // 2], [1] * 17,
         ["1"], [AMOUNT_MAX + 1], [2**64], [[1]], ["member"], ["member", "member"], ["auditor"], ["owner"],
         [bytes(32)], [bytes(31)], list(range(1000)))
PROPOSALS = (  # (action, args), most of them valid
    ("mint", {"institution": "bank-b", "currency": "EUR", "amount": 1}),
    ("mint", {"institution": "bank-b", "currency": "USD", "amount": 1000}),
    ("mint", {"institution": "bank-b", "currency": "USD", "amount": AMOUNT_MAX}),
    ("set_parameter", {"name": "netting_queue_max", "value": AMOUNT_MAX}),
    ("set_parameter", {"name": "netting_queue_max", "value": 100_000}),
    ("set_parameter", {"name": "netting_queue_per_member_max", "value": 1}),
    ("set_parameter", {"name": "netting_gridlock_cycles_max", "value": 1}),
    ("set_parameter", {"name": "proposal_ttl_blocks", "value": AMOUNT_MAX // 2}),
    ("set_parameter", {"name": "governance_threshold_bps", "value": 5001}),
    ("add_institution", {"id": "bank-e", "name": "E", "roles": ["member"],
                         "client_keys": [key("bank-e/client").public_key]}),
    ("set_roles", {"id": "bank-b", "roles": ["auditor"]}),
    ("remove_institution", {"id": "bank-b"}),
    ("set_node_endpoint", {"id": "bank-a", "node_endpoint": "node-a.example:7000"}),
    ("set_node_endpoint", {"id": "bank-b", "node_endpoint": "[::1]:65535"}),
    ("disable_contract", {"contract": "settlement"}),
    ("disable_contract", {"contract": "governance"}),
)
ACTION_ARGS = tuple(args for _, args in PROPOSALS)
DICTS = ({}, {"bank-a": 1}, {"bank-a": AMOUNT_MAX}, {"bank-a": AMOUNT_MAX, "bank-b": 1},
         {"bank-b": 2**61, "bank-c": 2**61}, {"bank-a": 0}, {"bank-a": -1}, {"bank-a": 2**64}, {"": 1},
         {"x" * 40: 1}, {1: 1}, {"bank-a": "1"}, {f"bank-{n}": 1 for n in range(40)}, *ACTION_ARGS)
POOLS = {int: INTS, str: STRS, bytes: BYTES, list: LISTS, dict: DICTS, bool: (True, False)}
ANY_VALUE = st.sampled_from((None, 1.5, True, *INTS[:4], *STRS[:6], *BYTES[:3], *LISTS[:3], *DICTS[:3]))
MISSING = object()


@st.composite
def argument(draw, tx_type: str, field) -> object:
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return MISSING
    if choice == 1 and field.name in VALID_ARGS[tx_type]:
        return VALID_ARGS[tx_type][field.name]
    if choice == 9:
        return draw(ANY_VALUE)  # most likely of a wrong type
    return draw(st.sampled_from(POOLS[field.kind]))


@st.composite
def transactions(draw) -> tuple[str, str, dict]:
    """Valid arguments with one of them extreme (most often), each argument
    drawn on its own (wild), or valid arguments; the payer is usually the
    signer."""
    tx_type = draw(st.sampled_from(TX_TYPE_NAMES))
    signer = draw(st.sampled_from(("bank-a", "bank-a", "bank-b", "bank-b", "bank-c", "cb", "aud")))
    args = dict(VALID_ARGS[tx_type])
    if "from" in args and draw(st.integers(0, 4)):
        args["from"] = signer
    if tx_type == "governance.propose":
        args["action"], args["args"] = draw(st.sampled_from(PROPOSALS))
    fields = TX_TYPES[tx_type].fields
    mode = draw(st.sampled_from(("one", "one", "one", "wild", "valid")))
    for field in (draw(st.sampled_from(fields)),) if mode == "one" else fields if mode == "wild" else ():
        value = draw(argument(tx_type, field))
        if value is MISSING:
            args.pop(field.name, None)
        else:
            args[field.name] = value
    if draw(st.integers(0, 19)) == 0:
        args[draw(st.sampled_from(("memo", "", "x" * 100)))] = draw(ANY_VALUE)
    return tx_type, signer, args


SETUP = (  # the first block: ids A000000000001, O000000000001 and instruction 1 exist
    ("assets.register", "bank-a", {**VALID_ARGS["assets.register"], "holders": {"bank-a": AMOUNT_MAX // 4},
                                   "maturity_height": 3}),
    ("assets.offer", "bank-a", {**VALID_ARGS["assets.offer"], "price": AMOUNT_MAX}),
    ("settlement.instruct", "bank-b", {"from": "bank-b", "to": "bank-a", "currency": "EUR",
                                       "amount": AMOUNT_MAX // 10}),  # the default share
)


def encodable(args: dict) -> bool:
    try:
        encoding.encode(args)
    except encoding.EncodingError:
        return False
    return True


def build(chain_id: bytes, specs: list[tuple[str, str, dict]]) -> list:
    """Signed transactions, in order, each signer's nonces counting up; an
    argument map with no canonical form rides on a transaction object."""
    nonces = {iid: 0 for iid in ROLES}
    txs = []
    for tx_type, signer, args in specs:
        nonce, nonces[signer] = nonces[signer], nonces[signer] + 1
        try:
            txs.append(sign_tx(KEYS[signer].signer(), chain_id, nonce, tx_type, args))
        except TxError:
            blank = sign_tx(KEYS[signer].signer(), chain_id, nonce, tx_type, {})
            txs.append(dataclasses.replace(blank, args=args))
    return txs


def stateless_code(tx) -> str | None:
    try:
        check_stateless(tx)
    except ContractError as exc:
        return exc.code
    return None


def check_bounded(value, where: bytes) -> None:
    """Every integer stored anywhere in `value` is within AMOUNT_MAX."""
    if type(value) is int:
        assert -AMOUNT_MAX <= value <= AMOUNT_MAX, (where, value)
    elif isinstance(value, list):
        for item in value:
            check_bounded(item, where)
    elif isinstance(value, dict):
        for item in value.values():
            check_bounded(item, where)


def check_state(state: DictState) -> None:
    for state_key, raw in state.items.items():
        check_bounded(encoding.decode(raw), state_key)
    balances = accounts(state)
    assert all(0 <= v <= AMOUNT_MAX for v in balances.values())
    for currency in CURRENCIES:
        assert sum(v for (_, c), v in balances.items() if c == currency) == settlement.supply(state, currency)


@SETTINGS
@given(st.lists(transactions(), min_size=5, max_size=30), st.sampled_from((1000, 10_000)), st.data())
def test_no_arguments_halt_a_block_break_a_bound_or_move_money_out_of_thin_air(specs, per_member_max, data):
    genesis = parse_genesis(genesis_document(ROLES, chain_name="extremes", currencies=CURRENCIES, balances=BALANCES,
                                             parameters={"netting_queue_per_member_max": per_member_max}))
    txs = build(genesis.chain_id, [*SETUP, *specs])
    cuts = data.draw(st.lists(st.booleans(), min_size=len(specs), max_size=len(specs)), label="cuts")
    blocks = [txs[:len(SETUP)], *split_blocks(txs[len(SETUP):], cuts)]

    def run(check: bool) -> list[bytes]:
        state, executor, wires = DictState(genesis_state(genesis)), Executor(), []
        for height, block in enumerate(blocks, start=1):
            result = executor.execute(state, BlockContext(genesis.chain_id, height, 1000 * height), block)
            state.apply(result.writes)
            wires.append(wire(result))
            if check:
                check_block(block, result, first=height == 1)
                check_state(state)
        return wires

    assert run(check=True) == run(check=False)


def check_block(block: list, result, first: bool) -> None:
    assert [r.tx_hash for r in result.receipts] == [tx.hash for tx in block]
    assert [encoding.encode(r.to_wire()) for r in result.receipts] == list(result.receipt_leaves)
    for tx, receipt in zip(block, result.receipts):
        event(f"{tx.type}: {receipt.code}")
        if first:
            assert receipt.ok, (tx.type, receipt)
        if not encodable(tx.args):
            continue  # no node admits it; its receipt may only say the receipt could not encode
        assert receipt.code != "internal_error", (tx.type, tx.args, receipt)
        refused = stateless_code(tx)
        if refused is not None:
            assert receipt.code == refused, (tx.type, tx.args, receipt)
