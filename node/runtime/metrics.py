"""The node's Prometheus metrics: what they are, and the cheap calls that
update them. The operator site (node.api.operator) serves `exposition()`.

Each node has a registry of its own (not prometheus-client's global one),
so several nodes in one process (tests) do not mix their figures. Every
name starts with `consort_` and follows what operators of CometBFT and
Fabric know:

    consort_consensus_height                 gauge      the height of the last applied block
    consort_consensus_view                   gauge      the replica's view (PBFT's; CometBFT's round)
    consort_consensus_view_changes_total     counter    times this replica moved to a higher view
    consort_consensus_block_commit_seconds   histogram  a block's pre-prepare seen here -> applied here
    consort_consensus_block_interval_seconds histogram  between the timestamps of successive blocks
    consort_ledger_transactions_total        counter    committed transactions {type, outcome="ok"|"failed"}
    consort_ledger_write_seconds             histogram  LevelDB's synced writes {kind="block"|"snapshot"}
    consort_mempool_size                     gauge      admitted transactions not yet committed
    consort_p2p_peers                        gauge      member nodes linked both ways
    consort_admission_refusals_total         counter    transactions refused at admission {reason}
    consort_mpc_sessions_total               counter    this institution's MPC sessions {outcome}

Decisions:
- Commit time starts when this node first sees the block's pre-prepare (a
  backup: from the primary or in a NEW-VIEW; the primary: when it sends
  its own) and ends when the block is applied to LevelDB; a block fetched
  by catch-up had no pre-prepare here and is not timed.
- The block interval (what CometBFT calls it; its "round time") is the
  difference of successive blocks' header timestamps, the primary's clock,
  so every node reports the same chain and a node catching up reports the
  chain's pace, not its own download speed. An idle chain cuts no blocks,
  so an interval includes idle time.
- Gauges are read when scraped (`set_function`), so the hot path updates
  none of them; counters of transactions are added up per block, one
  increment per (type, outcome) present, never one per transaction.
- Labels are bounded: `type` is one of the contract registry's types or
  "other" (a transaction a block carries that no contract knows, or one
  that does not decode), so at most len(TX_TYPES) + 1 types by 2
  outcomes; `reason` one of REFUSAL_REASONS (12); `kind` 2; `outcome` of
  MPC sessions 3.

Must not be imported by consensus/ or contracts/ (they do no I/O and know
nothing of how they are observed); updates run on the event loop only.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from contracts.registry import TX_TYPES

CONTENT_TYPE = CONTENT_TYPE_LATEST
TYPE_OTHER = "other"
KNOWN_TYPES = frozenset(TX_TYPES)
REFUSAL_REASONS = ("malformed", "wrong_chain", "unknown_type", "bad_args", "unknown_sender", "nonce_used",
                   "nonce_too_old", "duplicate", "duplicate_in_batch", "bad_signature", "busy", "other")
MPC_OUTCOMES = ("done", "aborted", "failed_here")
PROPOSALS_TIMED_MAX = 64  # heights above the applied one whose pre-prepare's arrival is remembered

COMMIT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INTERVAL_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
WRITE_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def refusal_reason(code: str) -> str:
    """An admission code as a bounded label value."""
    return code if code in REFUSAL_REASONS else "other"


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.height = Gauge("consort_consensus_height", "Height of the last block applied here", registry=r)
        self.view = Gauge("consort_consensus_view", "The replica's PBFT view", registry=r)
        self.view_changes = Counter("consort_consensus_view_changes", "Times this replica moved to a higher view",
                                    registry=r)
        self.commit_seconds = Histogram(
            "consort_consensus_block_commit_seconds", "From a block's pre-prepare seen here to the block applied",
            buckets=COMMIT_BUCKETS_S, registry=r)
        self.interval_seconds = Histogram(
            "consort_consensus_block_interval_seconds", "Between the header timestamps of successive blocks",
            buckets=INTERVAL_BUCKETS_S, registry=r)
        self.transactions = Counter("consort_ledger_transactions", "Committed transactions by type and outcome",
                                    ["type", "outcome"], registry=r)
        self.write_seconds = Histogram("consort_ledger_write_seconds", "LevelDB synced writes (one per block, "
                                       "with the snapshot the step after it persists; one per other consensus "
                                       "snapshot)", ["kind"], buckets=WRITE_BUCKETS_S, registry=r)
        self.pool_size = Gauge("consort_mempool_size", "Admitted transactions not yet committed", registry=r)
        self.peers = Gauge("consort_p2p_peers", "Member nodes linked both ways (we dialled it, it dialled us)",
                           registry=r)
        self.refusals = Counter("consort_admission_refusals", "Transactions refused at admission, by reason",
                                ["reason"], registry=r)
        self.mpc_sessions = Counter("consort_mpc_sessions", "This institution's MPC sessions, by outcome",
                                    ["outcome"], registry=r)
        for reason in REFUSAL_REASONS:  # known label values start at 0, so a rate over them is defined
            self.refusals.labels(reason)
        for outcome in MPC_OUTCOMES:
            self.mpc_sessions.labels(outcome)
        self.block_writes = self.write_seconds.labels("block")
        self.snapshot_writes = self.write_seconds.labels("snapshot")
        self._tx_counters: dict[tuple[str, bool], Counter] = {}  # at most len(KNOWN_TYPES) + 1 by 2
        self._proposed_at: dict[int, float] = {}                 # height -> perf_counter; PROPOSALS_TIMED_MAX
        self._applied_height = 0
        self._view_seen = 0

    def read_from(self, height: Callable[[], int], view: Callable[[], int], pool_size: Callable[[], int],
                  peers: Callable[[], int]) -> None:
        """Where the gauges are read when scraped (on the event loop, like every update)."""
        self.height.set_function(height)
        self.view.set_function(view)
        self.pool_size.set_function(pool_size)
        self.peers.set_function(peers)
        self._applied_height = height()
        self._view_seen = view()

    # ------------------------------------------------------------ consensus

    def view_seen(self, view: int) -> None:
        if view > self._view_seen:
            self._view_seen = view
            self.view_changes.inc()

    def proposal_seen(self, height: int) -> None:
        """A pre-prepare for `height` reached this node (the first one counts;
        one far above the applied height is not timed, so the map stays small
        whatever a primary proposes)."""
        if self._applied_height < height <= self._applied_height + PROPOSALS_TIMED_MAX \
                and height not in self._proposed_at:
            self._proposed_at[height] = time.perf_counter()

    def block_applied(self, height: int, timestamp_ms: int, previous_timestamp_ms: int | None) -> None:
        """Block `height` is applied; `previous_timestamp_ms`: its parent's header
        time (None for the first block, whose parent is the genesis)."""
        self._applied_height = height
        seen = self._proposed_at.pop(height, None)
        if seen is not None:
            self.commit_seconds.observe(time.perf_counter() - seen)
        for stale in [h for h in self._proposed_at if h <= height]:  # at most PROPOSALS_TIMED_MAX
            del self._proposed_at[stale]
        if previous_timestamp_ms is not None:
            self.interval_seconds.observe(max(0, timestamp_ms - previous_timestamp_ms) / 1000)

    # ------------------------------------------------------------ ledger

    def block_written(self, types: Iterable[str | None], oks: Iterable[bool], write_s: float) -> None:
        """A block's transactions (their types and whether each succeeded) and
        how long its LevelDB write took (the ledger's hook)."""
        self.block_writes.observe(write_s)
        for (tx_type, ok), count in Tally(zip(types, oks)).items():
            key = (tx_type if tx_type in KNOWN_TYPES else TYPE_OTHER, ok)
            counter = self._tx_counters.get(key)
            if counter is None:
                counter = self._tx_counters[key] = self.transactions.labels(key[0], "ok" if ok else "failed")
            counter.inc(count)

    def snapshot_written(self, write_s: float) -> None:
        self.snapshot_writes.observe(write_s)

    # ------------------------------------------------------------ admission, MPC

    def refused(self, codes: Iterable[str]) -> None:
        """Transactions refused at admission, one code each."""
        for code, count in Tally(map(refusal_reason, codes)).items():
            self.refusals.labels(code).inc(count)

    def mpc_session_ended(self, outcome: str) -> None:
        assert outcome in MPC_OUTCOMES, outcome
        self.mpc_sessions.labels(outcome).inc()

    def exposition(self) -> bytes:
        """Every metric in Prometheus's text format."""
        return generate_latest(self.registry)
