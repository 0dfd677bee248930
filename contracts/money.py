"""Settlement-account balances: the one place money moves.

Every contract that moves money (payments, netting, delivery versus
payment, redemption, mint and burn) goes through these functions, so the
conservation rule lives in one file: `move` and `settle_net` conserve,
only `mint` and `burn` change the total of a currency.
"""

from __future__ import annotations

from contracts.genesis import account_key
from contracts.interface import Call
from contracts.schema import ContractError, bounded
from contracts.store import get, key, put
from crypto import encoding, hashing


def balance(state, institution_id: str, currency: str) -> int | None:
    return get(state, account_key(institution_id, currency))


def require_balance(state, institution_id: str, currency: str) -> int:
    value = balance(state, institution_id, currency)
    if value is None:
        raise ContractError("unknown_account", f"{institution_id}/{currency}")
    return value


def move(state, payer: str, payee: str, currency: str, amount: int) -> dict[tuple[str, str], int]:
    """Move `amount` from payer to payee, all or nothing; the two accounts'
    balances after it, by (institution, currency)."""
    if amount <= 0:
        raise ContractError("bad_args", "amount must be positive")
    if payer == payee:
        raise ContractError("bad_args", "payer and payee are the same account")
    payer_balance = require_balance(state, payer, currency)
    payee_balance = require_balance(state, payee, currency)
    if payer_balance < amount:
        raise ContractError("insufficient_funds", f"{payer}'s {currency} balance is too low for this payment")
    payee_after = bounded(payee_balance + amount, f"the payee's {currency} balance")
    put(state, account_key(payer, currency), payer_balance - amount)
    put(state, account_key(payee, currency), payee_after)
    return {(payer, currency): payer_balance - amount, (payee, currency): payee_after}


def mint(state, institution_id: str, currency: str, amount: int) -> None:
    """Credit the account and the currency's supply; `overflow` if the supply
    would exceed AMOUNT_MAX (no balance can then exceed it either)."""
    current = require_balance(state, institution_id, currency)
    if amount <= 0:
        raise ContractError("bad_args", "mint amount must be positive")
    supply = bounded((get(state, total_key(currency)) or 0) + amount, f"the supply of {currency}")
    balance_after = bounded(current + amount, f"{institution_id}'s {currency} balance")
    put(state, account_key(institution_id, currency), balance_after)
    put(state, total_key(currency), supply)


def burn(state, institution_id: str, currency: str, amount: int) -> None:
    current = require_balance(state, institution_id, currency)
    if amount <= 0:
        raise ContractError("bad_args", "burn amount must be positive")
    if current < amount:
        raise ContractError("insufficient_funds", f"{institution_id}'s {currency} balance is too low for this burn")
    put(state, account_key(institution_id, currency), current - amount)
    put(state, total_key(currency), (get(state, total_key(currency)) or 0) - amount)


def settle_net(state, currency: str, positions: dict[str, int]) -> None:
    """Apply multilateral net positions (receipts minus payments) in one step,
    all or nothing: they must sum to zero, so the total is conserved, and no
    resulting balance may be negative."""
    if sum(positions.values()) != 0:
        raise ContractError("unbalanced_positions", f"net positions in {currency} do not sum to zero")
    resulting = {}
    for iid in sorted(positions):
        current = require_balance(state, iid, currency)
        if current + positions[iid] < 0:
            raise ContractError("insufficient_funds", f"a net debit in {currency} exceeds its debtor's balance")
        resulting[iid] = bounded(current + positions[iid], f"a net creditor's {currency} balance")
    for iid in sorted(resulting):
        if positions[iid] != 0:
            put(state, account_key(iid, currency), resulting[iid])


def total_key(currency: str) -> bytes:
    return key("settlement", "supply", currency)


def balances_hash(state, accounts: list[tuple[str, str]], known: dict[tuple[str, str], int] | None = None) -> bytes:
    """Hash of the named accounts' balances, in sorted order; `known`: some
    of them as the caller just wrote them (not read back from the state)."""
    known = known or {}
    entries = [[iid, ccy, known[iid, ccy] if (iid, ccy) in known else balance(state, iid, ccy)]
               for iid, ccy in sorted(set(accounts))]
    return hashing.digest("balances", encoding.encode(entries))


def finality_record(state, call: Call, kind: str, details: dict, accounts: list[tuple[str, str]],
                    known: dict[tuple[str, str], int] | None = None) -> dict:
    """What settled, when, and the hash of the resulting balances of `accounts`
    (`known`: see `balances_hash`). Its details name every institution it
    concerns (see `finality_parties`)."""
    return {"kind": kind, "height": call.height, "timestamp_ms": call.timestamp_ms,
            "tx_hash": call.tx_hash, "details": details, "balances_hash": balances_hash(state, accounts, known)}


def record_finality(state, call: Call, kind: str, details: dict, accounts: list[tuple[str, str]]) -> dict:
    """Write the settlement finality record of this transaction and return it."""
    record = finality_record(state, call, kind, details, accounts)
    put(state, finality_key(call.tx_hash), record)
    return record


def finality_key(tx_hash: bytes) -> bytes:
    return key("settlement", "finality", tx_hash.hex())


def finality_parties(record: dict) -> set[str]:
    """The institutions a finality record concerns, for scoping reads: a
    payment's payer and payee (a gross payment's record as its receipt's
    output carries it will do), a mint's or burn's account holder, a DvP's
    seller and buyer, a redemption's issuer and paid holders, a netting
    cycle's participants (of the instructions it settled or expired). A
    record of no kind known here concerns no member: only auditors and
    regulators see it."""
    kind, details = record.get("kind"), record.get("details") or {}
    if kind in ("payment", "dvp"):
        named = [details.get("from"), details.get("to")]
    elif kind in ("mint", "burn"):
        named = [details.get("institution")]
    elif kind == "redeem":
        named = [details.get("issuer"), *details.get("payouts", {})]
    elif kind == "netting":
        named = list(details.get("participants", []))
    else:
        named = []
    return {iid for iid in named if isinstance(iid, str)}
