"""Read-only query endpoints over the contracts' state: accounts, settlement
queues and cycles, finality records, governance proposals and validators,
assets and their history. Each calls the owning contract's pure query
function on the node's committed state; byte strings come back as hex."""

from __future__ import annotations

from typing import Callable

from aiohttp import web

from contracts import assets, governance, settlement
from contracts.executor import to_json_value
from node.api.access import AUTHENTICATED, requires
from node.api.http import NODE, parse_uint


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


def routes() -> list[web.RouteDef]:
    def handler(query: Callable) -> Callable:
        @requires(AUTHENTICATED)
        async def handle(request: web.Request) -> web.Response:
            node = request.app[NODE]
            return query(node, node.ledger.view, node.ledger.tip.height, request.match_info)
        return handle

    def accounts(node, state, height, params):
        ids = governance.institution_ids(state)
        currencies = governance.currencies(state)
        return web.json_response({"height": height, "accounts": [
            {"institution": iid, "currency": ccy, "balance": balance}
            for iid, by_currency in sorted(settlement.balances(state, ids, currencies).items())
            for ccy, balance in sorted(by_currency.items())]})

    def queue(node, state, height, params):
        return web.json_response({"height": height, "currency": params["currency"],
                                  "queue": to_json_value(settlement.netting_queue(state, params["currency"]))})

    def cycles(node, state, height, params):
        count = settlement.cycles_count(state, params["currency"])
        latest = settlement.cycle(state, params["currency"], count) if count else None
        return web.json_response({"height": height, "count": count, "latest": to_json_value(latest)})

    def cycle(node, state, height, params):
        return _reply(settlement.cycle(state, params["currency"], parse_uint(params["number"], "number")), "cycle")

    def finality(node, state, height, params):
        """A state finality record (cycles, DvP, redemption, mint, burn), or a
        gross payment's, which its receipt carries."""
        try:
            tx_hash = bytes.fromhex(params["tx_hash"])
        except ValueError:
            tx_hash = b""
        if len(tx_hash) != 32:
            return _reply(None, "finality record")
        return _reply(settlement.finality(state, tx_hash) or receipt_finality(node, tx_hash), "finality record")

    def proposals(node, state, height, params):
        return web.json_response({"height": height, "open": to_json_value(governance.open_proposals(state, height))})

    def proposal(node, state, height, params):
        return _reply(governance.proposal(state, parse_uint(params["number"], "number")), "proposal")

    def validators(node, state, height, params):
        return web.json_response({"height": height, "validators": to_json_value(governance.validators(state)),
                                  "pending": to_json_value(governance.pending_validators(state))})

    def asset_list(node, state, height, params):
        return web.json_response({"height": height, "assets": assets.list_assets(state)})

    def asset(node, state, height, params):
        return _reply(assets.get_asset(state, params["asset"]), "asset")

    def history(node, state, height, params):
        found = assets.asset_history(state, params["asset"]) if assets.get_asset(state, params["asset"]) else None
        return _reply(None if found is None else {"asset": params["asset"], "history": found}, "asset")

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
