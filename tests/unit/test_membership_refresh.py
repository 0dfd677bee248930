"""The driver re-reads the node directory after a block only when the block
wrote a governance key (the directory reads nothing else): `_writes_under`
finds such a key in a block's sorted write set, and nothing that merely
sorts next to it."""

from __future__ import annotations

from node.runtime.driver import GOVERNANCE_PREFIX, _writes_under


def test_a_governance_write_anywhere_in_the_sorted_writes_is_found():
    for writes in ([(b"gov/institutions", b"x")],
                   [(b"acct/bank-0/EUR", b"1"), (b"gov/keys/bank-1", None), (b"nonce/k", b"2")],
                   [(b"acct/a", b"1"), (b"gov/validators_pending", None)]):
        assert _writes_under(writes, GOVERNANCE_PREFIX)


def test_keys_that_only_sort_next_to_the_prefix_are_not_governance_writes():
    for writes in ([], [(b"acct/bank-0/EUR", b"1"), (b"nonce/k", b"2")], [(b"gou", b"1"), (b"gov", b"1")],
                   [(b"gov.", b"1"), (b"gow/", None)], [(b"go", None)]):
        assert not _writes_under(writes, GOVERNANCE_PREFIX)
