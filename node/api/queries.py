"""Read-only query endpoints over the contracts' state: accounts, settlement
queues and cycles, finality records, governance proposals and validators,
assets and their history. Each calls the owning contract's pure query
function on the node's committed state; byte strings come back as hex.

Every route here takes any authenticated caller (node.api.access) and
scopes what it answers: auditors and regulators see every party's data; any
other caller (a member, a validator) sees its own: its own balances, the
queue entries it pays or is paid by, its own position in a netting cycle,
the finality records and assets it is a party to (the contracts say who
is: assets.involves, settlement.finality_parties). Governance (proposals,
validators) is consortium-wide. A record that is another party's is 403.
"""

from __future__ import annotations

from typing import Callable

from aiohttp import web

from contracts import assets, governance, settlement
from contracts.executor import to_json_value
from contracts.genesis import CURRENCY_PATTERN
from node.api.access import AUTHENTICATED, requires
from node.api.http import NODE, BadRequest, authenticated, parse_uint, require_party, scope

# What a member sees of a netting cycle: the public facts and its own position.
# (The instruction ids and the totals are other parties' figures or reveal them.)
CYCLE_PUBLIC_FIELDS = ("cycle", "currency", "height", "timestamp_ms", "tx_hash", "closed_by")


def _reply(found, what: str) -> web.Response:
    if found is None:
        return web.json_response({"error": {"code": "not_found", "message": f"no such {what}"}}, status=404)
    return web.json_response(to_json_value(found))


def receipt_finality(node, tx_hash: bytes) -> dict | None:
    """A gross payment's finality record, which its receipt carries."""
    committed = node.ledger.receipt(tx_hash)
    if committed is None:
        return None
    found = (committed[2].output or {}).get("finality")
    return None if found is None else {**found, "tx_hash": tx_hash}


def own_cycle(record: dict | None, institution: str | None) -> dict | None:
    """A cycle record as `institution` may see it (all of it: None)."""
    if record is None or institution is None:
        return record
    seen = {name: record[name] for name in CYCLE_PUBLIC_FIELDS if name in record}
    position = record.get("positions", {}).get(institution)
    return {**seen, "positions": {} if position is None else {institution: position}}


def asset_parties(state, record: dict) -> list[str]:
    return [iid for iid in governance.institution_ids(state) if assets.involves(record, iid)]


def path_currency(params) -> str:
    """The route's currency: an ISO 4217 code (BadRequest otherwise); one the chain does not hold has no
    queue and no cycles."""
    currency = params["currency"]
    if not CURRENCY_PATTERN.fullmatch(currency):
        raise BadRequest("bad_parameter", "currency is an ISO 4217 code: three capital letters, e.g. EUR")
    return currency


def routes() -> list[web.RouteDef]:
    def handler(query: Callable) -> Callable:
        @requires(AUTHENTICATED)
        async def handle(request: web.Request) -> web.Response:
            node = request.app[NODE]
            return query(request, node, node.ledger.view, node.ledger.tip.height, request.match_info)
        return handle

    def accounts(request, node, state, height, params):
        own = scope(request)
        ids = governance.institution_ids(state) if own is None else [own]
        currencies = governance.currencies(state)
        return web.json_response({"height": height, "accounts": [
            {"institution": iid, "currency": ccy, "balance": balance}
            for iid, by_currency in sorted(settlement.balances(state, ids, currencies).items())
            for ccy, balance in sorted(by_currency.items())]})

    def queue(request, node, state, height, params):
        currency = path_currency(params)
        found = settlement.netting_queue(state, currency, institution=scope(request))
        return web.json_response({"height": height, "currency": currency, "queue": to_json_value(found)})

    def cycles(request, node, state, height, params):
        own, currency = scope(request), path_currency(params)
        count = settlement.cycles_count(state, currency)
        latest = settlement.cycle(state, currency, count) if count else None
        return web.json_response({"height": height, "count": count, "latest": to_json_value(own_cycle(latest, own))})

    def cycle(request, node, state, height, params):
        currency, number = path_currency(params), parse_uint(params["number"], "number")
        return _reply(own_cycle(settlement.cycle(state, currency, number), scope(request)), "cycle")

    def finality(request, node, state, height, params):
        """A state finality record (cycles, DvP, redemption, mint, burn), or a
        gross payment's, which its receipt carries."""
        try:
            tx_hash = bytes.fromhex(params["tx_hash"])
        except ValueError:
            tx_hash = b""
        found = None if len(tx_hash) != 32 else settlement.finality(state, tx_hash) or receipt_finality(node, tx_hash)
        if found is not None:
            require_party(request, settlement.finality_parties(found), "this finality record")
        return _reply(found, "finality record")

    def proposals(request, node, state, height, params):
        return web.json_response({"height": height, "open": to_json_value(governance.open_proposals(state, height))})

    def proposal(request, node, state, height, params):
        return _reply(governance.proposal(state, parse_uint(params["number"], "number")), "proposal")

    def validators(request, node, state, height, params):
        return web.json_response({"height": height, "validators": to_json_value(governance.validators(state)),
                                  "pending": to_json_value(governance.pending_validators(state))})

    def asset_list(request, node, state, height, params):
        return web.json_response({"height": height, "assets": assets.list_assets(state, institution=scope(request))})

    def one_asset(request, state, asset_id: str) -> dict | None:
        record = assets.get_asset(state, asset_id)
        if record is None:
            return None
        who = authenticated(request)
        if who.sees_all:
            parties = asset_parties(state, record)
        else:
            parties = [who.institution] if assets.involves(record, who.institution) else []
        require_party(request, parties, f"asset {asset_id}")
        return record

    def asset(request, node, state, height, params):
        return _reply(one_asset(request, state, params["asset"]), "asset")

    def history(request, node, state, height, params):
        found = None
        if one_asset(request, state, params["asset"]) is not None:
            found = {"asset": params["asset"], "history": assets.asset_history(state, params["asset"])}
        return _reply(found, "asset")

    return [
        web.get("/v1/accounts", handler(accounts)),
        web.get("/v1/settlement/queue/{currency}", handler(queue)),
        web.get("/v1/settlement/cycles/{currency}", handler(cycles)),
        web.get("/v1/settlement/cycles/{currency}/{number}", handler(cycle)),
        web.get("/v1/settlement/finality/{tx_hash}", handler(finality)),
        web.get("/v1/governance/proposals", handler(proposals)),
        web.get("/v1/governance/proposals/{number}", handler(proposal)),
        web.get("/v1/governance/validators", handler(validators)),
        web.get("/v1/assets", handler(asset_list)),
        web.get("/v1/assets/{asset}", handler(asset)),
        web.get("/v1/assets/{asset}/history", handler(history)),
    ]
