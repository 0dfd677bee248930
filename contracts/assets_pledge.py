"""Pledges on holdings: pledge, consent, release and enforce (see
contracts/assets.py for the rules).

A pledge lives inside the asset record, under `pledges[holder]`:
{"id", "pledgee", "secured_amount", "currency", "due_height", "height",
"consent"}, where `consent` is None or the one operation the pledgee has
agreed to: {"op", "units", "party"}.

Must not move money, use a clock, randomness or unsorted iteration.
"""

from __future__ import annotations

from contracts.assets_state import (
    append_history, consume_consent, id_field, load, move_units, new_id, require_currency, require_eligible,
    require_movable, save,
)
from contracts.interface import Call
from contracts.schema import ContractError, Field
from contracts.state import Overlay

ASSET = id_field("asset")
HOLDER = Field("holder", str, minimum=1, length_max=32)

PLEDGE_FIELDS = (
    ASSET,
    Field("pledgee", str, minimum=1, length_max=32),
    Field("secured_amount", int, minimum=1),
    Field("currency", str, minimum=3, length_max=3),
    Field("due_height", int, minimum=1),
)
CONSENT_FIELDS = (
    ASSET, HOLDER,
    Field("op", str, minimum=1, length_max=16),
    Field("units", int, required=False, minimum=1),
    Field("party", str, required=False, minimum=1, length_max=32),
)
PLEDGEE_FIELDS = (ASSET, HOLDER)

# Which consent fields each consentable operation names: units, party.
CONSENT_SHAPES = {
    "merge": (True, False),     # units of the part going back to the parent
    "offer": (True, True),      # units offered, the buyer
    "pledge": (False, True),    # the new pledgee (the new pledge replaces this one)
    "split": (True, False),     # units carved out, all parts together
    "transfer": (True, True),   # units, the recipient
}


def pledge(state: Overlay, call: Call) -> dict:
    """Pledge the sender's whole holding; a holding already pledged can be
    pledged again only with the current pledgee's consent, and the new
    pledge then replaces the old one."""
    args, holder = call.args, call.institution
    pledgee = args["pledgee"]
    if pledgee == holder:
        raise ContractError("bad_args", "a holder cannot pledge to itself")
    if args["due_height"] <= call.height:
        raise ContractError("bad_args", f"due_height must be above the current height {call.height}")
    asset = load(state, args["asset"])
    require_movable(asset)
    if holder not in asset["holders"]:
        raise ContractError("not_holder", f"the sender holds no units of {asset['id']}")
    require_eligible(state, pledgee)
    require_currency(state, args["currency"])
    replaced = consume_consent(asset, holder, "pledge", None, pledgee)
    pledge_id = new_id(state, "P", "assets-pledge")
    asset["pledges"][holder] = {
        "id": pledge_id, "pledgee": pledgee, "secured_amount": args["secured_amount"], "currency": args["currency"],
        "due_height": args["due_height"], "height": call.height, "consent": None}
    asset["pledges"] = dict(sorted(asset["pledges"].items()))
    details = {"pledge": pledge_id, "holder": holder, "pledgee": pledgee, "units": asset["holders"][holder],
               "secured_amount": args["secured_amount"], "currency": args["currency"],
               "due_height": args["due_height"], "replaces": replaced}
    append_history(state, asset, call, "pledge", details)
    save(state, asset)
    return {"asset": asset["id"], "pledge": pledge_id}


def _pledge_of_sender(asset: dict, holder: str, pledgee: str) -> dict:
    found = asset["pledges"].get(holder)
    if found is None or found["pledgee"] != pledgee:
        raise ContractError("not_pledgee", f"{pledgee} holds no pledge on {holder}'s units of {asset['id']}")
    return found


def check_consent(args: dict) -> None:
    """The stateless checks of assets.consent: a consentable op, named with
    exactly the fields it takes."""
    op, units, party = args["op"], args.get("units"), args.get("party")
    if op not in CONSENT_SHAPES:
        raise ContractError("bad_args", f"op must be one of {sorted(CONSENT_SHAPES)}")
    needs_units, needs_party = CONSENT_SHAPES[op]
    if (units is not None) != needs_units or (party is not None) != needs_party:
        raise ContractError("bad_args", f"a consent to {op} names {'units' if needs_units else 'no units'} "
                                        f"and {'a party' if needs_party else 'no party'}")


def consent(state: Overlay, call: Call) -> dict:
    """The pledgee agrees, once, to one exact operation on the pledged
    holding; a later consent replaces an unused earlier one."""
    args = call.args
    op, units, party = args["op"], args.get("units"), args.get("party")
    asset = load(state, args["asset"])
    require_movable(asset)
    found = _pledge_of_sender(asset, args["holder"], call.institution)
    found["consent"] = {"op": op, "units": units, "party": party}
    append_history(state, asset, call, "consent", {"pledge": found["id"], "holder": args["holder"],
                                                   "op": op, "units": units, "party": party})
    save(state, asset)
    return {"asset": asset["id"], "pledge": found["id"]}


def release(state: Overlay, call: Call) -> dict:
    asset = load(state, call.args["asset"])
    require_movable(asset)
    holder = call.args["holder"]
    found = _pledge_of_sender(asset, holder, call.institution)
    del asset["pledges"][holder]
    append_history(state, asset, call, "release", {"pledge": found["id"], "holder": holder})
    save(state, asset)
    return {"asset": asset["id"], "pledge": found["id"]}


def enforce(state: Overlay, call: Call) -> dict:
    """Default: the pledge is still in force at its due height. The pledgee
    then takes the whole pledged holding."""
    asset = load(state, call.args["asset"])
    require_movable(asset)
    holder = call.args["holder"]
    found = _pledge_of_sender(asset, holder, call.institution)
    if call.height < found["due_height"]:
        raise ContractError("not_due", f"the pledge on {holder}'s units of {asset['id']} is not yet due")
    units = asset["holders"][holder]
    del asset["pledges"][holder]
    details = move_units(asset, holder, call.institution, units)
    details["pledge"] = found["id"]
    append_history(state, asset, call, "enforce", details)
    save(state, asset)
    return {"asset": asset["id"], "pledge": found["id"], "units": units}
