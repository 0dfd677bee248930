"""GET /v1/events: the chain as Server-Sent Events (aiohttp-sse), so a
client follows it without polling.

    GET /v1/events[?from_height=N][&to_height=M][&type=T][&account=A][&asset=X]
    Last-Event-ID: H     resume after height H (wins over from_height)

The events of each height are its visible receipts, then its block event,
whose SSE id is the height (node.api.event_feed: shapes, order, who reads
which receipt, the filter). Without from_height or Last-Event-ID the
stream starts at the next block; with them it first replays history from
LevelDB, then goes on live, the switch without a gap or a repeat: the
stream's queue is registered and the tip read in one step on the event
loop, so every block above that tip is announced to the queue, and every
block up to it is already stored. With to_height the stream ends after
that height's block event.

Bounds (node.runtime.config.Limits):
- events_replay_blocks_max: history one stream replays; then it sends
  `resync` {from_height, reason: "history_page"} and ends (paged history:
  the client reconnects from there).
- events_queue_max: blocks a stream may fall behind the tip; beyond, the
  hub marks it behind (node.api.event_hub), and it sends `resync`
  {from_height, reason: "behind"} and ends.
- events_subscribers_max, events_subscribers_per_caller_max: streams at
  once (503 busy, 429 too_many_subscriptions).
- events_send_buffer_bytes: the stream's transport and kernel send
  buffers, and EVENTS_SEND_TIMEOUT_S: a reader that takes nothing for
  that long is cut off; so a stalled reader holds little and is noticed
  soon.

The caller is authenticated when it connects (node.api.access) and read
again from the committed state before each height: a key that governance
removed ends its streams, a changed role applies from the next height.
The access layer logs an oversight caller's stream when the stream ends
(the handler returns then, also when the client left).

`stream_events` is the stream without the member API's authentication:
the operator site's explorer (node.api.explorer_site) serves its own stream
with it, reading as the node's institution, on a hub of its own.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass
from typing import Callable

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from node.api.access import AUTHENTICATED, caller_of_key, requires
from node.api.event_feed import (
    BEHIND, HISTORY_PAGE, BlockFacts, Event, EventFilter, block_events, block_facts, resync_event,
)
from node.api.event_hub import EventHub, Subscription, SubscriptionRefused
from node.api.http import (
    EVERYONE, NODE, UINT64_MAX, BadRequest, Caller, authenticated, caller, error, note_whose, parse_uint,
)
from node.runtime.driver import Node
from node.runtime.ledger import Ledger

EVENTS_PING_INTERVAL_S = 15.0  # a comment line this often when there is nothing to send
EVENTS_SEND_TIMEOUT_S = 30.0   # a write the reader does not take within this ends the stream
DISCONNECT_CHECK_S = 1.0       # how often an idle stream looks whether its client is gone
LAST_EVENT_ID = "Last-Event-ID"
EVENT_HUB = web.AppKey("event_hub", EventHub)
CurrentCaller = Callable[[], Caller | None]  # who reads the stream now; None ends it


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Where a stream starts (None: at the next block) and ends (None: never), and what it keeps."""

    first_height: int | None
    last_height: int | None
    kept: EventFilter


def parse_query(request: web.Request) -> EventQuery:
    """The request's query and Last-Event-ID; BadRequest for what does not parse."""
    last_id, query = request.headers.get(LAST_EVENT_ID), request.query
    if last_id is not None:
        first = parse_uint(last_id.strip(), LAST_EVENT_ID, UINT64_MAX - 1) + 1
    elif "from_height" in query:
        first = parse_uint(query["from_height"], "from_height")
        if first == 0:
            raise BadRequest("bad_parameter", "from_height starts at 1 (the first block)")
    else:
        first = None
    last = None if "to_height" not in query else parse_uint(query["to_height"], "to_height")
    if last is not None and last < (first or 1):
        raise BadRequest("bad_parameter", "to_height must not be below the first height asked for")
    return EventQuery(first, last, EventFilter.parse(query))


def load_facts(ledger: Ledger, height: int) -> BlockFacts:
    """Block `height` from LevelDB, decoded (on a worker thread)."""
    stored = ledger.block(height)
    assert stored is not None, f"block {height} is at or below the tip, so it is stored"
    return block_facts(stored, ledger.tx_senders(height))


def limit_send_buffers(request: web.Request, size: int) -> None:
    """Bound what a stream's writes may hold unsent: the transport's buffer
    (TLS's included) and the socket's kernel send buffer, `size` each (the
    kernel doubles its own), so a reader that stops reading blocks the
    stream's next write soon and holds little."""
    transport = request.transport
    if transport is None:
        return
    transport.set_write_buffer_limits(high=size)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


class Stream:
    """One subscriber's stream: history from LevelDB, then what the hub announces."""

    def __init__(self, request: web.Request, response: EventSourceResponse, subscription: Subscription,
                 current: CurrentCaller, query: EventQuery, tip: int) -> None:
        self.request = request
        self.response = response
        self.node: Node = request.app[NODE]
        self.hub = request.app[EVENT_HUB]
        self.subscription = subscription
        self.current = current
        self.query = query
        self.tip = tip  # the tip when the subscription began: every height above it is announced

    async def run(self) -> None:
        next_height = self.query.first_height or self.tip + 1
        replay_last = min(self.tip, next_height + self.node.config.limits.events_replay_blocks_max - 1)
        known_tip = self.tip
        while self.query.last_height is None or next_height <= self.query.last_height:
            if self.subscription.behind:
                await self.send(resync_event(next_height, BEHIND))
                return
            if next_height > known_tip:
                announced = await self.next_announced()
                if announced is None:
                    return  # the client is gone
                known_tip = max(known_tip, announced)
                continue
            if replay_last < next_height <= self.tip:
                await self.send(resync_event(next_height, HISTORY_PAGE))
                return
            who = self.current()
            if who is None:
                return  # the caller may read no more (a key governance removed): its stream ends
            for event in block_events(await self.facts(next_height), who, self.query.kept):
                await self.send(event)
            next_height += 1

    async def facts(self, height: int) -> BlockFacts:
        found = self.hub.cached(height)
        if found is None:
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(self.node.workers, load_facts, self.node.ledger, height)
            self.hub.keep(found)
        return found

    async def next_announced(self) -> int | None:
        """The next height the hub announced; None once the client is gone."""
        while True:
            try:
                return await asyncio.wait_for(self.subscription.heights.get(), DISCONNECT_CHECK_S)
            except TimeoutError:
                transport = self.request.transport
                if transport is None or transport.is_closing() or not self.response.is_connected():
                    return None

    async def send(self, event: Event) -> None:
        await self.response.send(json.dumps(event.data, separators=(",", ":")), id=event.id, event=event.name)


@requires(AUTHENTICATED)
async def get_events(request: web.Request) -> web.StreamResponse:
    node: Node = request.app[NODE]
    who = authenticated(request)
    query = parse_query(request)
    note_whose(request, [EVERYONE] if who.sees_all else [who.institution])

    def current() -> Caller | None:
        """The signer as the committed state has it now; None once its key is
        removed (or given to another institution)."""
        found = caller_of_key(node.ledger.view, who.key)
        return found if found is not None and found.institution == who.institution else None

    return await stream_events(request, query, caller(request), current)


async def stream_events(request: web.Request, query: EventQuery, owner: str,
                        current: CurrentCaller) -> web.StreamResponse:
    """Serve one stream on `request` (its app holds NODE and EVENT_HUB):
    subscribed under `owner` (the caps count streams per owner), reading as
    `current()` at each height; 429 or 503 when there is no room."""
    node: Node = request.app[NODE]
    try:
        subscription = request.app[EVENT_HUB].subscribe(owner)
    except SubscriptionRefused as exc:
        return error(exc.status, exc.code, str(exc))
    tip = node.ledger.tip.height  # with the subscription, no await between: see the module docstring
    response = EventSourceResponse(send_timeout=EVENTS_SEND_TIMEOUT_S, ping_interval=EVENTS_PING_INTERVAL_S)
    try:
        await response.prepare(request)
        limit_send_buffers(request, node.config.limits.events_send_buffer_bytes)
        async with response:
            await Stream(request, response, subscription, current, query, tip).run()
    except (ConnectionError, TimeoutError):
        pass  # the client left, or stopped reading for EVENTS_SEND_TIMEOUT_S: its stream ends
    finally:
        request.app[EVENT_HUB].unsubscribe(subscription)
    return response


def install(app: web.Application) -> None:
    """Give `app` (the node at app[NODE]) its event hub, listening to applied
    blocks while the app runs."""
    node: Node = app[NODE]
    limits = node.config.limits
    hub = EventHub(limits.events_subscribers_max, limits.events_subscribers_per_caller_max, limits.events_queue_max)
    app[EVENT_HUB] = hub
    node.block_listeners.append(hub.on_block)

    async def detach(app: web.Application) -> None:
        node.block_listeners.remove(hub.on_block)

    app.on_cleanup.append(detach)


def routes() -> list[web.RouteDef]:
    return [web.get("/v1/events", get_events, allow_head=False)]
