"""The bench's open-loop load: signed payments arrive on a seeded Poisson
schedule at an offered rate and are submitted as they arrive, whatever the
nodes do, with wait=commit, so each latency runs from the transaction's
arrival to its committed receipt (node.devtools.loadgen says why, and holds
the arithmetic).

Submissions go round the lanes (one per client key, each to its own
institution's node, as a bank would submit to its own node). At most
`in_flight_max` submissions are open at once; what falls due beyond that
is dropped and counted (`dropped_offered`), never queued. A refused or
failed submission is counted by its error code and not retried: a retry
would add load the schedule did not offer.

Only the scripts import this; it never imports the runtime's internals.
"""

from __future__ import annotations

import asyncio
import random
import time
from array import array
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from contracts.tx import Transaction, sign_tx
from crypto.keys import Signer, read_key_file
from node.client import ClientError, ConsortClient
from node.devtools.loadgen import Gather, InFlight, PoissonArrivals, committed_per_s, latency_summary, minute_rates
from node.devtools.progress import Progress

IN_FLIGHT_MAX = 256          # submissions open at once, by default
LINGER_MS = 10.0             # how long an arrival may wait for others to share its submission, by default
WAIT_MS = 20_000             # how long a node may hold a submission for its receipts
CLIENT_SLACK_S = 10.0        # the client's own timeout beyond that
DRAIN_S_MAX = WAIT_MS / 1000 + 2 * CLIENT_SLACK_S  # after the schedule, the longest wait for answers
DUE_PER_TICK_MAX = 50_000    # arrivals taken in one look at the clock (more wait for the next, with no sleep)
REFUSAL_CODES_MAX = 32       # distinct error codes counted by name; the rest as "other"
AMOUNT_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Plan:
    rate_per_s: float
    duration_s: float
    seed: int
    batch_max: int
    linger_ms: float = LINGER_MS
    in_flight_max: int = IN_FLIGHT_MAX
    wait_ms: int = WAIT_MS


@dataclass(slots=True)
class Lane:
    """One client key and a client of the node it submits to."""

    client: ConsortClient
    signer: Signer
    institution: str
    others: list[str]
    chain_id: bytes
    currency: str
    rng: random.Random
    nonce: int

    def payments(self, count: int) -> list[Transaction]:
        txs = []
        for _ in range(count):
            self.nonce += 1
            txs.append(sign_tx(self.signer, self.chain_id, self.nonce, "settlement.pay", {
                "from": self.institution, "to": self.rng.choice(self.others), "currency": self.currency,
                "amount": self.rng.randint(1, AMOUNT_MAX)}))
        return txs


@dataclass(slots=True)
class Record:
    """What came back, as it came back."""

    latencies_ms: array = field(default_factory=lambda: array("d"))  # one per committed transaction
    commits: list[tuple[float, int]] = field(default_factory=list)     # (s since start, committed) per answer
    samples: list[tuple[float, float]] = field(default_factory=list)   # (s since start, oldest's latency ms)
    committed: int = 0
    failed_receipts: int = 0      # committed with ok false
    uncommitted: int = 0          # admitted, no receipt before the wait ended
    refused_txs: int = 0          # in submissions that were refused or failed
    refusals: dict[str, int] = field(default_factory=dict)  # submissions by error code
    crashed: list[BaseException] = field(default_factory=list)  # the first bug in a submission task

    def answered(self, receipts: list, arrivals_s: list[float], done_s: float) -> None:
        committed = 0
        for receipt, arrival_s in zip(receipts, arrivals_s, strict=True):
            if receipt is None:
                self.uncommitted += 1
                continue
            committed += 1
            self.failed_receipts += 0 if receipt["ok"] else 1
            self.latencies_ms.append((done_s - arrival_s) * 1000)
        self.committed += committed
        self.commits.append((done_s, committed))
        self.samples.append((done_s, (done_s - arrivals_s[0]) * 1000))

    def refused(self, txs: int, code: str) -> None:
        self.refused_txs += txs
        key = code if code in self.refusals or len(self.refusals) < REFUSAL_CODES_MAX else "other"
        self.refusals[key] = self.refusals.get(key, 0) + 1


async def open_lanes(stack: AsyncExitStack, directory: Path, index: dict, urls: list[str], ca: Path | None,
                     passphrase: str, seed: int) -> list[Lane]:
    """A lane per client key of every institution, ordered key slot first
    (so consecutive submissions go to different nodes). Each lane's client
    has asked its node for the status once, so the connection (and its TLS
    handshake) is made before the clock starts, not in the first arrivals' latency."""
    institutions = index["institutions"]
    chain_id = bytes.fromhex(index["chain_id"])
    nonce = time.time_ns() // 1000 * 1000  # above any nonce an earlier run of these keys used
    lanes = []
    for slot in range(max(len(entry["client_keys"]) for entry in institutions)):
        for number, entry in enumerate(institutions):
            if slot >= len(entry["client_keys"]):
                continue
            signer = read_key_file(directory / entry["client_keys"][slot], passphrase).signer()
            client = await stack.enter_async_context(ConsortClient(
                urls[number], timeout_s=WAIT_MS / 1000 + CLIENT_SLACK_S, signer=signer, chain_id=chain_id, ca=ca))
            others = [e["id"] for e in institutions if e["id"] != entry["id"]]
            lanes.append(Lane(client, signer, entry["id"], others, chain_id, index["currency"],
                              random.Random(f"{seed}/{len(lanes)}"), nonce))
    await asyncio.gather(*(lane.client.status() for lane in lanes))
    return lanes


async def submit(lane: Lane, arrivals_s: list[float], plan: Plan, start: float, record: Record,
                 in_flight: InFlight) -> None:
    try:
        txs = lane.payments(len(arrivals_s))
        try:
            result = await lane.client.submit(txs, wait=True, timeout_ms=plan.wait_ms)
        except ClientError as exc:
            record.refused(len(txs), exc.code)
            return
        record.answered(result["receipts"], arrivals_s, time.monotonic() - start)
    finally:
        in_flight.release()


async def dispatch(plan: Plan, lanes: list[Lane], start: float, record: Record, in_flight: InFlight,
                   tasks: set[asyncio.Task]) -> int:
    """Send the schedule's arrivals as they fall due; the number of arrivals."""
    arrivals = PoissonArrivals(plan.rate_per_s, plan.duration_s, random.Random(plan.seed))
    gather = Gather(plan.batch_max, plan.linger_ms / 1000)
    turn = 0

    def finished(task: asyncio.Task) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not record.crashed:
            record.crashed.append(task.exception())

    while True:
        now_s = time.monotonic() - start
        gather.add(arrivals.due(now_s, DUE_PER_TICK_MAX))
        for times in gather.ready(now_s, final=arrivals.done):
            if in_flight.admit(len(times)):
                task = asyncio.create_task(submit(lanes[turn % len(lanes)], times, plan, start, record, in_flight))
                task.add_done_callback(finished)
                tasks.add(task)
                turn += 1
        if record.crashed:
            raise record.crashed[0]
        if arrivals.done and not gather.waiting:
            return arrivals.count
        wake_s = min(arrivals.next_s, gather.deadline_s)
        await asyncio.sleep(max(0.0, wake_s - (time.monotonic() - start)))


async def progress(record: Record, start: float, plan: Plan, timeline: list, tick) -> None:
    """Each second: committed in the last second into `timeline`, a progress line, and `tick()`."""
    last = 0
    label = f"bench {plan.rate_per_s:,.0f} tx/s offered"
    with Progress(label, total=round(plan.duration_s, 1), unit="s", show_rate=False) as bar:
        while True:
            await asyncio.sleep(1.0)
            elapsed = time.monotonic() - start
            timeline.append((round(elapsed, 2), record.committed - last))
            last = record.committed
            tick()
            bar.update(min(elapsed, plan.duration_s), note=f"committed {record.committed:,}, "
                                                            f"last second {timeline[-1][1]:,} tx/s")


async def offer(plan: Plan, lanes: list[Lane], tick=lambda: None) -> dict:
    """One run of the schedule; its figures (see `figures`)."""
    record, in_flight, tasks, timeline = Record(), InFlight(plan.in_flight_max), set(), []
    start = time.monotonic()
    watcher = asyncio.create_task(progress(record, start, plan, timeline, tick))
    try:
        arrivals = await dispatch(plan, lanes, start, record, in_flight, tasks)
        window_s = time.monotonic() - start
        if tasks:
            await asyncio.wait(set(tasks), timeout=DRAIN_S_MAX)
        for task in list(tasks):  # none should be left: each ends by its client's timeout
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    if record.crashed:
        raise record.crashed[0]
    return figures(plan, record, in_flight, arrivals, window_s, time.monotonic() - start, timeline)


def figures(plan: Plan, record: Record, in_flight: InFlight, arrivals: int, window_s: float, total_s: float,
            timeline: list) -> dict:
    """`achieved_tps` counts what committed while the load was offered;
    latencies count every committed transaction, also those answered
    while the last submissions drained."""
    window_s = max(window_s, plan.duration_s)
    achieved = committed_per_s(record.commits, 0.0, window_s)
    return {
        "offered_tps": plan.rate_per_s, "achieved_tps": round(achieved, 1), "tps": round(achieved, 1),
        **latency_summary(record.latencies_ms),
        "arrivals": arrivals, "arrivals_per_s": round(arrivals / plan.duration_s, 1) if plan.duration_s else 0.0,
        "committed": record.committed, "failed_receipts": record.failed_receipts,
        "uncommitted": record.uncommitted, "refused_txs": record.refused_txs, "refusals": record.refusals,
        "dropped_offered": in_flight.dropped_txs, "dropped_submissions": in_flight.dropped_submissions,
        "in_flight_max": plan.in_flight_max, "in_flight_peak": in_flight.peak,
        "batch_max": plan.batch_max, "linger_ms": plan.linger_ms, "seed": plan.seed,
        "duration_s": round(window_s, 2), "drain_s": round(total_s - window_s, 2),
        **minute_rates(record.commits, window_s),
        "timeline": timeline, "samples": [(round(t, 3), round(ms, 1)) for t, ms in record.samples],
    }
