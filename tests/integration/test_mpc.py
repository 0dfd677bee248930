"""Secure sums between the nodes of a live consortium (four validators, a
regulator without a node), each bank's input given in its own node's local
input folder:

- the total for all members: three banks' nodes commit, exchange masked
  vectors over their MPC links, and one puts the total with every node's
  signature on chain, where the contract checks it opens the commitments;
- the total sealed to the regulator: no bank's node can read it; the
  regulator opens its box and checks the total against the commitments;
- a bank that never gives its input: the session is aborted after its
  deadline, naming it;
- no input value appears in any block, and a member outside a session
  does not see its commitments.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from conftest import free_base_port, scrape
from crypto import encoding
from crypto.keys import KDF_COST_LIGHT, read_key_file
from fixtures import PASSPHRASE, wait_until
from node.devtools import story
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import MPC_KEY, create_consortium
from node.audit.verify import read_genesis, verify_node
from node.mpc.channel import KINDS, read_capture
from node.mpc.runner import kx_from_key_file, write_local
from node.mpc.sealing import recipient_result_of_view
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration
BANKS = ("bank-alpha", "bank-bravo", "bank-charlie")
# distinctive figures (exposures in minor units), to look for on chain
INPUTS = {"bank-alpha": [7_301_234_567_891, 1_000_017], "bank-bravo": [6_402_345_678_912, 2_000_029],
          "bank-charlie": [5_503_456_789_123, 0]}
TOTALS = [sum(v[i] for v in INPUTS.values()) for i in range(2)]
VALUE_MAX = 10**13
NODES = (*BANKS, "bank-delta")
CAPTURE = "mpc-sent.capture"
# customer identifiers of the PSI cardinality test: long enough that finding one in random bytes is no accident
CUSTOMERS = {"bank-alpha": [f"customer-{n:05d}" for n in range(0, 300)],
             "bank-delta": [f"customer-{n:05d}" for n in range(200, 450)]}  # 100 in common


@pytest.fixture(scope="module")
def mpc_cluster(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mpc") / "consortium"
    create_consortium(directory, institutions=4, base_port=free_base_port(4), passphrase=PASSPHRASE,
                      kdf_cost=KDF_COST_LIGHT, mpc=True, clients_per_institution=1)
    for node in NODES:  # every node keeps what it sends over its MPC links (see the last tests)
        config = json.loads((directory / node / "node.json").read_text())
        config["mpc"]["capture"] = CAPTURE
        (directory / node / "node.json").write_text(json.dumps(config))
    with LocalCluster(directory, log_level="info", passphrase=PASSPHRASE) as cluster:
        cluster.start_all()
        asyncio.run(cluster.wait_ready())
        yield cluster


def give_input(cluster: LocalCluster, institution: str, session_id: str, values: list[int] | dict) -> None:
    """The input file `consort mpc input` writes: {"values": [...]} (a list) or the document given."""
    write_local(cluster.directory / institution / "mpc-inputs", f"{session_id}.json",
                values if isinstance(values, dict) else {"values": values})


async def session_of(party, session_id: str) -> dict:
    async with party.client() as client:
        return (await client.get(f"/v1/mpc/sessions/{session_id}"))["session"]


async def open_sum(parties, result_to: list[str], deadline_blocks: int = 60) -> str:
    alpha = parties["bank-alpha"]
    height = await story.height(alpha)
    receipt = await alpha.send("mpc.open", {
        "protocol": "sum", "participants": list(BANKS), "params": {"length": 2, "value_max": VALUE_MAX},
        "deadline_height": height + deadline_blocks, "result_to": result_to})
    return receipt["output"]["session"]


async def sessions_ended(cluster: LocalCluster, outcome: str) -> dict[str, float]:
    """Each bank's node's count of sessions that ended `outcome` (its /metrics)."""
    urls = dict(zip((entry["id"] for entry in cluster.institutions), cluster.operator_urls))
    return {bank: (await scrape(urls[bank]))[("consort_mpc_sessions_total", (("outcome", outcome),))]
            for bank in BANKS}


async def until_counted(cluster: LocalCluster, outcome: str, before: dict[str, float], banks) -> None:
    """Wait until each of `banks`' nodes has counted one more session ending `outcome`."""
    async def counted():
        now = await sessions_ended(cluster, outcome)
        return all(now[bank] == before[bank] + 1 for bank in banks)
    await wait_until(counted, 30, f"{', '.join(banks)} to count a session {outcome}")


async def until_closed(party, session_id: str, timeout_s: float = 60.0) -> dict:
    async def closed():
        record = await session_of(party, session_id)
        return record if record["status"] != "open" else None
    return await wait_until(closed, timeout_s, f"session {session_id} to close")


def test_three_banks_sum_for_all_members(mpc_cluster):
    parties = story.parties(mpc_cluster.directory, mpc_cluster.index, PASSPHRASE)

    async def scenario():
        done_before = await sessions_ended(mpc_cluster, "done")
        session_id = await open_sum(parties, ["*"])
        for bank in BANKS:
            give_input(mpc_cluster, bank, session_id, INPUTS[bank])
        record = await until_closed(parties["bank-delta"], session_id)
        assert record["status"] == "done"
        await until_counted(mpc_cluster, "done", done_before, BANKS)  # each node's metrics
        assert record["result"]["clear"]["totals"] == TOTALS  # bank-delta, no participant, reads it too
        assert sorted(record["attestation"]["signatures"]) == list(BANKS)
        assert "commitments" not in record  # a member outside the session sees no commitments
        full = await session_of(parties["bank-bravo"], session_id)
        assert sorted(full["commitments"]) == list(BANKS) and len(full["commitments"]["bank-alpha"]) == 2

    asyncio.run(scenario())


def test_a_total_sealed_to_the_regulator_is_read_by_it_alone(mpc_cluster):
    parties = story.parties(mpc_cluster.directory, mpc_cluster.index, PASSPHRASE)
    regulator = parties["central-bank"]

    async def scenario():
        session_id = await open_sum(parties, ["central-bank"])
        for bank in BANKS:
            give_input(mpc_cluster, bank, session_id, INPUTS[bank])
        record = await until_closed(regulator, session_id)
        assert record["status"] == "done" and list(record["result"]["sealed"]) == ["central-bank"]
        own = await session_of(parties["bank-alpha"], session_id)
        assert own["result"]["sealed"] == {} and own["result"]["sealed_to"] == ["central-bank"]
        kx = kx_from_key_file(read_key_file(mpc_cluster.directory / "central-bank" / MPC_KEY, PASSPHRASE))
        result = recipient_result_of_view({**record, "participants": list(BANKS)}, "central-bank", kx)
        assert list(result.sums) == TOTALS

    asyncio.run(scenario())


def test_a_bank_that_gives_no_input_is_named_when_the_session_aborts(mpc_cluster):
    parties = story.parties(mpc_cluster.directory, mpc_cluster.index, PASSPHRASE)
    alpha = parties["bank-alpha"]

    async def scenario():
        aborted_before = await sessions_ended(mpc_cluster, "aborted")
        session_id = await open_sum(parties, ["*"], deadline_blocks=6)
        for bank in BANKS[:2]:
            give_input(mpc_cluster, bank, session_id, INPUTS[bank])

        async def two_committed():
            return sorted((await session_of(alpha, session_id))["commits"]) == list(BANKS[:2])

        await wait_until(two_committed, 30, "bank-alpha's and bank-bravo's commits")

        async def aborted():
            await alpha.send("settlement.pay", {"from": "bank-alpha", "to": "bank-delta", "currency": "EUR",
                                                "amount": 1})  # blocks go by: the deadline passes
            record = await session_of(alpha, session_id)
            return record if record["status"] == "aborted" else None

        record = await wait_until(aborted, 60, "the session to abort")
        assert record["missing"]["commits"] == ["bank-charlie"]
        await until_counted(mpc_cluster, "aborted", aborted_before, BANKS)  # each node's metrics

    asyncio.run(scenario())


def test_no_input_reaches_the_chain(mpc_cluster):
    """Every block so far (the sessions above included): no input value in any encoding."""
    async def blocks() -> list[bytes]:
        """Each block as stored (msgpack), and as the API shows it (JSON)."""
        found = []
        async with mpc_cluster.client(0, institution="central-bank") as client:
            tip = (await client.status())["height"]
            for height in range(1, tip + 1):
                found.append((await client._request("GET", f"/v1/blocks/{height}", {"format": "msgpack"}))[1])
                found.append(json.dumps(await client.block(height)).encode())
        return found

    raw = b"".join(asyncio.run(blocks()))
    assert b"mpc.result" in raw or b"mpc.commit" in raw
    for values in INPUTS.values():
        for value in values:
            if value < 2**20:
                continue  # small figures appear on chain for other reasons (heights, amounts)
            binary = [encoding.encode(value), value.to_bytes(8, "big"), value.to_bytes(8, "little")]
            forms = [*binary, *(form.hex().encode() for form in binary), str(value).encode()]
            assert not any(form in raw for form in forms), value


def consort(*args: str) -> dict:
    run = subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, ENV_VAR: PASSPHRASE}, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_the_command_line_opens_a_session_gives_inputs_and_the_regulator_reads_the_total(mpc_cluster):
    directory = mpc_cluster.directory
    reading = ["--node", mpc_cluster.urls[1], "--genesis", str(directory / "genesis.json"), "--ca", str(mpc_cluster.ca)]
    opened = consort("mpc", "open", "--participants", ",".join(BANKS), "--length", "2", "--value-max", str(VALUE_MAX),
                     "--result-to", "central-bank", "--key", str(directory / "bank-bravo" / "client-0.key"), *reading)
    session_id = opened["receipts"][0]["output"]["session"]
    for bank in BANKS:
        consort("mpc", "input", session_id, "--config", str(directory / bank / "node.json"),
                "--values", ",".join(str(v) for v in INPUTS[bank]))
    regulator = ["--key", str(directory / "central-bank" / "client-0.key"), *reading]

    def done():
        return consort("mpc", "status", session_id, *regulator)["status"] == "done"

    asyncio.run(wait_until(done, 60, "the session done"))
    result = consort("mpc", "result", session_id, "--institution", "central-bank",
                     "--mpc-key", str(directory / "central-bank" / "mpc.key"), *regulator)
    assert result == {"session": session_id, "sealed": True, "totals": TOTALS,
                      "checked": "the totals open every participant's commitments"}


def test_two_banks_learn_how_many_customers_they_share_and_nothing_else(mpc_cluster):
    parties = story.parties(mpc_cluster.directory, mpc_cluster.index, PASSPHRASE)
    alpha = parties["bank-alpha"]
    customers = CUSTOMERS

    async def scenario():
        height = await story.height(alpha)
        opened = await alpha.send("mpc.open", {
            "protocol": "psi_cardinality", "participants": ["bank-alpha", "bank-delta"],
            "params": {"set_size_max": 500}, "deadline_height": height + 60, "result_to": ["*"]})
        session_id = opened["output"]["session"]
        for bank, elements in customers.items():
            give_input(mpc_cluster, bank, session_id, {"elements": elements})  # whole: a node never reads half
        record = await until_closed(parties["bank-bravo"], session_id)
        assert record["status"] == "done" and record["result"]["clear"] == {"count": 100}
        assert sorted(record["attestation"]["signatures"]) == ["bank-alpha", "bank-delta"]
        return session_id

    asyncio.run(scenario())

    async def blocks() -> bytes:
        async with mpc_cluster.client(0, institution="central-bank") as client:
            tip = (await client.status())["height"]
            return b"".join([(await client._request("GET", f"/v1/blocks/{h}", {"format": "msgpack"}))[1]
                             for h in range(1, tip + 1)])

    raw = asyncio.run(blocks())
    assert not any(element.encode() in raw for elements in customers.values() for element in elements)


def test_an_aborted_sum_runs_again_without_the_bank_that_dropped_out(mpc_cluster):
    parties = story.parties(mpc_cluster.directory, mpc_cluster.index, PASSPHRASE)
    alpha, directory = parties["bank-alpha"], mpc_cluster.directory
    four = [*BANKS, "bank-delta"]

    async def aborted_session() -> str:
        height = await story.height(alpha)
        opened = await alpha.send("mpc.open", {
            "protocol": "sum", "participants": four, "params": {"length": 2, "value_max": VALUE_MAX},
            "deadline_height": height + 6, "result_to": ["*"]})
        session_id = opened["output"]["session"]
        for bank in BANKS:  # bank-delta never gives its input
            give_input(mpc_cluster, bank, session_id, INPUTS[bank])

        async def aborted():
            await alpha.send("settlement.pay", {"from": "bank-alpha", "to": "bank-bravo", "currency": "EUR",
                                                "amount": 1})
            record = await session_of(alpha, session_id)
            return record["status"] == "aborted"

        await wait_until(aborted, 60, "the four-bank session to abort")
        return session_id

    first = asyncio.run(aborted_session())
    reading = ["--node", mpc_cluster.urls[0], "--genesis", str(directory / "genesis.json"), "--ca", str(mpc_cluster.ca),
               "--key", str(directory / "bank-charlie" / "client-0.key")]  # a key the story's parties do not sign with
    again = consort("mpc", "rerun", first, *reading)["receipts"][0]["output"]["session"]
    assert again != first
    for bank in BANKS:
        give_input(mpc_cluster, bank, again, INPUTS[bank])

    async def result() -> dict:
        return await until_closed(alpha, again)

    record = asyncio.run(result())
    assert record["participants"] == list(BANKS) and record["result"]["clear"]["totals"] == TOTALS


def test_two_banks_learn_their_common_customers_and_the_chain_only_a_sealed_count(mpc_cluster):
    parties = story.parties(mpc_cluster.directory, mpc_cluster.index, PASSPHRASE)
    alpha = parties["bank-alpha"]
    customers = {"bank-alpha": ["ann", "bob", "cem", "dee"], "bank-bravo": ["bob", "dee", "eve"]}

    async def scenario() -> dict:
        height = await story.height(alpha)
        opened = await alpha.send("mpc.open", {
            "protocol": "psi_intersection", "participants": ["bank-alpha", "bank-bravo"],
            "params": {"set_size_max": 10}, "deadline_height": height + 60,
            "result_to": ["bank-alpha", "bank-bravo"]})
        session_id = opened["output"]["session"]
        for bank, elements in customers.items():
            give_input(mpc_cluster, bank, session_id, {"elements": elements})
        record = await until_closed(parties["central-bank"], session_id)
        assert record["status"] == "done" and sorted(record["result"]["sealed_to"]) == sorted(customers)
        return record

    record = asyncio.run(scenario())
    for bank in customers:
        local = json.loads((mpc_cluster.directory / bank / "mpc-inputs" / f"{record['id']}.result.json").read_text())
        assert local == {"count": 2, "intersection": ["bob", "dee"]}
        assert (mpc_cluster.directory / bank / "mpc-inputs" / f"{record['id']}.result.json").stat().st_mode & 0o077 == 0
    directory = mpc_cluster.directory
    reading = ["--node", mpc_cluster.urls[0], "--genesis", str(directory / "genesis.json"), "--ca", str(mpc_cluster.ca),
               "--key", str(directory / "bank-bravo" / "client-0.key")]
    opened = consort("mpc", "result", record["id"], "--institution", "bank-bravo",
                     "--mpc-key", str(directory / "bank-bravo" / "mpc.key"), *reading)
    assert opened["sealed"] and opened["count"] == 2


def test_the_auditor_checks_every_attestation_again_without_re_executing(mpc_cluster):
    """Run last: every session above, done or aborted, is in the audited chain."""
    async def scenario():
        async with mpc_cluster.client(0, institution="central-bank") as client:
            ids = (await client.get("/v1/mpc/sessions"))["sessions"]
            sessions = [(await client.get(f"/v1/mpc/sessions/{i}"))["session"] for i in ids]
        auditor = await verify_node(read_genesis(mpc_cluster.directory / "genesis.json"), mpc_cluster.urls[0],
                                    signer=mpc_cluster.signer("central-bank"), ca=mpc_cluster.ca, progress=None)
        return sessions, auditor.mpc.report

    sessions, report = asyncio.run(scenario())
    statuses = [s["status"] for s in sessions]
    assert statuses.count("done") >= 4 and statuses.count("aborted") >= 1
    assert (report.results, report.aborted) == (statuses.count("done"), statuses.count("aborted"))
    assert report.signatures >= 3 * 3 + 2


def input_forms(value: int) -> list[bytes]:
    """An input figure as it could appear in bytes: msgpack, 8 bytes either way, in hex, in decimal."""
    binary = [encoding.encode(value), value.to_bytes(8, "big"), value.to_bytes(8, "little")]
    return [*binary, *(form.hex().encode() for form in binary), str(value).encode()]


def test_no_input_or_set_element_travels_between_the_nodes(mpc_cluster):
    """Run after the sessions above: every MPC message every node sent, as
    its capture file holds it, and none carries an input figure or a
    customer identifier in any encoding."""
    sent = {node: read_capture(mpc_cluster.directory / node / CAPTURE) for node in NODES}
    assert set(KINDS) == {kind for messages in sent.values() for kind, _, _ in messages}
    raw = b"".join((mpc_cluster.directory / node / CAPTURE).read_bytes() for node in NODES)
    assert len(raw) > 2 * 32 * 550  # at least the PSI's blinded and double-blinded sets of 300 and 250 points
    for values in INPUTS.values():
        for value in (v for v in values if v >= 2**20):  # small figures: too short to tell from noise
            assert not any(form in raw for form in input_forms(value)), value
    for elements in CUSTOMERS.values():
        for element in elements:
            assert element.encode() not in raw and element.encode().hex().encode() not in raw, element
    assert (mpc_cluster.directory / "bank-alpha" / CAPTURE).stat().st_mode & 0o077 == 0
