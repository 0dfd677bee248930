"""A node serves other nodes' FETCH-BLOCKS from LevelDB off the event loop
that its consensus task shares, with at most fetches_per_peer_max at once
per peer, and answers with exactly the BLOCKS message of what it stored."""

from __future__ import annotations

import asyncio
import inspect
import threading

from api_node import open_api
from consensus.messages import Blocks, FetchBlocks, encode_message
from crypto.keys import KeyPair
from fixtures import wait_until
from node.runtime.layout import BLOCK, CHAIN

RELEASE_TIMEOUT_S = 10.0  # a guard against a deadlock only: the test releases the reads itself


class BlockingReads:
    """The node's LevelDB, whose reads of blocks wait until `release` is set."""

    def __init__(self, db) -> None:
        self.db = db
        self.release = threading.Event()
        self.reads = 0
        self.released: list[bool] = []

    def get(self, key: bytes, *args):
        if key.startswith(CHAIN) and key.endswith(BLOCK):
            self.reads += 1
            self.released.append(self.release.wait(RELEASE_TIMEOUT_S))
            self.release.set()  # after a timeout, let the other reads through
        return self.db.get(key, *args)

    def __getattr__(self, name: str):
        return getattr(self.db, name)


async def admitted(node, peer_key: bytes, message):
    event = node.inbound.admit(peer_key, message)
    return await event if inspect.isawaitable(event) else event


async def test_fetches_are_served_off_the_loop_and_bounded_per_peer(tmp_path, monkeypatch):
    async with open_api(tmp_path, limits={"fetches_per_peer_max": 1}) as api:
        for amount in (1, 2):
            await api.submit([api.pay(amount)])
        node = api.node
        expected = encode_message(Blocks(tuple(node.storage.block_and_certificate(h) for h in (1, 2))))
        replies: list[tuple[bytes, bytes]] = []
        monkeypatch.setattr(node.inbound.checks, "reply", lambda key, message: replies.append((key, message)))
        reads = BlockingReads(node.storage.db)
        monkeypatch.setattr(node.storage, "db", reads)
        alpha, bravo = KeyPair.generate().public_key, KeyPair.generate().public_key
        fetches = [asyncio.create_task(admitted(node, alpha, FetchBlocks(1, 2)))]
        try:
            await wait_until(lambda: reads.reads == 1, RELEASE_TIMEOUT_S, "the first fetch's read")
            status = await api.get("/v1/status")  # the event loop is free meanwhile
            assert status.status == 200 and not reads.release.is_set()
            assert await admitted(node, alpha, FetchBlocks(1, 2)) is None  # alpha's second: over its bound
            fetches.append(asyncio.create_task(admitted(node, bravo, FetchBlocks(2, 2))))
            await wait_until(lambda: reads.reads == 2, RELEASE_TIMEOUT_S, "bravo's fetch read alongside")
            assert not reads.release.is_set()
        finally:
            reads.release.set()
            await asyncio.gather(*fetches, return_exceptions=True)
        assert all(reads.released)
        assert sorted(replies) == sorted([(alpha, expected), (bravo, encode_message(
            Blocks((node.storage.block_and_certificate(2),))))])
