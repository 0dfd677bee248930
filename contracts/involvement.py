"""Which institutions and which assets a committed transaction involves,
read from its type, its arguments and its receipt's output: what a client
that follows the chain by account or by asset (the node's event stream)
is shown. Pure and deterministic like every contract module; it reads no
state, so it answers the same for a block replayed from history as for
one just applied.

An institution (a settlement account holder: accounts are per
institution and currency) is involved in a transaction when

- its client key sent it (the caller passes the sender's institution:
  the block result knows it, the transaction only names a key), or
- the transaction's arguments name it as a party (PARTY_ARGS: a payment's
  payer and payee, a mint's account holder, an asset's issuer and holders,
  a pledgee, a buyer, an MPC session's participants and recipients, the
  institution a governance proposal acts on), or
- the receipt's output names it as one (PARTY_OUTPUTS: the positions of a
  netting cycle, the holders a redemption paid),

whether or not the transaction succeeded (a failed one has no output).
What a transaction names only by a record's id is not looked up: a DvP
(`settlement.dvp`, args: the offer) involves its buyer, who sends it, and
not its seller; an instruction's cancellation involves its payer only.

An asset is involved when the arguments or the output name its id under
`asset`, `part` or `parts` (ASSET_NAMES): every asset operation names the
asset it acts on, and `register` and `split` name the assets they create
in their output.

Must not import the registry or the executor (contracts.registry is where
the types live; the unit tests check that every type is classified here).
"""

from __future__ import annotations

from typing import Any

ALL_RECIPIENTS = "*"  # an MPC result for every member (mpc_state.ALL): no one institution
NESTING = "."         # "args.id": the `id` of the map under `args`

# Types whose arguments name parties besides the sender, and where.
PARTY_ARGS: dict[str, tuple[str, ...]] = {
    "assets.consent": ("holder", "party"),
    "assets.enforce": ("holder",),
    "assets.offer": ("buyer",),
    "assets.pledge": ("pledgee",),
    "assets.register": ("issuer", "holders"),
    "assets.release": ("holder",),
    "assets.transfer": ("to",),
    "governance.propose": ("args.id", "args.institution"),
    "mpc.open": ("participants", "result_to"),
    "mpc.result": ("transcripts", "sealed"),
    "settlement.burn": ("institution",),
    "settlement.instruct": ("from", "to"),
    "settlement.mint": ("institution",),
    "settlement.pay": ("from", "to"),
}
# Types whose receipt output names parties.
PARTY_OUTPUTS: dict[str, tuple[str, ...]] = {
    "assets.redeem": ("payouts",),
    "settlement.close_cycle": ("positions",),
}
# Types that name no party but their sender (or name one only by a record's id).
SENDER_ONLY = frozenset({
    "assets.cancel_offer", "assets.freeze", "assets.merge", "assets.split", "assets.unfreeze", "governance.vote",
    "mpc.abort", "mpc.commit", "settlement.cancel", "settlement.dvp",
})
ASSET_NAMES = ("asset", "part", "parts")


def _named(document: Any, path: str) -> list:
    """The value at `path` in `document` as a list of what it names: a
    string itself, a list's items, a map's keys; nothing for anything else."""
    value = document
    for step in path.split(NESTING):
        value = value.get(step) if isinstance(value, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, dict)):
        return list(value)
    return []


def _strings(documents_and_paths) -> set[str]:
    return {name for document, paths in documents_and_paths for path in paths
            for name in _named(document, path) if isinstance(name, str)}


def institutions_involved(tx_type: str | None, args: Any, output: Any,
                          sender: str | None) -> frozenset[str]:
    """The institutions a transaction involves (module docstring)."""
    named = _strings(((args, PARTY_ARGS.get(tx_type, ())), (output, PARTY_OUTPUTS.get(tx_type, ()))))
    if sender is not None:
        named.add(sender)
    named.discard(ALL_RECIPIENTS)
    return frozenset(named)


def assets_involved(args: Any, output: Any) -> frozenset[str]:
    """The asset ids a transaction's arguments or receipt output name."""
    return frozenset(_strings(((args, ASSET_NAMES), (output, ASSET_NAMES))))
