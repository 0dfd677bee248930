"""Settlement accounts and gross (RTGS) payments between institutions.

`settlement.pay` moves `amount` minor units of `currency` from the paying
institution's settlement account to the payee's, in full or not at all. It
must be signed by a client key of the paying institution.
"""

from __future__ import annotations

from crypto import encoding
from contracts.genesis import account_key
from contracts.schema import ContractError, Field, check_args
from contracts.state import Overlay
from contracts.registry import Call, TxType

PAY_FIELDS = (
    Field("from", str, minimum=1, length_max=32),
    Field("to", str, minimum=1, length_max=32),
    Field("currency", str, minimum=3, length_max=3),
    Field("amount", int, minimum=1),
    Field("reference", str, required=False, length_max=140),
)


def read_balance(state, institution_id: str, currency: str) -> int | None:
    raw = state.get(account_key(institution_id, currency))
    return None if raw is None else encoding.decode(raw)


def pay(state: Overlay, call: Call) -> dict:
    args = call.args
    check_args(PAY_FIELDS, args)
    payer, payee, currency, amount = args["from"], args["to"], args["currency"], args["amount"]
    if call.institution != payer:
        raise ContractError("not_authorized", f"signed by {call.institution}, not by payer {payer}")
    if payer == payee:
        raise ContractError("bad_args", "payer and payee are the same account")
    payer_balance = read_balance(state, payer, currency)
    if payer_balance is None:
        raise ContractError("unknown_account", f"{payer}/{currency}")
    payee_balance = read_balance(state, payee, currency)
    if payee_balance is None:
        raise ContractError("unknown_account", f"{payee}/{currency}")
    if payer_balance < amount:
        raise ContractError("insufficient_funds", f"{payer} holds {payer_balance} {currency}")
    state.put(account_key(payer, currency), encoding.encode(payer_balance - amount))
    state.put(account_key(payee, currency), encoding.encode(payee_balance + amount))
    return {}


TX_TYPES = {
    "settlement.pay": TxType(apply=pay, roles=("member", "validator")),
}
