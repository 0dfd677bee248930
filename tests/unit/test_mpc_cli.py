"""`consort mpc open`'s arguments, parsed but not sent: the protocol named
first or by --protocol, the parameters each protocol takes, and the
mistakes refused before anything is signed."""

from __future__ import annotations

import pytest

from node.cli import build_parser
from node.cli.mpc import _protocol, open_params
from node.cli.shared import UsageError

KEY = ["--key", "k.key"]


def parsed(*words: str):
    args = build_parser().parse_args(["mpc", "open", *words, *KEY])
    return _protocol(args), args


def test_a_threshold_check_is_named_first_with_its_limit_and_recipient():
    protocol, args = parsed("threshold", "--participants", "c,a,b", "--limit", "0", "--value-max", "900",
                            "--to", "central-bank")
    assert protocol == "threshold" and open_params(args, protocol) == {"limit": 0, "value_max": 900}
    assert args.result_to == "central-bank"


def test_the_other_protocols_keep_their_options():
    protocol, args = parsed("--participants", "a,b,c", "--length", "2")
    assert protocol == "sum" and open_params(args, protocol) == {"length": 2, "value_max": 10**12}
    for words in (("psi_cardinality",), ("--protocol", "psi_cardinality")):
        protocol, args = parsed(*words, "--participants", "a,b", "--set-size-max", "150", "--result-to", "r")
        assert protocol == "psi_cardinality" and open_params(args, protocol) == {"set_size_max": 150}


def test_mistakes_are_refused_before_signing():
    protocol, args = parsed("threshold", "--participants", "a,b,c")
    with pytest.raises(UsageError, match="needs --limit"):
        open_params(args, protocol)
    with pytest.raises(UsageError, match="named twice"):
        parsed("threshold", "--protocol", "sum", "--participants", "a,b,c")
    with pytest.raises(SystemExit):
        parsed("vote", "--participants", "a,b,c")
