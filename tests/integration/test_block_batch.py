"""A block's batch is all or nothing even when building it fails part way:
an exception raised between the batch's first row and its last (a value
that cannot be encoded, a KeyboardInterrupt on the thread that writes)
writes none of it. LevelDB's batch is atomic once written, but plyvel
writes a batch whose `with` block raised unless it is a transaction."""

from __future__ import annotations

import pytest

from node.devtools.chainbuilder import ChainBuilder
from node.runtime import storage as storage_module
from node.runtime.storage import Storage


class Interrupted(BaseException):
    """Raised while the batch is built, as a signal's KeyboardInterrupt would be."""


def everything(storage: Storage) -> dict[bytes, bytes]:
    return dict(storage.db.iterator())


@pytest.mark.parametrize("failing", ["_tip_bytes", "index_rows"])  # the batch's last row; its index rows
def test_a_block_whose_batch_fails_part_way_writes_nothing(tmp_path, monkeypatch, failing):
    builder = ChainBuilder(tmp_path)
    try:
        builder.append(builder.payments(20))
        before, tip = everything(builder.storage), builder.storage.tip()

        def interrupted(*args, **kwargs):
            raise Interrupted

        monkeypatch.setattr(Storage if failing == "_tip_bytes" else storage_module, failing, interrupted)
        with pytest.raises(Interrupted):
            builder.append(builder.payments(20, start=20))
        monkeypatch.undo()
        assert builder.storage.tip() == tip
        assert everything(builder.storage) == before  # not the block's rows, nor its state writes
    finally:
        builder.close()
