"""Settlement accounts and gross (RTGS) payments between institutions.

`settlement.pay` moves `amount` minor units of `currency` from the paying
institution's settlement account to the payee's, in full or not at all. It
must be signed by a client key of the paying institution.
"""

from __future__ import annotations

from contracts import money
from contracts.registry import Call, TxType
from contracts.schema import ContractError, Field
from contracts.state import Overlay

PAY_FIELDS = (
    Field("from", str, minimum=1, length_max=32),
    Field("to", str, minimum=1, length_max=32),
    Field("currency", str, minimum=3, length_max=3),
    Field("amount", int, minimum=1),
    Field("reference", str, required=False, length_max=140),
)


def read_balance(state, institution_id: str, currency: str) -> int | None:
    return money.balance(state, institution_id, currency)


def pay(state: Overlay, call: Call) -> dict:
    args = call.args
    payer, payee, currency, amount = args["from"], args["to"], args["currency"], args["amount"]
    if call.institution != payer:
        raise ContractError("not_authorized", f"signed by {call.institution}, not by payer {payer}")
    money.move(state, payer, payee, currency, amount)
    return {}


TX_TYPES = {
    "settlement.pay": TxType(apply=pay, roles=("member", "validator"), fields=PAY_FIELDS),
}
