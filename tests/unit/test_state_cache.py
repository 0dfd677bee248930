"""The storage's write-through cache of state values: bounded in bytes, least
recently used out first, and never holding a value the store no longer does,
even when a read on a worker thread races a block's write."""

from __future__ import annotations

from node.runtime.storage import _ABSENT, STATE_CACHE_ENTRY_BYTES, STATE_CACHE_VALUE_BYTES_MAX, StateCache


def cost(key: bytes, value: bytes | None) -> int:
    return len(key) + len(value or b"") + STATE_CACHE_ENTRY_BYTES


def test_values_read_and_written_are_served_from_the_cache_absent_keys_too():
    cache = StateCache(10_000)
    assert cache.lookup(b"a") == (_ABSENT, 0)
    cache.keep(b"a", None, 0)
    cache.keep(b"b", b"1", 0)
    assert cache.lookup(b"a") == (None, 0) and cache.lookup(b"b") == (b"1", 0)
    cache.written([(b"a", b"2"), (b"b", None)])
    assert cache.lookup(b"a") == (b"2", 1) and cache.lookup(b"b") == (None, 1)
    assert cache.size == cost(b"a", b"2") + cost(b"b", None)


def test_a_read_that_raced_a_block_write_is_not_kept():
    cache = StateCache(10_000)
    _, generation = cache.lookup(b"k")       # a worker misses, reads LevelDB: the value before the block
    cache.written([(b"k", b"new")])          # meanwhile the block is written
    cache.keep(b"k", b"old", generation)     # the worker's stale read comes back
    assert cache.lookup(b"k") == (b"new", 1)
    _, generation = cache.lookup(b"other")
    cache.written([])
    cache.keep(b"other", b"x", generation)   # any block in between: not kept, read again next time
    assert cache.lookup(b"other")[0] is _ABSENT


def test_the_least_recently_used_leave_first_and_the_bound_always_holds():
    bound = 3 * cost(b"k0", b"v" * 10)
    cache = StateCache(bound)
    for n in range(3):
        cache.keep(b"k%d" % n, b"v" * 10, 0)
    cache.lookup(b"k0")                       # k0 used again: k1 is now the oldest
    cache.keep(b"k3", b"v" * 10, 0)
    assert [key for key in cache.entries] == [b"k2", b"k0", b"k3"] and cache.size <= bound
    cache.written([(b"k9", b"w" * 25)])
    assert cache.size <= bound and b"k9" in cache.entries and b"k2" not in cache.entries


def test_a_value_too_large_to_keep_is_read_from_the_store_each_time():
    cache = StateCache(10 * STATE_CACHE_VALUE_BYTES_MAX)
    cache.keep(b"small", b"x", 0)
    cache.written([(b"small", b"y" * (STATE_CACHE_VALUE_BYTES_MAX + 1))])
    assert cache.lookup(b"small")[0] is _ABSENT and cache.size == 0
