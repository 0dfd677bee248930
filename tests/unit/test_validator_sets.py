"""A validator-set change, driven event by event: the old set's certificates
still count for the heights it ordered (a VIEW-CHANGE right after the change
carries them), and fetched blocks are checked against the set in force at
their own height (a block certified by retired keys is never delivered)."""

from __future__ import annotations

import dataclasses

from consensus.auth import authenticate
from consensus.config import ChainTip
from consensus.events import (
    REQUEST_TIMER, Broadcast, CertifiedBlocks, ClientRequests, Deliver, Executed, Halt, TimerFired,
)
from consensus.messages import Block, BlockHeader, CommitCertificate, ViewChange, tx_root
from consensus.replica import Replica
from consensus.validators import ValidatorHistory
from consensus.votes import Votes
from crypto import hashing
from fixtures import replica_config
from replica_net import CHAIN_ID, fake_roots, genesis_tip, node_keys

KEYS = node_keys(5)
OLD = tuple(k.public_key for k in KEYS[:4])   # replicas 0..3
NEW = tuple(k.public_key for k in KEYS[1:])   # key 0 retired, key 4 joins
NOW_MS = 2_000


def block_on(tip: ChainTip, validators: tuple[bytes, ...], tag: bytes = b"tx") -> Block:
    txs = (tag + bytes([tip.height]),)
    header = BlockHeader(CHAIN_ID, tip.height + 1, 0, 0, tip.block_hash, tip.timestamp_ms, tx_root(txs), len(txs),
                         tip.state_root, tip.receipts_root, replica_config(CHAIN_ID, 0, validators).validator_set_hash)
    return Block(header, txs)


def certify(block: Block, validators: tuple[bytes, ...], signers: range) -> CommitCertificate:
    """A commit certificate signed by `signers` (indices into `validators`)."""
    config = replica_config(CHAIN_ID, 0, validators)
    by_key = {k.public_key: k for k in KEYS}
    digest = block.header.hash()
    signatures = tuple((i, Votes(by_key[validators[i]].signer(), i, config.validator_set.context).commit(
        0, block.header.height, digest).signature) for i in signers)
    return CommitCertificate(0, block.header.height, digest, signatures)


def executed_tip(tip: ChainTip, block: Block) -> ChainTip:
    state_root, receipts_root = fake_roots(block.header.hash())
    return ChainTip(block.header.height, block.header.hash(), state_root, receipts_root, block.header.timestamp_ms)


def lagging_replica() -> Replica:
    """Replica 1 of the old set, at genesis."""
    return Replica(replica_config(CHAIN_ID, 1, OLD, request_timeout_ms=1000), KEYS[1].signer(), genesis_tip())


def test_a_fetched_block_certified_by_retired_keys_after_the_change_is_not_delivered():
    replica = lagging_replica()
    first = block_on(genesis_tip(), OLD)                   # block 1 activates NEW for block 2 on
    tip_1 = executed_tip(genesis_tip(), first)
    forged = block_on(tip_1, OLD, b"forged")               # claims the retired set, signed by it
    effects = replica.step(CertifiedBlocks(0, ((first, certify(first, OLD, range(3))),
                                              (forged, certify(forged, OLD, range(3))))), NOW_MS)
    (deliver,) = [e for e in effects if isinstance(e, Deliver)]
    assert deliver.seq == 1
    effects = replica.step(Executed(1, tip_1.state_root, tip_1.receipts_root, NEW), NOW_MS)
    assert replica.config.validators == NEW and replica.config.replica_id == 0
    assert not [e for e in effects if isinstance(e, Deliver)]
    assert replica.last_ignored == "fetched block names another validator set than the one in force"
    genuine = block_on(tip_1, NEW, b"genuine")
    effects = replica.step(CertifiedBlocks(1, ((genuine, certify(genuine, NEW, range(4))),)), NOW_MS)
    assert [e.block for e in effects if isinstance(e, Deliver)] == [genuine]


def test_a_view_change_right_after_the_change_is_accepted_with_the_old_sets_tip_certificate():
    """Block 1 activates the new set. Its certificate, which every VIEW-CHANGE
    now carries as the sender's tip, is the old set's: peers check it against
    the set that ordered block 1, not the set in force now."""
    first = block_on(genesis_tip(), OLD)
    tip_1 = executed_tip(genesis_tip(), first)
    certificate = certify(first, OLD, range(3))
    replicas = []
    for key in KEYS[1:]:
        replica_id = OLD.index(key.public_key) if key.public_key in OLD else -1
        replica = Replica(replica_config(CHAIN_ID, replica_id, OLD), key.signer(), genesis_tip())
        replica.step(CertifiedBlocks(0, ((first, certificate),)), NOW_MS)
        replica.step(Executed(1, tip_1.state_root, tip_1.receipts_root, NEW), NOW_MS)
        replicas.append(replica)
    assert [r.config.replica_id for r in replicas] == [0, 1, 2, 3]
    backup = replicas[1]
    backup.step(ClientRequests((b"a request the silent primary never proposes",)), NOW_MS)
    effects = backup.step(TimerFired(REQUEST_TIMER), NOW_MS)
    (vc,) = [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, ViewChange)]
    assert vc.height == 1 and vc.commit_certificate == certificate
    for other in replicas[2:]:
        assert authenticate(vc, 1, other.history) is None
        only_current = ValidatorHistory.of(other.config.validator_set)
        assert authenticate(vc, 1, only_current) == "view-change: commit certificate: bad signature from replica 0"


def test_signatures_are_bound_to_the_chain_and_the_validator_set():
    on_old = replica_config(CHAIN_ID, 1, OLD).validator_set
    on_new = replica_config(CHAIN_ID, 0, NEW).validator_set
    other_chain = replica_config(hashing.digest("test-chain", b"another"), 1, OLD).validator_set
    assert len({on_old.context, on_new.context, other_chain.context}) == 3
    digest = bytes(32)
    vote = Votes(KEYS[1].signer(), 1, on_old.context).prepare(0, 1, digest)
    assert authenticate(vote, 1, ValidatorHistory.of(on_old)) is None
    assert authenticate(vote, 1, ValidatorHistory.of(other_chain)) == "bad signature"
    replayed = dataclasses.replace(vote, replica=0)  # key 1 is replica 0 of the new set
    assert authenticate(replayed, 0, ValidatorHistory.of(on_new)) == "bad signature"
    fresh = Votes(KEYS[1].signer(), 0, on_new.context).prepare(0, 1, digest)
    assert authenticate(fresh, 0, ValidatorHistory.of(on_new)) is None


def test_a_certified_block_that_disagrees_with_our_own_execution_halts_the_replica():
    """A quorum certified block 2 on top of other roots for block 1 than this
    replica computed: its execution diverged, and going on would fork it. It
    stops with a consensus failure (before: it logged and fetched forever)."""
    replica = lagging_replica()
    first = block_on(genesis_tip(), OLD)
    tip_1 = executed_tip(genesis_tip(), first)
    second = block_on(tip_1, OLD, b"second")
    replica.step(CertifiedBlocks(0, ((first, certify(first, OLD, range(3))),
                                     (second, certify(second, OLD, range(3))))), NOW_MS)
    effects = replica.step(Executed(1, bytes(32), tip_1.receipts_root), NOW_MS)  # our own, other, state root
    (halt,) = [e for e in effects if isinstance(e, Halt)]
    assert "certified by a quorum" in halt.reason and not [e for e in effects if isinstance(e, Deliver)]
    assert replica.step(TimerFired(REQUEST_TIMER), NOW_MS) == []  # nothing after a halt
