"""Asset-rights registry: who holds how many units of which receivable, bill,
warehouse receipt, loan participation or equity share, what is pledged or
frozen, and delivery versus payment against settlement money.

It must not move money except through contracts.money, keep state outside
the state view, read a clock, draw randomness, or iterate in any order but
sorted. Every refusal is a ContractError with a stable code; the executor
then drops all writes of the transaction.

Transaction types (roles; refusal codes besides bad_args):

  assets.register      member/validator. class, holders {id: units},
                       [issuer = sender], [currency + face_value, required
                       for receivable, bill, loan_participation],
                       [maturity_height], documents_hash (32 bytes).
                       -> unknown_institution, ineligible_holder,
                       unknown_currency, not_authorized
  assets.transfer      holder. asset, to, units.
  assets.split         holder. asset, parts [units, ...] (1..16 parts).
  assets.merge         holder of a part. part, [units = whole holding].
  assets.pledge        holder. asset, pledgee, secured_amount, currency,
                       due_height.
  assets.consent       pledgee. asset, holder, op, [units], [party].
  assets.release       pledgee. asset, holder.
  assets.enforce       pledgee. asset, holder.  -> not_due
  assets.redeem        issuer. asset.  -> not_issuer, not_matured,
                       not_redeemable, insufficient_funds
  assets.offer         holder (seller). asset, units, buyer, price,
                       currency, expiry_height.
  assets.cancel_offer  seller. offer.  -> unknown_offer, offer_closed
  assets.freeze        regulator. asset, [reason].  -> asset_frozen
  assets.unfreeze      regulator. asset, [reason].  -> not_frozen
  settlement.dvp       buyer. offer.  -> unknown_offer, offer_closed,
                       offer_expired, not_authorized, insufficient_funds

Operations on an asset also fail, where they apply, with unknown_asset,
already_redeemed, asset_retired (a part merged away entirely),
asset_frozen, not_holder, insufficient_units, asset_pledged (no consent),
not_pledgee, unknown_institution, unknown_currency, ineligible_holder
(holders, pledgees and buyers must be members or validators: they send
transactions and have settlement accounts) and too_many_holders (32 per
asset). Checks run in this order: arguments, the asset's status
(unknown, redeemed, retired, frozen), the sender's right and holding, the
other parties, the pledge, then money.

Design:
- Time is block height throughout: maturity_height, a pledge's due_height
  and an offer's expiry_height. Heights are exact and the same on every
  node; block timestamps are only as good as the proposer's clock.
- Split and merge: a part is a new asset (next "A…" id) with the parent's
  terms, a `parent` link and the splitting holder as its only holder; its
  units come out of that holder's holding of the parent. A part is an asset
  like any other (transfer, pledge, split further, redeem). `merge` gives a
  holder's units of a part back to the same holder's holding of the parent;
  a part left with no units is retired. Units are conserved across a parent
  and its parts.
- Pledges cover a holder's whole holding of an asset, at most one per
  holding (the record lives in the asset). While pledged, every operation
  that takes units out of the holding, and pledging it again, needs the
  pledgee's consent: `assets.consent` by the pledgee records a one-time
  consent to one exact operation (op, units, party) on that holding,
  used up by it. A consented pledge replaces the old one; a consented offer
  remembers the pledge so the buyer can settle it. Units received into a
  pledged holding join the pledge. A holding emptied with consent has its
  pledge discharged.
- Default: a pledge still in force at its due_height is in default; from
  then on the pledgee may enforce (take the whole holding). Before it, the
  pledgee may only release.
- Frozen: a regulator's freeze stops everything on the asset except
  unfreeze and withdrawing an offer: no transfer, split, merge (of it or
  into it), pledge, consent, release, enforce, redeem, offer or DvP. A
  freeze is per asset id: parts split off before it are assets of their
  own and are frozen separately.
- A pledge's secured_amount and currency are recorded for the parties and
  auditors; the chain does not track repayment (the pledgee releases).
- Redeem: the issuer pays each other holder units * face_value through
  contracts.money.move (its own units retire unpaid), all or nothing; the
  asset becomes redeemed with no units. Refused while any holding is
  pledged or the asset frozen, and for assets without face value or
  maturity. A finality record is written, as for DvP.
- DvP: two steps, see contracts/assets_dvp.py.

Queries: get_asset, asset_history, list_assets, get_offer (bounded pages,
state layout in contracts/assets_state.py), and `involves`, which says
whether an institution is a party to an asset (for the API's read scoping).
"""

from __future__ import annotations

from contracts import assets_dvp, assets_ops, assets_pledge, assets_state
from contracts.assets_state import PAGE_MAX, asset_history, get_asset, get_offer
from contracts.interface import TxType

HOLDERS = ("member", "validator")
REGULATOR = ("regulator",)

TX_TYPES = {
    "assets.register": TxType(assets_ops.register, HOLDERS, assets_ops.REGISTER_FIELDS,
                              check=assets_ops.check_register),
    "assets.transfer": TxType(assets_ops.transfer, HOLDERS, assets_ops.TRANSFER_FIELDS),
    "assets.split": TxType(assets_ops.split, HOLDERS, assets_ops.SPLIT_FIELDS, check=assets_ops.check_split),
    "assets.merge": TxType(assets_ops.merge, HOLDERS, assets_ops.MERGE_FIELDS),
    "assets.freeze": TxType(assets_ops.freeze, REGULATOR, assets_ops.FREEZE_FIELDS),
    "assets.unfreeze": TxType(assets_ops.unfreeze, REGULATOR, assets_ops.FREEZE_FIELDS),
    "assets.redeem": TxType(assets_ops.redeem, HOLDERS, assets_ops.REDEEM_FIELDS),
    "assets.pledge": TxType(assets_pledge.pledge, HOLDERS, assets_pledge.PLEDGE_FIELDS),
    "assets.consent": TxType(assets_pledge.consent, HOLDERS, assets_pledge.CONSENT_FIELDS,
                             check=assets_pledge.check_consent),
    "assets.release": TxType(assets_pledge.release, HOLDERS, assets_pledge.PLEDGEE_FIELDS),
    "assets.enforce": TxType(assets_pledge.enforce, HOLDERS, assets_pledge.PLEDGEE_FIELDS),
    "assets.offer": TxType(assets_dvp.offer, HOLDERS, assets_dvp.OFFER_FIELDS),
    "assets.cancel_offer": TxType(assets_dvp.cancel_offer, HOLDERS, (assets_dvp.OFFER,)),
    "settlement.dvp": TxType(assets_dvp.dvp, HOLDERS, (assets_dvp.OFFER,), requires=("assets",)),
}



def involves(asset_record: dict, institution: str) -> bool:
    """Whether `institution` is a party to the asset: its issuer, a holder
    (a holder who pledged its holding is still one), or the pledgee of a
    holding."""
    return (asset_record["issuer"] == institution or institution in asset_record["holders"]
            or any(pledge["pledgee"] == institution for pledge in asset_record["pledges"].values()))


def list_assets(state, start: int = 1, limit: int = PAGE_MAX, institution: str | None = None) -> list[str]:
    """Asset ids (parts included) in creation order from sequence number
    `start`, at most min(limit, PAGE_MAX) of them; with `institution`, only
    those of that page it is a party to (`involves`)."""
    ids = assets_state.list_assets(state, start, limit)
    if institution is None:
        return ids
    return [asset_id for asset_id in ids if involves(get_asset(state, asset_id), institution)]


__all__ = ["TX_TYPES", "asset_history", "get_asset", "get_offer", "involves", "list_assets"]
