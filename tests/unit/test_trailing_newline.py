"""A name checked by a regular expression is the whole text, never a name
with a newline after it: in Python's `re`, "$" also matches before a final
newline, so `pattern.match` with "...$" takes "bank-1\\n" for "bank-1".
Each check below uses fullmatch; each case is one that "$" let through."""

from __future__ import annotations

import json

import pytest

from contracts.genesis import GenesisError, parse_genesis
from crypto.certs import CertificateError, _host_names, check_institution_id
from node.api.event_feed import EventFilter
from node.api.http import BadRequest
from node.devtools.chainbuilder import genesis_document


def genesis_with(change) -> dict:
    document = genesis_document()  # a new one each call
    change(document)
    return document


def renamed(name: str) -> dict:
    """The genesis document with `name` followed by a newline wherever it stands (a key or a value)."""
    return json.loads(json.dumps(genesis_document()).replace(json.dumps(name), json.dumps(name + "\n")))


def test_the_genesis_document_as_built_is_valid():
    parse_genesis(genesis_document())  # so each refusal below is the newline's


@pytest.mark.parametrize("name", ["bank-1", "EUR"])
def test_a_genesis_id_or_currency_with_a_final_newline_is_refused(name):
    with pytest.raises(GenesisError, match="institution id|currencies"):
        parse_genesis(renamed(name))


def test_a_bulk_state_file_name_with_a_final_newline_is_refused():
    bulk = {"file": "state.bin", "sha256": "00" * 32, "keys": 1}
    parse_genesis(genesis_with(lambda d: d.update(bulk_state=bulk)))
    with pytest.raises(GenesisError, match="bulk_state.file"):
        parse_genesis(genesis_with(lambda d: d.update(bulk_state={**bulk, "file": "state.bin\n"})))


@pytest.mark.parametrize("query", [{"account": "bank-1\n"}, {"asset": "A000000000001\n"}])
def test_an_event_filter_with_a_final_newline_is_a_bad_request(query):
    EventFilter.parse({key: value.rstrip("\n") for key, value in query.items()})  # without it: accepted
    with pytest.raises(BadRequest):
        EventFilter.parse(query)


def test_a_certificate_name_with_a_final_newline_is_refused():
    assert check_institution_id("bank-1") == "bank-1"
    assert _host_names(["node-0.bank-1.example"])
    with pytest.raises(CertificateError):
        check_institution_id("bank-1\n")
    with pytest.raises(CertificateError):
        _host_names(["node-0.bank-1.example\n"])
