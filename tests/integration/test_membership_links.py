"""Following the membership never stops consensus: the node updates its
links (dialling new nodes, closing departed ones' links) off the consensus
task, so a link that is slow to close, or a dial that hangs, cannot keep
blocks from committing. (On a live cluster, one validator whose inbound
link to a rotated-out key did not close halted there for good.)"""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.integration


async def test_blocks_commit_while_the_link_update_hangs(api):
    hanging = asyncio.Event()

    async def hang(peers) -> None:
        hanging.set()
        await asyncio.Event().wait()  # a link that never closes

    api.node.peers.set_peers = hang
    api.node.membership_changed = True  # as after a block that changed the node directory
    status, _ = await api.submit([api.pay(1)])
    assert status == 200
    await asyncio.wait_for(hanging.wait(), 5)
    status, body = await asyncio.wait_for(api.submit([api.pay(2)]), 10)  # the next block still commits
    assert status == 200 and body["receipts"][0]["code"] == "ok"


async def test_a_departed_members_link_is_cut_even_if_its_close_hangs(api):
    """close_non_members gives each close a bounded time."""
    class StuckLink:
        closed = False

        async def close(self, **_) -> None:
            await asyncio.Event().wait()

    inbound = api.node.inbound
    stranger = bytes(32)
    inbound.links[stranger] = {StuckLink()}
    closed = await asyncio.wait_for(inbound.close_non_members(), 10)
    assert closed == 1
