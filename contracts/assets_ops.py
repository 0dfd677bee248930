"""Asset-rights registry operations on the asset itself: register, transfer,
split, merge, freeze, unfreeze and redeem (see contracts/assets.py for the
rules they enforce).

Must not move money except through contracts.money (redeem does), nor use
a clock, randomness or unsorted iteration.
"""

from __future__ import annotations

from contracts import money
from contracts.assets_state import (
    ASSET_CLASSES, HOLDERS_MAX, PRICED_CLASSES, REDEEMED, RETIRED, append_history, consume_consent,
    give_units, load, move_units, new_asset, new_id, require_active, require_currency, require_eligible,
    id_field, require_holding, require_movable, save, take_units, terms_of,
)
from contracts.interface import Call
from contracts.schema import AMOUNT_MAX, ContractError, Field
from contracts.state import Overlay

SPLIT_PARTS_MAX = 16

ASSET = id_field("asset")
INSTITUTION_LENGTH_MAX = 32
UNITS = Field("units", int, minimum=1)

REGISTER_FIELDS = (
    Field("class", str, minimum=1, length_max=32),
    Field("issuer", str, required=False, minimum=1, length_max=INSTITUTION_LENGTH_MAX),
    Field("holders", dict, minimum=1, length_max=HOLDERS_MAX, items=Field("units of a holder", int, minimum=1),
          keys=Field("holder", str, minimum=1, length_max=INSTITUTION_LENGTH_MAX)),
    Field("currency", str, required=False, minimum=3, length_max=3),
    Field("face_value", int, required=False, minimum=1),
    Field("maturity_height", int, required=False, minimum=1),
    Field("documents_hash", bytes, minimum=32, length_max=32),
)
TRANSFER_FIELDS = (ASSET, Field("to", str, minimum=1, length_max=INSTITUTION_LENGTH_MAX), UNITS)
SPLIT_FIELDS = (ASSET, Field("parts", list, minimum=1, length_max=SPLIT_PARTS_MAX,
                             items=Field("units of a part", int, minimum=1)))
MERGE_FIELDS = (id_field("part"), Field("units", int, required=False, minimum=1))
FREEZE_FIELDS = (ASSET, Field("reason", str, required=False, length_max=140))
REDEEM_FIELDS = (ASSET,)


def check_register(args: dict) -> None:
    """The stateless checks of assets.register beyond its fields."""
    if args["class"] not in ASSET_CLASSES:
        raise ContractError("bad_args", f"class must be one of {list(ASSET_CLASSES)}")
    currency, face_value = args.get("currency"), args.get("face_value")
    if (currency is None) != (face_value is None):
        raise ContractError("bad_args", "currency and face_value go together")
    if face_value is None and args["class"] in PRICED_CLASSES:
        raise ContractError("bad_args", f"a {args['class']} needs currency and face_value")
    total = sum(args["holders"].values())
    if total > AMOUNT_MAX:
        raise ContractError("bad_args", "the units of an asset must total at most 2^62")
    if face_value is not None and face_value * total > AMOUNT_MAX:
        raise ContractError("bad_args", "face_value times units exceeds 2^62: it could never be redeemed")


def check_split(args: dict) -> None:
    if sum(args["parts"]) > AMOUNT_MAX:
        raise ContractError("bad_args", "the parts must total at most 2^62 units")


def _register_terms(state, call: Call) -> dict:
    args = call.args
    if args.get("issuer", call.institution) != call.institution:
        raise ContractError("not_authorized", f"signed by {call.institution}, not by issuer {args['issuer']}")
    currency, face_value = args.get("currency"), args.get("face_value")
    if currency is not None:
        require_currency(state, currency)
    maturity = args.get("maturity_height")
    if maturity is not None and maturity <= call.height:
        raise ContractError("bad_args", f"maturity_height must be above the current height {call.height}")
    return {"class": args["class"], "issuer": call.institution, "currency": currency, "face_value": face_value,
            "maturity_height": maturity, "documents_hash": args["documents_hash"]}


def register(state: Overlay, call: Call) -> dict:
    terms = _register_terms(state, call)
    holders = dict(sorted(call.args["holders"].items()))
    for holder in holders:
        require_eligible(state, holder)
    total = sum(holders.values())
    asset = new_asset(new_id(state, "A", "assets"), terms, holders, None, call.height)
    append_history(state, asset, call, "register", {"issuer": call.institution, "holders": holders})
    save(state, asset)
    return {"asset": asset["id"], "units": total}


def transfer(state: Overlay, call: Call) -> dict:
    asset_id, to, units = call.args["asset"], call.args["to"], call.args["units"]
    if to == call.institution:
        raise ContractError("bad_args", "a transfer needs another holder")
    asset = load(state, asset_id)
    require_movable(asset)
    require_holding(asset, call.institution, units)
    require_eligible(state, to)
    consume_consent(asset, call.institution, "transfer", units, to)
    details = move_units(asset, call.institution, to, units)
    append_history(state, asset, call, "transfer", details)
    save(state, asset)
    return {"asset": asset_id, "from": call.institution, "to": to, "units": units}


def split(state: Overlay, call: Call) -> dict:
    """Carve parts out of the sender's holding: each part is a new asset
    with the same terms, a parent link, and the sender as its one holder."""
    parts = call.args["parts"]
    asset = load(state, call.args["asset"])
    require_movable(asset)
    holder, total = call.institution, sum(parts)
    require_holding(asset, holder, total)
    consume_consent(asset, holder, "split", total, None)
    part_ids = []
    for units in parts:
        part = new_asset(new_id(state, "A", "assets"), terms_of(asset), {holder: units}, asset["id"], call.height)
        append_history(state, part, call, "split_from", {"parent": asset["id"], "holder": holder, "units": units})
        save(state, part)
        part_ids.append(part["id"])
    details = {"holder": holder, "parts": part_ids, "units": parts}
    discharged = take_units(asset, holder, total)
    if discharged is not None:
        details["discharged_pledge"] = discharged
    append_history(state, asset, call, "split", details)
    save(state, asset)
    return {"asset": asset["id"], "parts": part_ids}


def merge(state: Overlay, call: Call) -> dict:
    """Return units of a part to the same holder's holding of its parent; a
    part with no units left is retired."""
    part = load(state, call.args["part"])
    require_movable(part)
    if part["parent"] is None:
        raise ContractError("bad_args", f"{part['id']} is not a part of another asset")
    parent = load(state, part["parent"])
    require_movable(parent)
    assert terms_of(part) == terms_of(parent)  # terms are copied at the split and never change
    holder = call.institution
    units = call.args.get("units", part["holders"].get(holder, 0))
    require_holding(part, holder, units)
    consume_consent(part, holder, "merge", units, None)
    details = {"holder": holder, "units": units, "parent": parent["id"]}
    discharged = take_units(part, holder, units)
    if discharged is not None:
        details["discharged_pledge"] = discharged
    give_units(parent, holder, units)
    if part["units"] == 0:
        part["status"] = RETIRED
    append_history(state, part, call, "merge", details)
    append_history(state, parent, call, "merge_from", {"part": part["id"], "holder": holder, "units": units})
    save(state, part)
    save(state, parent)
    return {"part": part["id"], "asset": parent["id"], "units": units, "retired": part["status"] == RETIRED}


def freeze(state: Overlay, call: Call) -> dict:
    asset = load(state, call.args["asset"])
    require_active(asset)
    if asset["frozen"]:
        raise ContractError("asset_frozen", f"{asset['id']} is already frozen")
    asset["frozen"] = True
    append_history(state, asset, call, "freeze", {"regulator": call.institution,
                                                  "reason": call.args.get("reason", "")})
    save(state, asset)
    return {"asset": asset["id"], "frozen": True}


def unfreeze(state: Overlay, call: Call) -> dict:
    asset = load(state, call.args["asset"])
    if not asset["frozen"]:
        raise ContractError("not_frozen", asset["id"])
    asset["frozen"] = False
    append_history(state, asset, call, "unfreeze", {"regulator": call.institution,
                                                    "reason": call.args.get("reason", "")})
    save(state, asset)
    return {"asset": asset["id"], "frozen": False}


def redeem(state: Overlay, call: Call) -> dict:
    """At or after maturity the issuer pays every holder units * face_value,
    all or nothing, and the units retire."""
    asset = load(state, call.args["asset"])
    require_movable(asset)
    if asset["issuer"] != call.institution:
        raise ContractError("not_issuer", f"only its issuer may redeem {asset['id']}")
    if asset["pledges"]:
        raise ContractError("asset_pledged", f"{asset['id']} has pledged holdings: their pledgees must release them")
    if asset["face_value"] is None:
        raise ContractError("not_redeemable", f"{asset['id']} has no face value")
    if asset["maturity_height"] is None or call.height < asset["maturity_height"]:
        raise ContractError("not_matured", f"{asset['id']} has not reached its maturity height")
    currency, payouts = asset["currency"], {}
    for holder in sorted(asset["holders"]):
        if holder != asset["issuer"]:  # the issuer's own units retire unpaid
            payouts[holder] = asset["holders"][holder] * asset["face_value"]
            money.move(state, asset["issuer"], holder, currency, payouts[holder])
    accounts = [(iid, currency) for iid in (asset["issuer"], *payouts)]
    finality = money.record_finality(state, call, "redeem", {"asset": asset["id"], "issuer": asset["issuer"],
                                                             "payouts": payouts}, accounts)
    details = {"units": asset["units"], "currency": currency, "payouts": payouts}
    asset.update(status=REDEEMED, holders={}, units=0)
    append_history(state, asset, call, "redeem", details)
    save(state, asset)
    return {"asset": asset["id"], "currency": currency, "payouts": payouts,
            "balances_hash": finality["balances_hash"]}

