"""Node endpoints (contracts.endpoints): host:port with a DNS name, an IPv4
address or a bracketed IPv6 address, and a port from 1 to 65535; anything
else is refused with a reason."""

from __future__ import annotations

import pytest

from contracts.endpoints import ENDPOINT_LENGTH_MAX, endpoint_problem, is_ipv4, is_ipv6

WELL_FORMED = [
    "localhost:7000", "node-a.consort.example:7000", "A.B-C.example:443", "x:1", "x:65535",
    "127.0.0.1:7000", "0.0.0.0:1", "255.255.255.255:9", "10.0.0.2:7000",
    "[::1]:7000", "[::]:7000", "[2001:db8::c]:7000", "[2001:DB8:0:0:0:0:0:1]:7000", "[1::]:7000",
    "[::ffff:192.0.2.1]:80", "[1:2:3:4:5:6:1.2.3.4]:80", "[fe80::1:2:3:4:5:6]:80",
    "a" * 63 + ".example:7000", ".".join(["a" * 61] * 4) + ":7000",  # a 247-character name
]
MALFORMED = {
    "no port": "node.example", "empty port": "node.example:", "port zero": "node.example:0",
    "port too large": "node.example:65536", "port with a leading zero": "node.example:07000",
    "port with a sign": "node.example:+7000", "port with a space": "node.example: 7000",
    "port with a newline": "node.example:7000\n", "port in other digits": "node.example:٧٠٠٠",
    "no host": ":7000", "two ports": "node.example:7000:7001",
    "label starting with a hyphen": "-node.example:7000", "label ending with a hyphen": "node-.example:7000",
    "empty label": "node..example:7000", "leading dot": ".node.example:7000", "trailing dot": "node.example.:7000",
    "label too long": "a" * 64 + ".example:7000", "underscore": "node_a.example:7000", "space": "node a:7000",
    "non-ASCII name": "nöde.example:7000", "IPv4 octet too large": "10.0.0.256:7000",
    "IPv4 too short": "10.0.2:7000", "IPv4 too long": "10.0.0.0.2:7000", "IPv4 leading zero": "10.0.0.02:7000",
    "all-numeric name": "7000:7000", "IPv6 unbracketed": "::1:7000", "IPv6 without a port": "[::1]",
    "IPv6 zone index": "[fe80::1%eth0]:7000", "IPv6 nine groups": "[1:2:3:4:5:6:7:8:9]:7000",
    "IPv6 seven groups": "[1:2:3:4:5:6:7]:7000", "IPv6 two double colons": "[1::2::3]:7000",
    "IPv6 group too long": "[12345::1]:7000", "IPv6 leading colon": "[:1::2]:7000",
    "IPv6 trailing colon": "[1::2:]:7000", "IPv6 IPv4 not last": "[1.2.3.4::]:7000",
    "IPv6 eight groups and a double colon": "[1:2:3:4:5:6:7:8::]:7000", "empty brackets": "[]:7000",
    "half a bracket": "[::1:7000", "too long": "a" * (ENDPOINT_LENGTH_MAX - 5) + ":7000",
    "empty": "", "not a string": 7000, "bytes": b"node.example:7000",
}


@pytest.mark.parametrize("endpoint", WELL_FORMED)
def test_well_formed_endpoints_pass(endpoint):
    assert endpoint_problem(endpoint) is None
    assert len(endpoint) <= ENDPOINT_LENGTH_MAX


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_endpoints_are_refused_with_a_reason(name):
    problem = endpoint_problem(MALFORMED[name])
    assert isinstance(problem, str) and problem


def test_the_reasons_say_which_part_is_wrong():
    assert endpoint_problem("node.example:0") == "the port must be an integer from 1 to 65535"
    assert endpoint_problem("node.example") == "an endpoint is host:port"
    assert endpoint_problem("[::1%1]:7") == "the host in brackets is not an IPv6 address"
    assert endpoint_problem("1.2.3.999:7").startswith("a host ending in a number must be an IPv4 address")


def test_address_forms():
    assert is_ipv4("192.0.2.1") and not is_ipv4("192.0.2") and not is_ipv4("192.0.2.01")
    assert is_ipv6("::") and is_ipv6("::1") and is_ipv6("1:2:3:4:5:6:7:8") and is_ipv6("::ffff:1.2.3.4")
    assert not is_ipv6("1:2:3:4:5:6:7:8:1.2.3.4") and not is_ipv6("::1.2.3") and not is_ipv6("")
