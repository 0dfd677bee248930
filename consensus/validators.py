"""Validator sets and the heights they order.

A `ValidatorSet` is the keys that order a range of blocks, in replica order,
with what follows from them: f, the quorum, and the signing context. Every
consensus signature is over its message prefixed with that context, a hash
of the chain id and the set, so a vote cannot be replayed on another chain
or under another set, even one that shares keys (a key's index may differ).

A `ValidatorHistory` is the set in force now and the few before it, each
with the first height it orders: a certificate is checked against the set
that ordered its own height (a VIEW-CHANGE right after a change carries the
old set's tip certificate), and a fetched block against the set its header
names. It is bounded; a certificate older than what it keeps is refused.

The fault threshold and the quorum as functions of the number of validators
are here, the one place that formula is written. Pure values: this module
imports only crypto and the names of consensus.mutations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consensus.mutations import MUTATIONS, QUORUM_MINUS_ONE
from crypto import encoding, hashing

SETS_KEPT_MAX = 8


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
class ValidatorSet:
    """`mutation` is the simulator's test-only weakening (consensus.mutations);
    the node never sets it, and it changes neither the hash nor the context."""

    chain_id: bytes
    keys: tuple[bytes, ...]
    mutation: str | None = None
    hash: bytes = field(init=False, repr=False, compare=False)
    context: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        assert self.mutation is None or self.mutation in MUTATIONS, f"unknown mutation {self.mutation!r}"
        set_hash = validator_set_hash(self.keys)
        object.__setattr__(self, "hash", set_hash)
        object.__setattr__(self, "context", hashing.digest("pbft-context", self.chain_id + set_hash))

    @property
    def n(self) -> int:
        return len(self.keys)

    @property
    def f(self) -> int:
        return faulty_max(self.n)

    @property
    def quorum(self) -> int:
        return quorum(self.n) - (1 if self.mutation == QUORUM_MINUS_ONE else 0)

    @property
    def prepares_needed(self) -> int:
        return self.quorum - 1

    def key(self, index: int) -> bytes | None:
        return self.keys[index] if 0 <= index < len(self.keys) else None

    def index(self, key: bytes) -> int:
        """The replica index of `key`, or -1 if it is not in the set."""
        return self.keys.index(key) if key in self.keys else -1

    def primary(self, view: int) -> int:
        return view % len(self.keys)


@dataclass(frozen=True, slots=True)
class ValidatorHistory:
    """(first height ordered, set) pairs, oldest first; the last is in force now."""

    entries: tuple[tuple[int, ValidatorSet], ...]

    def __post_init__(self) -> None:
        assert self.entries, "a history holds at least the set in force"
        assert all(a[0] < b[0] for a, b in zip(self.entries, self.entries[1:])), "heights ascend"

    @classmethod
    def of(cls, current: ValidatorSet, first_height: int = 1) -> "ValidatorHistory":
        return cls(((first_height, current),))

    @property
    def current(self) -> ValidatorSet:
        return self.entries[-1][1]

    def at(self, height: int) -> ValidatorSet | None:
        """The set that ordered block `height`, if this history reaches back to it."""
        for first, validators in reversed(self.entries):
            if height >= first:
                return validators
        return None

    def by_hash(self, set_hash: bytes) -> ValidatorSet | None:
        return next((v for _, v in reversed(self.entries) if v.hash == set_hash), None)

    def then(self, first_height: int, validators: ValidatorSet) -> "ValidatorHistory":
        """This history with `validators` in force from `first_height` on."""
        kept = tuple((h, v) for h, v in self.entries if h < first_height)
        return ValidatorHistory((*kept, (first_height, validators))[-SETS_KEPT_MAX:])
