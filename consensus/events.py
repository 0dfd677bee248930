"""Inputs to the replica and the effects it asks its driver to perform.

Events: ClientRequests, PeerMessage, TimerFired, Executed.
Effects: Send, Broadcast, StartTimer, CancelTimer, Deliver.
All are frozen values; a driver must perform effects in the order returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.messages import Block, CommitCertificate, Message


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
    """The driver applied block `seq`; these are the roots it produced."""

    seq: int
    state_root: bytes
    receipts_root: bytes


Event = ClientRequests | PeerMessage | TimerFired | Executed


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
    name: str
    delay_ms: int


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """Block `seq` is committed: apply it, then step `Executed`."""

    seq: int
    block: Block
    certificate: CommitCertificate


Effect = Send | Broadcast | StartTimer | CancelTimer | Deliver
