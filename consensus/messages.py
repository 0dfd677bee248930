"""Blocks and PBFT messages: frozen values with one canonical wire form.

`decode_message` is the only way bytes from a peer become a message; it
checks every field's type and size (with `consensus.wire`) and raises
MessageError (the peer's fault) for anything else. Signatures are checked
later by `consensus.auth`. Values and parsing only: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from consensus.wire import MessageError, as_hash, as_int, as_list, as_optional, as_signature, as_signatures
from crypto import encoding, hashing, merkle

TXS_PER_BLOCK_MAX = 20_000
FRAME_SIZE_MAX = 32 * 1024 * 1024
MESSAGE_DEPTH_MAX = 12          # a NEW-VIEW carrying a prepared block is 8 deep
MESSAGE_ELEMENTS_MAX = 1_000_000  # values in one message: 20,000 transactions a block, many blocks a reply
SIGNATURE_DOMAIN = "pbft"


def _txs(value: Any, holder: str) -> tuple[bytes, ...]:
    """Transactions are opaque here: non-empty byte strings. Their format and
    size limit are the contracts' (contracts/tx.py), which the driver checks
    on every transaction before a message reaches the replica; a message as a
    whole is bounded by FRAME_SIZE_MAX."""
    txs = as_list(value, "txs")
    if len(txs) > TXS_PER_BLOCK_MAX:
        raise MessageError(f"{holder} holds more than {TXS_PER_BLOCK_MAX} transactions")
    if not all(type(tx) is bytes and tx for tx in txs):
        raise MessageError("a transaction must be a non-empty byte string")
    return tuple(txs)


def tx_root(txs: tuple[bytes, ...]) -> bytes:
    return merkle.root(list(txs))


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """What a block commits to. `state_root` and `receipts_root` are the
    results of executing the parent block (execution follows commitment)."""

    chain_id: bytes
    height: int
    view: int
    proposer: int
    prev_hash: bytes
    timestamp_ms: int
    tx_root: bytes
    tx_count: int
    state_root: bytes
    receipts_root: bytes
    validator_set_hash: bytes
    _hash: bytes | None = field(default=None, init=False, repr=False, compare=False)  # see hash()

    def to_wire(self) -> list:
        return [
            self.chain_id, self.height, self.view, self.proposer, self.prev_hash,
            self.timestamp_ms, self.tx_root, self.tx_count, self.state_root,
            self.receipts_root, self.validator_set_hash,
        ]

    @classmethod
    def from_wire(cls, fields: Any) -> "BlockHeader":
        f = as_list(fields, "header", 11)
        return cls(
            chain_id=as_hash(f[0], "chain_id"), height=as_int(f[1], "height"),
            view=as_int(f[2], "view"), proposer=as_int(f[3], "proposer"),
            prev_hash=as_hash(f[4], "prev_hash"), timestamp_ms=as_int(f[5], "timestamp_ms"),
            tx_root=as_hash(f[6], "tx_root"), tx_count=as_int(f[7], "tx_count"),
            state_root=as_hash(f[8], "state_root"), receipts_root=as_hash(f[9], "receipts_root"),
            validator_set_hash=as_hash(f[10], "validator_set_hash"),
        )

    def hash(self) -> bytes:
        """Worked out once per header object: it is immutable, and a simulator
        hands one object to every replica, each of which checks it."""
        if self._hash is None:
            object.__setattr__(self, "_hash", hashing.digest("block", encoding.encode(self.to_wire())))
        return self._hash


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    txs: tuple[bytes, ...]
    _tx_root: bytes | None = field(default=None, init=False, repr=False, compare=False)  # see tx_root()

    def tx_root(self) -> bytes:
        """The Merkle root of the transactions, worked out once per block object (as `BlockHeader.hash`)."""
        if self._tx_root is None:
            object.__setattr__(self, "_tx_root", tx_root(self.txs))
        return self._tx_root

    def to_wire(self) -> list:
        return [self.header.to_wire(), list(self.txs)]

    @classmethod
    def from_wire(cls, fields: Any) -> "Block":
        f = as_list(fields, "block", 2)
        txs = _txs(f[1], "block")
        return cls(header=BlockHeader.from_wire(f[0]), txs=txs)


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    """A quorum (n - f) of signed COMMITs for (view, seq, digest): proof a block is final."""

    view: int
    seq: int
    digest: bytes
    signatures: tuple[tuple[int, bytes], ...]

    def to_wire(self) -> list:
        return [self.view, self.seq, self.digest, [[r, s] for r, s in self.signatures]]

    @classmethod
    def from_wire(cls, fields: Any) -> "CommitCertificate":
        f = as_list(fields, "certificate", 4)
        return cls(as_int(f[0], "view"), as_int(f[1], "seq"), as_hash(f[2], "digest"), as_signatures(f[3]))


def vote_bytes(context: bytes, kind: str, view: int, seq: int, digest: bytes) -> bytes:
    """The bytes a replica signs for a PRE-PREPARE, PREPARE or COMMIT under the
    signing context of its chain and validator set (consensus.validators)."""
    return encoding.encode([context, kind, view, seq, digest])


@dataclass(frozen=True, slots=True)
class Vote:
    """Shared shape of PRE-PREPARE digests, PREPARE and COMMIT."""

    KIND: ClassVar[str] = ""
    view: int
    seq: int
    digest: bytes
    replica: int
    signature: bytes

    def signed_bytes(self, context: bytes) -> bytes:
        return vote_bytes(context, self.KIND, self.view, self.seq, self.digest)

    def to_wire(self) -> list:
        return [self.KIND, self.view, self.seq, self.digest, self.replica, self.signature]

    @classmethod
    def from_wire(cls, f: list) -> "Vote":
        as_list(f, cls.KIND, 6)
        return cls(as_int(f[1], "view"), as_int(f[2], "seq"), as_hash(f[3], "digest"),
                   as_int(f[4], "replica"), as_signature(f[5]))


@dataclass(frozen=True, slots=True)
class Prepare(Vote):
    KIND: ClassVar[str] = "prepare"


@dataclass(frozen=True, slots=True)
class Commit(Vote):
    KIND: ClassVar[str] = "commit"


@dataclass(frozen=True, slots=True)
class PrePrepare:
    """The primary's proposal of `block` at (view, seq); signed over the digest."""

    KIND: ClassVar[str] = "pre-prepare"
    view: int
    seq: int
    digest: bytes
    replica: int
    signature: bytes
    block: Block

    def signed_bytes(self, context: bytes) -> bytes:
        return vote_bytes(context, self.KIND, self.view, self.seq, self.digest)

    def to_wire(self) -> list:
        return [self.KIND, self.view, self.seq, self.digest, self.replica, self.signature,
                self.block.to_wire()]

    @classmethod
    def from_wire(cls, f: list) -> "PrePrepare":
        as_list(f, cls.KIND, 7)
        return cls(as_int(f[1], "view"), as_int(f[2], "seq"), as_hash(f[3], "digest"),
                   as_int(f[4], "replica"), as_signature(f[5]), Block.from_wire(f[6]))


@dataclass(frozen=True, slots=True)
class Forward:
    """Client requests a backup passes to the primary (authenticated by the link)."""

    KIND: ClassVar[str] = "forward"
    txs: tuple[bytes, ...]

    def to_wire(self) -> list:
        return [self.KIND, list(self.txs)]

    @classmethod
    def from_wire(cls, f: list) -> "Forward":
        as_list(f, cls.KIND, 2)
        return cls(_txs(f[1], "forward"))


def checkpoint_bytes(context: bytes, seq: int, block_hash: bytes, state_root: bytes) -> bytes:
    return encoding.encode([context, "checkpoint", seq, block_hash, state_root])


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A replica's signed statement of the chain after executing `seq`."""

    KIND: ClassVar[str] = "checkpoint"
    seq: int
    block_hash: bytes
    state_root: bytes
    replica: int
    signature: bytes

    def signed_bytes(self, context: bytes) -> bytes:
        return checkpoint_bytes(context, self.seq, self.block_hash, self.state_root)

    def to_wire(self) -> list:
        return [self.KIND, self.seq, self.block_hash, self.state_root, self.replica, self.signature]

    @classmethod
    def from_wire(cls, f: list) -> "Checkpoint":
        as_list(f, cls.KIND, 6)
        return cls(as_int(f[1], "seq"), as_hash(f[2], "block_hash"), as_hash(f[3], "state_root"),
                   as_int(f[4], "replica"), as_signature(f[5]))


@dataclass(frozen=True, slots=True)
class CheckpointCertificate:
    """A quorum of matching signed CHECKPOINTs: the checkpoint is stable."""

    seq: int
    block_hash: bytes
    state_root: bytes
    signatures: tuple[tuple[int, bytes], ...]

    def to_wire(self) -> list:
        return [self.seq, self.block_hash, self.state_root, [[r, s] for r, s in self.signatures]]

    @classmethod
    def from_wire(cls, fields: Any) -> "CheckpointCertificate":
        f = as_list(fields, "checkpoint certificate", 4)
        return cls(as_int(f[0], "seq"), as_hash(f[1], "block_hash"), as_hash(f[2], "state_root"),
                   as_signatures(f[3]))


@dataclass(frozen=True, slots=True)
class PreparedCertificate:
    """A PRE-PREPARE and quorum - 1 matching PREPAREs from distinct backups."""

    pre_prepare: PrePrepare
    prepares: tuple[Prepare, ...]

    def to_wire(self) -> list:
        return [self.pre_prepare.to_wire(), [p.to_wire() for p in self.prepares]]

    @classmethod
    def from_wire(cls, fields: Any) -> "PreparedCertificate":
        f = as_list(fields, "prepared certificate", 2)
        prepares = as_list(f[1], "prepares")
        if len(prepares) > PREPARES_MAX:
            raise MessageError("too many prepares")
        return cls(PrePrepare.from_wire(as_list(f[0], "pre-prepare")),
                   tuple(Prepare.from_wire(as_list(p, "prepare")) for p in prepares))


PREPARES_MAX = 256
VIEW_CHANGES_MAX = 256


@dataclass(frozen=True, slots=True)
class ViewChange:
    """Replica `replica` moves to `view`: what it has executed (with the commit
    certificate of its last block), its stable checkpoint, and what it has
    prepared beyond its last executed block."""

    KIND: ClassVar[str] = "view-change"
    view: int
    replica: int
    height: int
    commit_certificate: CommitCertificate | None
    checkpoint: CheckpointCertificate | None
    prepared: PreparedCertificate | None
    signature: bytes

    def body(self) -> list:
        return [self.KIND, self.view, self.replica, self.height,
                None if self.commit_certificate is None else self.commit_certificate.to_wire(),
                None if self.checkpoint is None else self.checkpoint.to_wire(),
                None if self.prepared is None else self.prepared.to_wire()]

    def signed_bytes(self, context: bytes) -> bytes:
        return encoding.encode([context, *self.body()])

    def to_wire(self) -> list:
        return [*self.body(), self.signature]

    @classmethod
    def from_wire(cls, f: list) -> "ViewChange":
        as_list(f, cls.KIND, 8)
        return cls(as_int(f[1], "view"), as_int(f[2], "replica"), as_int(f[3], "height"),
                   as_optional(f[4], CommitCertificate.from_wire),
                   as_optional(f[5], CheckpointCertificate.from_wire),
                   as_optional(f[6], PreparedCertificate.from_wire), as_signature(f[7]))


@dataclass(frozen=True, slots=True)
class NewView:
    """The new primary's proof (a quorum of VIEW-CHANGEs) and its re-proposal, if any."""

    KIND: ClassVar[str] = "new-view"
    view: int
    replica: int
    view_changes: tuple[ViewChange, ...]
    pre_prepare: PrePrepare | None
    signature: bytes

    def signed_bytes(self, context: bytes) -> bytes:
        return encoding.encode([context, self.KIND, self.view, self.replica,
                                [vc.signature for vc in self.view_changes],
                                None if self.pre_prepare is None else self.pre_prepare.digest])

    def to_wire(self) -> list:
        return [self.KIND, self.view, self.replica, [vc.to_wire() for vc in self.view_changes],
                None if self.pre_prepare is None else self.pre_prepare.to_wire(), self.signature]

    @classmethod
    def from_wire(cls, f: list) -> "NewView":
        as_list(f, cls.KIND, 6)
        view_changes = as_list(f[3], "view changes")
        if len(view_changes) > VIEW_CHANGES_MAX:
            raise MessageError("too many view changes")
        return cls(as_int(f[1], "view"), as_int(f[2], "replica"),
                   tuple(ViewChange.from_wire(as_list(vc, "view change")) for vc in view_changes),
                   as_optional(f[4], lambda pp: PrePrepare.from_wire(as_list(pp, "pre-prepare"))),
                   as_signature(f[5]))


@dataclass(frozen=True, slots=True)
class Status:
    """Where a replica is (link-authenticated, unsigned); drives catch-up."""

    KIND: ClassVar[str] = "status"
    view: int
    height: int

    def to_wire(self) -> list:
        return [self.KIND, self.view, self.height]

    @classmethod
    def from_wire(cls, f: list) -> "Status":
        as_list(f, cls.KIND, 3)
        return cls(as_int(f[1], "view"), as_int(f[2], "height"))


BLOCKS_PER_FETCH_MAX = 64


@dataclass(frozen=True, slots=True)
class FetchBlocks:
    """Ask a peer for committed blocks `first`..`last` with their certificates."""

    KIND: ClassVar[str] = "fetch-blocks"
    first: int
    last: int

    def to_wire(self) -> list:
        return [self.KIND, self.first, self.last]

    @classmethod
    def from_wire(cls, f: list) -> "FetchBlocks":
        as_list(f, cls.KIND, 3)
        first, last = as_int(f[1], "first"), as_int(f[2], "last")
        if not 1 <= first <= last < first + BLOCKS_PER_FETCH_MAX:
            raise MessageError(f"fetch range must be 1..{BLOCKS_PER_FETCH_MAX} blocks")
        return cls(first, last)


@dataclass(frozen=True, slots=True)
class Blocks:
    """Committed blocks with commit certificates: trusted for the certificates,
    not for the peer that sent them."""

    KIND: ClassVar[str] = "blocks"
    entries: tuple[tuple[Block, CommitCertificate], ...]

    def to_wire(self) -> list:
        return [self.KIND, [[b.to_wire(), c.to_wire()] for b, c in self.entries]]

    @classmethod
    def from_wire(cls, f: list) -> "Blocks":
        as_list(f, cls.KIND, 2)
        entries = as_list(f[1], "entries")
        if len(entries) > BLOCKS_PER_FETCH_MAX:
            raise MessageError("too many blocks")
        return cls(tuple((Block.from_wire(as_list(e, "entry", 2)[0]), CommitCertificate.from_wire(e[1]))
                         for e in entries))


Message = (PrePrepare | Prepare | Commit | Forward | Checkpoint | ViewChange | NewView | Status
           | FetchBlocks | Blocks)
_KINDS: dict[str, Any] = {cls.KIND: cls for cls in (PrePrepare, Prepare, Commit, Forward, Checkpoint,
                                                     ViewChange, NewView, Status, FetchBlocks, Blocks)}


def message_from_wire(fields: Any) -> Message:
    f = as_list(fields, "message")
    if not f or type(f[0]) is not str or f[0] not in _KINDS:
        raise MessageError("unknown message kind")
    return _KINDS[f[0]].from_wire(f)


def encode_message(message: Message) -> bytes:
    return encoding.encode(message.to_wire())


def decode_message(data: bytes) -> Message:
    """Parse one message from a peer; MessageError for anything malformed. The
    bytes' shape is bounded before any object is built: a peer cannot make a
    node build millions of values within the frame's byte limit."""
    try:
        fields = encoding.decode(data, FRAME_SIZE_MAX, depth_max=MESSAGE_DEPTH_MAX,
                                 elements_max=MESSAGE_ELEMENTS_MAX)
    except encoding.DecodeError as exc:
        raise MessageError(str(exc)) from None
    return message_from_wire(fields)
