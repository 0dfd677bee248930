"""The replica's frozen configuration and the chain tip it starts from, and
the fault threshold and quorums as functions of the number of validators
(the one place that formula is written). A configuration the replica cannot
run with raises ConfigError naming the field. Pure values: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from consensus.wire import HASH_SIZE
from crypto import encoding, hashing


class ConfigError(ValueError):
    """A replica configuration the replica cannot run with; the message names the field."""


def validator_set_hash(validators: tuple[bytes, ...]) -> bytes:
    return hashing.digest("validators", encoding.encode(list(validators)))


def faulty_max(n: int) -> int:
    """f: the most faulty validators n validators tolerate."""
    return (n - 1) // 3


def quorum(n: int) -> int:
    """Votes that make a certificate among n validators: n - f. Any two quorums
    share at least n - 2f >= f + 1 validators, so at least one honest one,
    whatever n is (2f + 1 is that only when n = 3f + 1); and the n - f honest
    validators make a quorum without the f faulty ones."""
    return n - faulty_max(n)


def prepares_needed(n: int) -> int:
    """PREPAREs from backups that, with the primary's PRE-PREPARE, make a block prepared."""
    return quorum(n) - 1


@dataclass(frozen=True, slots=True)
class ReplicaConfig:
    """Who the replica is, and the chain's consensus parameters: those have no
    defaults here, because the chain's genesis gives them (contracts/genesis.py
    CONSENSUS_DEFAULTS fills what a genesis file leaves out), so every replica
    of a chain runs with the same values. The replica's own memory limits
    (pending requests, recent digests) do have defaults."""

    chain_id: bytes
    replica_id: int
    validators: tuple[bytes, ...]
    _: KW_ONLY
    batch_size_max: int
    batch_delay_ms: int
    checkpoint_interval: int
    window: int
    request_timeout_ms: int
    view_change_timeout_ms: int
    view_change_timeout_ms_max: int
    status_interval_ms: int
    fetch_timeout_ms: int
    pending_max: int = 100_000
    recent_requests_max: int = 200_000

    def __post_init__(self) -> None:
        if len(self.chain_id) != HASH_SIZE:
            raise ConfigError(f"chain_id must be {HASH_SIZE} bytes (got {len(self.chain_id)})")
        if not self.validators:
            raise ConfigError("validators must name at least one validator")
        if not -1 <= self.replica_id < len(self.validators):
            raise ConfigError(f"replica_id must be an index into validators (0 to {len(self.validators) - 1}) "
                              f"or -1 for an observer (got {self.replica_id})")
        if len(set(self.validators)) != len(self.validators):
            raise ConfigError("validators must not list a key twice")
        for name, minimum in (("batch_size_max", 1), ("batch_delay_ms", 0), ("pending_max", 1),
                              ("recent_requests_max", 0), ("checkpoint_interval", 1), ("request_timeout_ms", 1),
                              ("view_change_timeout_ms", 1), ("status_interval_ms", 1), ("fetch_timeout_ms", 1)):
            if getattr(self, name) < minimum:
                raise ConfigError(f"{name} must be at least {minimum} (got {getattr(self, name)})")
        if self.window < 2 * self.checkpoint_interval:
            raise ConfigError(f"window must be at least 2 x checkpoint_interval "
                              f"(got {self.window}, checkpoint_interval {self.checkpoint_interval})")
        if self.view_change_timeout_ms_max < self.view_change_timeout_ms:
            raise ConfigError(f"view_change_timeout_ms_max must be at least view_change_timeout_ms "
                              f"(got {self.view_change_timeout_ms_max}, "
                              f"view_change_timeout_ms {self.view_change_timeout_ms})")

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
