"""docs/openapi.json: a valid OpenAPI 3.1 document (openapi-spec-validator),
exactly what node.api.openapi generates, describing every route the member
API serves with the access rule it declares, and the transaction types and
argument bounds of the registry. tests/integration/test_openapi.py checks
live answers against it."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from contracts.registry import TX_TYPES
from node.api.access import rule_of
from node.api.app import api_routes
from node.api.openapi import document, render
from node.api.openapi_schemas import SIGNATURE_CODES, field_schema

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
# Described ahead of their handlers (another branch serves them); README's access table names them.
NOT_YET_SERVED: set = set()
EXPLICIT_HEAD = {("HEAD", "/v1/export")}  # aiohttp answers HEAD on every GET; only the export's is documented


def operations(doc: dict) -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): operation for path, item in doc["paths"].items()
            for method, operation in item.items()}


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_the_committed_document_is_up_to_date():
    assert COMMITTED.read_text() == render(), "docs/openapi.json is stale: run scripts/gen_docs.py"
    assert json.loads(COMMITTED.read_text()) == document()


def test_every_route_is_described_and_nothing_else():
    served = {(route.method, route.path) for route in api_routes()}
    described = set(operations(document()))
    assert served - described == set(), "routes the document does not describe"
    assert described - served == NOT_YET_SERVED | EXPLICIT_HEAD


def test_each_operation_declares_its_routes_access_rule():
    described = operations(document())
    for route in api_routes():
        operation, rule = described[route.method, route.path], rule_of(route.handler)
        responses = operation["responses"]
        assert "401" in responses, route.path
        if rule.signed:
            assert operation["security"] == [{name: [] for name in (
                "ConsortKey", "ConsortTime", "ConsortNonce", "ConsortSignature")}], route.path
        else:
            assert {} in operation["security"], route.path  # a submission may go unsigned
        if rule.roles is not None:
            assert "403" in responses, route.path
        assert operation["operationId"] and operation["description"].startswith("Access: ")
    unauthenticated = document()["components"]["responses"]["Unauthenticated"]
    assert list(SIGNATURE_CODES) == unauthenticated["content"]["application/json"]["schema"]["allOf"][1][
        "properties"]["error"]["properties"]["code"]["enum"]


def test_every_transaction_type_has_its_argument_schema():
    schemas = document()["components"]["schemas"]
    assert schemas["Transaction"]["properties"]["type"]["enum"] == list(TX_TYPES)
    for name, tx_type in TX_TYPES.items():
        args = schemas[f"TxArgs.{name}"]
        assert args["required"] == [f.name for f in tx_type.fields if f.required]
        assert set(args["properties"]) == {f.name for f in tx_type.fields}
        Draft202012Validator.check_schema(args)


def test_argument_schemas_accept_and_refuse_as_the_contracts_do():
    pay = document()["components"]["schemas"]["TxArgs.settlement.pay"]
    validator = Draft202012Validator(pay)
    good = {"from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": 5}
    assert validator.is_valid(good)
    for bad in ({**good, "amount": 0}, {**good, "amount": 2**62 + 1}, {**good, "currency": "EURO"},
                {**good, "extra": 1}, {k: v for k, v in good.items() if k != "to"}, {**good, "amount": True}):
        assert not validator.is_valid(bad), bad
    register = TX_TYPES["assets.register"].fields
    documents_hash = next(f for f in register if f.name == "documents_hash")
    as_bytes = Draft202012Validator(field_schema(documents_hash))
    assert as_bytes.is_valid({"$bytes": "00" * 32})
    assert not as_bytes.is_valid({"$bytes": "00" * 31}) and not as_bytes.is_valid("00" * 32)
