"""Asset-rights registry: records, state keys, per-asset history, the checks
every operation shares, and the pure read-only queries.

State layout (all values canonical, see contracts.store):

    assets/asset/<asset id>        the asset record (see `new_asset`)
    assets/history/<asset id>/<n>  its n-th history entry, n = 1, 2, ...;
                                   the record's `history_count` is the last n
    assets/offer/<offer id>        a delivery-versus-payment offer
    seq/assets, seq/assets-offer, seq/assets-pledge   id counters (store.next_id)

Ids are a letter and a zero-padded sequence number ("A000000000001" for
assets and parts, "O…" for offers, "P…" for pledges), so they are the same
on every node. The counter `seq/assets` is also the index `list_assets`
pages through: there is no range scan, only get and put.

This module must not move money (contracts.money does) and must not look at
anything but the state view and the call: no clock, no randomness, sorted
iteration only.
"""

from __future__ import annotations

from contracts import money
from contracts.interface import Call
from contracts.schema import ContractError, Field, bounded
from contracts.store import get, key, next_id, put, require_institution

ASSET_CLASSES = ("bill", "equity_share", "loan_participation", "receivable", "warehouse_receipt")
PRICED_CLASSES = ("bill", "loan_participation", "receivable")  # face_value and currency required
HOLDER_ROLES = ("member", "validator")  # may send transactions and hold a settlement account
HOLDERS_MAX = 32            # holders of one asset at a time
PAGE_MAX = 1000             # entries one query returns at most
ID_DIGITS = 12
ID_LENGTH = 1 + ID_DIGITS   # "A000000000001": a letter, then the sequence number
ACTIVE, REDEEMED, RETIRED = "active", "redeemed", "retired"
TERMS = ("class", "issuer", "currency", "face_value", "maturity_height", "documents_hash")


def id_field(name: str) -> Field:
    """The schema of an asset, part or offer id argument: exactly ID_LENGTH characters."""
    return Field(name, str, minimum=ID_LENGTH, length_max=ID_LENGTH)


def asset_key(asset_id: str) -> bytes:
    return key("assets", "asset", asset_id)


def history_key(asset_id: str, n: int) -> bytes:
    return key("assets", "history", asset_id, n)


def offer_key(offer_id: str) -> bytes:
    return key("assets", "offer", offer_id)


def new_id(state, prefix: str, counter: str) -> str:
    return f"{prefix}{next_id(state, counter):0{ID_DIGITS}d}"


# --- queries (pure, read-only, bounded) ---------------------------------------

def get_asset(state, asset_id: str) -> dict | None:
    return get(state, asset_key(asset_id))


def get_offer(state, offer_id: str) -> dict | None:
    return get(state, offer_key(offer_id))


def involves(asset: dict, institution: str) -> bool:
    """Whether an asset record concerns `institution`: its issuer, a holder,
    a holder whose holding is pledged (the pledgor) or the pledgee of one of
    its pledges. For scoping reads; a former holder is no longer involved."""
    pledges = asset["pledges"]
    return (institution == asset["issuer"] or institution in asset["holders"] or institution in pledges
            or any(pledge["pledgee"] == institution for pledge in pledges.values()))


def offer_parties(offer: dict) -> set[str]:
    """The institutions an offer record concerns: its seller and its buyer."""
    return {offer["seller"], offer["buyer"]}


def asset_history(state, asset_id: str, start: int = 1, limit: int = PAGE_MAX) -> list[dict]:
    """History entries `start`, `start + 1`, ... of one asset, oldest first,
    at most min(limit, PAGE_MAX) of them; page on with a larger `start`."""
    asset = get_asset(state, asset_id)
    if asset is None:
        return []
    first = max(start, 1)
    last = min(asset["history_count"], first + max(0, min(limit, PAGE_MAX)) - 1)
    return [get(state, history_key(asset_id, n)) for n in range(first, last + 1)]


def asset_count(state) -> int:
    """How many assets (parts included) were ever registered: the last sequence number."""
    return get(state, key("seq", "assets")) or 0


def list_assets(state, start: int = 1, limit: int = PAGE_MAX, institution: str | None = None) -> list[str]:
    """Asset ids (parts included) in creation order from sequence number
    `start`, at most min(limit, PAGE_MAX) of them; page on from start + limit
    up to `asset_count`. With `institution`, only those of the page that
    involve it (`involves`): the pages are the same, so one may hold fewer
    ids than `limit`, or none, while a later one holds more."""
    first = max(start, 1)
    last = min(asset_count(state), first + max(0, min(limit, PAGE_MAX)) - 1)
    ids = [f"A{n:0{ID_DIGITS}d}" for n in range(first, last + 1)]
    return ids if institution is None else [i for i in ids if involves(get_asset(state, i), institution)]


# --- records ------------------------------------------------------------------

def new_asset(asset_id: str, terms: dict, holders: dict[str, int], parent: str | None, height: int) -> dict:
    assert sorted(terms) == sorted(TERMS)
    return {"id": asset_id, **terms, "parent": parent, "status": ACTIVE, "frozen": False,
            "holders": dict(sorted(holders.items())), "units": sum(holders.values()), "pledges": {},
            "registered_height": height, "history_count": 0}


def terms_of(asset: dict) -> dict:
    return {name: asset[name] for name in TERMS}


def load(state, asset_id: str) -> dict:
    asset = get_asset(state, asset_id)
    if asset is None:
        raise ContractError("unknown_asset", asset_id)
    return asset


def save(state, asset: dict) -> None:
    assert asset["units"] == sum(asset["holders"].values()) and len(asset["holders"]) <= HOLDERS_MAX
    assert all(units > 0 for units in asset["holders"].values())
    assert set(asset["pledges"]) <= set(asset["holders"])
    put(state, asset_key(asset["id"]), asset)


def append_history(state, asset: dict, call: Call, op: str, details: dict) -> None:
    """Add one entry to the asset's history; the caller then saves the asset."""
    n = bounded(asset["history_count"] + 1, f"history of {asset['id']}")
    put(state, history_key(asset["id"], n),
        {"n": n, "height": call.height, "tx_hash": call.tx_hash, "op": op, "details": details})
    asset["history_count"] = n


# --- shared checks ------------------------------------------------------------

def require_active(asset: dict) -> None:
    if asset["status"] == REDEEMED:
        raise ContractError("already_redeemed", asset["id"])
    if asset["status"] == RETIRED:
        raise ContractError("asset_retired", f"{asset['id']}: every unit was merged back into its parent")


def require_movable(asset: dict) -> None:
    """Active and not frozen: the precondition of everything but freeze,
    unfreeze and withdrawing an offer."""
    require_active(asset)
    if asset["frozen"]:
        raise ContractError("asset_frozen", asset["id"])


def require_eligible(state, institution_id: str) -> None:
    """A registered institution that can hold units: one that may send
    transactions and has settlement accounts (member or validator)."""
    record = require_institution(state, institution_id)
    if not set(record["roles"]) & set(HOLDER_ROLES):
        raise ContractError("ineligible_holder", f"{institution_id} is neither a member nor a validator")


def require_currency(state, currency: str) -> None:
    if get(state, money.total_key(currency)) is None:
        raise ContractError("unknown_currency", currency)


def require_holding(asset: dict, holder: str, units: int, party: str = "sender") -> None:
    """`holder` holds at least `units` of the asset; the refusal names the
    holder by its `party` in the transaction, never its holding."""
    have = asset["holders"].get(holder, 0)
    if have == 0:
        raise ContractError("not_holder", f"the {party} holds no units of {asset['id']}")
    if have < units:
        raise ContractError("insufficient_units", f"the {party} holds fewer units of {asset['id']} than this moves")


def consume_consent(asset: dict, holder: str, op: str, units: int | None, party: str | None) -> str | None:
    """If the holder's holding is pledged, use up the pledgee's one-time
    consent to exactly this operation (or refuse with asset_pledged).
    Returns the id of the pledge that consented, None when not pledged."""
    pledge = asset["pledges"].get(holder)
    if pledge is None:
        return None
    if pledge["consent"] != {"op": op, "units": units, "party": party}:
        raise ContractError("asset_pledged", f"{holder}'s units of {asset['id']} are pledged and the pledgee has "
                                             f"not consented to this {op}")
    pledge["consent"] = None
    return pledge["id"]


# --- moving units (within one asset record) -----------------------------------

def take_units(asset: dict, holder: str, units: int) -> str | None:
    """Remove units from a holding. A holding that reaches zero leaves the
    holder list, and its pledge (the pledgee consented to the move) is
    discharged: returns that pledge's id, else None."""
    remaining = asset["holders"][holder] - units
    assert 0 < units and remaining >= 0
    asset["units"] -= units
    if remaining:
        asset["holders"][holder] = remaining
        return None
    del asset["holders"][holder]
    pledge = asset["pledges"].pop(holder, None)
    return None if pledge is None else pledge["id"]


def give_units(asset: dict, holder: str, units: int) -> None:
    holders = asset["holders"]
    if holder not in holders and len(holders) >= HOLDERS_MAX:
        raise ContractError("too_many_holders", f"{asset['id']} already has {HOLDERS_MAX} holders")
    holders[holder] = bounded(holders.get(holder, 0) + units, f"{holder}'s units of {asset['id']}")
    asset["holders"] = dict(sorted(holders.items()))
    asset["units"] = bounded(asset["units"] + units, f"units of {asset['id']}")


def move_units(asset: dict, holder: str, to: str, units: int) -> dict:
    """take_units then give_units; returns history details for the move."""
    discharged = take_units(asset, holder, units)
    give_units(asset, to, units)
    details = {"from": holder, "to": to, "units": units}
    if discharged is not None:
        details["discharged_pledge"] = discharged
    return details
