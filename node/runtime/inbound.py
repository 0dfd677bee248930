"""Links other nodes dialled to this one: the handshake, then every frame
decoded, authenticated and turned into an event for the driver's inbox.

Signatures are checked here, before an event reaches the replica: votes
against the validator set in force, fetched blocks against their commit
certificates, and every transaction a proposal carries. A forward's
transactions go through admission like a client's (the bad ones dropped).
A FETCH-BLOCKS request is served from storage here too, without the driver:
read on a worker thread (the consensus task shares this event loop), at
most fetches_per_peer_max at once per peer.
A refused message is logged and dropped; nothing a peer sends raises.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Callable

import aiohttp
from aiohttp import web

from consensus.auth import authenticate, verify_fetched
from consensus.events import CertifiedBlocks, ClientRequests, PeerMessage
from consensus.messages import (
    BLOCKS_PER_FETCH_MAX, FRAME_SIZE_MAX, Blocks, FetchBlocks, Forward, MessageError, NewView, PrePrepare,
    decode_message,
)
from consensus.validators import ValidatorHistory
from crypto import encoding, keys
from node.runtime.admission import Admission
from node.runtime.config import Limits
from node.runtime.peers import (
    AUTH_DOMAIN, FRAME_LENGTH_BYTES, HEARTBEAT_S, PIECE_BYTES_MAX, FrameAssembler, HandshakeError, auth_bytes,
    receive_handshake, unpack_frame,
)
from node.runtime.storage import Storage
from node.runtime.tls import peer_node_key

log = logging.getLogger("consort.peers")

FETCH_BYTES_MAX = 8 * 1024 * 1024
HANDSHAKE_REFUSED_CODE = 4001
LINK_CLOSE_TIMEOUT_S = 2.0
CLOSE_REASON_BYTES_MAX = 120


@dataclass(slots=True)
class PeerChecks:
    """What inbound handling needs from the rest of the node."""

    is_member: Callable[[bytes], bool]             # a node key of this chain's membership
    history: Callable[[], ValidatorHistory]        # the sets the replica knows, the one in force last
    admission: Admission
    storage: Storage
    workers: Executor                              # threads that read the store off the event loop
    reply: Callable[[bytes, bytes], None]          # send bytes to a peer on our outbound link


class InboundPeers:
    def __init__(self, chain_id: bytes, signer: keys.Signer, limits: Limits, checks: PeerChecks,
                 inbox: asyncio.Queue, tls_required: bool = True) -> None:
        """`tls_required`: a link needs a verified node certificate whose key is
        the one the peer proves (False only on a node started --insecure)."""
        self.tls_required = tls_required
        self.chain_id = chain_id
        self.signer = signer
        self.limits = limits
        self.checks = checks
        self.inbox = inbox
        self.up: dict[bytes, int] = {}
        self.links: dict[bytes, set[web.WebSocketResponse]] = {}  # open links by peer: member peers only
        self.handshaking = 0  # sockets not yet authenticated: at most limits.inbound_handshakes_max
        self.refused = 0
        self.fetching: dict[bytes, int] = {}  # fetches being served, by peer: member peers only
        self.fetches_refused = 0

    # ------------------------------------------------------------ the link

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The /v1/peer websocket: handshake, then frames until the peer leaves.
        Beyond inbound_handshakes_max sockets in their handshake, 503; until
        the handshake is done, no websocket message above PIECE_BYTES_MAX is
        read (and the handshake's own are far smaller)."""
        if self.handshaking >= self.limits.inbound_handshakes_max:
            self.refused += 1
            log.debug("refused peer from %s: %d sockets in their handshake", request.remote, self.handshaking)
            return web.Response(status=503, text="too many peer links in their handshake")
        self.handshaking += 1
        try:
            ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=PIECE_BYTES_MAX + 1,
                                       timeout=self.limits.handshake_timeout_ms / 1000)
            await ws.prepare(request)
            certified = peer_node_key(request.transport.get_extra_info("ssl_object")) if request.transport else None
            peer_key = await self._authenticated(ws, request.remote, certified)
        finally:
            self.handshaking -= 1
        if peer_key is None:
            return ws
        self.up[peer_key] = self.up.get(peer_key, 0) + 1
        self.links.setdefault(peer_key, set()).add(ws)
        try:
            await self._receive_frames(ws, peer_key)
        finally:
            self.up[peer_key] -= 1
            self.links[peer_key].discard(ws)
            if not self.links[peer_key]:
                del self.links[peer_key]
        return ws

    async def close_non_members(self) -> int:
        """Close the open links of peers that are no longer members (their
        institution was removed or their key rotated out), each within
        LINK_CLOSE_TIMEOUT_S (a peer that does not answer is cut anyway: its
        frames are no longer read, see `_receive_frames`); returns how many."""
        leaving = [ws for key, links in self.links.items() if not self.checks.is_member(key) for ws in links]
        await asyncio.gather(*(_close_link(ws, HANDSHAKE_REFUSED_CODE, b"no longer a member node of this chain")
                               for ws in leaving))
        return len(leaving)

    async def close_all(self, app: web.Application | None = None) -> None:
        """The node stops: close every open link (an app's on_shutdown hook).
        Left open, each would hold the server's shutdown for its whole
        timeout, as a peer link never ends by itself."""
        await asyncio.gather(*(_close_link(ws, aiohttp.WSCloseCode.GOING_AWAY, b"node stopping")
                               for links in list(self.links.values()) for ws in list(links)))

    async def _authenticated(self, ws: web.WebSocketResponse, remote: str | None,
                             certified: bytes | None) -> bytes | None:
        """The peer's node key after the handshake, or None (refused, link closed).
        `certified`: the node key of the peer's verified TLS certificate, if any."""
        try:
            if self.tls_required and certified is None:
                raise HandshakeError("a peer link needs a node certificate from this consortium")
            peer_key = await asyncio.wait_for(self._handshake(ws), self.limits.handshake_timeout_ms / 1000)
            if self.tls_required and peer_key != certified:
                raise HandshakeError("the peer proved another node key than its certificate's")
            return peer_key
        except (HandshakeError, asyncio.TimeoutError, encoding.DecodeError, TypeError, ValueError) as exc:
            self.refused += 1
            log.warning("refused peer from %s: %s", remote, exc)
            await ws.close(code=HANDSHAKE_REFUSED_CODE, message=str(exc)[:CLOSE_REASON_BYTES_MAX].encode())
            return None

    async def _receive_frames(self, ws: web.WebSocketResponse, peer_key: bytes) -> None:
        frames = FrameAssembler(FRAME_SIZE_MAX + FRAME_LENGTH_BYTES)  # one message of the largest size
        async for message in ws:
            if message.type != aiohttp.WSMsgType.BINARY:
                break
            try:
                frame = frames.feed(message.data)
            except ValueError as exc:
                log.warning("closing the link from %s: %s", peer_key.hex()[:8], exc)
                break
            if frame is not None:
                if not self.checks.is_member(peer_key):
                    log.warning("closing the link from %s: no longer a member", peer_key.hex()[:8])
                    break
                await self.on_frame(peer_key, frame)

    async def _handshake(self, ws: web.WebSocketResponse) -> bytes:
        """The accepting side: challenge the dialler, check its proof, prove our own key."""
        my_nonce = os.urandom(32)
        own = self.signer.public_key
        await ws.send_bytes(encoding.encode(["hello", self.chain_id, own, my_nonce]))
        _, peer_key, peer_nonce, signature = await receive_handshake(ws, "auth", 4)
        if not isinstance(peer_key, bytes) or peer_key == own or not self.checks.is_member(peer_key):
            raise HandshakeError("unknown key: not a member node of this chain")
        if not isinstance(signature, bytes) or not isinstance(peer_nonce, bytes) or not keys.verify(
                peer_key, AUTH_DOMAIN, auth_bytes(self.chain_id, my_nonce, peer_key, own), signature):
            raise HandshakeError("bad handshake signature")
        reply = self.signer.sign(AUTH_DOMAIN, auth_bytes(self.chain_id, peer_nonce, own, peer_key))
        await ws.send_bytes(encoding.encode(["welcome", reply]))
        return peer_key

    # ------------------------------------------------------------ messages

    async def on_frame(self, peer_key: bytes, frame: bytes) -> None:
        """Each message of a peer frame, in order, to `on_message`."""
        try:
            raw_messages = unpack_frame(frame)
        except ValueError as exc:
            log.warning("bad frame from %s: %s", peer_key.hex()[:8], exc)
            return
        for raw in raw_messages:
            await self.on_message(peer_key, raw)

    async def on_message(self, peer_key: bytes, raw: bytes) -> None:
        """Decode, authenticate and check a consensus message; queue it if
        valid (waiting for room: backpressure on the socket)."""
        try:
            message = decode_message(raw)
        except MessageError as exc:
            log.warning("bad message from %s: %s", peer_key.hex()[:8], exc)
            return
        event = await self.admit(peer_key, message)
        if event is not None:
            await self.inbox.put(event)

    async def admit(self, peer_key: bytes, message):
        """The event a verified peer message becomes, or None (logged) if refused."""
        history = self.checks.history()
        sender = history.current.index(peer_key)
        if isinstance(message, FetchBlocks):
            await self._serve_fetch(peer_key, message)
            return None
        if isinstance(message, Blocks):
            entries = verify_fetched(message.entries, history)
            return CertifiedBlocks(sender, entries) if entries else None
        if isinstance(message, Forward):
            txs = await self.checks.admission.admit_forwarded(message.txs)
            if not txs:
                return None
            return ClientRequests(txs) if sender < 0 else PeerMessage(sender, Forward(txs))
        if sender < 0:
            return None
        problem = authenticate(message, sender, history) or await self._check_proposed(message)
        if problem is not None:
            log.warning("rejected %s from replica %d: %s", type(message).__name__, sender, problem)
            return None
        return PeerMessage(sender, message)

    async def _serve_fetch(self, peer_key: bytes, message: FetchBlocks) -> None:
        """Answer a FETCH-BLOCKS with the stored blocks, read on a worker
        thread; beyond fetches_per_peer_max at once from one peer, drop it
        (the peer asks again when its fetch timer fires)."""
        serving = self.fetching.get(peer_key, 0)
        if serving >= self.limits.fetches_per_peer_max:
            self.fetches_refused += 1
            log.debug("dropped a fetch from %s: %d being served", peer_key.hex()[:8], serving)
            return
        self.fetching[peer_key] = serving + 1
        try:
            reply = await asyncio.get_running_loop().run_in_executor(
                self.checks.workers, blocks_reply, self.checks.storage, message)
        finally:
            left = self.fetching.pop(peer_key) - 1
            if left:
                self.fetching[peer_key] = left
        self.checks.reply(peer_key, reply)

    async def _check_proposed(self, message) -> str | None:
        """Why a transaction a proposal carries is invalid, or None."""
        if isinstance(message, PrePrepare):
            return await self.checks.admission.check_proposed(message.block.txs)
        if isinstance(message, NewView) and message.pre_prepare is not None:
            return await self.checks.admission.check_proposed(message.pre_prepare.block.txs)
        return None


async def _close_link(ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
    """Close one inbound link within LINK_CLOSE_TIMEOUT_S (a peer that does not
    answer the close is left: its frames are no longer read)."""
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason), LINK_CLOSE_TIMEOUT_S)
    except (TimeoutError, ConnectionError, aiohttp.ClientError):
        log.warning("a peer's link did not close in %.0f s", LINK_CLOSE_TIMEOUT_S)


def blocks_reply(storage: Storage, message: FetchBlocks) -> bytes:
    """The BLOCKS answer to `message` (at most BLOCKS_PER_FETCH_MAX blocks,
    stopping after FETCH_BYTES_MAX bytes), joined from the stored canonical
    bytes without decoding them: encode_message(Blocks(entries)) is the list
    [KIND, [[block, certificate], ...]]. Runs on a worker thread."""
    entries, size = [], 0
    for height in range(message.first, min(message.last, message.first + BLOCKS_PER_FETCH_MAX - 1) + 1):
        found = storage.raw_certified_block(height)
        if found is None:
            break
        entries.append(encoding.list_header(2) + found[0] + found[1])
        size += len(found[0])
        if size > FETCH_BYTES_MAX:
            break
    return b"".join([encoding.list_header(2), encoding.encode(Blocks.KIND), encoding.list_header(len(entries)),
                     *entries])
