"""The request pool on its own: duplicates, limits, and the order requests
are proposed in across a view change."""

from __future__ import annotations

from consensus.requests import RequestPool


def test_a_request_is_held_once_while_pending_in_flight_or_recently_committed():
    pool = RequestPool(pending_max=10, recent_max=10)
    assert pool.add((b"a", b"b", b"a")).duplicates == 1
    pool.take((b"a",))
    assert pool.add((b"a",)).duplicates == 1
    pool.committed((b"a",))
    admission = pool.add((b"a", b"c"))
    assert (admission.fresh, admission.duplicates, admission.full) == ((b"c",), 1, False)
    assert list(pool.pending.values()) == [b"b", b"c"] and not pool.in_flight


def test_a_full_pool_refuses_the_rest_of_a_batch():
    pool = RequestPool(pending_max=2, recent_max=10)
    admission = pool.add((b"a", b"b", b"c", b"d"))
    assert (admission.fresh, admission.full) == ((b"a", b"b"), True)
    assert pool.add((b"a",)).full


def test_recent_digests_are_bounded_oldest_first():
    pool = RequestPool(pending_max=10, recent_max=2)
    pool.committed((b"a", b"b", b"c"))
    assert pool.add((b"a", b"b", b"c")).fresh == (b"a",)


def test_batches_are_cut_in_arrival_order_and_requeued_requests_go_first():
    pool = RequestPool(pending_max=10, recent_max=10)
    pool.add((b"a", b"b", b"c"))
    assert pool.batch(2) == (b"a", b"b")
    pool.take((b"a", b"b", b"x"))  # a proposed block may hold requests this replica never heard
    assert pool.batch(5) == (b"c",) and pool.waiting
    pool.requeue()
    assert pool.batch(5) == (b"a", b"b", b"x", b"c") and not pool.in_flight
    pool.committed(pool.batch(5))
    assert not pool.waiting


def test_a_request_is_hashed_once_from_arrival_to_commit(monkeypatch):
    import consensus.requests as requests

    hashed: list[bytes] = []
    digest = requests.request_digest
    monkeypatch.setattr(requests, "request_digest", lambda tx: hashed.append(tx) or digest(tx))
    pool = RequestPool(pending_max=10, recent_max=10)
    pool.add((b"a", b"b", b"c"))
    pool.take((b"a", b"b", b"x"))  # b"x" was never heard here: hashed now
    assert set(pool.digests) == {b"a", b"b", b"c", b"x"}  # exactly the requests pending or in flight
    pool.requeue()
    pool.committed((b"a", b"b", b"x"))
    assert sorted(hashed) == [b"a", b"b", b"c", b"x"]
    assert set(pool.digests) == {b"c"} and list(pool.pending.values()) == [b"c"]
