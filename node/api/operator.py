"""The operator site: what an institution's own operations staff and their
monitoring read, on the node config's `operator` address.

    GET /metrics   every metric in Prometheus's text format (node.runtime.metrics)
    GET /healthz   200 {"ok": true}: the process is up and its event loop answers
    GET /readyz    200 when ready, else 503; both {"ready", "reason", ...} (node.runtime.health)
    GET /, /explorer/...   the explorer (node.api.explorer_site): a page for the
                   institution's operations staff, live through an event stream

Plain HTTP with no client certificate and no signed request: what protects
it is the address it is bound to, a loopback or a management network's
(node.runtime.config refuses 0.0.0.0 and names). The metrics and health
routes carry figures about the node, never records; the explorer reads the
ledger as the node's own institution, under the member API's rules (its
own balances and receipts, never another member's), so whoever reaches
this address reads what that institution's client keys could.
The member API serves none of these routes, /healthz included: a load
balancer in front of the member API checks the operator port, or the TLS
handshake, and the member API keeps one rule (every read is signed).
"""

from __future__ import annotations

from aiohttp import web

from node.api import access, explorer_site
from node.api.access import OPERATOR, requires
from node.api.http import NODE, json_errors
from node.runtime.driver import Node
from node.runtime.health import readiness
from node.runtime.metrics import CONTENT_TYPE

OPERATOR_REQUEST_BYTES_MAX = 4096  # these routes take no body


@requires(OPERATOR)
async def get_metrics(request: web.Request) -> web.Response:
    node: Node = request.app[NODE]
    return web.Response(body=node.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})


@requires(OPERATOR)
async def get_healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@requires(OPERATOR)
async def get_readyz(request: web.Request) -> web.Response:
    found = readiness(request.app[NODE])
    return web.json_response(found.to_json(), status=200 if found.ready else 503)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/metrics", get_metrics),
        web.get("/healthz", get_healthz),
        web.get("/readyz", get_readyz),
    ]


def make_operator_app(node: Node) -> web.Application:
    app = web.Application(client_max_size=OPERATOR_REQUEST_BYTES_MAX, middlewares=[json_errors])
    app[NODE] = node
    app.router.add_routes(routes())
    explorer_site.install(app)
    access.check_routes(app, access.OPERATOR_SITE)
    return app
