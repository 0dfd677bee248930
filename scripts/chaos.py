"""Chaos: a 4-node consortium under steady load while nodes are SIGKILLed.

Every few seconds (seeded) one node is killed with SIGKILL, sometimes the
primary, and restarted after a short pause; some kills keep a node down for
tens of seconds, so the other three carry on alone. One node at most is down
at a time (f = 1), and the next kill waits until the restarted node has
caught up. At the end the load stops, every node must hold the same height
and state root and be in the same view, and then, with the nodes stopped,
every transaction the API acknowledged as committed must have its receipt
in every node's LevelDB, and money must be conserved.

Shows progress; writes chaos.json and chaos.svg (committed tx/s over time,
a line at each kill and each return, down intervals shaded, red when the
primary was killed: --out, else in --dir, else in the current folder); the
last line is one JSON object. Exit status 0 only if nothing was lost and
every node agrees. Without --dir the consortium lives in a temporary
folder, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from contracts.genesis import account_key, genesis_from_json
from contracts.tx import sign_tx
from crypto import encoding
from crypto.keys import KDF_COST_LIGHT, read_key_file
from netsim.plot import Fault, write_timeline_plot
from node.client import ClientError, ConsortClient
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import create_consortium, throwaway_passphrase
from node.devtools.progress import Progress
from node.devtools.workfolder import work_folder
from node.runtime.storage import Storage

OPENING_BALANCE = 1_000_000_000_00
NODES = 4
SUBMIT_TIMEOUT_MS = 10_000
CATCH_UP_TIMEOUT_S = 90.0
CATCH_UP_MARGIN_BLOCKS = 2
AGREEMENT_TIMEOUT_S = 90.0
STATUS_TIMEOUT_S = 2.0


@dataclass
class Ledger:
    """What the load saw: acknowledged transactions and when."""

    start: float
    acked: dict[bytes, float] = field(default_factory=dict)  # tx hash -> seconds since start
    ack_times: list[float] = field(default_factory=list)
    submitted_at: dict[bytes, float] = field(default_factory=dict)
    failed_receipts: int = 0
    errors: int = 0

    def now(self) -> float:
        return time.monotonic() - self.start


@dataclass
class Kill:
    at_s: float
    node: int
    primary: bool
    down_s: float
    back_s: float = 0.0
    recovery_s: float | None = None


async def worker(number: int, cluster: LocalCluster, up: list[bool], key_path: Path, institution: str,
                 others: list[str], chain_id: bytes, batch: int, stop: asyncio.Event, ledger: Ledger) -> None:
    signer = read_key_file(key_path, cluster.passphrase).signer()
    rng = random.Random(number)
    nonce = time.time_ns() // 1000 * 1000
    while not stop.is_set():
        candidates = [i for i in range(NODES) if up[i]]
        url = cluster.urls[rng.choice(candidates)]
        txs = []
        for _ in range(batch):
            nonce += 1
            txs.append(sign_tx(signer, chain_id, nonce, "settlement.pay", {
                "from": institution, "to": rng.choice(others), "currency": "EUR", "amount": rng.randint(1, 1000)}))
        sent = ledger.now()
        for tx in txs:
            ledger.submitted_at[tx.hash] = sent
        try:
            async with ConsortClient(url, timeout_s=SUBMIT_TIMEOUT_MS / 1000 + 5, ca=cluster.ca) as client:
                result = await client.submit(txs, wait=True, timeout_ms=SUBMIT_TIMEOUT_MS)
        except ClientError:
            ledger.errors += 1
            await asyncio.sleep(0.1)
            continue
        for tx, receipt in zip(txs, result.get("receipts") or []):
            if receipt is None:
                continue
            if not receipt["ok"]:
                ledger.failed_receipts += 1
                continue
            at = ledger.now()
            ledger.acked[tx.hash] = at
            ledger.ack_times.append(at)


async def statuses(cluster: LocalCluster, nodes: list[int]) -> dict[int, dict]:
    found = {}
    for node in nodes:
        try:
            async with cluster.client(node, timeout_s=STATUS_TIMEOUT_S) as client:
                found[node] = await client.status()
        except ClientError:
            pass
    return found


async def current_primary(cluster: LocalCluster, up: list[bool]) -> int | None:
    """The primary most live nodes name (replica index = node index: all four validate)."""
    names = [s["primary"] for s in (await statuses(cluster, [i for i in range(NODES) if up[i]])).values()]
    return max(set(names), key=names.count) if names else None


async def caught_up(cluster: LocalCluster, node: int, timeout_s: float) -> bool:
    """Wait until `node` has reached the height the others had just before it
    was asked (the chain moves on while the statuses are read)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        others = [s["height"] for s in (await statuses(cluster, [i for i in range(NODES) if i != node])).values()]
        own = (await statuses(cluster, [node])).get(node)
        if others and own is not None and own["height"] >= max(others) - CATCH_UP_MARGIN_BLOCKS:
            return True
        await asyncio.sleep(0.2)
    return False


async def chaos(args, cluster: LocalCluster, up: list[bool], ledger: Ledger, kills: list[Kill]) -> list[str]:
    """Kill and restart nodes; returns problems seen along the way."""
    rng = random.Random(args.seed)
    problems = []
    with Progress("chaos", total=args.kills, unit="kills", show_rate=False) as bar:
        for number in range(1, args.kills + 1):
            await asyncio.sleep(rng.uniform(args.gap_s_min, args.gap_s_max))
            primary = await current_primary(cluster, up)
            aim_at_primary = primary is not None and rng.random() < args.primary_share
            victim = primary if aim_at_primary else rng.randrange(NODES)
            long_down = rng.random() < args.long_share
            down_s = rng.uniform(15, 30) if long_down else rng.uniform(0.3, 3.0)
            kill = Kill(round(ledger.now(), 2), victim, victim == primary, round(down_s, 1))
            kills.append(kill)
            cluster.kill(victim, signal.SIGKILL)
            up[victim] = False
            bar.update(number - 1, note=f"node {victim}{' (primary)' if kill.primary else ''} killed at "
                                        f"{kill.at_s:.1f} s, down {down_s:.1f} s; {len(ledger.acked):,} committed")
            await asyncio.sleep(down_s)
            cluster.start(victim)
            try:
                await cluster.wait_ready([victim], timeout_s=60)
            except (TimeoutError, RuntimeError) as exc:
                problems.append(f"kill {number}: node {victim} did not come back: {exc}")
                break
            kill.back_s = round(ledger.now(), 2)
            if not await caught_up(cluster, victim, CATCH_UP_TIMEOUT_S):
                problems.append(f"kill {number}: node {victim} did not catch up in {CATCH_UP_TIMEOUT_S:.0f} s")
                break
            up[victim] = True  # clients use it again once it has caught up (a lagging node answers late)
            bar.update(number, note=f"node {victim} back and caught up; {len(ledger.acked):,} committed")
        if problems:
            bar.note = f"stopped: {problems[-1]}"
    return problems


async def progress(ledger: Ledger, stop: asyncio.Event, timeline: list) -> None:
    last = 0
    while not stop.is_set():
        await asyncio.sleep(1.0)
        count = len(ledger.ack_times)
        timeline.append((round(ledger.now(), 1), count - last))
        last = count


async def agreement(cluster: LocalCluster) -> dict[int, dict]:
    deadline = time.monotonic() + AGREEMENT_TIMEOUT_S
    while True:
        found = await statuses(cluster, list(range(NODES)))
        if len(found) == NODES and len({(s["height"], s["state_root"], s["view"]) for s in found.values()}) == 1:
            return found
        if time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


def recovery_times(kills: list[Kill], ledger: Ledger) -> None:
    """For each kill of the primary: from the kill to the first acknowledged
    transaction that was submitted after it."""
    after = sorted((ledger.submitted_at[h], at) for h, at in ledger.acked.items())
    for kill in kills:
        if kill.primary:
            kill.recovery_s = next((round(at - kill.at_s, 2) for sent, at in after if sent >= kill.at_s), None)


def longest_stall_s(ledger: Ledger, end_s: float) -> float:
    times = [0.0, *sorted(ledger.ack_times), end_s]
    return round(max(b - a for a, b in zip(times, times[1:])), 2)


def check_stores(directory: Path, index: dict, acked: dict[bytes, float]) -> dict:
    """With the nodes stopped: every acknowledged transaction in every store, and money conserved."""
    genesis = genesis_from_json((directory / "genesis.json").read_text())
    missing, totals = {}, {}
    for entry in index["institutions"]:
        storage = Storage(directory / entry["id"] / "data", genesis.chain_id)
        try:
            missing[entry["id"]] = sum(1 for h in acked if storage.tx_location(h) is None)
            totals[entry["id"]] = sum(encoding.decode(storage.state_get(account_key(i["id"], "EUR")))
                                      for i in index["institutions"])
        finally:
            storage.close()
    return {"missing_by_node": missing, "money_by_node": totals,
            "money_conserved": set(totals.values()) == {OPENING_BALANCE * len(index["institutions"])}}


async def run(args, directory: Path, cluster: LocalCluster) -> tuple[dict, dict[bytes, float]]:
    """The chaos run's figures, and the acknowledged transactions."""
    index = json.loads((directory / "consortium.json").read_text())
    institutions = index["institutions"]
    chain_id = bytes.fromhex(index["chain_id"])
    await cluster.wait_ready()
    ledger, kills, timeline = Ledger(time.monotonic()), [], []
    up = [True] * NODES
    stop = asyncio.Event()
    workers = []
    for number in range(args.workers):
        entry = institutions[number % NODES]
        key = entry["client_keys"][(number // NODES) % len(entry["client_keys"])]
        others = [e["id"] for e in institutions if e["id"] != entry["id"]]
        workers.append(asyncio.create_task(worker(number, cluster, up, directory / key, entry["id"], others,
                                                  chain_id, args.batch, stop, ledger)))
    ticker = asyncio.create_task(progress(ledger, stop, timeline))
    try:
        problems = await chaos(args, cluster, up, ledger, kills)
        await asyncio.sleep(args.gap_s_max)  # the last restarted node under load once more
    finally:
        stop.set()
        await asyncio.gather(*workers, ticker, return_exceptions=True)
    end_s = ledger.now()
    final = await agreement(cluster)
    recovery_times(kills, ledger)
    states = {(s["height"], s["state_root"]) for s in final.values()}
    views = sorted({s["view"] for s in final.values()})
    recoveries = [k.recovery_s for k in kills if k.primary and k.recovery_s is not None]
    result = {
        "seed": args.seed, "kills": len(kills), "primary_kills": sum(k.primary for k in kills),
        "long_downs": sum(k.down_s >= 15 for k in kills), "committed": len(ledger.acked),
        "failed_receipts": ledger.failed_receipts, "request_errors": ledger.errors,
        "duration_s": round(end_s, 1), "longest_stall_s": longest_stall_s(ledger, end_s),
        "primary_recovery_s": {"median": round(statistics.median(recoveries), 2) if recoveries else None,
                               "max": max(recoveries, default=None)},
        "nodes_answering": len(final), "equal_roots": len(final) == NODES and len(states) == 1,
        "views_agree": len(views) == 1, "final_views": views,
        "final_height": max((s["height"] for s in final.values()), default=0),
        "problems": problems, "timeline": timeline, "kill_log": [k.__dict__ for k in kills],
    }
    return result, ledger.acked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="concurrent clients, one key each")
    parser.add_argument("--batch", type=int, default=10, help="payments per submission")
    parser.add_argument("--gap-s-min", type=float, default=2.0, help="shortest wait between kills")
    parser.add_argument("--gap-s-max", type=float, default=5.0, help="longest wait between kills")
    parser.add_argument("--primary-share", type=float, default=0.4, help="share of kills aimed at the primary")
    parser.add_argument("--long-share", type=float, default=0.1, help="share of kills that keep a node down 15-30 s")
    parser.add_argument("--base-port", type=int, default=7400)
    parser.add_argument("--dir", help="consortium folder, kept with the nodes' logs (default: a temporary one, "
                                      "removed at the end)")
    parser.add_argument("-o", "--out", help="write the JSON result here, and the SVG beside it "
                                            "(default: DIR/chaos.json with --dir, else ./chaos.json)")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning"],
                        help="the nodes' log level (their logs are DIR/<institution>/node.log)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(args.dir) / "chaos.json" if args.dir else Path("chaos.json")
    with work_folder(args.dir, "consort-chaos-") as folder:
        result = run_chaos(args, folder.path)
    ok = (result["lost"] == 0 and result["equal_roots"] and result["views_agree"] and result["money_conserved"]
          and not result["problems"])
    out.write_text(json.dumps(result, indent=1) + "\n")
    faults = [Fault(k["at_s"], k["back_s"] or None, f"kill n{k['node']}{' (primary)' if k['primary'] else ''}",
                    f"n{k['node']} back", "#d62728" if k["primary"] else "#7f7f7f") for k in result["kill_log"]]
    title = (f"{result['kills']} kills: {result['committed']:,} committed, lost {result['lost']}, "
             f"longest stall {result['longest_stall_s']} s")
    plot = write_timeline_plot(title, result["timeline"], faults, "acknowledged payments (tx/s)",
                               out.with_suffix(".svg"))
    print(f"chaos: wrote {out} and {plot}", file=sys.stderr)
    print(json.dumps({k: v for k, v in result.items() if k not in ("timeline", "kill_log")}))
    return 0 if ok else 1


def run_chaos(args, directory: Path) -> dict:
    """The whole run in `directory`: a new consortium, the kills under load, the stores checked after."""
    passphrase, _ = throwaway_passphrase()
    create_consortium(directory, institutions=NODES, base_port=args.base_port, opening_balance=OPENING_BALANCE,
                      clients_per_institution=max(1, -(-args.workers // NODES)), passphrase=passphrase,
                      kdf_cost=KDF_COST_LIGHT)
    print(f"chaos: consortium in {directory}, {args.kills} kills, seed {args.seed}", file=sys.stderr)
    cluster = LocalCluster(directory, log_level=args.log_level, passphrase=passphrase)
    try:
        cluster.start_all()
        result, acked = asyncio.run(run(args, directory, cluster))
    finally:
        cluster.close()
    index = json.loads((directory / "consortium.json").read_text())
    result.update(check_stores(directory, index, acked))
    result["lost"] = max(result["missing_by_node"].values(), default=0)
    return result


if __name__ == "__main__":
    sys.exit(main())
