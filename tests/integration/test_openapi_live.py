"""docs/openapi.json against a live node: schemathesis generates requests
for every operation the node serves from the document alone (ones that fit
the schema, and ones that break it), sends them over TLS signed as
node.client.request_signing signs (by the regulator, a member reading
through another member's node, the node's own institution, or no one), and
checks each answer: no 5xx, and a status, content type and body the
document declares for that operation.

A handful of examples per operation here, in both generation modes for the
operations that parse the most (submissions, receipts, the audit query);
the `slow` run takes 300 per operation and mode, every operation in both
(about 14,000 requests, 7 minutes). Waits (wait_ms, timeout_ms) are cut to
100 ms, so a run never sits on a receipt that will not come."""

from __future__ import annotations

import asyncio
import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from schemathesis.checks import CHECKS

from api_node import AUDITOR, assert_refused
from conftest import Payer
from node.api.app import api_routes
from node.api.openapi import document, render
from node.client.request_signing import HEADERS, request_headers
from node.devtools.cluster import LocalCluster

pytestmark = pytest.mark.integration

CHECK_NAMES = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_schema_conformance")
EXAMPLES_FAST = 12
EXAMPLES_SLOW = 300
WAIT_PARAMETERS = ("wait_ms", "timeout_ms")
WAIT_MS_TESTED_MAX = 100
BOTH_MODES_FAST = {("POST", "/v1/tx"), ("POST", "/v1/txs"), ("GET", "/v1/tx/{hash}"), ("GET", "/v1/audit/txs")}
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE

schemathesis.serializer.alias("application/msgpack", "application/octet-stream")


class SignedRequest(requests.auth.AuthBase):
    """Signs each prepared request exactly as sent (path with its query,
    body bytes) with `signer`'s client key; None strips any Consort-* header."""

    def __init__(self, signer, chain_id: bytes) -> None:
        self.signer = signer
        self.chain_id = chain_id

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        for name in HEADERS:
            prepared.headers.pop(name, None)
        if self.signer is not None:
            body = prepared.body or b""
            body = body.encode() if isinstance(body, str) else body
            prepared.headers.update(request_headers(self.signer, self.chain_id, prepared.method,
                                                    prepared.path_url, body))
        return prepared


def cut_waits(case):
    for name in WAIT_PARAMETERS:
        value = (case.query or {}).get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > WAIT_MS_TESTED_MAX:
            case.query[name] = WAIT_MS_TESTED_MAX
    return case


def run_operation(operation, callers: list, ca: str, examples: int, mode) -> None:
    checks = CHECKS.get_by_names(list(CHECK_NAMES))
    session = requests.Session()

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode).map(cut_waits), auth=st.sampled_from(callers))
    def check(case, auth):
        case.call_and_validate(session=session, checks=checks, verify=ca, auth=auth, timeout=10)

    try:
        check()
    finally:
        session.close()


def served() -> set[tuple[str, str]]:
    """The (method, path) pairs the document describes that the node routes (an
    operation described ahead of its handler, such as /v1/events before it lands, is left out)."""
    routed = {(route.method, route.path) for route in api_routes()} | {("HEAD", "/v1/export")}
    return {(method.upper(), path) for path, item in document()["paths"].items() for method in item
            if (method.upper(), path) in routed}


def check_live(cluster: LocalCluster, examples: int, modes_of) -> int:
    """Run every served operation against node 0 after one payment, in the
    generation modes `modes_of(method, path)` gives; the count of operations run."""
    receipts = asyncio.run(Payer(cluster).send(via=0, payer=0, count=1))
    assert receipts[0]["ok"], receipts
    schema = schemathesis.openapi.from_dict(document())
    schema.config.update(base_url=cluster.urls[0])
    chain_id = cluster.chain_id
    callers = [SignedRequest(cluster.signer(cluster.regulator), chain_id),
               SignedRequest(cluster.signer(cluster.institutions[1]["id"]), chain_id),
               SignedRequest(cluster.signer(cluster.institutions[0]["id"]), chain_id),
               SignedRequest(None, chain_id)]
    wanted = served()
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key not in wanted:
            continue
        for mode in modes_of(*key):
            run_operation(operation, callers, str(cluster.ca), examples, mode)
        ran += 1
    return ran


def test_every_operation_answers_as_documented(cluster):
    def modes_of(method: str, path: str) -> list:
        return [POSITIVE, NEGATIVE] if (method, path) in BOTH_MODES_FAST else [POSITIVE]

    ran = check_live(cluster, EXAMPLES_FAST, modes_of)
    assert ran == len(served()) and ran >= 23


@pytest.mark.slow
def test_every_operation_answers_as_documented_at_length(cluster):
    assert check_live(cluster, EXAMPLES_SLOW, lambda method, path: [POSITIVE, NEGATIVE]) == len(served())


async def test_the_node_serves_the_document_to_any_authenticated_caller(api):
    for who in ("bank-other", "bank-alpha", AUDITOR):
        response = await api.get("/v1/openapi.json", as_=who)
        assert response.status == 200 and response.content_type == "application/json"
        assert await response.text() == render() and json.loads(render()) == document()
    await assert_refused(await api.get("/v1/openapi.json", as_=None), 401, "unauthenticated")
