"""Delivery versus payment in two steps: the seller's `assets.offer`, then
the buyer's `settlement.dvp`, which moves the units to the buyer and the
price to the seller in one transaction, both legs or neither (the executor
drops every write of a failing transaction), and writes a settlement
finality record.

An offer record: {"id", "asset", "seller", "buyer", "units", "price",
"currency", "expiry_height", "pledge", "status", "height"}; status is open,
settled or cancelled. Units are not reserved by an offer: the seller must
still hold them when the buyer accepts.

Must not move money except through contracts.money, nor use a clock,
randomness or unsorted iteration.
"""

from __future__ import annotations

from contracts import money
from contracts.assets_state import (
    append_history, consume_consent, get_offer, id_field, load, move_units, new_id, offer_key, require_currency,
    require_eligible, require_holding, require_movable, save,
)
from contracts.interface import Call
from contracts.schema import ContractError, Field
from contracts.state import Overlay
from contracts.store import put

OPEN, SETTLED, CANCELLED = "open", "settled", "cancelled"

OFFER = id_field("offer")
OFFER_FIELDS = (
    id_field("asset"),
    Field("units", int, minimum=1),
    Field("buyer", str, minimum=1, length_max=32),
    Field("price", int, minimum=1),
    Field("currency", str, minimum=3, length_max=3),
    Field("expiry_height", int, minimum=1),
)


def offer(state: Overlay, call: Call) -> dict:
    """The seller offers units of a holding to one buyer at a price, open
    up to and including `expiry_height`. A pledged holding needs the
    pledgee's consent to this offer; the offer remembers which pledge gave it."""
    args, seller = call.args, call.institution
    buyer, units = args["buyer"], args["units"]
    if buyer == seller:
        raise ContractError("bad_args", "the buyer must be another institution")
    if args["expiry_height"] < call.height:
        raise ContractError("bad_args", f"expiry_height is below the current height {call.height}")
    asset = load(state, args["asset"])
    require_movable(asset)
    require_holding(asset, seller, units)
    require_eligible(state, buyer)
    require_currency(state, args["currency"])
    pledge_id = consume_consent(asset, seller, "offer", units, buyer)
    offer_id = new_id(state, "O", "assets-offer")
    record = {"id": offer_id, "asset": asset["id"], "seller": seller, "buyer": buyer, "units": units,
              "price": args["price"], "currency": args["currency"], "expiry_height": args["expiry_height"],
              "pledge": pledge_id, "status": OPEN, "height": call.height}
    put(state, offer_key(offer_id), record)
    append_history(state, asset, call, "offer", {k: record[k] for k in (
        "buyer", "currency", "expiry_height", "pledge", "price", "seller", "units")} | {"offer": offer_id})
    save(state, asset)
    return {"offer": offer_id}


def _load_open_offer(state, offer_id: str) -> dict:
    record = get_offer(state, offer_id)
    if record is None:
        raise ContractError("unknown_offer", offer_id)
    if record["status"] != OPEN:
        raise ContractError("offer_closed", f"{offer_id} is no longer open")
    return record


def cancel_offer(state: Overlay, call: Call) -> dict:
    """The seller withdraws an open offer (allowed on a frozen asset too:
    nothing moves)."""
    record = _load_open_offer(state, call.args["offer"])
    if record["seller"] != call.institution:
        raise ContractError("not_authorized", f"only its seller may withdraw {record['id']}")
    record["status"] = CANCELLED
    put(state, offer_key(record["id"]), record)
    asset = load(state, record["asset"])
    append_history(state, asset, call, "cancel_offer", {"offer": record["id"]})
    save(state, asset)
    return {"offer": record["id"]}


def dvp(state: Overlay, call: Call) -> dict:
    """The buyer accepts an open offer: units to the buyer, price to the
    seller, atomically, with a finality record. Declared to need the assets
    contract switched on, which the executor checks."""
    record = _load_open_offer(state, call.args["offer"])
    if record["buyer"] != call.institution:
        raise ContractError("not_authorized", f"only its buyer may accept {record['id']}")
    if call.height > record["expiry_height"]:
        raise ContractError("offer_expired", f"{record['id']} has expired")
    asset = load(state, record["asset"])
    require_movable(asset)
    seller, buyer, currency = record["seller"], record["buyer"], record["currency"]
    require_holding(asset, seller, record["units"], party="seller")
    pledge = asset["pledges"].get(seller)
    if pledge is not None and pledge["id"] != record["pledge"]:
        raise ContractError("asset_pledged", f"the seller's units of {asset['id']} are pledged and the pledgee "
                                             f"has not consented to {record['id']}")
    money.move(state, buyer, seller, currency, record["price"])
    details = move_units(asset, seller, buyer, record["units"])
    details |= {"offer": record["id"], "price": record["price"], "currency": currency}
    record["status"] = SETTLED
    put(state, offer_key(record["id"]), record)
    finality = money.record_finality(state, call, "dvp", {"asset": asset["id"], **details},
                                     [(buyer, currency), (seller, currency)])
    append_history(state, asset, call, "dvp", details)
    save(state, asset)
    return {"offer": record["id"], "asset": asset["id"], "units": record["units"], "price": record["price"],
            "currency": currency, "balances_hash": finality["balances_hash"]}
