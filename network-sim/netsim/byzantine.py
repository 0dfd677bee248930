"""Byzantine strategies: a faulty replica runs the honest code, and its
strategy rewrites what it sends. Faulty replicas hold their real keys, so
what they sign verifies; what they forge does not."""

from __future__ import annotations

import dataclasses

from consensus.events import Broadcast, Send
from consensus.messages import (
    SIGNATURE_DOMAIN, Block, Checkpoint, Commit, NewView, Prepare, PrePrepare, ViewChange, vote_bytes,
)

HUGE_VIEW = 10**12
REPLAY_MEMORY_MAX = 256
TWINS_MAX = 256


class Strategy:
    """Honest behaviour; subclasses change what leaves the replica."""

    name = "honest"

    def __init__(self, node, rng) -> None:
        self.node = node
        self.rng = rng

    def outgoing(self, to: int, message) -> list[tuple[int, object]]:
        return [(to, message)]


class Silent(Strategy):
    name = "silent"

    def outgoing(self, to, message):
        return []


class SilentPrimary(Strategy):
    """Says nothing while it is the primary of its view."""

    name = "silent-primary"

    def outgoing(self, to, message):
        return [] if self.node.replica.is_primary else [(to, message)]


class WithholdCommits(Strategy):
    name = "withhold-commits"

    def outgoing(self, to, message):
        return [] if isinstance(message, (Commit, Checkpoint)) else [(to, message)]


class Forge(Strategy):
    """Signed messages leave with signatures that do not verify."""

    name = "forge"

    def outgoing(self, to, message):
        if hasattr(message, "signature"):
            bad = bytes(self.rng.getrandbits(8) for _ in range(64))
            return [(to, dataclasses.replace(message, signature=bad))]
        return [(to, message)]


class Equivocate(Strategy):
    """As primary, proposes one block to the even-numbered backups and another
    to the odd ones; then votes for each block with the half that holds it
    (PREPARE and COMMIT for the other block go to the odd half), as a faulty
    replica that double-votes would."""

    name = "equivocate"

    def __init__(self, node, rng) -> None:
        super().__init__(node, rng)
        self.twins: dict[bytes, bytes] = {}  # digest shown to the even half -> digest shown to the odd half

    def outgoing(self, to, message):
        if to % 2 == 0:
            return [(to, message)]
        if isinstance(message, PrePrepare):
            header = dataclasses.replace(message.block.header, timestamp_ms=message.block.header.timestamp_ms + 1)
            digest = header.hash()
            if len(self.twins) >= TWINS_MAX:
                self.twins.pop(next(iter(self.twins)))
            self.twins[message.digest] = digest
            return [(to, dataclasses.replace(message, digest=digest, signature=self._sign(message, digest),
                                             block=Block(header, message.block.txs)))]
        if isinstance(message, (Prepare, Commit)) and message.digest in self.twins:
            digest = self.twins[message.digest]
            return [(to, dataclasses.replace(message, digest=digest, signature=self._sign(message, digest)))]
        return [(to, message)]

    def _sign(self, message, digest: bytes) -> bytes:
        context = self.node.replica.config.signing_context
        return self.node.signer.sign(SIGNATURE_DOMAIN, vote_bytes(context, message.KIND, message.view, message.seq, digest))


class Replay(Strategy):
    """Sends what it must, plus old messages to random peers."""

    name = "replay"

    def __init__(self, node, rng) -> None:
        super().__init__(node, rng)
        self.sent: list = []

    def outgoing(self, to, message):
        out = [(to, message)]
        if self.sent and self.rng.random() < 0.3:
            out.append((self.rng.randrange(self.node.n), self.rng.choice(self.sent)))
        if len(self.sent) < REPLAY_MEMORY_MAX:
            self.sent.append(message)
        else:
            self.sent[self.rng.randrange(REPLAY_MEMORY_MAX)] = message
        return [(t, m) for t, m in out if t != self.node.replica_id]


class HugeViews(Strategy):
    """Floods validly signed view-changes and prepares for enormous views, and
    stale ones for view 0."""

    name = "huge-view"

    def outgoing(self, to, message):
        out = [(to, message)]
        if self.rng.random() < 0.2:
            replica = self.node.replica
            view = HUGE_VIEW + self.rng.randrange(1000)
            unsigned = ViewChange(view, self.node.replica_id, replica.tip.height, replica.tip_certificate,
                                  None, None, b"")
            context = replica.config.signing_context
            vc = dataclasses.replace(unsigned, signature=self.node.signer.sign(SIGNATURE_DOMAIN,
                                                                               unsigned.signed_bytes(context)))
            digest = replica.tip.block_hash
            seq = replica.tip.height + 1
            prepare = Prepare(view, seq, digest, self.node.replica_id, self.node.signer.sign(
                SIGNATURE_DOMAIN, vote_bytes(context, Prepare.KIND, view, seq, digest)))
            stale = Prepare(0, seq, digest, self.node.replica_id, self.node.signer.sign(
                SIGNATURE_DOMAIN, vote_bytes(context, Prepare.KIND, 0, seq, digest)))
            out += [(to, vc), (to, prepare), (to, stale)]
        return out


STRATEGIES = {cls.name: cls for cls in (Silent, SilentPrimary, WithholdCommits, Forge, Equivocate, Replay,
                                        HugeViews)}


def expand(effects: list, addresses: int, own: int, addresses_of) -> list[tuple[int, object]]:
    """Turn Send/Broadcast effects into (node address, message) pairs: a Send
    names a replica index of the current validator set, which every node
    holding that replica's key gets (two, for a Twin); a Broadcast reaches
    every other node, observers and twins included."""
    pairs = []
    for effect in effects:
        if isinstance(effect, Send):
            pairs.extend((to, effect.message) for to in addresses_of(effect.to))
        elif isinstance(effect, Broadcast):
            pairs.extend((to, effect.message) for to in range(addresses) if to != own)
    return pairs


__all__ = ["STRATEGIES", "Strategy", "expand", "NewView"]
