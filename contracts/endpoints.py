"""Node endpoints: the `host:port` at which an institution's node takes peer
connections, recorded by governance next to its node key (and given in the
genesis document).

The host is a DNS name, a dotted IPv4 address, or an IPv6 address in
brackets (`[2001:db8::1]:7000`); the port is a decimal integer from 1 to
65535 without leading zeros; the whole is at most ENDPOINT_LENGTH_MAX
characters of ASCII. A name whose last label is all digits must be an IPv4
address. Only the syntax is judged, by hand-written rules rather than the
`ipaddress` module, so every node on every Python version agrees: nothing
here resolves a name or touches the network.
"""

from __future__ import annotations

import re

ENDPOINT_LENGTH_MAX = 255
HOST_NAME_LENGTH_MAX = 253  # RFC 1035, written without the final dot
PORT_MAX = 65535
LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # RFC 1123: 1 to 63 characters
DIGITS = re.compile(r"[0-9]+")
PORT = re.compile(r"[1-9][0-9]{0,4}")
OCTET = re.compile(r"0|[1-9][0-9]{0,2}")
HEX_GROUP = re.compile(r"[0-9A-Fa-f]{1,4}")
IPV6_GROUPS = 8


def endpoint_problem(endpoint: object) -> str | None:
    """None for a well-formed endpoint; otherwise what is wrong with it."""
    if type(endpoint) is not str or not 0 < len(endpoint) <= ENDPOINT_LENGTH_MAX:
        return f"an endpoint is a string of 1 to {ENDPOINT_LENGTH_MAX} characters"
    host, colon, port = endpoint.rpartition(":")
    if not colon or not host:
        return "an endpoint is host:port"
    if not PORT.fullmatch(port) or int(port) > PORT_MAX:
        return f"the port must be an integer from 1 to {PORT_MAX}"
    if host.startswith("[") and host.endswith("]"):
        return None if is_ipv6(host[1:-1]) else "the host in brackets is not an IPv6 address"
    if len(host) > HOST_NAME_LENGTH_MAX:
        return f"a host name has at most {HOST_NAME_LENGTH_MAX} characters"
    labels = host.split(".")
    if DIGITS.fullmatch(labels[-1]):
        return None if is_ipv4(host) else "a host ending in a number must be an IPv4 address a.b.c.d"
    if not all(LABEL.fullmatch(label) for label in labels):
        return "a host name is dot-separated labels of letters, digits and inner hyphens (IPv6 goes in brackets)"
    return None


def is_ipv4(text: str) -> bool:
    """Four decimal octets, 0 to 255, without leading zeros."""
    octets = text.split(".")
    return len(octets) == 4 and all(OCTET.fullmatch(o) and int(o) <= 255 for o in octets)


def is_ipv6(text: str) -> bool:
    """RFC 4291 text form: eight groups of 1 to 4 hex digits, one `::`
    standing for one or more zero groups, the last two groups possibly
    written as an IPv4 address; no zone index."""
    if text.count("::") > 1:
        return False
    head, double, tail = text.partition("::")
    head_groups = head.split(":") if head else []
    tail_groups = tail.split(":") if tail else []
    last_part = tail_groups if double else head_groups
    groups_in_ipv4 = 0
    if last_part and "." in last_part[-1]:
        if not is_ipv4(last_part.pop()):
            return False
        groups_in_ipv4 = 2
    groups = head_groups + tail_groups
    if not all(HEX_GROUP.fullmatch(group) for group in groups):
        return False
    count = len(groups) + groups_in_ipv4
    return count < IPV6_GROUPS if double else count == IPV6_GROUPS
