"""The access table of README.md ("Who may read what"), checked on every
route for every kind of caller on one in-process node: no signature or an
unknown key -> 401; a member reading its own -> 200, another's -> 403 or
left out; a validator where the table says; auditors and regulators -> 200
and everything. The consortium (tests/integration/api_node.py): bank-alpha
validates and is a member, bank-other and bank-third are members,
auditor-x audits, central-bank regulates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

from api_node import AUDITOR, MSGPACK, REGULATOR
from crypto import encoding
from crypto.keys import KeyPair
from node.client.sse import EventStreamParser

UNSIGNED, STRANGER, MEMBER, VALIDATOR = "unsigned", "stranger", "bank-other", "bank-alpha"
CALLERS = (UNSIGNED, STRANGER, MEMBER, VALIDATOR, AUDITOR, REGULATOR)
A1, A2 = "A000000000001", "A000000000002"  # bank-alpha's asset, bank-other's


@dataclass(frozen=True)
class Shows:
    """200, and `view(body)` equals `expected`."""

    view: Callable[[Any], Any]
    expected: Any


@dataclass
class Row:
    method: str
    route: str                      # the route's canonical path, as the app declares it
    path: str | Callable[[dict], str]  # the request path, or a function of the scenario's facts
    expect: dict[str, int | Shows] = field(default_factory=dict)

    def expected(self, who: str) -> int | Shows:
        defaults = {UNSIGNED: 401, STRANGER: 401, AUDITOR: 200, REGULATOR: 200}
        return self.expect.get(who, defaults.get(who))


def institutions_of(body) -> list[str]:
    return sorted({a["institution"] for a in body["accounts"]})


def queue_pairs(body) -> list[tuple[str, str]]:
    return [(r["payer"], r["payee"]) for r in body["queue"]]


def cycle_view(record) -> tuple:
    return tuple(sorted(record)), record["positions"]


def latest(body):
    return cycle_view(body["latest"])


EVERYONE = ["bank-alpha", "bank-other", "bank-third"]
SENDERS = [*EVERYONE, REGULATOR]


def stream_view(events) -> tuple[list[str], bool]:
    """The senders of the receipts an event stream showed, and whether it showed every block from 1 in order."""
    heights = [e.json()["height"] for e in events if e.name == "block"]
    return sorted({e.json()["sender"] for e in events if e.name == "receipt"}), heights == list(
        range(1, len(heights) + 1)) and len(heights) > 0
QUEUE = [("bank-alpha", "bank-third"), ("bank-other", "bank-alpha"), ("bank-third", "bank-other")]
FULL_CYCLE_FIELDS = ("closed_by", "currency", "cycle", "expired", "gross_total", "height", "net_total",
                     "positions", "removed", "settled", "timestamp_ms", "tx_hash")
OWN_CYCLE_FIELDS = ("closed_by", "currency", "cycle", "height", "positions", "timestamp_ms", "tx_hash")
POSITIONS = {"bank-alpha": -5, "bank-other": -5, "bank-third": 10}

TABLE = [
    Row("GET", "/v1/status", "/v1/status", {MEMBER: 200, VALIDATOR: 200}),
    Row("GET", "/v1/accounts", "/v1/accounts", {
        MEMBER: Shows(institutions_of, ["bank-other"]), VALIDATOR: Shows(institutions_of, ["bank-alpha"]),
        AUDITOR: Shows(institutions_of, EVERYONE), REGULATOR: Shows(institutions_of, EVERYONE)}),
    Row("GET", "/v1/settlement/queue/{currency}", "/v1/settlement/queue/EUR", {
        MEMBER: Shows(queue_pairs, [QUEUE[1], QUEUE[2]]), VALIDATOR: Shows(queue_pairs, QUEUE[:2]),
        AUDITOR: Shows(queue_pairs, QUEUE), REGULATOR: Shows(queue_pairs, QUEUE)}),
    Row("GET", "/v1/settlement/cycles/{currency}", "/v1/settlement/cycles/EUR", {
        MEMBER: Shows(latest, (OWN_CYCLE_FIELDS, {"bank-other": -5})),
        VALIDATOR: Shows(latest, (OWN_CYCLE_FIELDS, {"bank-alpha": -5})),
        AUDITOR: Shows(latest, (FULL_CYCLE_FIELDS, POSITIONS)),
        REGULATOR: Shows(latest, (FULL_CYCLE_FIELDS, POSITIONS))}),
    Row("GET", "/v1/settlement/cycles/{currency}/{number}", "/v1/settlement/cycles/EUR/1", {
        MEMBER: Shows(cycle_view, (OWN_CYCLE_FIELDS, {"bank-other": -5})),
        VALIDATOR: Shows(cycle_view, (OWN_CYCLE_FIELDS, {"bank-alpha": -5})),
        AUDITOR: Shows(cycle_view, (FULL_CYCLE_FIELDS, POSITIONS))}),
    Row("GET", "/v1/settlement/finality/{tx_hash}", lambda f: f"/v1/settlement/finality/{f['pay_other']}",
        {MEMBER: 200, VALIDATOR: 200}),
    Row("GET", "/v1/settlement/finality/{tx_hash}", lambda f: f"/v1/settlement/finality/{f['pay_third']}",
        {MEMBER: 403, VALIDATOR: 200}),
    Row("GET", "/v1/settlement/finality/{tx_hash}", lambda f: f"/v1/settlement/finality/{f['mint']}",
        {MEMBER: 403, VALIDATOR: 403}),
    Row("GET", "/v1/governance/proposals", "/v1/governance/proposals", {
        MEMBER: Shows(lambda b: len(b["open"]), 1), VALIDATOR: 200}),
    Row("GET", "/v1/governance/proposals/{number}", "/v1/governance/proposals/1", {MEMBER: 200, VALIDATOR: 200}),
    Row("GET", "/v1/governance/validators", "/v1/governance/validators", {MEMBER: 200, VALIDATOR: 200}),
    Row("GET", "/v1/assets", "/v1/assets", {
        MEMBER: Shows(lambda b: b["assets"], [A2]), VALIDATOR: Shows(lambda b: b["assets"], [A1]),
        AUDITOR: Shows(lambda b: b["assets"], [A1, A2])}),
    Row("GET", "/v1/assets/{asset}", f"/v1/assets/{A1}", {MEMBER: 403, VALIDATOR: 200}),
    Row("GET", "/v1/assets/{asset}", f"/v1/assets/{A2}", {MEMBER: 200, VALIDATOR: 403}),
    Row("GET", "/v1/assets/{asset}/history", f"/v1/assets/{A1}/history", {MEMBER: 403, VALIDATOR: 200}),
    Row("GET", "/v1/tx/{hash}", lambda f: f"/v1/tx/{f['pay_other']}", {MEMBER: 403, VALIDATOR: 200}),
    Row("GET", "/v1/tx/{hash}", lambda f: f"/v1/tx/{f['instruct_other']}", {MEMBER: 200, VALIDATOR: 403}),
    Row("GET", "/v1/blocks/{height}", "/v1/blocks/1", {MEMBER: 403, VALIDATOR: 200}),
    Row("GET", "/v1/export", "/v1/export", {MEMBER: 403, VALIDATOR: 200}),
    Row("HEAD", "/v1/export", "/v1/export", {MEMBER: 403, VALIDATOR: 200}),
    Row("GET", "/v1/state/proof", "/v1/state/proof?key=" + b"acct/bank-other/EUR".hex(), {MEMBER: 200, VALIDATOR: 200}),
    Row("GET", "/v1/state/proof", "/v1/state/proof?key=" + b"acct/bank-alpha/EUR".hex(), {MEMBER: 403, VALIDATOR: 200}),
    Row("GET", "/v1/state/proof", "/v1/state/proof?key=" + b"gov/validators".hex(), {MEMBER: 403, VALIDATOR: 200}),
    Row("GET", "/v1/audit/txs", "/v1/audit/txs?institution=bank-other", {MEMBER: 403, VALIDATOR: 403}),
    # MPC sessions: who sees which session, and how much of it, is tested with real sessions in test_mpc.py
    Row("GET", "/v1/mpc/sessions", "/v1/mpc/sessions", {
        who: Shows(lambda body: body["sessions"], []) for who in (MEMBER, VALIDATOR, AUDITOR, REGULATOR)}),
    Row("GET", "/v1/mpc/sessions/{session}", "/v1/mpc/sessions/M000000000001", {
        MEMBER: 404, VALIDATOR: 404, AUDITOR: 404, REGULATOR: 404}),
    # The event stream (to the scenario's last height, so it ends): each caller gets the receipts of the
    # transactions it may read (GET /v1/tx's rule) and every block.
    Row("GET", "/v1/events", lambda f: f"/v1/events?from_height=1&to_height={f['height']}", {
        MEMBER: Shows(stream_view, (["bank-other"], True)), VALIDATOR: Shows(stream_view, (["bank-alpha"], True)),
        AUDITOR: Shows(stream_view, (SENDERS, True)), REGULATOR: Shows(stream_view, (SENDERS, True))}),
    Row("GET", "/v1/openapi.json", "/v1/openapi.json", {MEMBER: 200, VALIDATOR: 200}),
    # A submission is authenticated by its transactions' signatures: no request signature needed.
    Row("POST", "/v1/txs", "/v1/txs", {UNSIGNED: 202, MEMBER: 202, VALIDATOR: 202, AUDITOR: 202, REGULATOR: 202}),
    Row("POST", "/v1/tx", "/v1/tx", {UNSIGNED: 202, MEMBER: 202, VALIDATOR: 202, AUDITOR: 202, REGULATOR: 202}),
]


async def committed(api, *txs) -> list[dict]:
    status, body = await api.submit(list(txs))
    assert status == 200 and all(r["ok"] for r in body["receipts"]), body
    return body["receipts"]


def pay(api, payer: str, payee: str, amount: int, tx_type: str = "settlement.pay"):
    return api.tx(payer, tx_type, {"from": payer, "to": payee, "currency": "EUR", "amount": amount})


async def scenario(api) -> dict:
    """Payments, assets, a netting cycle, queued instructions, a mint and a
    proposal; the hashes the table names."""
    pay_other, pay_third = pay(api, "bank-alpha", "bank-other", 100), pay(api, "bank-alpha", "bank-third", 50)
    register = {who: api.tx(who, "assets.register", {"class": "receivable", "holders": {who: 10}, "currency": "EUR",
                                                      "face_value": 2, "documents_hash": bytes(32)})
                for who in ("bank-alpha", "bank-other")}
    await committed(api, pay_other, pay_third, register["bank-alpha"])
    await committed(api, register["bank-other"])
    await committed(api, pay(api, "bank-alpha", "bank-third", 10, "settlement.instruct"),
                    pay(api, "bank-other", "bank-alpha", 5, "settlement.instruct"))
    await committed(api, api.tx("bank-alpha", "settlement.close_cycle", {"currency": "EUR"}))
    instruct_other = pay(api, "bank-other", "bank-alpha", 3, "settlement.instruct")
    await committed(api, pay(api, "bank-alpha", "bank-third", 7, "settlement.instruct"), instruct_other,
                    pay(api, "bank-third", "bank-other", 2, "settlement.instruct"))
    mint = api.tx(REGULATOR, "settlement.mint", {"institution": "bank-third", "currency": "EUR", "amount": 1000})
    await committed(api, mint, api.tx("bank-alpha", "governance.propose", {
        "action": "set_parameter", "args": {"name": "netting_queue_max", "value": 500}}))
    return {"pay_other": pay_other.hash.hex(), "pay_third": pay_third.hash.hex(),
            "instruct_other": instruct_other.hash.hex(), "mint": mint.hash.hex(), "height": await api.height()}


async def answer(api, row: Row, who: str, facts: dict, stranger) -> tuple[int, Any]:
    path = row.path(facts) if callable(row.path) else row.path
    signer = {UNSIGNED: None, STRANGER: stranger}.get(who, who)
    data, headers = b"", None
    if row.method == "POST":  # a fresh payment each time
        tx = pay(api, "bank-alpha", "bank-third", 1)
        if row.route == "/v1/txs":
            data, headers = encoding.encode([tx.wire()]), MSGPACK
        else:
            data, headers = json.dumps(tx.to_json()).encode(), {"Content-Type": "application/json"}
    response = await api.request(row.method, path, as_=signer, data=data, headers=headers)
    raw = await response.read()
    body = json.loads(raw) if raw and response.content_type == "application/json" else None
    if response.content_type == "text/event-stream":
        body = EventStreamParser().feed(raw)
    return response.status, body


def judged(row: Row, who: str, status: int, body) -> str | None:
    """What is wrong with the answer, or None."""
    expected = row.expected(who)
    if isinstance(expected, Shows):
        if status != 200:
            return f"expected 200, got {status} {body}"
        seen = expected.view(body)
        return None if seen == expected.expected else f"expected to see {expected.expected!r}, saw {seen!r}"
    if status != expected:
        return f"expected {expected}, got {status} {body}"
    codes = {401: ("unauthenticated", "unknown_key"), 403: ("forbidden",)}
    if status in codes and row.method != "HEAD" and body["error"]["code"] not in codes[status]:
        return f"unexpected error code {body['error']['code']}"
    return None


async def test_every_route_answers_every_caller_as_the_table_says(api):
    facts = await scenario(api)
    stranger = KeyPair.generate().signer()
    problems = []
    for row in TABLE:
        for who in CALLERS:
            status, body = await answer(api, row, who, facts, stranger)
            problem = judged(row, who, status, body)
            if problem is not None:
                problems.append(f"{row.method} {row.path if isinstance(row.path, str) else row.route} as {who}: "
                                f"{problem}")
    assert not problems, "\n".join(problems)


def test_the_table_covers_every_route_of_the_api(api):
    app: web.Application = api.client.app
    served = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.method != "HEAD" or r.resource.canonical == "/v1/export"}
    assert served == {(row.method, row.route) for row in TABLE}


async def test_a_role_given_by_governance_applies_from_the_next_block(api):
    """bank-other, made an auditor by a vote, sees every account at once."""
    assert institutions_of(await (await api.get("/v1/accounts", as_=MEMBER)).json()) == ["bank-other"]
    proposed = await committed(api, api.tx("bank-alpha", "governance.propose", {
        "action": "set_roles", "args": {"id": "bank-other", "roles": ["auditor", "member"]}}))
    proposal = proposed[0]["output"]["proposal"]
    await committed(api, *(api.tx(who, "governance.vote", {"proposal": proposal, "yes": True})
                           for who in ("bank-alpha", "bank-third")))
    assert institutions_of(await (await api.get("/v1/accounts", as_=MEMBER)).json()) == EVERYONE
