"""Four nodes on four hosts, played by four loopback addresses: a consortium
from `consort init --hosts 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5` (all on
one port, as four machines would be), each node binding its own address
only, dialling the others at theirs over TLS checked against the addresses
in their certificates, and committing the same blocks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from conftest import Payer, wait_agreement
from fixtures import PASSPHRASE, free_base_port, wait_until
from node.devtools.cluster import LocalCluster
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
NOT_NODES = ("127.0.0.1", "127.0.0.6")  # loopback addresses no node is configured at
CONNECT_TIMEOUT_S = 5.0


@pytest.fixture
def spread(tmp_path):
    """The consortium, written by the command line, its four nodes started (and stopped after)."""
    port = free_base_port(1, hosts=(*NOT_NODES, *HOSTS))
    directory = tmp_path / "consortium"
    environment = {**os.environ, ENV_VAR: PASSPHRASE}
    made = subprocess.run([sys.executable, "-m", "node.cli", "init", "--dir", str(directory), "--hosts",
                           ",".join(HOSTS), "--base-port", str(port), "--kdf-cost", "light", "--clients", "1"],
                          capture_output=True, text=True, timeout=120, env=environment, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stderr
    with LocalCluster(directory, passphrase=PASSPHRASE) as cluster:
        cluster.start_all()
        asyncio.run(cluster.wait_ready())
        yield cluster, port


async def refused(host: str, port: int) -> bool:
    """True if nothing listens at host:port (the connection is refused)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


def test_four_nodes_on_four_addresses_commit_the_same_blocks(spread):
    cluster, port = spread
    assert cluster.urls == [f"https://{host}:{port}" for host in HOSTS]
    payer = Payer(cluster)

    async def scenario():
        batches = await asyncio.gather(*(payer.send(via=i, payer=i, count=5) for i in range(4)))
        receipts = [receipt for batch in batches for receipt in batch]
        assert len(receipts) == 20 and all(receipt["ok"] for receipt in receipts)
        tip = max(receipt["height"] for receipt in receipts)
        agreed = await wait_agreement(cluster, [0, 1, 2, 3], height_min=tip)
        for replica_id, status in enumerate(agreed):  # the node at HOSTS[i] is replica i, linked both ways
            assert status["replica_id"] == replica_id
            assert all(link["inbound"] and link["outbound"] for link in status["peers"].values()), status["peers"]
        for replica_id in range(4):
            async with cluster.client(replica_id, cluster.regulator) as client:
                for receipt in receipts:
                    found = (await client.receipt(receipt["tx_hash"]))["receipt"]
                    assert found == receipt
        # Each node binds its own address only: nothing answers on the port at the
        # loopback addresses no node is configured at (and four nodes bound one
        # port, which a node on 0.0.0.0 would have prevented).
        for host in NOT_NODES:
            assert await refused(host, port), f"something listens at {host}:{port}"
        for host in HOSTS:
            assert not await refused(host, port)

    asyncio.run(scenario())


def test_a_node_stopped_on_its_host_is_caught_up_there_after_restart(spread):
    cluster, port = spread
    payer = Payer(cluster)

    async def scenario():
        cluster.kill(3)
        await wait_until(lambda: refused(HOSTS[3], port), 10.0, f"{HOSTS[3]}:{port} to close")
        receipts = await payer.send(via=0, payer=0, count=5)
        assert all(receipt["ok"] for receipt in receipts)
        cluster.start(3)
        await cluster.wait_ready([3])
        await wait_agreement(cluster, [0, 1, 2, 3], height_min=max(r["height"] for r in receipts))

    asyncio.run(scenario())
