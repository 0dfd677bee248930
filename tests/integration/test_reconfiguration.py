"""Governance adds a validator to a running 4-validator cluster: the fifth
node follows the chain as an observer, becomes a validator at the next
checkpoint boundary, and from then on its votes count: with one original
validator killed, blocks still commit, and the quorum of four (n - f of
five) needs its signature. An
auditor holding the genesis file follows the change."""

from __future__ import annotations

import asyncio
import signal

import pytest

from conftest import free_base_port, statuses
from crypto.keys import KDF_COST_LIGHT
from fixtures import PASSPHRASE, wait_until
from node.devtools import story
from node.devtools.cluster import LocalCluster
from node.audit.verify import read_genesis, verify_node
from node.devtools.consortium import create_consortium

pytestmark = pytest.mark.integration
CHECKPOINT_INTERVAL = 8


@pytest.fixture
def five(tmp_path):
    directory = tmp_path / "consortium"
    create_consortium(directory, institutions=5, validators=4, base_port=free_base_port(5),
                      consensus={"checkpoint_interval": CHECKPOINT_INTERVAL, "window": 4 * CHECKPOINT_INTERVAL},
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    with LocalCluster(directory, log_level="info", passphrase=PASSPHRASE) as cluster:
        cluster.start_all()
        asyncio.run(cluster.wait_ready())
        yield cluster


async def pay_until(party, payee: str, height: int) -> None:
    """Pay `payee` one unit at a time (each payment waits for its block) until
    the chain reaches `height`."""
    async def reached() -> bool:
        if await story.height(party) >= height:
            return True
        await party.send("settlement.pay", {"from": party.institution, "to": payee, "currency": "EUR", "amount": 1})
        return False

    await wait_until(reached, 60, f"height {height}")


def test_a_validator_added_by_governance_votes_from_the_next_boundary(five):
    parties = story.parties(five.directory, five.index, PASSPHRASE)
    alpha, bravo, charlie, delta, echo = (parties[e["id"]] for e in five.index["institutions"])

    async def scenario():
        assert (await statuses(five, [4]))[0]["replica_id"] == -1  # observing
        proposed = await alpha.send("governance.propose", {"action": "add_validator",
                                                           "args": {"id": echo.institution}})
        proposal = proposed["output"]["proposal"]
        outcome = None
        for voter in (alpha, bravo, charlie, delta):
            outcome = (await voter.send("governance.vote", {"proposal": proposal, "yes": True}))["output"]
            if outcome["status"] == "passed":
                break
        assert outcome["status"] == "passed"
        effective = outcome["result"]["effective_height"]
        assert effective % CHECKPOINT_INTERVAL == 0
        await pay_until(alpha, bravo.institution, effective + 1)

        async def echo_validates() -> bool:
            return (await statuses(five, [4]))[0]["replica_id"] == 4

        await wait_until(echo_validates, 30, "the new validator to take its place (replica id 4)")
        async with alpha.client() as client:
            validators = (await client.get("/v1/governance/validators"))["validators"]
        assert [v[0] for v in validators][-1] == echo.institution and len(validators) == 5

        five.kill(3, signal.SIGKILL)
        before = await story.height(alpha)
        await pay_until(alpha, bravo.institution, before + 2)  # 4 of 5 votes: echo's is needed
        async with echo.client() as client:
            block = await client.block(before + 2)
        signers = {s["replica"] for s in block["certificate"]["signatures"]}
        assert signers == {0, 1, 2, 4}
        auditor = await verify_node(read_genesis(five.directory / "genesis.json"), alpha.url, signer=alpha.signer,
                                    ca=alpha.ca,
                                    progress=None)
        assert auditor.report.validator_changes == 1 and auditor.report.blocks >= before + 2

    asyncio.run(scenario())
