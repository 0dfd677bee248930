"""Faults on a real 4-process cluster: the primary dies under load, a backup
is SIGKILLed again and again, a node loses its whole data folder."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time

import pytest

from conftest import Payer, statuses, wait_agreement
from fixtures import wait_until
from node.client import ClientError, ConsortClient

pytestmark = pytest.mark.integration


class Load:
    """Payments through the given nodes until stopped; remembers every acknowledged one."""

    def __init__(self, cluster, via: list[int], batch: int = 20) -> None:
        self.payer = Payer(cluster)
        self.cluster = cluster
        self.via = via
        self.batch = batch
        self.acknowledged: list[str] = []
        self.commit_times: list[float] = []
        self.sent_times: list[float] = []
        self.stop = asyncio.Event()

    async def run_one(self, via: int) -> None:
        async with ConsortClient(self.cluster.urls[via], timeout_s=30, ca=self.cluster.ca) as client:
            while not self.stop.is_set():
                txs = [self.payer.pay(via) for _ in range(self.batch)]
                sent_at = time.monotonic()
                try:
                    result = await client.submit(txs, wait=True, timeout_ms=15_000)
                except ClientError:
                    await asyncio.sleep(0.1)
                    continue
                for receipt in result["receipts"]:
                    if receipt is not None and receipt["ok"]:
                        self.acknowledged.append(receipt["tx_hash"])
                        self.commit_times.append(time.monotonic())
                        self.sent_times.append(sent_at)

    async def __aenter__(self) -> "Load":
        self.tasks = [asyncio.create_task(self.run_one(v)) for v in self.via]
        return self

    async def __aexit__(self, *exc) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)


def test_commits_resume_after_the_primary_is_killed(cluster):
    async def scenario():
        async with Load(cluster, via=[1, 2, 3]) as load:
            await wait_until(lambda: len(load.acknowledged) >= 200, 30, "load to commit")
            killed_at = time.monotonic()
            cluster.kill(0, signal.SIGKILL)
            await wait_until(lambda: load.sent_times[-1] > killed_at, 30, "a commit of a payment sent after the kill")
            first_commit_after = min(c for c, s in zip(load.commit_times, load.sent_times) if s > killed_at)
            count_at_resume = len(load.acknowledged)
            await wait_until(lambda: len(load.acknowledged) >= count_at_resume + 100, 30, "commits to continue")
        agreed = await wait_agreement(cluster, [1, 2, 3], height_min=1)
        assert all(s["view"] >= 1 and s["primary"] != 0 for s in agreed)
        print(f"\nprimary killed -> first new commit: {(first_commit_after - killed_at) * 1000:.0f} ms")

    asyncio.run(scenario())


def test_backup_sigkilled_repeatedly_loses_no_acknowledged_transaction(cluster):
    async def scenario():
        async with Load(cluster, via=[0, 1]) as load:
            for round_number in range(3):
                await wait_until(lambda n=len(load.acknowledged): len(load.acknowledged) >= n + 60, 30, "load")
                cluster.kill(3, signal.SIGKILL)
                await wait_until(lambda n=len(load.acknowledged): len(load.acknowledged) >= n + 60, 30,
                                 "commits with the backup down")
                cluster.start(3)
                await cluster.wait_ready([3])
        agreed = await wait_agreement(cluster, [0, 1, 2, 3], height_min=1, timeout_s=30)
        height = agreed[0]["height"]
        for replica_id in (0, 3):
            async with cluster.client(replica_id, cluster.regulator) as client:
                for tx_hash in load.acknowledged[::25]:
                    assert (await client.receipt(tx_hash))["receipt"]["ok"]
        assert height >= 1 and len(load.acknowledged) >= 360

    asyncio.run(scenario())


def test_node_with_a_wiped_data_folder_catches_up_by_state_transfer(cluster):
    async def scenario():
        async with Load(cluster, via=[0, 1]) as load:
            await wait_until(lambda: len(load.acknowledged) >= 200, 30, "load")
        cluster.kill(2, signal.SIGKILL)
        shutil.rmtree(cluster.directory / cluster.institutions[2]["id"] / "data")
        before = (await statuses(cluster, [0]))[0]
        cluster.start(2)
        await cluster.wait_ready([2])
        agreed = await wait_agreement(cluster, [0, 1, 2, 3], height_min=before["height"], timeout_s=30)
        assert agreed[2]["height"] >= before["height"] > 0
        async with Load(cluster, via=[2]) as load:
            await wait_until(lambda: len(load.acknowledged) >= 40, 30, "commits through the restored node")
        await wait_agreement(cluster, [0, 1, 2, 3], height_min=before["height"] + 1)

    asyncio.run(scenario())
