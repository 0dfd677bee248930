"""The supply-chain-finance story on a 4-node cluster: a receivable is
registered, split, pledged, financed, sold delivery-versus-payment, frozen
and unfrozen, settled through a netting cycle, released and redeemed; all
nodes agree, money is conserved, and an auditor holding only the genesis
file verifies the chain (re-executing it) and the receivable's history."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from conftest import wait_agreement
from fixtures import PASSPHRASE
from node.devtools import story
from node.audit.verify import read_genesis, verify_node
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration


def regulator_key(cluster) -> str:
    return str(cluster.directory / cluster.index["regulators"][0]["client_keys"][0])


def export_of(cluster):
    path = cluster.directory / "chain.export"
    subprocess.run([sys.executable, "-m", "node.cli", "export", "--node", cluster.urls[3], "--out", str(path),
                    "--key", regulator_key(cluster), "--genesis", str(cluster.directory / "genesis.json"),
                    "--ca", str(cluster.ca)],
                   check=True, capture_output=True, timeout=120, env={**os.environ, ENV_VAR: PASSPHRASE})
    return path


def test_supply_chain_finance_story(cluster):
    outcome = story.run(cluster.directory, cluster.index, PASSPHRASE, say=lambda text: None)
    cycle = outcome["cycle"]
    # alpha owes bravo 50,250.00; bravo owes charlie 20,000.00; charlie and delta owe alpha 15,000.00 and 5,000.00
    assert cycle["positions"] == {"bank-alpha": -30_250_00, "bank-bravo": 30_250_00,
                                  "bank-charlie": 5_000_00, "bank-delta": -5_000_00}
    assert cycle["removed"] == [] and cycle["gross_total"] == 90_250_00 and cycle["net_total"] == 35_250_00
    assert outcome["payouts"][outcome["part"]] == {"bank-charlie": story.SPLIT_UNITS * story.FACE_VALUE}

    async def check():
        agreed = await wait_agreement(cluster, [0, 1, 2, 3], height_min=14)
        async with cluster.client(3, cluster.regulator) as client:  # the regulator sees every party's data
            accounts = (await client.get("/v1/accounts"))["accounts"]
            receivable = await client.get(f"/v1/assets/{outcome['receivable']}")
            listed = (await client.get("/v1/assets"))["assets"]
            history = (await client.get(f"/v1/assets/{outcome['receivable']}/history"))["history"]
        assert sum(a["balance"] for a in accounts) == 4 * 1_000_000_000_00
        assert receivable["status"] == "redeemed"
        assert listed == [outcome["receivable"], outcome["part"]]
        ops = [entry["op"] for entry in history]
        assert ops[:3] == ["register", "split", "pledge"] and "release" in ops and ops[-1] == "redeem"
        auditor = await verify_node(read_genesis(cluster.directory / "genesis.json"), cluster.urls[1],
                                    reexecute=True, signer=cluster.signer(cluster.regulator), ca=cluster.ca,
                                    progress=None)
        assert auditor.report.state_root.hex() == agreed[0]["state_root"]

    asyncio.run(check())
    audited = subprocess.run(
        [sys.executable, "-m", "node.cli", "audit", "history", outcome["receivable"], "--genesis",
         str(cluster.directory / "genesis.json"), "--node", cluster.urls[2], "--key", regulator_key(cluster),
         "--ca", str(cluster.ca)],
        capture_output=True, text=True, timeout=120, env={**os.environ, ENV_VAR: PASSPHRASE})
    assert audited.returncode == 0, audited.stderr
    lines = json.loads(audited.stdout)["transactions"]
    assert [line["type"] for line in lines][:3] == ["assets.register", "assets.split", "assets.pledge"]
    assert all(line["verified"] for line in lines)
    part = subprocess.run(
        [sys.executable, "-m", "node.cli", "audit", "history", outcome["part"], "--genesis",
         str(cluster.directory / "genesis.json"), "--file", str(export_of(cluster))],
        capture_output=True, text=True, timeout=120)
    assert part.returncode == 0, part.stderr
    part_types = [line["type"] for line in json.loads(part.stdout)["transactions"]]
    assert part_types[0] == "assets.split" and "settlement.dvp" in part_types and part_types[-1] == "assets.redeem"
    proved = subprocess.run(
        [sys.executable, "-m", "node.cli", "audit", "prove", "acct/bank-charlie/EUR", "--genesis",
         str(cluster.directory / "genesis.json"), "--node", cluster.urls[0], "--key", regulator_key(cluster),
         "--ca", str(cluster.ca)],
        capture_output=True, text=True, timeout=120, env={**os.environ, ENV_VAR: PASSPHRASE})
    assert proved.returncode == 0, proved.stderr
    answer = json.loads(proved.stdout)
    assert answer["verified"] and answer["present"] and isinstance(answer["value"], int)
