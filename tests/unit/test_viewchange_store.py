"""The store of each replica's latest VIEW-CHANGE answers the join and quorum
questions from its sorted views exactly as the plain definitions over every
kept VIEW-CHANGE would, whatever order the VIEW-CHANGEs come in."""

from __future__ import annotations

from hypothesis import given, strategies as st

from consensus.messages import ViewChange
from consensus.viewchange import ViewChangeStore

operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 6), st.integers(0, 12)),
    st.tuples(st.just("prune"), st.integers(0, 12), st.just(0)),
), max_size=40)


@given(operations, st.integers(0, 12), st.integers(0, 3))
def test_sorted_views_answer_as_the_plain_definitions(steps, view, f):
    store = ViewChangeStore()
    for kind, a, b in steps:
        if kind == "add":
            store.add(ViewChange(b, a, 0, None, None, None, bytes(64)))
        else:
            store.prune_below(a)
        kept = [vc.view for vc in store.latest.values()]
        assert store.views == sorted(kept)
        above = sorted((v for v in kept if v > view), reverse=True)
        assert store.join_target(view, f) == (above[f] if len(above) > f else None)
        assert store.asking_at_least(view) == sum(1 for v in kept if v >= view)
