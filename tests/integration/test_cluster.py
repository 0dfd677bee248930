"""A 4-node consortium as real processes: commits, a killed backup, SIGKILL
and restart."""

from __future__ import annotations

import asyncio
import signal

import pytest

from conftest import Payer, statuses, wait_agreement
from consensus.auth import verify_certificate
from consensus.messages import CommitCertificate
from consensus.validators import ValidatorSet
from fixtures import wait_until
from node.audit.verify import read_genesis

pytestmark = pytest.mark.integration


def certificate_problem(block: dict, genesis) -> str | None:
    """Why a block's certificate (as /v1/blocks shows it) does not certify its hash under
    the genesis validators, or None."""
    shown = block["certificate"]
    certificate = CommitCertificate(shown["view"], shown["seq"], bytes.fromhex(shown["digest"]),
                                    tuple((s["replica"], bytes.fromhex(s["signature"])) for s in shown["signatures"]))
    return verify_certificate(certificate, bytes.fromhex(block["hash"]),
                              ValidatorSet(genesis.chain_id, genesis.validator_keys))


def test_payments_through_every_node_commit_and_state_roots_agree(cluster):
    payer = Payer(cluster)

    async def scenario():
        receipts = await asyncio.gather(*(payer.send(via=i, payer=i, count=50) for i in range(4)))
        assert all(r is not None and r["ok"] for batch in receipts for r in batch)
        agreed = await wait_agreement(cluster, [0, 1, 2, 3], height_min=1)
        async with cluster.client(2, cluster.regulator) as client:  # every party's accounts
            accounts = (await client.accounts())["accounts"]
        assert sum(a["balance"] for a in accounts) == 4 * 1_000_000_000_00
        assert {a["balance"] for a in accounts} == {1_000_000_000_00}  # each paid and was paid 50 x 100
        return agreed

    agreed = asyncio.run(scenario())
    assert sum(s["committed_txs"] for s in agreed) == 4 * 200


def test_three_nodes_keep_committing_with_one_backup_killed(cluster):
    payer = Payer(cluster)

    async def scenario():
        await payer.send(via=1, payer=1, count=20)
        cluster.kill(3, signal.SIGKILL)
        before = (await statuses(cluster, [0]))[0]["height"]
        for round_number in range(3):
            receipts = await payer.send(via=round_number % 3, payer=round_number % 3, count=30)
            assert all(r is not None and r["ok"] for r in receipts)
        agreed = await wait_agreement(cluster, [0, 1, 2], height_min=before + 1)
        assert agreed[0]["height"] >= before + 3

    asyncio.run(scenario())


def test_node_killed_with_sigkill_comes_back_at_its_height_with_the_same_state(cluster):
    payer = Payer(cluster)

    async def load(stop: asyncio.Event) -> int:
        sent = 0
        while not stop.is_set():
            receipts = await payer.send(via=0, payer=0, count=40)
            sent += sum(1 for r in receipts if r is not None and r["ok"])
        return sent

    async def scenario():
        stop = asyncio.Event()
        loader = asyncio.create_task(load(stop))
        await wait_agreement(cluster, [0, 1, 2], height_min=3, timeout_s=30)
        killed_status = (await statuses(cluster, [2]))[0]
        cluster.kill(2, signal.SIGKILL)  # under load, mid-stream
        async def moved_on() -> bool:
            return min(s["height"] for s in await statuses(cluster, [0, 1])) >= killed_status["height"] + 2

        await wait_until(moved_on, 30, "the others to commit while it is down")
        stop.set()
        sent = await loader
        assert sent > 0
        cluster.start(2)
        await cluster.wait_ready([2])
        back = (await statuses(cluster, [2]))[0]
        assert back["height"] >= killed_status["height"]
        async with cluster.client(0) as client:
            reference = await client.block(back["height"])
        assert back["state_root"] == reference["result"]["state_root"]
        assert back["block_hash"] == reference["hash"]
        async with cluster.client(2) as client:
            own = await client.block(back["height"])
        # Each node may hold another quorum of COMMITs for the block; each must certify it.
        assert own["hash"] == reference["hash"]
        for found in (own, reference):
            assert certificate_problem(found, read_genesis(cluster.directory / "genesis.json")) is None

    asyncio.run(scenario())
