"""The node's metrics (node.runtime.metrics) fed by hand, read back in
Prometheus's text format; and the operator site's routes kept apart from
the member API's (node.api.access.check_routes). No node, no event loop."""

from __future__ import annotations

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from contracts.registry import TX_TYPES
from node.api import operator
from node.api.access import AUTHENTICATED, OPERATOR, check_routes, requires, rule_of
from node.runtime.metrics import PROPOSALS_TIMED_MAX, REFUSAL_REASONS, NodeMetrics


def samples(metrics: NodeMetrics) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, from the text exposition."""
    text = metrics.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def reading(height=0, view=0, pool=0, peers=0) -> NodeMetrics:
    metrics = NodeMetrics()
    metrics.read_from(height=lambda: height, view=lambda: view, pool_size=lambda: pool, peers=lambda: peers)
    return metrics


def test_gauges_are_read_when_scraped():
    state = {"height": 7, "view": 2, "pool": 40, "peers": 3}
    metrics = NodeMetrics()
    metrics.read_from(height=lambda: state["height"], view=lambda: state["view"], pool_size=lambda: state["pool"],
                      peers=lambda: state["peers"])
    found = samples(metrics)
    assert [found[(name, ())] for name in ("consort_consensus_height", "consort_consensus_view",
                                           "consort_mempool_size", "consort_p2p_peers")] == [7, 2, 40, 3]
    state.update(height=9, peers=1)
    found = samples(metrics)
    assert (found[("consort_consensus_height", ())], found[("consort_p2p_peers", ())]) == (9, 1)


def test_transactions_are_counted_by_type_and_outcome_with_unknown_types_as_other():
    metrics = reading()
    types = ["settlement.pay", "settlement.pay", "assets.register", "no.such_type", None, "settlement.pay"]
    oks = [True, False, True, False, False, True]
    metrics.block_written(iter(types), iter(oks), 0.002)
    found = samples(metrics)
    count = "consort_ledger_transactions_total"
    assert found[(count, (("outcome", "ok"), ("type", "settlement.pay")))] == 2
    assert found[(count, (("outcome", "failed"), ("type", "settlement.pay")))] == 1
    assert found[(count, (("outcome", "ok"), ("type", "assets.register")))] == 1
    assert found[(count, (("outcome", "failed"), ("type", "other")))] == 2
    assert {dict(labels)["type"] for name, labels in found if name == count} <= set(TX_TYPES) | {"other"}
    assert found[("consort_ledger_write_seconds_count", (("kind", "block"),))] == 1


def test_refusal_reasons_are_a_fixed_set_each_starting_at_zero():
    metrics = reading()
    assert {dict(labels)["reason"]: value for (name, labels), value in samples(metrics).items()
            if name == "consort_admission_refusals_total"} == dict.fromkeys(REFUSAL_REASONS, 0)
    metrics.refused(["duplicate", "nonce_used", "duplicate", "a_code_of_a_contract's_own"])
    metrics.refused(["busy"] * 3)
    found = {dict(labels)["reason"]: value for (name, labels), value in samples(metrics).items()
             if name == "consort_admission_refusals_total"}
    assert set(found) == set(REFUSAL_REASONS)
    assert (found["duplicate"], found["nonce_used"], found["other"], found["busy"]) == (2, 1, 1, 3)


def test_commit_time_runs_from_the_first_pre_prepare_seen_to_the_block_applied():
    metrics = reading(height=10)
    metrics.proposal_seen(11)
    metrics.proposal_seen(11)  # a duplicate: the first one counts
    metrics.block_applied(11, timestamp_ms=5_000, previous_timestamp_ms=4_750)
    metrics.block_applied(12, timestamp_ms=5_250, previous_timestamp_ms=5_000)  # fetched: no pre-prepare here
    found = samples(metrics)
    assert found[("consort_consensus_block_commit_seconds_count", ())] == 1
    assert found[("consort_consensus_block_interval_seconds_count", ())] == 2
    assert found[("consort_consensus_block_interval_seconds_sum", ())] == pytest.approx(0.5)


def test_pre_prepares_far_above_the_applied_height_are_not_remembered():
    metrics = reading(height=0)
    for height in range(1, 10 * PROPOSALS_TIMED_MAX):
        metrics.proposal_seen(height)
    assert len(metrics._proposed_at) == PROPOSALS_TIMED_MAX
    metrics.block_applied(PROPOSALS_TIMED_MAX, timestamp_ms=1, previous_timestamp_ms=None)
    assert not metrics._proposed_at  # the applied height and all below it are forgotten


def test_view_changes_count_moves_to_a_higher_view_only():
    metrics = reading(view=1)
    for view in (1, 2, 2, 5, 3):
        metrics.view_seen(view)
    assert samples(metrics)[("consort_consensus_view_changes_total", ())] == 2


def test_mpc_sessions_by_outcome():
    metrics = reading()
    for outcome in ("done", "done", "failed_here", "aborted"):
        metrics.mpc_session_ended(outcome)
    found = {dict(labels)["outcome"]: value for (name, labels), value in samples(metrics).items()
             if name == "consort_mpc_sessions_total"}
    assert found == {"done": 2, "failed_here": 1, "aborted": 1}


def test_two_nodes_in_one_process_keep_their_own_figures():
    first, second = reading(height=3), reading(height=4)
    first.refused(["malformed"])
    assert samples(first)[("consort_admission_refusals_total", (("reason", "malformed"),))] == 1
    assert samples(second)[("consort_admission_refusals_total", (("reason", "malformed"),))] == 0
    assert samples(second)[("consort_consensus_height", ())] == 4


@requires(AUTHENTICATED)
async def member_route(request):
    return web.json_response({})


def app_with(*route_defs) -> web.Application:
    app = web.Application()
    app.router.add_routes(route_defs)
    return app


def test_operator_routes_are_refused_on_the_member_api_and_member_routes_on_the_operator_site():
    with pytest.raises(RuntimeError, match="/metrics is for the operator site, not the member one"):
        check_routes(app_with(*operator.routes()))
    with pytest.raises(RuntimeError, match="/v1/status is for the member site, not the operator one"):
        check_routes(app_with(web.get("/v1/status", member_route)), "operator")
    check_routes(app_with(*operator.routes()), "operator")
    assert all(rule_of(route.handler) is OPERATOR for route in app_with(*operator.routes()).router.routes())
