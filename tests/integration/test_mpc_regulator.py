"""Results for a regulator that runs no node, computed between the banks'
nodes of a live consortium (four banks, "central-bank" a regulator with an
MPC key and client keys but no node), each bank's input in its own node's
local input folder:

- a PSI count sealed to the central bank: two banks' nodes exchange
  blinded sets and seal their double-blindings to it; it counts the common
  customers; neither bank's node writes or is shown the count, and the box
  would not open for them;
- threshold checks: three banks' exposures to one borrower against a limit
  the central bank sets; the central bank learns "over" (true, then false
  with the limit at the sum itself) and nothing else; no bank's node learns
  the verdict, and the result on chain is sealed.

One cluster for every session; sessions run at once where they can.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from conftest import free_base_port
from crypto.keys import KDF_COST_LIGHT, read_key_file
from fixtures import PASSPHRASE, wait_until
from node.devtools import story
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import MPC_KEY, create_consortium
from node.mpc.runner import kx_from_key_file, write_local
from node.mpc.sealing import SealError, open_bundle, recipient_count_of_view, recipient_verdict_of_view
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration
REGULATOR = "central-bank"
BANKS = ("bank-alpha", "bank-bravo", "bank-charlie")  # comparator bank-alpha, evaluator bank-bravo
EXPOSURES = {"bank-alpha": 4_000_000_17, "bank-bravo": 2_500_000_29, "bank-charlie": 3_600_000_00}
TOTAL = sum(EXPOSURES.values())
VALUE_MAX = 10**12


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mpc-regulator") / "consortium"
    create_consortium(directory, institutions=4, base_port=free_base_port(4), passphrase=PASSPHRASE,
                      kdf_cost=KDF_COST_LIGHT, mpc=True, clients_per_institution=1)
    with LocalCluster(directory, log_level="info", passphrase=PASSPHRASE) as running:
        running.start_all()
        asyncio.run(running.wait_ready())
        yield running


def give_input(cluster: LocalCluster, institution: str, session_id: str, document: dict) -> None:
    """What `consort mpc input` writes, in the institution's own node's folder."""
    write_local(cluster.directory / institution / "mpc-inputs", f"{session_id}.json", document)


def mpc_key(cluster: LocalCluster, institution: str) -> tuple[bytes, bytes]:
    return kx_from_key_file(read_key_file(cluster.directory / institution / MPC_KEY, PASSPHRASE))


async def session_of(party, session_id: str) -> dict:
    async with party.client() as client:
        return (await client.get(f"/v1/mpc/sessions/{session_id}"))["session"]


async def until_closed(party, session_id: str, timeout_s: float = 60.0) -> dict:
    async def closed():
        record = await session_of(party, session_id)
        return record if record["status"] != "open" else None
    return await wait_until(closed, timeout_s, f"session {session_id} to close")


def consort(*args: str) -> dict:
    run = subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, ENV_VAR: PASSPHRASE}, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def reading(cluster: LocalCluster, institution: str, node: int = 0) -> list[str]:
    directory = cluster.directory
    return ["--node", cluster.urls[node], "--genesis", str(directory / "genesis.json"), "--ca", str(cluster.ca),
            "--key", str(directory / institution / "client-0.key")]


async def assert_banks_see_no_result(cluster: LocalCluster, parties: dict, record: dict, banks) -> None:
    """Each bank's node shows it that the result is sealed to the regulator, and
    no box; it wrote nothing but its input; the regulator's box does not open for it."""
    box = bytes.fromhex(record["result"]["sealed"][REGULATOR])
    for bank in banks:
        view = await session_of(parties[bank], record["id"])
        assert view["result"] == {"sealed": {}, "commitment": record["result"]["commitment"],
                                  "sealed_to": [REGULATOR]}
        local = sorted(path.name for path in (cluster.directory / bank / "mpc-inputs").iterdir())
        assert f"{record['id']}.json" in local and f"{record['id']}.result.json" not in local
        with pytest.raises(SealError, match="does not open"):
            open_bundle(record, box, mpc_key(cluster, bank))


def test_a_psi_count_sealed_to_the_regulator_is_read_by_it_alone(cluster):
    parties = story.parties(cluster.directory, cluster.index, PASSPHRASE)
    customers = {"bank-alpha": [f"customer-{n:05d}" for n in range(0, 120)],
                 "bank-charlie": [f"customer-{n:05d}" for n in range(100, 150)]}  # 20 in common
    common = len(set(customers["bank-alpha"]) & set(customers["bank-charlie"]))

    async def scenario() -> dict:
        opened = await parties["bank-alpha"].send("mpc.open", {
            "protocol": "psi_cardinality", "participants": sorted(customers), "params": {"set_size_max": 150},
            "deadline_height": await story.height(parties["bank-alpha"]) + 60, "result_to": [REGULATOR]})
        session_id = opened["output"]["session"]
        for bank, elements in customers.items():
            give_input(cluster, bank, session_id, {"elements": elements})
        record = await until_closed(parties[REGULATOR], session_id)
        assert record["status"] == "done" and record["result"]["sealed_to"] == [REGULATOR]
        assert sorted(record["attestation"]["signatures"]) == sorted(customers)
        assert recipient_count_of_view(record, REGULATOR, mpc_key(cluster, REGULATOR)) == common == 20
        await assert_banks_see_no_result(cluster, parties, record, sorted(customers))
        return record

    record = asyncio.run(scenario())
    opened = consort("mpc", "result", record["id"], "--institution", REGULATOR,
                     "--mpc-key", str(cluster.directory / REGULATOR / MPC_KEY), *reading(cluster, REGULATOR, 2))
    assert opened == {"session": record["id"], "sealed": True, "count": 20}


def test_the_regulator_learns_whether_the_exposures_are_over_the_limit_and_nothing_else(cluster):
    parties = story.parties(cluster.directory, cluster.index, PASSPHRASE)
    regulator = parties[REGULATOR]
    over = consort("mpc", "open", "threshold", "--participants", ",".join(BANKS), "--limit", str(TOTAL - 1),
                   "--value-max", str(VALUE_MAX), "--to", REGULATOR, *reading(cluster, REGULATOR, 1))
    over_id = over["receipts"][0]["output"]["session"]

    async def scenario() -> list[dict]:
        opened = await regulator.send("mpc.open", {
            "protocol": "threshold", "participants": list(BANKS), "params": {"limit": TOTAL, "value_max": VALUE_MAX},
            "deadline_height": await story.height(regulator) + 60, "result_to": [REGULATOR]})
        at_limit_id = opened["output"]["session"]
        for session_id in (over_id, at_limit_id):
            for bank in BANKS:
                give_input(cluster, bank, session_id, {"values": [EXPOSURES[bank]]})
        return [await until_closed(regulator, session_id) for session_id in (over_id, at_limit_id)]

    records = asyncio.run(scenario())
    kx = mpc_key(cluster, REGULATOR)
    for record, verdict in zip(records, (True, False)):
        assert record["status"] == "done", record.get("missing")
        assert record["result"]["sealed_to"] == [REGULATOR] and record["result"]["sealed"].keys() == {REGULATOR}
        assert sorted(record["attestation"]["signatures"]) == list(BANKS)
        assert all(len(points) == 1 for points in record["commitments"].values())
        assert recipient_verdict_of_view(record, REGULATOR, kx) is verdict
        asyncio.run(assert_banks_see_no_result(cluster, parties, record, BANKS))
    assert records[0]["params"] == {"limit": TOTAL - 1, "value_max": VALUE_MAX}
    printed = consort("mpc", "result", over_id, "--institution", REGULATOR,
                      "--mpc-key", str(cluster.directory / REGULATOR / MPC_KEY), *reading(cluster, REGULATOR, 3))
    assert printed == {"session": over_id, "over": True}
