"""docs/transactions.md is what node.cli.txdoc generates from the registry
(so it cannot drift), names every type, action and receipt code, and
`consort tx send TYPE --help` shows TYPE's argument schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.registry import GOVERNANCE_ACTIONS, TX_TYPES
from contracts.schema import Field
from node.cli import build_parser
from node.cli.txdoc import CODE_MODULES, codes_in, describe, markdown, module_codes, receipt_codes

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "transactions.md"


def test_the_committed_page_is_up_to_date():
    assert COMMITTED.read_text() == markdown(), "docs/transactions.md is stale: run scripts/gen_docs.py"


def test_the_page_names_every_type_and_action():
    page = markdown()
    for name in [*TX_TYPES, *GOVERNANCE_ACTIONS]:
        assert f"### `{name}`" in page, name


def test_every_module_that_gives_receipt_codes_is_assigned_to_a_contract():
    assigned = {module for modules in CODE_MODULES.values() for module in modules}
    assert set(module_codes()) <= assigned, set(module_codes()) - assigned
    codes = receipt_codes()
    assert {"ok", "internal_error", "nonce_used", "unknown_type", "bad_args"} <= set(codes["every type"])
    assert "insufficient_funds" in codes["settlement"] and "unknown_action" in codes["governance"]


def test_codes_are_read_from_literals_and_module_constants():
    source = 'OK = "ok"\nraise ContractError("first", "x")\nReceipt(h, OK)\nReceipt(h, "second")\nf("not")\n'
    assert codes_in(source) == {"ok", "first", "second"}


def test_fields_are_described_with_their_bounds():
    assert describe(Field("amount", int, minimum=1)) == "int in [1, 2^62]"
    assert describe(Field("key", bytes, minimum=32, length_max=32)) == "bytes of exactly 32 bytes"
    nested = Field("holders", dict, minimum=1, length_max=8, keys=Field("id", str, minimum=1, length_max=32),
                   items=Field("units", int, minimum=1))
    assert describe(nested) == ("map of 1 to 8 entries; keys: str of 1 to 32 characters; "
                                "values: int in [1, 2^62]")


def test_tx_send_help_shows_the_types_arguments(capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["tx", "send", "settlement.pay", "--help"])
    assert stopped.value.code == 0
    shown = capsys.readouterr().out
    assert "usage:" in shown and "settlement.pay: sent by member, validator" in shown
    assert "amount           int in [1, 2^62]" in shown and "reference        str of 0 to 140 characters " \
                                                           "(optional)" in shown


def test_tx_send_help_without_or_with_an_unknown_type(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tx", "send", "--help"])
    assert "usage:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tx", "send", "settlement.payy", "--help"])
    shown = capsys.readouterr().out
    assert "unknown transaction type 'settlement.payy'" in shown and "settlement.pay\n" in shown
