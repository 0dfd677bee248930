"""Peer links: the mutual handshake admits member node keys only, and
frames reach the receiver intact. These run the links over plain
websockets (as a node started --insecure does) to test the handshake and
the framing alone; tests/integration/test_tls_peers.py runs them over
mutual TLS."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from consensus.messages import FRAME_SIZE_MAX
from consensus.validators import ValidatorHistory, ValidatorSet
from crypto.keys import KeyPair
from fixtures import wait_until
from node.runtime.config import Limits
from node.runtime.inbound import InboundPeers, PeerChecks
from node.runtime.peers import PIECE_BYTES_MAX, FrameAssembler, PeerLinks, pack_frame, split_frame, unpack_frame

CHAIN_ID = bytes(range(32))
KEYS = [KeyPair.from_seed(bytes([i + 10]) * 32) for i in range(4)]
VALIDATORS = tuple(k.public_key for k in KEYS)


class RecordingInbound(InboundPeers):
    """Inbound links whose frames are recorded raw instead of decoded."""

    def __init__(self, signer, received: asyncio.Queue, limits: Limits = Limits(), tls_required: bool = False,
                 members: tuple[bytes, ...] = VALIDATORS) -> None:
        checks = PeerChecks(is_member=lambda key: key in members,
                            history=lambda: ValidatorHistory.of(ValidatorSet(CHAIN_ID, VALIDATORS)),
                            admission=None, storage=None, workers=None,
                            reply=lambda key, message: None)
        super().__init__(CHAIN_ID, signer, limits, checks, asyncio.Queue(), tls_required=tls_required)
        self.received = received

    async def on_frame(self, peer_key: bytes, frame: bytes) -> None:
        await self.received.put((peer_key, frame))


def links(signer, peers: dict) -> PeerLinks:
    return PeerLinks(CHAIN_ID, signer, peers, Limits())


@contextlib.asynccontextmanager
async def receiving(limits: Limits = Limits()):
    """Validator 0's inbound links on a test server: (receiver, url, received frames)."""
    received: asyncio.Queue = asyncio.Queue()
    receiver = RecordingInbound(KEYS[0].signer(), received, limits)
    app = web.Application()
    app.router.add_get("/v1/peer", receiver.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        yield receiver, str(test_server.make_url("")).rstrip("/"), received
    finally:
        await test_server.close()


@pytest.fixture
async def server():
    async with receiving() as found:
        yield found


async def test_validator_connects_and_frames_arrive(server):
    receiver, url, received = server
    dialler = links(KEYS[1].signer(), peers={VALIDATORS[0]: url})
    await dialler.start()
    try:
        await wait_until(lambda: dialler.outbound_up[VALIDATORS[0]], 5.0, "the link to validator 0")
        dialler.send(VALIDATORS[0], b"first")
        dialler.send(VALIDATORS[0], b"second")
        sender, frame = await asyncio.wait_for(received.get(), 5)
        messages = unpack_frame(frame)
        while len(messages) < 2:
            messages += unpack_frame((await asyncio.wait_for(received.get(), 5))[1])
        assert sender == VALIDATORS[1] and messages == [b"first", b"second"]
        assert receiver.up[VALIDATORS[1]] == 1 and receiver.refused == 0
    finally:
        await dialler.close()


async def test_unknown_key_is_refused(server):
    receiver, url, received = server
    stranger = KeyPair.from_seed(b"\x99" * 32)
    rogue = links(stranger.signer(), peers={VALIDATORS[0]: url})
    await rogue.start()
    try:
        rogue.send(VALIDATORS[0], b"let me in")
        await wait_until(lambda: receiver.refused >= 3, 5.0, "several dial attempts, each refused")
        assert not rogue.outbound_up[VALIDATORS[0]]
        assert received.empty() and not receiver.up.get(stranger.public_key)
    finally:
        await rogue.close()


async def test_a_node_pretending_to_be_another_is_refused(server):
    receiver, url, received = server
    # Holds validator 1's key but dials expecting the server to be validator 2: the server's
    # hello names its own key, so the dialler drops the link and sends nothing.
    confused = links(KEYS[1].signer(), peers={VALIDATORS[2]: url})
    await confused.start()
    try:
        confused.send(VALIDATORS[2], b"for validator 2")
        await wait_until(lambda: confused.dial_failures >= 2 and receiver.refused >= 2, 5.0,
                         "dials that the dialler dropped and the server counted as refused")
        assert not confused.outbound_up[VALIDATORS[2]] and received.empty()
        assert not receiver.up.get(VALIDATORS[1])
    finally:
        await confused.close()


def test_frames_round_trip_and_truncated_frames_are_refused():
    messages = [b"a", b"bc" * 100, b"\x00"]
    frame = pack_frame(messages)
    assert unpack_frame(frame) == messages
    for broken in (frame[:-1], frame[:3], b"\x00\x00\x00\x00", b"\x00\x00\x00\x05ab"):
        with pytest.raises(ValueError):
            unpack_frame(broken)


STUCK = b"this send never completes"


async def test_a_send_that_times_out_closes_the_link_and_redials(server, monkeypatch):
    # The first send of a frame holding STUCK hangs, as a send to a peer that
    # stopped reading does; the link must not stay "up" with nobody sending.
    receiver, url, received = server
    real_send = aiohttp.ClientWebSocketResponse.send_bytes
    stuck: list = []

    async def send_bytes(ws, data, *args, **kwargs):
        if STUCK in data and not stuck:
            stuck.append(ws)
            await asyncio.Event().wait()
        return await real_send(ws, data, *args, **kwargs)

    monkeypatch.setattr(aiohttp.ClientWebSocketResponse, "send_bytes", send_bytes)
    dialler = PeerLinks(CHAIN_ID, KEYS[1].signer(), {VALIDATORS[0]: url}, Limits(send_timeout_ms=100))
    await dialler.start()
    try:
        await wait_until(lambda: dialler.outbound_up[VALIDATORS[0]], 5.0, "the link to validator 0")
        dialler.send(VALIDATORS[0], STUCK)
        await wait_until(lambda: stuck, 5.0, "the send that hangs")
        dialler.send(VALIDATORS[0], b"after")
        arrived: list[bytes] = []

        async def after_arrived() -> bool:
            while not received.empty():
                arrived.extend(unpack_frame((await received.get())[1]))
            return b"after" in arrived

        await wait_until(after_arrived, 5.0, "the message sent after the stuck one")
        assert STUCK not in arrived and dialler.send_failures == 1
    finally:
        await dialler.close()


async def test_connecting_to_a_peer_that_never_answers_times_out(monkeypatch):
    # A socket that accepts and then says nothing: each dial must give up
    # after connect_timeout_ms (aiohttp's own default waits 300 s).
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read()  # until the dialler gives up

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    dialler = PeerLinks(CHAIN_ID, KEYS[1].signer(), {VALIDATORS[0]: f"http://127.0.0.1:{port}"},
                        Limits(connect_timeout_ms=100))
    await dialler.start()
    try:
        await wait_until(lambda: dialler.dial_failures >= 2, 5.0, "two dials that timed out")
        assert len(accepted) >= 2 and not dialler.outbound_up[VALIDATORS[0]]
    finally:
        await dialler.close()
        for writer in accepted:
            writer.close()
        listener.close()
        await listener.wait_closed()


async def test_inbound_sockets_in_their_handshake_are_bounded():
    limits = Limits(inbound_handshakes_max=2, handshake_timeout_ms=10_000)
    async with receiving(limits) as (receiver, url, received), aiohttp.ClientSession() as session:
        silent = [await session.ws_connect(url + "/v1/peer") for _ in range(2)]
        for ws in silent:
            await ws.receive_bytes()  # the hello: each socket is in its handshake, and says nothing
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url + "/v1/peer")
        assert refused.value.status == 503
        await silent[0].close()
        dialler = links(KEYS[1].signer(), peers={VALIDATORS[0]: url})
        await dialler.start()
        try:
            await wait_until(lambda: dialler.outbound_up[VALIDATORS[0]], 5.0, "a member's link, once there is room")
        finally:
            await dialler.close()
            await silent[1].close()


async def test_a_big_frame_before_the_handshake_is_not_read(caplog):
    # aiohttp refuses a websocket message over the socket's limit on its
    # header, before reading its payload, and says so: "Message size N
    # exceeds limit L". Before, the limit was FRAME_SIZE_MAX, and the whole
    # frame was read, then refused as a malformed handshake message.
    size = FRAME_SIZE_MAX - 1024
    async with receiving() as (receiver, url, received), aiohttp.ClientSession() as session:
        async with session.ws_connect(url + "/v1/peer", max_msg_size=0) as ws:
            await ws.receive_bytes()  # the hello
            with contextlib.suppress(ConnectionError):
                await ws.send_bytes(bytes(size))
            message = await asyncio.wait_for(ws.receive(), 5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        await wait_until(lambda: receiver.refused == 1, 5.0, "the refusal counted")
        assert received.empty()
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused peer")]
    assert len(refusals) == 1 and f"Message size {size} exceeds limit" in refusals[0], refusals


async def test_frames_larger_than_a_websocket_message_arrive_whole(server):
    receiver, url, received = server
    dialler = links(KEYS[1].signer(), peers={VALIDATORS[0]: url})
    await dialler.start()
    try:
        await wait_until(lambda: dialler.outbound_up[VALIDATORS[0]], 5.0, "the link to validator 0")
        big = bytes(range(256)) * (5 * 1024 * 1024 // 256)
        dialler.send(VALIDATORS[0], big)
        dialler.send(VALIDATORS[0], b"small")
        arrived: list[bytes] = []
        while len(arrived) < 2:
            arrived += unpack_frame((await asyncio.wait_for(received.get(), 10))[1])
        assert arrived == [big, b"small"]
    finally:
        await dialler.close()


@pytest.mark.parametrize("size", [1, PIECE_BYTES_MAX - 4, PIECE_BYTES_MAX - 3, 3 * PIECE_BYTES_MAX + 17])
def test_frames_split_into_pieces_join_again(size):
    frame = bytes(i % 251 for i in range(size))
    pieces = split_frame(frame)
    assert all(0 < len(p) <= PIECE_BYTES_MAX for p in pieces)
    frames = FrameAssembler(max(size, 4))
    assert [frames.feed(p) for p in pieces] == [None] * (len(pieces) - 1) + [frame]
    assert [frames.feed(p) for p in split_frame(b"next")] == [b"next"]


@pytest.mark.parametrize("pieces", [
    [(100).to_bytes(4, "big") + b"x"],                         # declares more than the limit (99)
    [(0).to_bytes(4, "big") + b"x"],                           # an empty frame
    [b"\x00\x00\x00"],                                         # no room for the length
    [(5).to_bytes(4, "big") + b"abc", b"defg"],                # runs past its frame
    [(5).to_bytes(4, "big") + b"abc", b""],                    # an empty piece
], ids=["too-long", "empty-frame", "short", "past-the-end", "empty-piece"])
def test_pieces_that_do_not_form_frames_are_refused(pieces):
    frames = FrameAssembler(99)
    with pytest.raises(ValueError):
        for piece in pieces:
            frames.feed(piece)


async def test_a_stopping_node_closes_its_inbound_links_so_its_shutdown_need_not_wait_for_them():
    received: asyncio.Queue = asyncio.Queue()
    receiver = RecordingInbound(KEYS[0].signer(), received)
    app = web.Application()
    app.router.add_get("/v1/peer", receiver.handle)
    app.on_shutdown.append(receiver.close_all)  # as node.runtime.server registers it
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    dialler = links(KEYS[1].signer(), peers={VALIDATORS[0]: str(test_server.make_url("")).rstrip("/")})
    await dialler.start()
    try:
        await wait_until(lambda: receiver.up.get(VALIDATORS[1]) == 1, 5.0, "the link from validator 1")
        (link,) = receiver.links[VALIDATORS[1]]
        await receiver.close_all()
        assert link.closed
        await wait_until(lambda: link not in receiver.links.get(VALIDATORS[1], ()), 5.0,
                         "the link's handler to end: the shutdown has nothing left to wait for")
    finally:
        await dialler.close()
        await test_server.close()
