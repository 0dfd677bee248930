"""The snapshot a replica persists in the step after a block executes is
written in that block's one synced batch, before anything that step sends,
and not in a write of its own; the snapshot of any other step is one write."""

from __future__ import annotations

import time

from consensus.events import ClientRequests, Start
from consensus.snapshot import ReplicaSnapshot
from contracts.tx import sign_tx
from crypto.keys import KDF_COST_LIGHT, read_key_file
from fixtures import PASSPHRASE, free_base_port
from node.devtools.consortium import create_consortium
from node.runtime.config import load_config
from node.runtime.driver import open_node


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_the_snapshot_after_a_block_goes_in_the_blocks_batch(tmp_path):
    directory = tmp_path / "consortium"
    create_consortium(directory, institutions=1, base_port=free_base_port(1), consensus={"batch_size_max": 2},
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT, regulator=False)
    node = open_node(load_config(directory / "bank-alpha" / "node.json"), PASSPHRASE)
    writes = []  # ("snapshot" | "block", the snapshot written, in order)
    put_snapshot, append_block = node.storage.put_snapshot, node.storage.append_block

    def spied_put_snapshot(raw):
        writes.append(("snapshot", ReplicaSnapshot.decode(raw)))
        put_snapshot(raw)

    def spied_append_block(*args):
        writes.append(("block", None if args[-1] is None else ReplicaSnapshot.decode(args[-1])))
        append_block(*args)

    node.storage.put_snapshot, node.storage.append_block = spied_put_snapshot, spied_append_block
    try:
        signer = read_key_file(directory / "bank-alpha" / "client-0.key", PASSPHRASE).signer()
        txs = tuple(sign_tx(signer, node.genesis.chain_id, nonce, "settlement.pay", {  # to itself: a failed
            "from": "bank-alpha", "to": "bank-alpha", "currency": "EUR", "amount": 1}).wire()  # receipt will do
                    for nonce in range(1, 5))
        await node._perform(node.replica.step(Start(), now_ms()))
        await node._perform(node.replica.step(ClientRequests(txs), now_ms()))  # four requests: two blocks of two
        assert node.ledger.tip.height == 2
        # block 1 was proposed in a step of its own (one write), block 2 in the step after block 1
        # executed: its snapshot (the votes for block 2) went into block 1's batch; block 2's step persisted nothing
        kinds = [(kind, None if snapshot is None else sorted({seq for _, _, seq, _ in snapshot.votes}))
                 for kind, snapshot in writes]
        assert kinds == [("snapshot", [1]), ("block", [2]), ("block", None)]
        assert ReplicaSnapshot.decode(node.storage.snapshot()) == writes[1][1]
    finally:
        await node.close()
