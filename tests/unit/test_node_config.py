"""A node config's `operator` address (node.runtime.config): one explicit
IP address and a port, never every interface, a name or the API's port;
absent, no operator site."""

from __future__ import annotations

import json

import pytest

from node.runtime.config import ConfigError, OperatorAddress, load_config, parse_operator

ACCEPTED = {
    "127.0.0.1:9100": OperatorAddress("127.0.0.1", 9100),
    "127.0.0.2:1": OperatorAddress("127.0.0.2", 1),
    "10.20.0.5:65535": OperatorAddress("10.20.0.5", 65535),
    "[::1]:9100": OperatorAddress("::1", 9100),
    "[FD00:0:0:0:0:0:0:7]:9100": OperatorAddress("fd00::7", 9100),
}
REFUSED = {
    "0.0.0.0:9100": "0.0.0.0 is not one interface",
    "[::]:9100": ":: is not one interface",
    "224.0.0.1:9100": "224.0.0.1 is not one interface",
    "localhost:9100": "host 'localhost' must be an IP address",
    "metrics.bank.example:9100": "must be an IP address",
    "127.0.0.1": "an endpoint is host:port",
    "127.0.0.1:0": "the port must be an integer from 1 to 65535",
    "127.0.0.1:65536": "the port must be an integer from 1 to 65535",
    "127.0.0.1:09100": "the port must be an integer from 1 to 65535",
    "127.0.0.1:+9100": "the port must be an integer from 1 to 65535",
    "127.0.0.01:9100": "must be an IPv4 address",
    "::1:9100": "IPv6 goes in brackets",
    "[fe80::1%eth0]:9100": "not an IPv6 address",
    "": "an endpoint is a string",
    9100: "an endpoint is a string",
    ("127.0.0.1", 9100): "an endpoint is a string",
}


@pytest.mark.parametrize("text", ACCEPTED)
def test_an_explicit_address_is_accepted(text):
    assert parse_operator(text) == ACCEPTED[text]


@pytest.mark.parametrize("text", REFUSED, ids=str)
def test_anything_else_is_refused_with_the_reason(text):
    with pytest.raises(ConfigError, match="field 'operator'") as caught:
        parse_operator(text)
    assert REFUSED[text] in str(caught.value)


def test_urls_and_loopback():
    assert parse_operator("127.0.0.1:9100").url == "http://127.0.0.1:9100"
    assert parse_operator("[::1]:9100").url == "http://[::1]:9100"
    assert parse_operator("[::1]:9100").is_loopback and not parse_operator("10.0.0.1:9100").is_loopback


def write_config(folder, **extra) -> object:
    path = folder / "node.json"
    path.write_text(json.dumps({"institution": "bank-alpha", "port": 7100, "genesis": "genesis.json", **extra}))
    return path


def test_a_config_without_operator_has_no_operator_site(tmp_path):
    assert load_config(write_config(tmp_path)).operator is None


def test_a_config_names_its_operator_site(tmp_path):
    assert load_config(write_config(tmp_path, operator="127.0.0.1:8100")).operator == OperatorAddress("127.0.0.1",
                                                                                                    8100)


@pytest.mark.parametrize("value, reason", [
    ("127.0.0.1:7100", "port 7100 is the API's"),
    ("0.0.0.0:8100", "is not one interface"),
    (8100, "must be \"host:port\""),
])
def test_a_config_with_a_bad_operator_address_names_the_file_and_the_field(tmp_path, value, reason):
    path = write_config(tmp_path, operator=value)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"node config {path}: field 'operator'") and reason in str(caught.value)
