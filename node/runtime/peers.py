"""Outbound, authenticated, persistent websocket links to member nodes.

A peer is known by its node key. Each node dials every peer in its config
and sends only on links it dialled; it receives on links others dialled to
it (see `inbound`). A link starts with a mutual challenge-response: each
side signs the other's fresh nonce with its node key, and a key that is not
a member node key of this chain is refused. Messages are queued per peer
(bounded) and sent in frames of length-prefixed messages, so many messages
cost one websocket write. A frame travels in websocket messages of at most
PIECE_BYTES_MAX bytes (`split_frame`, `FrameAssembler`), so the accepting
side never reads a websocket message larger than that, and reads nothing
bigger than a handshake message before the other side has proved its key.
Which replica index a key has is the driver's business: it changes with
the validator set.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl

import aiohttp

from crypto import encoding, keys
from node.runtime.config import Limits
from node.runtime.tls import peer_node_key

log = logging.getLogger("consort.peers")

PEER_PATH = "/v1/peer"          # the consensus links
MPC_PEER_PATH = "/v1/mpc-peer"  # MPC sessions' messages: links of their own, never dropping a message
PEER_PATHS = (PEER_PATH, MPC_PEER_PATH)
LINK_STOP_TIMEOUT_S = 6.0  # a stopped dial's close waits at most send_timeout_ms (5 s) for the peer  # endpoints that authenticate peers themselves, not API clients

AUTH_DOMAIN = "peer-auth"
FRAME_BYTES_TARGET = 4 * 1024 * 1024
HEARTBEAT_S = 5.0
RECONNECT_DELAY_S_MIN = 0.05
RECONNECT_DELAY_S_MAX = 1.0
HANDSHAKE_BYTES_MAX = 1024
PIECE_BYTES_MAX = 64 * 1024  # a websocket message on a link: a piece of a frame
FRAME_LENGTH_BYTES = 4


class HandshakeError(Exception):
    """The other side failed to prove it holds a member node key."""


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


def split_frame(frame: bytes) -> list[bytes]:
    """A frame as websocket messages of at most PIECE_BYTES_MAX bytes; the
    first starts with the frame's length."""
    data = len(frame).to_bytes(FRAME_LENGTH_BYTES, "big") + frame
    return [data[start:start + PIECE_BYTES_MAX] for start in range(0, len(data), PIECE_BYTES_MAX)]


class FrameAssembler:
    """Joins the pieces of one link's frames as they arrive."""

    def __init__(self, frame_bytes_max: int) -> None:
        self.frame_bytes_max = frame_bytes_max
        self.expected = 0  # the length of the frame being joined; 0 between frames
        self.parts: list[bytes] = []
        self.size = 0

    def feed(self, piece: bytes) -> bytes | None:
        """The frame `piece` completes, or None; ValueError for pieces that do
        not form frames of 1 to frame_bytes_max bytes (the link is then useless)."""
        if not self.expected:
            if len(piece) <= FRAME_LENGTH_BYTES:
                raise ValueError("a frame's first piece holds its length and some of it")
            self.expected = int.from_bytes(piece[:FRAME_LENGTH_BYTES], "big")
            if not 0 < self.expected <= self.frame_bytes_max:
                raise ValueError(f"a frame of {self.expected} bytes: the limit is {self.frame_bytes_max}")
            piece = piece[FRAME_LENGTH_BYTES:]
        elif not piece:
            raise ValueError("an empty piece")
        self.size += len(piece)
        if self.size > self.expected:
            raise ValueError("a piece runs past the end of its frame")
        self.parts.append(piece)
        if self.size < self.expected:
            return None
        frame = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
        self.expected, self.parts, self.size = 0, [], 0
        return frame


def auth_bytes(chain_id: bytes, nonce: bytes, signer_key: bytes, verifier_key: bytes) -> bytes:
    """What a side signs to prove its node key: the other side's nonce, both keys, the chain."""
    return encoding.encode([chain_id, nonce, signer_key, verifier_key])


def handshake_message(raw: bytes, kind: str, length: int) -> list:
    """A decoded handshake message of `kind` with `length` fields, or HandshakeError."""
    message = encoding.decode(raw, HANDSHAKE_BYTES_MAX)
    if not (isinstance(message, list) and len(message) == length and message[0] == kind):
        raise HandshakeError(f"malformed {kind}")
    return message


async def receive_handshake(ws, kind: str, length: int) -> list:
    """The next websocket message as a handshake message (`handshake_message`);
    HandshakeError naming what came instead (a close, or aiohttp's refusal
    of a message over the socket's size limit)."""
    message = await ws.receive()
    if message.type != aiohttp.WSMsgType.BINARY:
        raise HandshakeError(f"expected {kind}, got {message.type.name} {message.data or ''}".rstrip())
    return handshake_message(message.data, kind, length)


class PeerLinks:
    """One dialling task and one bounded send queue per peer."""

    def __init__(self, chain_id: bytes, signer: keys.Signer, peers: dict[bytes, str], limits: Limits,
                 tls: ssl.SSLContext | None = None, path: str = PEER_PATH, lossless: bool = False) -> None:
        """`tls`: this node's client context (its certificate, the consortium's
        root); None only on a node started --insecure. `path`: the peers'
        endpoint. `lossless`: a full queue refuses a message (`send` raises
        QueueFull) instead of dropping its oldest, for traffic where a lost
        message cannot be made up by a later one (MPC)."""
        self.path = path
        self.lossless = lossless
        self.chain_id = chain_id
        self.signer = signer
        self.tls = tls
        self.limits = limits
        self.peers: dict[bytes, str] = {}
        self.queues: dict[bytes, asyncio.Queue] = {}
        self.outbound_up: dict[bytes, bool] = {}
        self.dropped = 0
        self.dial_failures = 0
        self.send_failures = 0
        self._tasks: dict[bytes, asyncio.Task] = {}
        self._session: aiohttp.ClientSession | None = None
        self._add(peers)

    def send(self, to: bytes, message: bytes) -> None:
        """Queue `message` for peer `to`; a full queue drops its oldest message
        (lossless links: raises asyncio.QueueFull, and an unknown peer KeyError)."""
        queue = self.queues.get(to)
        if queue is None:
            if self.lossless:
                raise KeyError(f"no link to {to.hex()[:16]}")
            return
        if self.lossless:
            queue.put_nowait(message)
            return
        if queue.full():
            queue.get_nowait()
            self.dropped += 1
        queue.put_nowait(message)

    def broadcast(self, message: bytes) -> None:
        for key in self.queues:
            self.send(key, message)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        for key, url in sorted(self.peers.items()):
            self._start_dialling(key, url)

    def _start_dialling(self, key: bytes, url: str) -> None:
        self._tasks[key] = asyncio.create_task(self._dial_forever(key, url), name=f"peer-{key.hex()[:8]}")

    def _add(self, peers: dict[bytes, str]) -> None:
        """Dial (once started) the peers not dialled yet."""
        for key, url in sorted(peers.items()):
            if key not in self.peers and key != self.signer.public_key:
                self.peers[key] = url
                self.queues[key] = asyncio.Queue(self.limits.peer_queue_max)
                self.outbound_up[key] = False
                if self._session is not None:
                    self._start_dialling(key, url)

    def set_initial(self, peers: dict[bytes, str]) -> None:
        """The peers to dial from `start`, set before it."""
        assert self._session is None, "set_initial comes before start"
        self.peers, self.queues, self.outbound_up = {}, {}, {}
        self._add(peers)

    async def set_peers(self, peers: dict[bytes, str]) -> None:
        """Follow the membership: stop dialling (and close the links to) peers
        that left or moved, start dialling the ones that joined or moved."""
        leaving = [key for key, url in self.peers.items() if peers.get(key) != url]
        stopping = [self._tasks.pop(key) for key in leaving if key in self._tasks]
        for task in stopping:
            task.cancel()
        if stopping:  # a dial stuck in a close is left to finish on its own: the link is no longer used
            await asyncio.wait(stopping, timeout=LINK_STOP_TIMEOUT_S)
        for key in leaving:
            self.peers.pop(key)
            self.queues.pop(key, None)
            self.outbound_up.pop(key, None)
        self._add(peers)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = {}
        if self._session is not None:
            await self._session.close()

    async def _dial_forever(self, key: bytes, url: str) -> None:
        delay = RECONNECT_DELAY_S_MIN
        while True:
            try:
                await self._dial(key, url)
                delay = RECONNECT_DELAY_S_MIN
            except (aiohttp.ClientError, asyncio.TimeoutError, HandshakeError, ConnectionError, ValueError,
                    TypeError) as exc:
                self.dial_failures += 1
                log.debug("link to %s%s: %s", url, self.path, exc)
            finally:
                if key in self.peers:  # not a peer that left while this dial was ending
                    self.outbound_up[key] = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAY_S_MAX)

    async def _dial(self, key: bytes, url: str) -> None:
        """One link: connect (within connect_timeout_ms), the handshake (within
        handshake_timeout_ms), then send until the link fails either way."""
        limits = self.limits
        async with asyncio.timeout(limits.connect_timeout_ms / 1000):
            ws = await self._session.ws_connect(
                url + self.path, timeout=aiohttp.ClientWSTimeout(ws_close=limits.send_timeout_ms / 1000),
                heartbeat=HEARTBEAT_S, max_msg_size=HANDSHAKE_BYTES_MAX + 1,  # we only receive the handshake
                ssl=self.tls if self.tls is not None else True)
        try:
            if self.tls is not None and peer_node_key(ws.get_extra_info("ssl_object")) != key:
                raise HandshakeError("the peer's certificate is for another node key")
            await asyncio.wait_for(self._handshake(ws, key), limits.handshake_timeout_ms / 1000)
            self.outbound_up[key] = True
            log.info("link to %s%s up", url, self.path)
            await self._run_link(ws, self.queues[key], url)
        finally:
            await self._close(ws)

    async def _run_link(self, ws, queue: asyncio.Queue, url: str) -> None:
        """Send from `queue` and read pings and the close, until either ends:
        a send that fails or times out closes the link (to be dialled again),
        so no link stays up with nobody sending on it."""
        sender = asyncio.create_task(self._send_loop(ws, queue))
        reader = asyncio.create_task(self._read_until_closed(ws))
        try:
            await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, reader):
                task.cancel()
            await asyncio.gather(sender, reader, return_exceptions=True)
        failure = None if sender.cancelled() else sender.exception()
        if failure is None:
            return
        if not isinstance(failure, (TimeoutError, ConnectionError, aiohttp.ClientError)):
            raise failure  # our bug
        self.send_failures += 1
        log.info("link to %s%s: send failed (%s); dialling again", url, self.path, type(failure).__name__)

    @staticmethod
    async def _read_until_closed(ws) -> None:
        async for _ in ws:
            pass  # nothing is expected on a dialled link; this reads pings and the close

    async def _close(self, ws) -> None:
        """Close the link, waiting at most send_timeout_ms for the peer's answer."""
        try:
            async with asyncio.timeout(self.limits.send_timeout_ms / 1000):
                await ws.close()
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            pass  # aiohttp has dropped the connection

    async def _send_loop(self, ws, queue: asyncio.Queue) -> None:
        """Queued messages in frames of about FRAME_BYTES_TARGET bytes at most
        (a bigger message goes alone), each piece sent within send_timeout_ms."""
        carried = None
        while True:
            batch = [carried if carried is not None else await queue.get()]
            carried, size = None, FRAME_LENGTH_BYTES + len(batch[0])
            while not queue.empty():
                message = queue.get_nowait()
                size += FRAME_LENGTH_BYTES + len(message)
                if size > FRAME_BYTES_TARGET:
                    carried = message
                    break
                batch.append(message)
            for piece in split_frame(pack_frame(batch)):
                await asyncio.wait_for(ws.send_bytes(piece), self.limits.send_timeout_ms / 1000)

    async def _handshake(self, ws, server_key: bytes) -> None:
        """The dialling side: answer the server's challenge, check its proof."""
        _, chain_id, claimed_key, server_nonce = await receive_handshake(ws, "hello", 4)
        if chain_id != self.chain_id or claimed_key != server_key or not isinstance(server_nonce, bytes):
            raise HandshakeError("peer is on another chain or is another node")
        my_nonce = os.urandom(32)
        own = self.signer.public_key
        signature = self.signer.sign(AUTH_DOMAIN, auth_bytes(self.chain_id, server_nonce, own, server_key))
        await ws.send_bytes(encoding.encode(["auth", own, my_nonce, signature]))
        _, proof = await receive_handshake(ws, "welcome", 2)
        signed = auth_bytes(self.chain_id, my_nonce, server_key, own)
        if not isinstance(proof, bytes) or not keys.verify(server_key, AUTH_DOMAIN, signed, proof):
            raise HandshakeError("peer failed to prove its node key")
