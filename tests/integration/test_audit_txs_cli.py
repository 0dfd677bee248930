"""`consort audit txs`: against a stand-in node serving a built chain, an
untouched answer verifies (exit 0) and a tampered one is reported
transaction by transaction as not verified (exit 1); end to end on a
4-node cluster, an institution's payments come back verified, and a
member's key is refused."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import os
import subprocess
import sys

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from conftest import Payer
from consensus.messages import CommitCertificate
from crypto import encoding
from crypto.keys import KeyPair
from fixtures import PASSPHRASE
from node.api.audit_txs import entry_json, headers_json, parse_query, read_page
from node.audit.export import export_storage
from node.cli.audit_txs import audit_txs
from node.devtools.chainbuilder import ChainBuilder
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration


def flip_tx_proof(page: dict) -> None:
    page["txs"][0]["tx_proof"][0] = bytes(32).hex()


def swap_txs(page: dict) -> None:
    first, second = page["txs"][:2]
    first["tx"], second["tx"] = second["tx"], first["tx"]


def strip_certificate(page: dict) -> None:
    """The first transaction's header keeps one signature of its quorum."""
    certified = page["headers"][str(page["txs"][0]["height"])]
    certificate = CommitCertificate.from_wire(encoding.decode(bytes.fromhex(certified["certificate"])))
    certificate = dataclasses.replace(certificate, signatures=certificate.signatures[:1])
    certified["certificate"] = encoding.encode(certificate.to_wire()).hex()


async def run_against(builder: ChainBuilder, tamper, to_height: int) -> tuple[int, dict]:
    """`consort audit txs --institution bank-1` (in process) against a stand-in
    node that serves the builder's chain and pages changed by `tamper`."""
    raw_export = io.BytesIO()
    export_storage(builder.storage, raw_export)

    async def status(request):
        return web.json_response({"height": builder.ledger.tip.height})

    async def export(request):
        return web.Response(body=raw_export.getvalue())

    async def txs(request):
        included, headers, cursor = read_page(builder.ledger, parse_query(request.query, builder.ledger.tip.height - 1))
        page = {"txs": [entry_json(tx) for tx in included], "headers": headers_json(headers), "next": cursor}
        if page["txs"]:
            tamper(page)
        return web.json_response(page)

    app = web.Application()
    app.router.add_routes([web.get("/v1/status", status), web.get("/v1/export", export),
                           web.get("/v1/audit/txs", txs)])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        args = argparse.Namespace(node=str(server.make_url("")), institution="bank-1", type=None, from_height=1,
                                  to_height=to_height, limit=None)
        out = io.StringIO()
        status_code = await audit_txs(args, builder.genesis, KeyPair.generate().signer(), out)
        return status_code, json.loads(out.getvalue())
    finally:
        await server.close()


@pytest.mark.parametrize("tamper", [flip_tx_proof, swap_txs, strip_certificate])
async def test_the_command_reports_a_tampered_answer_and_exits_non_zero(tmp_path, tamper):
    builder = ChainBuilder(tmp_path / "chain")
    try:
        builder.build(4, 8)
        tip = builder.ledger.tip.height
        status_code, document = await run_against(builder, lambda page: None, tip - 1)
        assert status_code == 0 and document["count"] == document["verified"] == 2 * (tip - 1)
        status_code, document = await run_against(builder, tamper, tip - 1)
        assert status_code == 1 and document["not_verified"] >= 1
        assert not document["transactions"][0]["verified"] and document["transactions"][0]["problem"]
    finally:
        builder.close()


def consort(*args: str) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if name != "CONSORT_GENESIS"}
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**environment, ENV_VAR: PASSPHRASE}, stdin=subprocess.DEVNULL)


def test_consort_audit_txs_verifies_an_institutions_transactions_on_a_cluster(cluster):
    payer = Payer(cluster)

    async def load() -> tuple[list[dict], int]:
        sent = []
        for round_number in range(3):
            sent += await payer.send(via=round_number % 4, payer=0, count=3)
            await payer.send(via=1, payer=1, count=2)
        tail = await payer.send(via=2, payer=2, count=1)  # a later block certifies the receipts before it
        return sent, tail[0]["height"]

    sent, tail_height = asyncio.run(load())
    alpha = cluster.institutions[0]["id"]
    regulator_key = str(cluster.directory / cluster.index["regulators"][0]["client_keys"][0])
    genesis = str(cluster.directory / "genesis.json")
    common = ["--genesis", genesis, "--node", cluster.urls[3], "--ca", str(cluster.ca),
              "--from", "1", "--to", str(tail_height - 1)]
    result = consort("audit", "txs", "--institution", alpha, "--type", "settlement.pay", "--limit", "2",
                     "--key", regulator_key, *common)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    lines = document["transactions"]
    assert [line["tx_hash"] for line in lines] == [r["tx_hash"] for r in sent]
    assert [(line["height"], line["index"]) for line in lines] == [(r["height"], r["index"]) for r in sent]
    assert all(line["verified"] and line["institution"] == alpha and line["code"] == "ok" for line in lines)
    assert document["count"] == document["verified"] == len(sent) and document["not_verified"] == 0
    assert document["covered_to_height"] == tail_height - 1 and document["chain_verified_to"] == tail_height
    assert f"{len(sent)} transactions, {len(sent)} verified" in result.stderr

    member_key = str(cluster.directory / cluster.institutions[1]["client_keys"][0])
    refused = consort("audit", "txs", "--institution", alpha, "--key", member_key, *common)
    assert refused.returncode == 1 and "403" in refused.stderr and "Traceback" not in refused.stderr
