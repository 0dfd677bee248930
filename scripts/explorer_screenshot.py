"""Take the explorer's screenshot for the README (docs/explorer.png) from a
real run: a 4-node consortium on 127.0.0.1 (in a temporary folder), signed
payments from every bank, the supply-chain story (assets, DvP, a netting
cycle) and the two MPC sessions of the demo, then bank-alpha's explorer
page in headless Chromium (node.devtools.browser), taken while payments
still commit. Every process it starts, it stops.

    .venv/bin/python scripts/explorer_screenshot.py [--out docs/explorer.png] [--base-port 7700]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from contracts.tx import sign_tx
from crypto.keys import KDF_COST_LIGHT, read_key_file
from node.client import ConsortClient
from node.devtools import mpc_story, story
from node.devtools.browser import Chromium, find_chromium
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import create_consortium, throwaway_passphrase

ROOT = Path(__file__).resolve().parents[1]
ROUNDS, BATCH = 6, 40        # payments per bank: ROUNDS x BATCH
PAGE_WAIT_S = 60.0
SETTLE_S = 2.0               # let the last block events and the summary they ask for arrive
SCALE = 0.8                  # of the page's CSS pixels: the PNG stays well under 300 KB


async def pay_rounds(cluster: LocalCluster, rounds: int, seed: int) -> int:
    """Each bank pays random others through its own node, `rounds` batches of BATCH; the count committed."""
    index, rng = cluster.index, random.Random(seed)
    ids = [e["id"] for e in index["institutions"]]
    nonce = time.time_ns() // 1000 * 1000
    committed = 0
    for _ in range(rounds):
        for replica_id, entry in enumerate(index["institutions"]):
            signer = read_key_file(cluster.directory / entry["client_keys"][0], cluster.passphrase).signer()
            txs = []
            for _ in range(BATCH):
                nonce += 1
                txs.append(sign_tx(signer, cluster.chain_id, nonce, "settlement.pay", {
                    "from": entry["id"], "to": rng.choice([i for i in ids if i != entry["id"]]),
                    "currency": index["currency"], "amount": rng.randint(100, 5_000_000)}))
            async with ConsortClient(cluster.urls[replica_id], ca=cluster.ca) as client:
                committed += len((await client.submit(txs, wait=True, timeout_ms=30_000))["receipts"])
    return committed


async def shoot(cluster: LocalCluster, out: Path, folder: Path, chromium: str) -> int:
    say = print
    say(f"payments: {await pay_rounds(cluster, ROUNDS, seed=7)} committed")
    await story.tell(cluster.directory, cluster.index, say, cluster.passphrase)
    await mpc_story.exposure(cluster.directory, cluster.index, say, cluster.passphrase)
    await mpc_story.fraud_list(cluster.directory, cluster.index, say, cluster.passphrase)
    async with Chromium(chromium, folder / "chromium") as browser:
        page = await browser.page()
        await page.navigate(cluster.operator_urls[0] + "/")
        more = asyncio.create_task(pay_rounds(cluster, 2, seed=8))  # the page follows them live
        deadline = time.monotonic() + PAGE_WAIT_S
        while not await page.evaluate('document.getElementById("live").className === "live on" && '
                                      '!document.getElementById("mpc-panel").hidden'):
            if time.monotonic() > deadline:
                raise TimeoutError("the explorer did not show its stream and MPC sessions in time")
            await asyncio.sleep(0.2)
        await more
        await asyncio.sleep(SETTLE_S)
        if page.exceptions():
            raise RuntimeError(f"the page threw: {page.exceptions()}")
        size = await page.screenshot(out, scale=SCALE)
        await page.close()
    say(f"wrote {out} ({size} bytes)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "explorer.png")
    parser.add_argument("--base-port", type=int, default=7700)
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium binary found (apt-get install chromium)", file=sys.stderr)
        return 1
    folder = Path(tempfile.mkdtemp(prefix="consort-explorer-"))
    passphrase, _ = throwaway_passphrase()
    create_consortium(folder / "consortium", institutions=4, base_port=args.base_port, passphrase=passphrase,
                      kdf_cost=KDF_COST_LIGHT, mpc=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with LocalCluster(folder / "consortium", log_level="warning", passphrase=passphrase) as cluster:
        cluster.start_all()
        asyncio.run(cluster.wait_ready())
        print(json.dumps({"explorer": cluster.operator_urls[0] + "/"}))
        return asyncio.run(shoot(cluster, args.out.resolve(), folder, chromium))


if __name__ == "__main__":
    sys.exit(main())
