"""Inputs to the replica and the effects it asks its driver to perform.

Events: Start, ClientRequests, PeerMessage, TimerFired, Executed, CertifiedBlocks.
Effects: Send, Broadcast, StartTimer, CancelTimer, Persist, Deliver, Halt.
Timers are named by the constants at the end.
State transfer needs no effect of its own: the replica sends FETCH-BLOCKS;
the driver serves peers' FETCH-BLOCKS from its store and turns verified
BLOCKS replies into CertifiedBlocks events.
All are frozen values. A driver performs effects in the order returned; a
Persist must be durable before any later Send or Broadcast leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.messages import Block, CommitCertificate, Message
from consensus.snapshot import ReplicaSnapshot


@dataclass(frozen=True, slots=True)
class Start:
    """The driver is up: announce status, resume an interrupted view change."""


@dataclass(frozen=True, slots=True)
class ClientRequests:
    """Transactions whose client signatures the driver has already checked."""

    txs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class PeerMessage:
    """A message from validator `sender`, already authenticated by the driver."""

    sender: int
    message: Message


@dataclass(frozen=True, slots=True)
class TimerFired:
    name: str


@dataclass(frozen=True, slots=True)
class Executed:
    """The driver applied block `seq`; these are the roots it produced.
    `validators` is set when this block activated a new validator set,
    in force from block seq+1."""

    seq: int
    state_root: bytes
    receipts_root: bytes
    validators: tuple[bytes, ...] | None = None


@dataclass(frozen=True, slots=True)
class CertifiedBlocks:
    """Blocks fetched from `sender` whose commit certificates the driver verified."""

    sender: int
    entries: tuple[tuple[Block, CommitCertificate], ...]


Event = Start | ClientRequests | PeerMessage | TimerFired | Executed | CertifiedBlocks


@dataclass(frozen=True, slots=True)
class Send:
    to: int
    message: Message


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send to every other validator."""

    message: Message


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)start timer `name`; a running timer of that name is replaced."""

    name: str
    delay_ms: int


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Persist:
    """Store `snapshot` durably, replacing the previous one, before sending on."""

    snapshot: ReplicaSnapshot


@dataclass(frozen=True, slots=True)
class Deliver:
    """Block `seq` is committed: apply it, then step `Executed`."""

    seq: int
    block: Block
    certificate: CommitCertificate


@dataclass(frozen=True, slots=True)
class Halt:
    """A consensus failure: this replica's own execution disagrees with a block
    a quorum certified, so going on would risk a fork. The driver stops the
    node with `reason`; the replica takes no event after it."""

    reason: str


Effect = Send | Broadcast | StartTimer | CancelTimer | Persist | Deliver | Halt

# The timers a replica starts, by name.
BATCH_TIMER = "batch"              # the primary waits this long to fill a block
REQUEST_TIMER = "request"          # a backup waits this long for its requests to commit
VIEW_CHANGE_TIMER = "view-change"  # a replica waits this long for the NEW-VIEW
STATUS_TIMER = "status"            # period of STATUS reports and of the lag check
FETCH_TIMER = "fetch"              # a FETCH-BLOCKS request waits this long for its reply
