"""The client and auditor HTTP application: every route, by module.

    POST /v1/tx, /v1/txs       submit one transaction / a batch      (transactions)
    GET  /v1/tx/{hash}         a receipt                             (transactions)
    GET  /v1/blocks/{height}   a block with certificate and receipts (chain)
    GET  /v1/status            height, view, state root, peers       (chain)
    GET  /v1/export            the chain as an export stream         (chain)
    GET  /v1/state/proof?key=  a state value with its proof          (chain)
    GET  /v1/accounts, ...     state queries                         (queries)
    GET  /v1/audit/txs         transactions by institution, type and
                               height, with their proofs             (audit_txs)
    GET  /v1/events            blocks and receipts as Server-Sent
                               Events, history then live             (events)
    GET  /v1/mpc/sessions, ... MPC sessions                          (mpc)
    GET  /v1/openapi.json      this API in OpenAPI 3.1               (openapi)

Every route declares who may call it; node.api.access authenticates every
request and enforces that (README.md, "Who may read what", is the table).
Handlers call the runtime (`Node`, its `Ledger`); they hold no consensus or
storage logic of their own. The peer websocket is the runtime's own route.
"""

from __future__ import annotations

from aiohttp import web

from node.api import access, audit_txs, chain, events, mpc, openapi, queries, transactions
from node.api.http import NODE, json_errors
from node.runtime.driver import Node

ROUTE_MODULES = (transactions, chain, queries, audit_txs, mpc, events, openapi)


def make_app(node: Node) -> web.Application:
    app = web.Application(client_max_size=node.config.limits.request_bytes_max,
                          middlewares=[json_errors, access.access_control])
    app[NODE] = node
    app.router.add_routes(api_routes())
    events.install(app)
    access.install(app)
    return app


def api_routes() -> list[web.RouteDef]:
    """Every route of the member API (node.api.openapi describes each)."""
    return [route for module in ROUTE_MODULES for route in module.routes()]
