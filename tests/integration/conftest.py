"""Real node processes on 127.0.0.1 with real LevelDB. Every process a test
starts is stopped by the fixture, also when the test fails."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.tx import sign_tx
from crypto.keys import KDF_COST_LIGHT, read_key_file
from api_node import open_api
from fixtures import PASSPHRASE, free_base_port, wait_until  # noqa: F401 - free_base_port: for the tests
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import create_consortium

pytestmark = pytest.mark.integration
SCRAPE_TIMEOUT_S = 5.0


@pytest.fixture
def cluster(tmp_path):
    directory = tmp_path / "consortium"
    create_consortium(directory, institutions=4, base_port=free_base_port(4), passphrase=PASSPHRASE,
                      kdf_cost=KDF_COST_LIGHT)
    with LocalCluster(directory, log_level="info", passphrase=PASSPHRASE) as local:
        local.start_all()
        asyncio.run(local.wait_ready())
        yield local


@pytest.fixture
async def api(tmp_path):
    """One in-process node behind its client API (api_node.Api)."""
    async with open_api(tmp_path) as node_api:
        yield node_api


class Payer:
    """Signs payments from each institution's first client key with fresh nonces."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.chain_id = bytes.fromhex(cluster.index["chain_id"])
        self.signers = [read_key_file(cluster.directory / e["client_keys"][0], PASSPHRASE).signer()
                        for e in cluster.institutions]
        self.nonce = time.time_ns() // 1000 * 1000
        self.ids = [e["id"] for e in cluster.institutions]

    def pay(self, payer: int, amount: int = 100):
        self.nonce += 1
        payee = self.ids[(payer + 1) % len(self.ids)]
        return sign_tx(self.signers[payer], self.chain_id, self.nonce, "settlement.pay",
                       {"from": self.ids[payer], "to": payee, "currency": "EUR", "amount": amount})

    async def send(self, via: int, payer: int, count: int, timeout_ms: int = 20_000) -> list[dict]:
        async with self.cluster.client(via) as client:
            result = await client.submit([self.pay(payer) for _ in range(count)], wait=True,
                                         timeout_ms=timeout_ms)
        return result["receipts"]


async def statuses(cluster: LocalCluster, replica_ids: list[int]) -> list[dict]:
    found = []
    for replica_id in replica_ids:
        async with cluster.client(replica_id) as client:
            found.append(await client.status())
    return found


async def wait_agreement(cluster: LocalCluster, replica_ids: list[int], height_min: int,
                         timeout_s: float = 20.0) -> list[dict]:
    """Wait until the replicas report one height >= height_min and one state root."""
    found: list[dict] = []

    async def agreed() -> bool:
        found[:] = await statuses(cluster, replica_ids)
        one_tip = len({(s["height"], s["state_root"]) for s in found}) == 1
        return one_tip and min(s["height"] for s in found) >= height_min

    def described() -> str:
        seen = [(s["height"], s["state_root"][:8]) for s in found]
        return f"agreement at a height >= {height_min}; (height, state root) per replica: {seen}"

    await wait_until(agreed, timeout_s, described)
    return found


async def scrape(operator_url: str) -> dict[tuple[str, tuple], float]:
    """A node's /metrics (its operator site): (sample name, sorted label pairs) -> value."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_S)) as session:
        async with session.get(operator_url + "/metrics") as response:
            assert response.status == 200 and response.content_type == "text/plain", response.status
            text = await response.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


__all__ = ["Payer", "scrape", "statuses", "wait_agreement", "Path"]
