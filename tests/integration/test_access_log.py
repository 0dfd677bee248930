"""The access log: a JSON line for every refused request and every read of
another party's data, in the file the node config names (relative to the
config) or, without one, on the `consort.access` logger; nothing for a
member reading its own or for consortium-wide reads."""

from __future__ import annotations

import json
import logging

from api_node import AUDITOR, REGULATOR, open_api
from crypto.keys import KeyPair

LINE_FIELDS = {"time", "institution", "roles", "key", "method", "path", "status", "code", "whose"}


async def some_reads(api) -> dict:
    """A payment and an asset of bank-alpha's, then reads by everyone; the asset id."""
    pay = api.pay(5)
    register = api.tx("bank-alpha", "assets.register", {"class": "receivable", "holders": {"bank-alpha": 10},
                                                        "currency": "EUR", "face_value": 2, "documents_hash": bytes(32)})
    await api.submit([pay, register])
    reads = [
        ("/v1/accounts", "bank-other", 200),              # its own: not logged
        ("/v1/governance/validators", AUDITOR, 200),      # consortium-wide: not logged
        ("/v1/accounts", AUDITOR, 200),                   # every party's
        ("/v1/assets/A000000000001", REGULATOR, 200),     # bank-alpha's
        ("/v1/assets/A000000000001", "bank-other", 403),  # refused
        ("/v1/blocks/1", "bank-alpha", 200),              # a validator reads the chain
        ("/v1/blocks/1", "bank-other", 403),              # refused by the route's rule
        ("/v1/accounts", None, 401),                      # refused: unsigned
        ("/v1/status", KeyPair.generate().signer(), 401),  # refused: unknown key
        ("/v1/assets/A000000000009", AUDITOR, 404),       # nothing read: not logged
    ]
    for path, who, status in reads:
        assert (await api.get(path, as_=who)).status == status, (path, who)
    return {"key": api.keys[AUDITOR].public_key.hex()[:16]}


def expected_lines() -> list[tuple]:
    return [
        ("auditor-x", ["auditor"], "/v1/accounts", 200, None, ["*"]),
        ("central-bank", ["regulator"], "/v1/assets/A000000000001", 200, None, ["bank-alpha"]),
        ("bank-other", ["member"], "/v1/assets/A000000000001", 403, "forbidden", []),
        ("bank-alpha", ["validator", "member"], "/v1/blocks/1", 200, None, ["*"]),
        ("bank-other", ["member"], "/v1/blocks/1", 403, "forbidden", []),
        (None, [], "/v1/accounts", 401, "unauthenticated", []),
        (None, [], "/v1/status", 401, "unknown_key", []),
    ]


def summary(line: dict) -> tuple:
    assert set(line) == LINE_FIELDS and line["method"] == "GET" and line["time"].endswith("Z")
    return line["institution"], line["roles"], line["path"], line["status"], line["code"], line["whose"]


async def test_refusals_and_reads_of_others_data_go_to_the_configured_file(tmp_path):
    async with open_api(tmp_path, config={"access_log": "access.log"}) as api:
        facts = await some_reads(api)
        path = api.node.config.path.parent / "access.log"
        assert api.node.config.access_log == path
        lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [summary(line) for line in lines] == expected_lines()
    assert lines[0]["key"] == facts["key"]
    assert lines[5]["key"] is None and len(lines[6]["key"]) == 16


async def test_without_a_file_the_lines_go_to_the_consort_access_logger(api, caplog):
    with caplog.at_level(logging.INFO, logger="consort.access"):
        facts = await some_reads(api)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "consort.access"]
    assert [summary(line) for line in lines] == expected_lines()
