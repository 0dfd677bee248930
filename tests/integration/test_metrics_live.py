"""The operator site of live nodes: /metrics moves as blocks commit,
/healthz answers, /readyz says ready with a quorum of validators linked
and 503 with the reason once too few are left; the member API serves none
of them."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest

from conftest import Payer, scrape
from fixtures import wait_until
from node.client import ClientError

pytestmark = pytest.mark.integration

REQUEST_TIMEOUT_S = 5.0
WAIT_S = 30.0
PAY = "settlement.pay"
OVERDRAWN = 10 * 1_000_000_000_00  # ten times an opening balance: a failed receipt, not a refusal


def committed(found: dict, outcome: str) -> float:
    return found.get(("consort_ledger_transactions_total", (("outcome", outcome), ("type", PAY))), 0)


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with session.get(url) as response:
        return response.status, await response.json()


def test_metrics_health_and_readiness_of_a_live_cluster(cluster):
    payer = Payer(cluster)
    alpha = cluster.operator_urls[0]

    async def scenario():
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            assert await get_json(session, alpha + "/healthz") == (200, {"ok": True})

            async def peers_linked() -> bool:
                return (await scrape(alpha))[("consort_p2p_peers", ())] == 3

            await wait_until(peers_linked, WAIT_S, "bank-alpha linked both ways to its 3 peers")
            status, ready = await get_json(session, alpha + "/readyz")
            assert status == 200 and ready["ready"] and ready["reason"] is None, ready
            assert (ready["validator_peers"], ready["validator_peers_needed"]) == (3, 2)

            before = await scrape(alpha)
            paid = await payer.send(via=1, payer=1, count=20)
            duplicate = payer.pay(3)
            async with cluster.client(3) as client:
                overdrawn = await client.submit([payer.pay(3, amount=OVERDRAWN), duplicate], wait=True)
                with pytest.raises(ClientError) as refused:
                    await client.submit([duplicate])
            assert refused.value.code == "duplicate"
            assert all(r["ok"] for r in paid) and [r["ok"] for r in overdrawn["receipts"]] == [False, True]

            found: dict = {}

            async def alpha_applied_them() -> bool:
                found.update(await scrape(alpha))
                return committed(found, "ok") >= committed(before, "ok") + 21 and \
                    committed(found, "failed") >= committed(before, "failed") + 1

            await wait_until(alpha_applied_them, WAIT_S, lambda: f"bank-alpha to count the payments; saw "
                             f"ok {committed(found, 'ok')}, failed {committed(found, 'failed')}")
            assert found[("consort_consensus_height", ())] > before[("consort_consensus_height", ())]
            for histogram, labels in [("consort_consensus_block_commit_seconds", ()),
                                      ("consort_consensus_block_interval_seconds", ()),
                                      ("consort_ledger_write_seconds", (("kind", "block"),)),
                                      ("consort_ledger_write_seconds", (("kind", "snapshot"),))]:
                assert found[(histogram + "_count", labels)] > 0, histogram
            assert found[("consort_consensus_view", ())] == 0
            assert found[("consort_consensus_view_changes_total", ())] == 0
            assert ("consort_mempool_size", ()) in found
            bravo = await scrape(cluster.operator_urls[1])  # refused where it was submitted: delta
            delta = await scrape(cluster.operator_urls[3])
            assert delta[("consort_admission_refusals_total", (("reason", "duplicate"),))] == 1
            assert bravo[("consort_admission_refusals_total", (("reason", "duplicate"),))] == 0

            async with cluster.client(0) as client:  # the member API serves no operator route
                for path in ("/healthz", "/readyz", "/metrics"):
                    with pytest.raises(ClientError) as missing:
                        await client.get(path)
                    assert missing.value.status == 404

            cluster.kill(2, signal.SIGTERM)
            cluster.kill(3, signal.SIGTERM)
            answer: list = []

            async def not_ready() -> bool:
                answer[:] = await get_json(session, alpha + "/readyz")
                return answer[0] == 503

            await wait_until(not_ready, WAIT_S, lambda: f"bank-alpha not ready with 2 peers stopped; saw {answer}")
            assert not answer[1]["ready"] and answer[1]["validator_peers"] == 1
            assert "1 validators linked both ways, 2 needed for a quorum" in answer[1]["reason"]
            assert (await scrape(alpha))[("consort_p2p_peers", ())] == 1
            assert await get_json(session, alpha + "/healthz") == (200, {"ok": True})

    asyncio.run(scenario())
