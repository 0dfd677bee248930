"""What the event stream (GET /v1/events) sends for one block: the events,
their JSON and their order, for one caller and one filter. Pure: it gets
a stored block and its transactions' senders, reads nothing itself, and
holds no I/O, so the unit tests drive it without a node.

For each height, in block order, one `receipt` event per transaction the
caller may read and the filter keeps, then one `block` event that closes
the height and carries the SSE id, the height itself. A client that saw a
block event has every event of that height, so resuming after id H (the
`Last-Event-ID` header, or `from_height` H + 1) repeats nothing and misses
nothing, even when the stream broke in the middle of a block.

Who reads which receipt is GET /v1/tx/{hash}'s rule (transactions.tx_parties
and http.may_read): its sender's institution, and auditors and regulators;
a validator reads as a member. Block events (height, hash, transaction
count, time) go to every caller: what GET /v1/status shows of the tip,
with the count and time of each block.

The filter keeps a transaction of `type`, one that involves `account` (an
institution id) or `asset` (an asset id), each when given; what
"involves" means is contracts.involvement's. A filter never widens what
the caller may read: it only narrows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from contracts import involvement
from contracts.assets_state import ID_DIGITS
from contracts.executor import Receipt
from contracts.genesis import ID_PATTERN
from contracts.registry import TX_TYPES
from contracts.tx import TxError, decode_tx
from node.api.chain import block_summary
from node.api.http import BadRequest, Caller, may_read
from node.api.transactions import receipt_record, tx_parties
from node.runtime.storage import StoredBlock

RECEIPT, BLOCK, RESYNC = "receipt", "block", "resync"
BEHIND = "behind"                # resync: the subscriber's queue of blocks overflowed
HISTORY_PAGE = "history_page"    # resync: this stream replayed its share of history
ASSET_ID_PATTERN = re.compile(rf"^[A-Z][0-9]{{{ID_DIGITS}}}$")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which receipts a stream keeps: each field that is given must hold."""

    type: str | None = None
    account: str | None = None
    asset: str | None = None

    @classmethod
    def parse(cls, query) -> "EventFilter":
        """From a request's query (`type`, `account`, `asset`); BadRequest for
        an unknown type or a malformed institution or asset id."""
        tx_type, account, asset = query.get("type"), query.get("account"), query.get("asset")
        if tx_type is not None and tx_type not in TX_TYPES:
            raise BadRequest("bad_parameter", "type must be a transaction type of this chain, e.g. settlement.pay")
        if account is not None and not ID_PATTERN.fullmatch(account):
            raise BadRequest("bad_parameter", "account must be an institution id (lower-case letters, digits, "
                                              "hyphens; at most 32)")
        if asset is not None and not ASSET_ID_PATTERN.fullmatch(asset):
            raise BadRequest("bad_parameter", f"asset must be an asset id (a letter and {ID_DIGITS} digits)")
        return cls(tx_type, account, asset)

    def keeps(self, tx: "TxFacts") -> bool:
        if self.type is not None and tx.type != self.type:
            return False
        if self.account is not None and self.account not in involvement.institutions_involved(
                tx.type, tx.args, tx.receipt.output, tx.sender):
            return False
        return self.asset is None or self.asset in involvement.assets_involved(tx.args, tx.receipt.output)


@dataclass(frozen=True, slots=True)
class TxFacts:
    """One committed transaction as the stream judges it: its place, type
    and arguments (None and {} if undecodable), the institution that sent
    it (None: unknown) and its receipt."""

    index: int
    type: str | None
    args: Any
    sender: str | None
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class BlockFacts:
    """A block decoded once for every stream that sends it."""

    height: int
    summary: dict
    txs: tuple[TxFacts, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: its name, its JSON data, and its id (the
    height, on block events only)."""

    name: str
    data: dict
    id: str | None = None


def block_facts(stored: StoredBlock, senders: list[str | None]) -> BlockFacts:
    """`stored` with the sender of each of its transactions (Ledger.tx_senders)."""
    header = stored.block.header
    assert len(senders) == len(stored.receipts) == len(stored.block.txs), "one sender and receipt per transaction"
    txs = []
    for index, (raw, sender, receipt) in enumerate(zip(stored.block.txs, senders, stored.receipts)):
        try:
            tx = decode_tx(raw)
            tx_type, args = tx.type, tx.args
        except TxError:
            tx_type, args = None, {}
        txs.append(TxFacts(index, tx_type, args, sender, receipt))
    return BlockFacts(header.height, block_summary(header), tuple(txs))


def receipt_event(height: int, tx: TxFacts) -> Event:
    return Event(RECEIPT, {**receipt_record(height, tx.index, tx.receipt), "type": tx.type, "sender": tx.sender})


def block_events(facts: BlockFacts, who: Caller, kept: EventFilter) -> list[Event]:
    """The events of one height for `who` under `kept` (module docstring)."""
    events = [receipt_event(facts.height, tx) for tx in facts.txs
              if may_read(who, tx_parties(tx.sender)) and kept.keeps(tx)]
    events.append(Event(BLOCK, facts.summary, str(facts.height)))
    return events


def resync_event(from_height: int, reason: str) -> Event:
    """The last event of a stream that stops before the tip: where to resume."""
    return Event(RESYNC, {"from_height": from_height, "reason": reason})
