"""A small fixed consortium for contract and transaction tests.

Not a pytest conftest (the name only says where it belongs): test modules in
tests/unit import it by name. Keys come from fixtures.key, from fixed seeds,
so every run, and every failure, is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.executor import BlockContext, BlockResult, Executor
from contracts.genesis import Genesis, account_key, genesis_state, parse_genesis
from contracts.state import DictState
from contracts.tx import Transaction, sign_tx
from crypto import encoding
from fixtures import genesis_document, key

ROLES = {"bank-a": ["validator", "member"], "bank-b": ["member"], "bank-c": ["validator", "member"],
         "aud": ["auditor"]}
OPENING = {"bank-a": {"EUR": 1000, "USD": 50}, "bank-b": {"EUR": 500}, "bank-c": {}}


def unit_document(roles: dict[str, list[str]] = ROLES) -> dict:
    """bank-a and bank-c validate; bank-b is a plain member; aud is an auditor
    (or the institutions in `roles`, with the same opening balances)."""
    return genesis_document(roles, chain_name="unit", balances=OPENING)


@dataclass
class Chain:
    """Genesis, a state dict kept up to date with each block's writes, and an executor."""

    genesis: Genesis
    state: DictState
    executor: Executor
    height: int = 0

    @classmethod
    def fresh(cls) -> "Chain":
        genesis = parse_genesis(unit_document())
        return cls(genesis, DictState(genesis_state(genesis)), Executor())

    @property
    def chain_id(self) -> bytes:
        return self.genesis.chain_id

    def sign(self, who: str, nonce: int, args: dict | None = None, tx_type: str = "settlement.pay",
             chain_id: bytes | None = None) -> Transaction:
        return sign_tx(key(f"{who}/client").signer(), self.chain_id if chain_id is None else chain_id,
                       nonce, tx_type, args if args is not None else {})

    def apply(self, txs: list) -> BlockResult:
        self.height += 1
        result = self.executor.execute(self.state, BlockContext(self.chain_id, self.height, self.height * 1000), txs)
        self.state.apply(result.writes)
        return result

    def balance(self, iid: str, currency: str = "EUR") -> int | None:
        raw = self.state.get(account_key(iid, currency))
        return None if raw is None else encoding.decode(raw)

    def balances(self) -> dict[bytes, bytes]:
        return {k: v for k, v in self.state.items.items() if k.startswith(b"acct/")}


def pay(payer: str, payee: str, amount, currency: str = "EUR", **extra) -> dict:
    return {"from": payer, "to": payee, "currency": currency, "amount": amount, **extra}
