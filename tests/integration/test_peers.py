"""Peer links: the mutual handshake admits member node keys only, and
frames reach the receiver intact."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from consensus.validators import ValidatorHistory, ValidatorSet
from crypto.keys import KeyPair
from fixtures import wait_until
from node.runtime.config import Limits
from node.runtime.inbound import InboundPeers, PeerChecks
from node.runtime.peers import PeerLinks, pack_frame, unpack_frame

CHAIN_ID = bytes(range(32))
KEYS = [KeyPair.from_seed(bytes([i + 10]) * 32) for i in range(4)]
VALIDATORS = tuple(k.public_key for k in KEYS)


class RecordingInbound(InboundPeers):
    """Inbound links whose frames are recorded raw instead of decoded."""

    def __init__(self, signer, received: asyncio.Queue) -> None:
        checks = PeerChecks(is_member=lambda key: key in VALIDATORS,
                            history=lambda: ValidatorHistory.of(ValidatorSet(CHAIN_ID, VALIDATORS)),
                            admission=None, storage=None, reply=lambda key, message: None)
        super().__init__(CHAIN_ID, signer, Limits(), checks, asyncio.Queue())
        self.received = received

    async def on_frame(self, peer_key: bytes, frame: bytes) -> None:
        await self.received.put((peer_key, frame))


def links(signer, peers: dict) -> PeerLinks:
    return PeerLinks(CHAIN_ID, signer, peers, Limits())


@pytest.fixture
async def server():
    received: asyncio.Queue = asyncio.Queue()
    receiver = RecordingInbound(KEYS[0].signer(), received)
    app = web.Application()
    app.router.add_get("/v1/peer", receiver.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield receiver, str(test_server.make_url("")).rstrip("/"), received
    await test_server.close()


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
