"""What a replica must remember across a crash so it never contradicts itself.

Before any signed message leaves, the replica persists: its view and whether
it is changing view, its own VIEW-CHANGE, the votes it signed beyond its
last executed block, the highest prepared certificate it holds for the next
block, and its stable checkpoint. Restarted from this snapshot and its
stored chain, it never signs a second, different vote for a (view, seq).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consensus.messages import CheckpointCertificate, PreparedCertificate, ViewChange
from consensus.wire import MessageError, as_int, as_list
from crypto import encoding

SNAPSHOT_SIZE_MAX = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReplicaSnapshot:
    view: int
    active: bool
    votes: tuple[tuple[str, int, int, bytes], ...]  # (kind, view, seq, digest) signed beyond the tip
    prepared: PreparedCertificate | None
    view_change: ViewChange | None
    checkpoint: CheckpointCertificate | None

    def encode(self) -> bytes:
        return encoding.encode([
            self.view, self.active, [list(v) for v in self.votes],
            None if self.prepared is None else self.prepared.to_wire(),
            None if self.view_change is None else self.view_change.to_wire(),
            None if self.checkpoint is None else self.checkpoint.to_wire(),
        ])

    @classmethod
    def decode(cls, raw: bytes) -> "ReplicaSnapshot":
        f: Any = as_list(encoding.decode(raw, SNAPSHOT_SIZE_MAX), "snapshot", 6)
        if type(f[1]) is not bool:
            raise MessageError("snapshot: active must be a boolean")
        votes = tuple((str(v[0]), as_int(v[1], "view"), as_int(v[2], "seq"), bytes(v[3])) for v in f[2])
        return cls(
            view=as_int(f[0], "view"), active=f[1], votes=votes,
            prepared=None if f[3] is None else PreparedCertificate.from_wire(f[3]),
            view_change=None if f[4] is None else ViewChange.from_wire(f[4]),
            checkpoint=None if f[5] is None else CheckpointCertificate.from_wire(f[5]),
        )
