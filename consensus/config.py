"""The replica's frozen configuration and the chain tip it starts from. A
configuration the replica cannot run with raises ConfigError naming the
field. Pure values: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field

from consensus.mutations import MUTATIONS
from consensus.validators import ValidatorSet
from consensus.wire import HASH_SIZE


class ConfigError(ValueError):
    """A replica configuration the replica cannot run with; the message names the field."""


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
    block_time_ahead_ms_max: int
    pending_max: int = 100_000
    recent_requests_max: int = 200_000
    mutation: str | None = None  # test-only, the simulator's (consensus.mutations); the node never sets it
    validator_set: ValidatorSet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mutation is not None and self.mutation not in MUTATIONS:
            raise ConfigError(f"mutation must be one of {', '.join(MUTATIONS)} or None (got {self.mutation!r})")
        object.__setattr__(self, "validator_set", ValidatorSet(self.chain_id, self.validators, self.mutation))
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
                              ("view_change_timeout_ms", 1), ("status_interval_ms", 1), ("fetch_timeout_ms", 1),
                              ("block_time_ahead_ms_max", 0)):
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
        return self.validator_set.key(replica_id)

    @property
    def n(self) -> int:
        return self.validator_set.n

    @property
    def f(self) -> int:
        return self.validator_set.f

    @property
    def quorum(self) -> int:
        return self.validator_set.quorum

    @property
    def prepares_needed(self) -> int:
        return self.validator_set.prepares_needed

    @property
    def validator_set_hash(self) -> bytes:
        return self.validator_set.hash

    @property
    def signing_context(self) -> bytes:
        return self.validator_set.context

    def primary(self, view: int) -> int:
        return self.validator_set.primary(view)


@dataclass(frozen=True, slots=True)
class ChainTip:
    """The last executed block: what the next block must extend."""

    height: int
    block_hash: bytes
    state_root: bytes
    receipts_root: bytes
    timestamp_ms: int
