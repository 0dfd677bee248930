"""The replica's frozen configuration and the chain tip it starts from."""

from __future__ import annotations

from dataclasses import dataclass

from crypto import encoding, hashing


def validator_set_hash(validators: tuple[bytes, ...]) -> bytes:
    return hashing.digest("validators", encoding.encode(list(validators)))


def faulty_max(n: int) -> int:
    """f: the most faulty validators n validators tolerate."""
    return (n - 1) // 3


def quorum(n: int) -> int:
    """Votes that make a certificate among n validators."""
    return 2 * faulty_max(n) + 1


def prepares_needed(n: int) -> int:
    """PREPAREs from backups that, with the primary's PRE-PREPARE, make a block prepared."""
    return quorum(n) - 1


@dataclass(frozen=True, slots=True)
class ReplicaConfig:
    chain_id: bytes
    replica_id: int
    validators: tuple[bytes, ...]
    batch_size_max: int = 2000
    batch_delay_ms: int = 5
    pending_max: int = 100_000
    recent_requests_max: int = 200_000
    checkpoint_interval: int = 16
    window: int = 64
    request_timeout_ms: int = 2000
    view_change_timeout_ms: int = 2000
    view_change_timeout_ms_max: int = 30_000
    status_interval_ms: int = 500
    fetch_timeout_ms: int = 2000

    def __post_init__(self) -> None:
        assert len(self.chain_id) == 32
        assert len(self.validators) >= 1
        assert -1 <= self.replica_id < len(self.validators), "replica_id is an index, or -1 for an observer"
        assert len(set(self.validators)) == len(self.validators), "duplicate validator key"
        assert 1 <= self.batch_size_max and 0 <= self.batch_delay_ms
        assert 1 <= self.checkpoint_interval and self.window >= 2 * self.checkpoint_interval
        assert 0 < self.request_timeout_ms and 0 < self.view_change_timeout_ms <= self.view_change_timeout_ms_max
        assert 0 < self.status_interval_ms and 0 < self.fetch_timeout_ms

    @property
    def is_validator(self) -> bool:
        return self.replica_id >= 0

    def validator_key(self, replica_id: int) -> bytes | None:
        return self.validators[replica_id] if 0 <= replica_id < len(self.validators) else None

    @property
    def n(self) -> int:
        return len(self.validators)

    @property
    def f(self) -> int:
        return faulty_max(self.n)

    @property
    def quorum(self) -> int:
        return quorum(self.n)

    @property
    def prepares_needed(self) -> int:
        return prepares_needed(self.n)

    @property
    def validator_set_hash(self) -> bytes:
        return validator_set_hash(self.validators)

    def primary(self, view: int) -> int:
        return view % self.n


@dataclass(frozen=True, slots=True)
class ChainTip:
    """The last executed block: what the next block must extend."""

    height: int
    block_hash: bytes
    state_root: bytes
    receipts_root: bytes
    timestamp_ms: int
