"""Peer links: the mutual handshake admits genesis validators only, and
frames reach the receiver intact."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from crypto.keys import KeyPair
from node.config import Limits, Peer
from node.peers import PeerLinks, pack_frame, unpack_frame

CHAIN_ID = bytes(range(32))
KEYS = [KeyPair.from_seed(bytes([i + 10]) * 32) for i in range(4)]
VALIDATORS = tuple(k.public_key for k in KEYS)


def links(replica_id: int, signer, peers=(), on_frame=None) -> PeerLinks:
    async def ignore(sender, frame):
        return None
    return PeerLinks(CHAIN_ID, replica_id, VALIDATORS, signer, tuple(peers), Limits(), on_frame or ignore)


@pytest.fixture
async def server():
    received: asyncio.Queue = asyncio.Queue()

    async def on_frame(sender: int, frame: bytes) -> None:
        await received.put((sender, frame))

    receiver = links(0, KEYS[0].signer(), on_frame=on_frame)
    app = web.Application()
    app.router.add_get("/v1/peer", receiver.handle_inbound)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield receiver, str(test_server.make_url("")).rstrip("/"), received
    await test_server.close()


async def wait_until(predicate, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_validator_connects_and_frames_arrive(server):
    receiver, url, received = server
    dialler = links(1, KEYS[1].signer(), peers=[Peer(0, url)])
    await dialler.start()
    try:
        await wait_until(lambda: dialler.outbound_up[0])
        dialler.send(0, b"first")
        dialler.send(0, b"second")
        sender, frame = await asyncio.wait_for(received.get(), 5)
        messages = unpack_frame(frame)
        while len(messages) < 2:
            messages += unpack_frame((await asyncio.wait_for(received.get(), 5))[1])
        assert sender == 1 and messages == [b"first", b"second"]
        assert receiver.inbound_up[1] == 1 and receiver.refused == 0
    finally:
        await dialler.close()


@pytest.mark.parametrize("claimed_id, key", [(1, KeyPair.from_seed(b"\x99" * 32)), (2, KEYS[1])])
async def test_unknown_key_or_key_of_another_replica_is_refused(server, claimed_id, key):
    receiver, url, received = server
    rogue = links(claimed_id, key.signer(), peers=[Peer(0, url)])
    await rogue.start()
    try:
        rogue.send(0, b"let me in")
        await wait_until(lambda: receiver.refused >= 3)  # several dial attempts, each refused
        assert not rogue.outbound_up[0]
        assert received.empty() and not receiver.inbound_up.get(claimed_id)
    finally:
        await rogue.close()


def test_frames_round_trip_and_truncated_frames_are_refused():
    messages = [b"a", b"bc" * 100, b"\x00"]
    frame = pack_frame(messages)
    assert unpack_frame(frame) == messages
    for broken in (frame[:-1], frame[:3], b"\x00\x00\x00\x00", b"\x00\x00\x00\x05ab"):
        with pytest.raises(ValueError):
            unpack_frame(broken)
