"""Property tests: the hand-written address rules of contracts.endpoints
agree with Python's `ipaddress` module (which the contracts do not use, so
that every node judges the same whatever its Python), for every address
hypothesis writes and for junk drawn from the characters addresses use."""

from __future__ import annotations

import ipaddress

from hypothesis import given, strategies as st

from contracts.endpoints import endpoint_problem, is_ipv4, is_ipv6


def _stdlib_accepts(kind, text: str) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


@given(st.ip_addresses(v=6), st.integers(1, 65535))
def test_every_ipv6_address_in_brackets_is_an_endpoint(address, port):
    for text in (address.compressed, address.exploded, address.compressed.upper()):
        assert is_ipv6(text), text
        assert endpoint_problem(f"[{text}]:{port}") is None


@given(st.ip_addresses(v=4), st.integers(1, 65535))
def test_every_ipv4_address_is_an_endpoint(address, port):
    assert endpoint_problem(f"{address}:{port}") is None


@given(st.text(alphabet="0123456789abcdefABCDEF:.", max_size=45))
def test_ipv6_rules_agree_with_the_standard_library(text):
    assert is_ipv6(text) == _stdlib_accepts(ipaddress.IPv6Address, text), text


@given(st.text(alphabet="0123456789.", max_size=16))
def test_ipv4_rules_agree_with_the_standard_library(text):
    assert is_ipv4(text) == _stdlib_accepts(ipaddress.IPv4Address, text), text


@given(st.text(max_size=300))
def test_junk_never_raises(text):
    problem = endpoint_problem(text)
    assert problem is None or isinstance(problem, str)
