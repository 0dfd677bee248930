"""Authenticated, persistent websocket links between validators.

Each node dials every other validator and sends only on the link it dialled;
it receives only on links others dialled to it. A link starts with a mutual
challenge-response: each side signs the other's fresh nonce with its node
key, and a key that is not the genesis key of the replica it claims to be is
refused. Messages are queued per peer (bounded) and sent in frames of
length-prefixed messages, so many messages cost one websocket write.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Awaitable, Callable

import aiohttp
from aiohttp import web

from consensus.messages import FRAME_SIZE_MAX
from crypto import encoding, keys
from node.config import Limits, Peer

log = logging.getLogger("consort.peers")

AUTH_DOMAIN = "peer-auth"
FRAME_BYTES_TARGET = 4 * 1024 * 1024
HEARTBEAT_S = 5.0
RECONNECT_DELAY_S_MIN = 0.05
RECONNECT_DELAY_S_MAX = 1.0
HANDSHAKE_BYTES_MAX = 1024


class HandshakeError(Exception):
    """The other side failed to prove it is the validator it claims to be."""


def pack_frame(messages: list[bytes]) -> bytes:
    return b"".join(len(m).to_bytes(4, "big") + m for m in messages)


def unpack_frame(frame: bytes) -> list[bytes]:
    """Split a frame; ValueError if the lengths do not add up."""
    messages, offset = [], 0
    while offset < len(frame):
        if offset + 4 > len(frame):
            raise ValueError("truncated length prefix")
        size = int.from_bytes(frame[offset:offset + 4], "big")
        offset += 4
        if size == 0 or offset + size > len(frame):
            raise ValueError("message length outside the frame")
        messages.append(frame[offset:offset + size])
        offset += size
    return messages


def _auth_bytes(chain_id: bytes, nonce: bytes, signer_id: int, verifier_id: int) -> bytes:
    return encoding.encode([chain_id, nonce, signer_id, verifier_id])


class PeerLinks:
    def __init__(self, chain_id: bytes, replica_id: int, validators: tuple[bytes, ...],
                 signer: keys.Signer, peers: tuple[Peer, ...], limits: Limits,
                 on_frame: Callable[[int, bytes], Awaitable[None]]) -> None:
        self.chain_id = chain_id
        self.replica_id = replica_id
        self.validators = validators
        self.signer = signer
        self.peers = {p.replica_id: p for p in peers if p.replica_id != replica_id}
        self.limits = limits
        self.on_frame = on_frame
        self.queues = {pid: asyncio.Queue(limits.peer_queue_max) for pid in self.peers}
        self.outbound_up = {pid: False for pid in self.peers}
        self.inbound_up: dict[int, int] = {}
        self.dropped = 0
        self.refused = 0
        self._tasks: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None

    # -------------------------------------------------------------- sending

    def send(self, to: int, message: bytes) -> None:
        queue = self.queues.get(to)
        if queue is None:
            return
        if queue.full():
            queue.get_nowait()
            self.dropped += 1
        queue.put_nowait(message)

    def broadcast(self, message: bytes) -> None:
        for pid in self.queues:
            self.send(pid, message)

    def status(self) -> dict[str, dict[str, bool]]:
        return {str(pid): {"outbound": self.outbound_up[pid], "inbound": self.inbound_up.get(pid, 0) > 0}
                for pid in sorted(self.peers)}

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        for pid in sorted(self.peers):
            self._tasks.append(asyncio.create_task(self._dial_forever(self.peers[pid]), name=f"peer-{pid}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _dial_forever(self, peer: Peer) -> None:
        delay = RECONNECT_DELAY_S_MIN
        while True:
            try:
                await self._dial(peer)
                delay = RECONNECT_DELAY_S_MIN
            except (aiohttp.ClientError, asyncio.TimeoutError, HandshakeError, ConnectionError, ValueError, TypeError) as exc:
                log.debug("link to replica %d: %s", peer.replica_id, exc)
            finally:
                self.outbound_up[peer.replica_id] = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAY_S_MAX)

    async def _dial(self, peer: Peer) -> None:
        timeout = aiohttp.ClientWSTimeout(ws_close=self.limits.connect_timeout_ms / 1000)
        async with self._session.ws_connect(
            peer.url + "/v1/peer", timeout=timeout, heartbeat=HEARTBEAT_S, max_msg_size=FRAME_SIZE_MAX,
        ) as ws:
            await asyncio.wait_for(self._client_handshake(ws, peer.replica_id),
                                   self.limits.handshake_timeout_ms / 1000)
            self.outbound_up[peer.replica_id] = True
            log.info("link to replica %d up", peer.replica_id)
            sender = asyncio.create_task(self._send_loop(ws, self.queues[peer.replica_id]))
            try:
                async for _ in ws:
                    pass  # nothing is expected on a dialled link; this reads pings and close
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)

    async def _send_loop(self, ws, queue: asyncio.Queue) -> None:
        while True:
            batch = [await queue.get()]
            size = len(batch[0])
            while not queue.empty() and size < FRAME_BYTES_TARGET:
                message = queue.get_nowait()
                batch.append(message)
                size += len(message)
            await asyncio.wait_for(ws.send_bytes(pack_frame(batch)), self.limits.send_timeout_ms / 1000)

    async def _client_handshake(self, ws, server_id: int) -> None:
        hello = encoding.decode(await ws.receive_bytes(), HANDSHAKE_BYTES_MAX)
        if not (isinstance(hello, list) and len(hello) == 4 and hello[0] == "hello"):
            raise HandshakeError("malformed hello")
        _, chain_id, claimed_id, server_nonce = hello
        if chain_id != self.chain_id or claimed_id != server_id or not isinstance(server_nonce, bytes):
            raise HandshakeError("peer is on another chain or is another replica")
        my_nonce = os.urandom(32)
        signature = self.signer.sign(AUTH_DOMAIN, _auth_bytes(self.chain_id, server_nonce, self.replica_id, server_id))
        await ws.send_bytes(encoding.encode(["auth", self.replica_id, self.signer.public_key, my_nonce, signature]))
        welcome = encoding.decode(await ws.receive_bytes(), HANDSHAKE_BYTES_MAX)
        if not (isinstance(welcome, list) and len(welcome) == 2 and welcome[0] == "welcome"
                and isinstance(welcome[1], bytes)):
            raise HandshakeError("malformed welcome")
        signed = _auth_bytes(self.chain_id, my_nonce, server_id, self.replica_id)
        if not keys.verify(self.validators[server_id], AUTH_DOMAIN, signed, welcome[1]):
            raise HandshakeError(f"replica {server_id} failed to prove its node key")

    # ------------------------------------------------------------- receiving

    async def handle_inbound(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=FRAME_SIZE_MAX)
        await ws.prepare(request)
        try:
            peer_id = await asyncio.wait_for(self._server_handshake(ws), self.limits.handshake_timeout_ms / 1000)
        except (HandshakeError, asyncio.TimeoutError, encoding.DecodeError, TypeError, ValueError) as exc:
            self.refused += 1
            log.warning("refused peer from %s: %s", request.remote, exc)
            await ws.close(code=4001, message=str(exc)[:120].encode())
            return ws
        self.inbound_up[peer_id] = self.inbound_up.get(peer_id, 0) + 1
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.BINARY:
                    break
                await self.on_frame(peer_id, message.data)
        finally:
            self.inbound_up[peer_id] -= 1
        return ws

    async def _server_handshake(self, ws: web.WebSocketResponse) -> int:
        my_nonce = os.urandom(32)
        await ws.send_bytes(encoding.encode(["hello", self.chain_id, self.replica_id, my_nonce]))
        auth = encoding.decode(await ws.receive_bytes(), HANDSHAKE_BYTES_MAX)
        if not (isinstance(auth, list) and len(auth) == 5 and auth[0] == "auth"):
            raise HandshakeError("malformed auth")
        _, peer_id, public_key, peer_nonce, signature = auth
        if public_key not in self.validators:
            raise HandshakeError("unknown key: not a validator of this chain")
        if type(peer_id) is not int or not 0 <= peer_id < len(self.validators) \
                or self.validators[peer_id] != public_key or peer_id == self.replica_id:
            raise HandshakeError("key does not belong to the claimed replica")
        if not isinstance(signature, bytes) or not isinstance(peer_nonce, bytes) or not keys.verify(
                public_key, AUTH_DOMAIN, _auth_bytes(self.chain_id, my_nonce, peer_id, self.replica_id), signature):
            raise HandshakeError("bad handshake signature")
        reply = self.signer.sign(AUTH_DOMAIN, _auth_bytes(self.chain_id, peer_nonce, self.replica_id, peer_id))
        await ws.send_bytes(encoding.encode(["welcome", reply]))
        return peer_id
