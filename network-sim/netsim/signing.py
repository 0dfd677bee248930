"""Cheap deterministic stand-ins for Ed25519 in simulation: a signature is a
keyed SHA-256 the simulator's verifier can check, so forged or altered
messages still fail verification exactly as they would on the real node.

A broadcast hands one frozen message object to every peer, and a vote's
check depends on nothing else than that object, its sender and the
validator set in force; `VoteChecks` remembers the answer for each vote
object so it is worked out once, not at each of n - 1 receivers. A message
a Byzantine strategy rewrote is another object, checked on its own.
"""

from __future__ import annotations

import hashlib

from consensus.auth import authenticate
from consensus.messages import Checkpoint, Commit, Prepare, PrePrepare
from consensus.validators import ValidatorHistory

VOTE_CHECKS_MAX = 16_384  # votes remembered; the memory is emptied when it fills
_VOTES = frozenset((PrePrepare, Prepare, Commit, Checkpoint))  # checked against the set in force alone


class FakeKeys:
    def __init__(self, n: int, seed: int) -> None:
        self.secrets = [hashlib.sha256(f"netsim-key/{seed}/{i}".encode()).digest() for i in range(n)]
        self.public_keys = tuple(hashlib.sha256(b"public" + s).digest() for s in self.secrets)
        self._by_public = dict(zip(self.public_keys, self.secrets))

    def share(self, address: int, holder: int) -> None:
        """Address `address` holds `holder`'s key from now on (Twins: two nodes, one key)."""
        self._by_public.pop(self.public_keys[address])
        self.secrets[address] = self.secrets[holder]
        keys = list(self.public_keys)
        keys[address] = keys[holder]
        self.public_keys = tuple(keys)

    def signer(self, replica_id: int) -> "FakeSigner":
        return FakeSigner(self.public_keys[replica_id], self.secrets[replica_id])

    def verify(self, public_key: bytes, domain: str, data: bytes, signature: bytes) -> bool:
        secret = self._by_public.get(public_key)
        return secret is not None and signature == _mac(secret, domain, data)


class FakeSigner:
    __slots__ = ("public_key", "_secret")

    def __init__(self, public_key: bytes, secret: bytes) -> None:
        self.public_key = public_key
        self._secret = secret

    def sign(self, domain: str, data: bytes) -> bytes:
        return _mac(self._secret, domain, data)


def _mac(secret: bytes, domain: str, data: bytes) -> bytes:
    first = hashlib.sha256(secret + domain.encode() + b"\x00" + data).digest()
    return first + hashlib.sha256(first).digest()


class VoteChecks:
    """`authenticate` for peer messages, answered from memory for a vote object
    seen before from the same sender under the same validator set."""

    __slots__ = ("verify", "_answers")

    def __init__(self, verify) -> None:
        self.verify = verify
        self._answers: dict[int, tuple[object, int, bytes, str | None]] = {}  # id -> (message, sender, set, answer)

    def authenticate(self, message, sender: int, history: ValidatorHistory) -> str | None:
        if type(message) not in _VOTES:
            return authenticate(message, sender, history, self.verify)
        set_hash = history.current.hash
        known = self._answers.get(id(message))
        if known is not None and known[0] is message and known[1] == sender and known[2] == set_hash:
            return known[3]
        answer = authenticate(message, sender, history, self.verify)
        if len(self._answers) >= VOTE_CHECKS_MAX:
            self._answers.clear()
        self._answers[id(message)] = (message, sender, set_hash, answer)  # holding it keeps its id unique
        return answer
