"""The explorer: a page every node serves at / on its operator site, for
the institution's own operations staff.

    GET /                          the page (index.html, explorer.js, explorer.css from node/api/explorer/)
    GET /explorer/summary.json     what the page shows (node.api.explorer_view), bounded
    GET /explorer/events           the chain as Server-Sent Events, as GET /v1/events sends it

Whose data. The operator site has no authentication (its address protects
it: node.api.operator), so the explorer reads as the node's own
institution, with the roles the committed state gives that institution
now, under the member API's rules for each kind of record (explorer_view
lists them): its own balances, receipts, assets, MPC sessions and netting
positions, and the consortium-wide facts every member reads; whole-block
figures (every sender's count) only when the institution reads blocks
(validators, auditors, regulators). So the operator of bank A's node sees
nothing of bank B's that bank A's client keys could not read through the
member API: not B's balance, not B's receipts. It also means an operator
address is now as sensitive as one of the institution's client keys: keep
it on a loopback or management address (node.runtime.config refuses
anything else) and reach a remote one through an SSH tunnel.

The page is plain static files: no build step, no script or font from
anywhere but this site (the Content-Security-Policy header says so to
the browser too). It reads only this site's two routes above.

DNS rebinding: a web page elsewhere could point its own host name at
127.0.0.1 and read a local operator site from the browser of someone on
that machine. The explorer's routes therefore answer only a Host header
that names the site by an IP address or as `localhost` (any port, so an
SSH tunnel on another local port works); any other name gets 421.

The explorer's stream is events.stream_events on a hub of the operator
site's own (events.install), so the member API's subscriber caps and the
explorer's are apart; every explorer stream has the one owner
STREAM_OWNER, so `events_subscribers_per_caller_max` bounds the open
pages at once (429 beyond; the page retries).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from pathlib import Path
from typing import Callable

from aiohttp import web

from node.api import events
from node.api.access import OPERATOR, institution_caller, requires
from node.api.events import parse_query, stream_events
from node.api.explorer_view import WINDOW_BLOCKS, BlockDigest, digest, summary
from node.api.http import NODE, Caller, error
from node.runtime.driver import Node
from node.runtime.health import readiness
from node.runtime.ledger import Ledger

EXPLORER_DIR = Path(__file__).with_name("explorer")
STATIC_FILES = {  # route -> (file in EXPLORER_DIR, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/explorer.js": ("explorer.js", "text/javascript; charset=utf-8"),
    "/explorer.css": ("explorer.css", "text/css; charset=utf-8"),
}
STATIC_BYTES_MAX = 256 * 1024  # each file; a larger one is a packaging mistake, refused at start
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
LOCAL_NAMES = frozenset({"localhost"})
STREAM_OWNER = "operator"


def host_allowed(host: str | None) -> bool:
    """Whether a Host header names the site by an IP address or as localhost
    (with any port): what a page that rebinds its own name cannot send."""
    if not host:
        return False
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        if rest and not rest.startswith(":"):
            return False
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name.lower() in LOCAL_NAMES:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def explorer_route(handler: Callable) -> Callable:
    """An operator-site route (@requires(OPERATOR)) that first checks the Host header."""
    @requires(OPERATOR)
    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        if not host_allowed(request.host):
            return error(421, "misdirected_request", "the explorer answers requests to its IP address or to "
                                                     "localhost only (a tunnel's local port will do)")
        return await handler(request)
    return checked


def operator_reader(node: Node) -> Caller:
    """Who the explorer reads as: the node's institution with its roles now
    (none when the state gives it none: then only its own rows)."""
    institution = node.config.institution
    return institution_caller(node.ledger.view, institution) or Caller(institution, (), b"")


def load_digests(ledger: Ledger, heights: list[int], own: str) -> list[BlockDigest]:
    """Blocks `heights` from LevelDB, digested (on a worker thread)."""
    history = ledger.validator_history()
    found = []
    for height in heights:
        stored = ledger.block(height)
        assert stored is not None, f"block {height} is at or below the tip, so it is stored"
        ordering = history.at(height)
        proposer = stored.block.header.proposer
        key = ordering.keys[proposer] if ordering is not None and proposer < len(ordering.keys) else None
        found.append(digest(stored, ledger.tx_senders(height), own, key))
    return found


class RecentBlocks:
    """The digests of the last WINDOW_BLOCKS blocks, each made once (blocks
    never change), at most WINDOW_BLOCKS kept; one load at a time."""

    def __init__(self, own: str) -> None:
        self.own = own
        self.digests: dict[int, BlockDigest] = {}
        self.lock = asyncio.Lock()

    async def window(self, node: Node) -> list[BlockDigest]:
        """The digests of the last WINDOW_BLOCKS blocks up to the tip, oldest first."""
        async with self.lock:
            tip = node.ledger.tip.height
            first = max(1, tip - WINDOW_BLOCKS + 1)
            heights = list(range(first, tip + 1))
            missing = [h for h in heights if h not in self.digests]
            if missing:
                loop = asyncio.get_running_loop()
                for found in await loop.run_in_executor(node.workers, load_digests, node.ledger, missing, self.own):
                    self.digests[found.height] = found
            for height in [h for h in self.digests if h < first]:
                del self.digests[height]
            assert len(self.digests) <= WINDOW_BLOCKS
            return [self.digests[h] for h in heights]


RECENT_BLOCKS = web.AppKey("explorer_recent_blocks", RecentBlocks)


def node_part(node: Node) -> dict:
    """The node's own figures: what GET /v1/status and /readyz show."""
    tip = node.ledger.tip
    ready = readiness(node)
    return {
        "chain_name": node.genesis.chain_name, "chain_id": node.genesis.chain_id.hex(),
        "institution": node.config.institution, "replica_id": node.replica.config.replica_id,
        "height": tip.height, "block_hash": tip.block_hash.hex(), "state_root": tip.state_root.hex(),
        "pending": len(node.pending), "committed_txs": node.committed_txs, "peers": node.peer_status(),
        "ready": ready.ready, "ready_reason": ready.reason,
    }


@explorer_route
async def get_summary(request: web.Request) -> web.Response:
    node: Node = request.app[NODE]
    digests = await request.app[RECENT_BLOCKS].window(node)
    who = operator_reader(node)  # after the await: the state the answer is read from
    view = node.replica.view
    found = summary(node.ledger.view, who, digests, node_part(node), view, node.replica.config.primary(view))
    return web.json_response(found, headers={"Cache-Control": "no-store"})


@explorer_route
async def get_events(request: web.Request) -> web.StreamResponse:
    """GET /v1/events's stream (its query and Last-Event-ID too) as the
    node's institution reads it: every block event, the receipts of its
    institution's transactions (every receipt for oversight)."""
    node: Node = request.app[NODE]
    return await stream_events(request, parse_query(request), STREAM_OWNER, lambda: operator_reader(node))


def static_route(path: str, body: bytes, content_type: str) -> web.RouteDef:
    @explorer_route
    async def get_file(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": content_type, **SECURITY_HEADERS})
    return web.get(path, get_file)


def read_static(directory: Path = EXPLORER_DIR) -> dict[str, tuple[bytes, str]]:
    """Each static file's bytes by route; RuntimeError naming a file that is missing or too large."""
    found = {}
    for path, (name, content_type) in STATIC_FILES.items():
        file = directory / name
        if not file.is_file() or file.stat().st_size > STATIC_BYTES_MAX:
            raise RuntimeError(f"the explorer's {file} is missing or over {STATIC_BYTES_MAX} bytes "
                               "(is node/api/explorer/ in the package data?)")
        found[path] = (file.read_bytes(), content_type)
    return found


def routes() -> list[web.RouteDef]:
    found = [static_route(path, body, content_type) for path, (body, content_type) in read_static().items()]
    return [*found, web.get("/explorer/summary.json", get_summary),
            web.get("/explorer/events", get_events, allow_head=False)]


def install(app: web.Application) -> None:
    """Give the operator app (the node at app[NODE]) the explorer's routes,
    its block digests and its own event hub."""
    node: Node = app[NODE]
    app.router.add_routes(routes())
    app[RECENT_BLOCKS] = RecentBlocks(node.config.institution)
    events.install(app)
