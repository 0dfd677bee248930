"""The main job: run a 4-institution consortium end to end and audit it.

Creates (or reuses) a consortium in --dir, starts 4 node processes on
127.0.0.1, sends signed payments through all four nodes, shows what the
ledger refuses and why, tells a supply-chain-finance story (node.devtools.story),
runs MPC sessions between the banks' nodes (node.devtools.mpc_story: a
borrower's total exposure sealed to the central bank, whether it is over the
large-exposure limit, and how many of one bank's customers are on another's
fraud list), waits until every node holds the same chain, prints balances and state
roots, audits the chain from the genesis file alone (re-executing every
block), and stops every process it started. A folder given by --dir keeps
configs and LevelDB data for inspection, restart or audit; without --dir
the demo works in a temporary folder and removes it at the end. The keys
are encrypted with CONSORT_PASSPHRASE when it is set (needed to restart the
nodes later), else with a random passphrase that no one keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import sys
import time
from pathlib import Path

import aiohttp

from contracts.tx import sign_tx
from crypto.keys import KDF_COST_LIGHT, KeyFileError, read_key_file
from node.audit.auditor import AuditFailure, ChainAuditor
from node.client import ClientError, ConsortClient, tls_context
from node.devtools.cluster import LocalCluster
from node.audit.verify import read_genesis, verify_node
from node.devtools import mpc_story, story
from node.devtools.consortium import create_consortium, throwaway_passphrase
from node.devtools.workfolder import work_folder
from node.runtime.passphrase import ENV_VAR, PassphraseError, PassphraseSource

BATCH = 100


def say(text: str = "") -> None:
    print(text, flush=True)


async def send_payments(directory: Path, index: dict, total: int, passphrase: str) -> tuple[int, int]:
    """Each institution pays random others through its own node; returns (ok, failed)."""
    chain_id = bytes.fromhex(index["chain_id"])
    ca = directory / index["ca_cert"]
    institutions = index["institutions"]
    ids = [e["id"] for e in institutions]
    counts = {"ok": 0, "failed": 0}
    rng = random.Random(7)

    async def institution_worker(entry: dict, share: int) -> None:
        signer = read_key_file(directory / entry["client_keys"][0], passphrase).signer()
        nonce = time.time_ns() // 1000 * 1000
        async with ConsortClient(entry["url"], signer=signer, chain_id=chain_id, ca=ca) as client:
            for start in range(0, share, BATCH):
                txs = []
                for _ in range(min(BATCH, share - start)):
                    nonce += 1
                    payee = rng.choice([i for i in ids if i != entry["id"]])
                    txs.append(sign_tx(signer, chain_id, nonce, "settlement.pay", {
                        "from": entry["id"], "to": payee, "currency": index["currency"],
                        "amount": rng.randint(100, 5_000_000), "reference": f"inv-{nonce % 100000}"}))
                result = await client.submit(txs, wait=True, timeout_ms=30_000)
                for receipt in result["receipts"]:
                    counts["ok" if receipt and receipt["ok"] else "failed"] += 1

    async def report() -> None:
        while counts["ok"] + counts["failed"] < total:
            await asyncio.sleep(1.0)
            say(f"    ... {counts['ok'] + counts['failed']:5d} / {total} committed")

    shares = [total // len(institutions) + (1 if i < total % len(institutions) else 0)
              for i in range(len(institutions))]
    reporter = asyncio.create_task(report())
    try:
        await asyncio.gather(*(institution_worker(e, s) for e, s in zip(institutions, shares)))
    finally:
        reporter.cancel()
    return counts["ok"], counts["failed"]


async def show_refusals(directory: Path, index: dict, passphrase: str) -> None:
    """What the ledger refuses: overdraft, wrong signer (failed receipts, as they
    depend on state); a negative amount, a forged signature, a replay (refused
    at the API, before anything reaches a block); and what the API will not
    show: anything to an unsigned request, one bank's receipt to another
    (a bank reading the balances sees its own), and a peer link without a
    certificate."""
    chain_id = bytes.fromhex(index["chain_id"])
    ca = directory / index["ca_cert"]
    a, b = index["institutions"][0], index["institutions"][1]
    signer = read_key_file(directory / a["client_keys"][1], passphrase).signer()
    nonce = time.time_ns() // 1000 * 1000 + 500
    pay = lambda n, payer, payee, amount: sign_tx(signer, chain_id, n, "settlement.pay", {  # noqa: E731
        "from": payer, "to": payee, "currency": index["currency"], "amount": amount})
    async with ConsortClient(a["url"], ca=ca) as client:
        for label, tx in (("overdraft", pay(nonce + 1, a["id"], b["id"], 2**61)),
                          ("pay from another bank's account", pay(nonce + 2, b["id"], a["id"], 100))):
            receipt = (await client.submit([tx], wait=True))["receipts"][0]
            say(f"    {label:<34} -> committed as failed receipt: {receipt['code']}")
        good = pay(nonce + 3, a["id"], b["id"], 100)
        for label, tx in (("a negative amount", pay(nonce + 4, a["id"], b["id"], -100)),
                          ("forged signature", dataclasses.replace(good, signature=bytes(64)))):
            try:
                await client.submit([tx], wait=True)
            except ClientError as exc:
                say(f"    {label:<34} -> refused, HTTP {exc.status} {exc.code}")
        await client.submit([good], wait=True)
        try:
            await client.submit([good], wait=True)
        except ClientError as exc:
            say(f"    {'replay of a committed payment':<34} -> refused, HTTP {exc.status} {exc.code}")
        try:
            await client.accounts()
        except ClientError as exc:
            say(f"    {'a read without a signed request':<34} -> refused, HTTP {exc.status} {exc.code}")
    bravo_signer = read_key_file(directory / b["client_keys"][0], passphrase).signer()
    async with ConsortClient(b["url"], signer=bravo_signer, chain_id=chain_id, ca=ca) as client:
        label = f"{b['id']} reads {a['id']}'s receipt"
        try:
            await client.receipt(good.hash.hex())
        except ClientError as exc:
            say(f"    {label:<34} -> refused, HTTP {exc.status} {exc.code}")
        rows = {row["institution"] for row in (await client.accounts())["accounts"]}
        say(f"    {b['id'] + ' reads the balances':<34} -> only its own: {', '.join(sorted(rows))}")
    say(f"    {'a peer link without a certificate':<34} -> {await peer_link_without_certificate(a['url'], ca)}")


async def peer_link_without_certificate(url: str, ca: Path) -> str:
    """Open a node's peer endpoint over TLS without a client certificate: how it answers."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url + "/v1/peer", ssl=tls_context(ca),
                                          timeout=aiohttp.ClientWSTimeout(5)) as ws:
                await ws.receive(timeout=10)
                return f"refused, link closed with code {ws.close_code}"
        except aiohttp.ClientError as exc:
            return f"refused: {type(exc).__name__}"


async def wait_same_height(cluster: LocalCluster, timeout_s: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = []
        for replica_id in range(len(cluster.urls)):
            async with cluster.client(replica_id) as client:
                statuses.append(await client.status())
        if len({(s["height"], s["state_root"]) for s in statuses}) == 1 or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(0.1)


async def audit(cluster: LocalCluster) -> ChainAuditor:
    """What `consort audit verify --reexecute --node URL --key K` does: stream the chain
    (as the regulator: the export is for auditors, regulators and validators), trust only genesis."""
    return await verify_node(read_genesis(cluster.directory / "genesis.json"), cluster.urls[0], reexecute=True,
                             signer=cluster.signer(cluster.regulator), ca=cluster.ca, progress=None)


async def main_async(directory: Path, payments: int, cluster: LocalCluster) -> int:
    index = cluster.index
    say(f"[2/8] starting {len(index['institutions'])} node processes on 127.0.0.1")
    cluster.start_all()
    await cluster.wait_ready()
    for entry in index["institutions"]:
        explorer = f"  explorer {entry['operator_url']}/" if entry.get("operator_url") else ""
        say(f"    {entry['id']:<14} replica {entry['replica_id']}  {entry['url']}{explorer}")
    started = time.monotonic()
    say(f"[3/8] sending {payments} signed payments through all {len(index['institutions'])} nodes")
    ok, failed = await send_payments(directory, index, payments, cluster.passphrase)
    elapsed = time.monotonic() - started
    say(f"    {ok + failed} committed ({ok} settled, {failed} failed receipts) in {elapsed:.1f} s "
        f"= {(ok + failed) / elapsed:.0f} tx/s")
    say("[4/8] what the ledger refuses")
    await show_refusals(directory, index, cluster.passphrase)
    say("[5/8] a supply-chain-finance story: receivable, split, pledge, financing, DvP, netting, redemption")
    await story.tell(directory, index, say, cluster.passphrase)
    say("[6/8] banks compute together without showing their figures (MPC between their nodes)")
    computed = await mpc_story.exposure(directory, index, say, cluster.passphrase)
    computed = await mpc_story.over_limit(directory, index, say, cluster.passphrase) and computed
    computed = await mpc_story.fraud_list(directory, index, say, cluster.passphrase) and computed
    say("[7/8] every node holds the same chain")
    statuses = await wait_same_height(cluster)
    for status in statuses:
        say(f"    {status['institution']:<14} height {status['height']:4d}  state root {status['state_root'][:32]}…")
    agreed = len({(s["height"], s["state_root"]) for s in statuses}) == 1
    async with cluster.client(0, cluster.regulator) as client:  # the central bank sees every account
        accounts = (await client.accounts())["accounts"]
    total = sum(a["balance"] for a in accounts)
    for account in accounts:
        say(f"    {account['institution']:<14} {account['currency']} {account['balance'] / 100:>18,.2f}")
    say(f"    total {index['currency']} {total / 100:,.2f} (money is neither created nor destroyed)")
    say("[8/8] auditing the chain from genesis.json (hash links, roots, certificates, re-execution)")
    try:
        auditor = await audit(cluster)
    except AuditFailure as exc:
        say(f"    AUDIT FAILED at {exc}")
        return 1
    roots_match = auditor.report.state_root.hex() == statuses[0]["state_root"]
    say(f"    {auditor.report.blocks} blocks, {auditor.report.txs} transactions, every certificate "
        f"holds a quorum (n - f) of valid signatures; re-executed state root "
        f"{'matches' if roots_match else 'DIFFERS FROM'} the nodes'")
    if auditor.mpc.report.results or auditor.mpc.report.aborted:
        say(f"    {auditor.mpc.report.summary()}")
    return 0 if agreed and roots_match and computed else 1


def open_or_create(directory: Path, base_port: int) -> tuple[str, bool]:
    """The consortium in `directory`, created if absent (its keys encrypted with the
    light KDF cost: it is a throwaway); its passphrase, and whether anyone keeps it."""
    if (directory / "consortium.json").exists():
        say(f"[1/8] reusing the consortium in {directory}")
        return PassphraseSource().read("passphrase of the consortium's keys: "), True
    passphrase, kept = throwaway_passphrase()
    create_consortium(directory, institutions=4, base_port=base_port, passphrase=passphrase, kdf_cost=KDF_COST_LIGHT,
                      mpc=True)
    whose = f"the passphrase in {ENV_VAR}" if kept else f"a random passphrase no one keeps (set {ENV_VAR} to choose one)"
    say(f"[1/8] created a 4-institution consortium in {directory}, its keys encrypted with {whose}")
    return passphrase, kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="work folder, kept afterwards (default: a temporary folder, removed at the end)")
    parser.add_argument("--payments", type=int, default=4000)
    parser.add_argument("--base-port", type=int, default=7100)
    args = parser.parse_args()
    with work_folder(args.dir, "consort-demo-") as folder:
        code = run_demo(folder.path, args)
        if not folder.kept:
            say(f"nodes stopped; the temporary folder {folder.path} is removed (--dir DIR keeps configs, keys, "
                "LevelDB data and node logs)")
    return code


def run_demo(directory: Path, args) -> int:
    """The demo in `directory`: create or reuse the consortium, run the story, stop every node."""
    try:
        passphrase, kept = open_or_create(directory, args.base_port)
    except PassphraseError as exc:
        say(f"demo failed: {exc}")
        return 1
    cluster = LocalCluster(directory, log_level="warning", passphrase=passphrase)
    try:
        code = asyncio.run(main_async(directory, args.payments, cluster))
    except (ClientError, KeyFileError, TimeoutError, RuntimeError) as exc:
        say(f"demo failed: {exc}")
        code = 1
    finally:
        cluster.close()
    if args.dir:
        say(f"nodes stopped. Configs, keys and LevelDB data remain in {directory}")
        if kept:
            say(f"  restart a node (with {ENV_VAR} set): consort node start --config {directory}/bank-alpha/node.json")
    return code


if __name__ == "__main__":
    sys.exit(main())
