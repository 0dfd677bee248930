"""The state cache under a real ledger: after every block of payments,
every state value the node reads through the cache is the value LevelDB
holds, and a reopened store (empty cache) reads the same."""

from __future__ import annotations

from contracts.genesis import client_key_key
from node.devtools.chainbuilder import ChainBuilder
from node.runtime.storage import Storage

BLOCKS = 6


def stored(storage: Storage) -> dict[bytes, bytes]:
    return dict(storage.state_items())


def test_cached_state_reads_match_leveldb_after_every_block(tmp_path):
    builder = ChainBuilder(tmp_path)
    storage = builder.storage
    for height in range(1, BLOCKS + 1):
        builder.append(builder.payments(5 + height, height * 100))
        truth = stored(storage)
        assert all(storage.state_get(key) == value for key, value in truth.items())
        assert storage.state_get(b"no/such/key") is None
        assert storage.state_cache.generation >= height  # the genesis write counts too
    assert builder.storage.state_cache.entries  # reads were served from memory
    sender = builder.signers[builder.members[0]].public_key
    assert storage.state_get(client_key_key(sender)) is not None
    builder.close()
    reopened = Storage(tmp_path / "data", builder.genesis.chain_id, create=False)
    try:
        assert not reopened.state_cache.entries
        assert all(reopened.state_get(key) == value for key, value in truth.items())
    finally:
        reopened.close()
