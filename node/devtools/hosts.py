"""Where the nodes of a consortium written by `consort init --hosts` run: one
`host[:port]` per node, checked before any key is made.

Two addresses per node, kept apart on purpose:

    endpoint   host:port that the other nodes and clients dial. It goes into
               the genesis (governance keeps it from then on), the peers'
               node.json, consortium.json, and the node certificate's subject
               alternative names, so TLS verification of the dialled name
               succeeds. A DNS name or an IP address; never an unspecified
               address (0.0.0.0, ::), which no peer can dial.
    listen     the address the node binds (node.json "host"). By default the
               endpoint's own address when the endpoint is an IP literal (the
               node then serves on that interface only), and 0.0.0.0 for a DNS
               name: a name may resolve to an address the machine does not
               hold by that name (a container's service name, a host behind
               NAT), and binding it would fail or miss the interface peers
               reach. `--listen ADDR` sets one address for every node.

A host given without a port takes the default port (each node on its own
machine may use the same one). Two nodes at one host:port are refused. The
syntax of an endpoint is contracts.endpoints' (what genesis accepts); a
name the certificate could not carry is refused too. Nothing here resolves
a name or opens a socket.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from contracts.endpoints import PORT_MAX, endpoint_problem
from crypto.certs import DNS_NAME_PATTERN

NODES_MAX = 128           # hosts in one --hosts list or hosts file
HOSTS_FILE_BYTES_MAX = 64 * 1024
LISTEN_ALL = "0.0.0.0"


class HostsError(ValueError):
    """A host list that cannot place the nodes: says which entry and why."""


@dataclass(frozen=True, slots=True)
class NodeAddress:
    host: str     # as dialled: a DNS name (lower case) or an IP address (no brackets)
    port: int
    listen: str   # the address the node binds

    @property
    def endpoint(self) -> str:
        """host:port as genesis and governance record it (IPv6 in brackets)."""
        return f"{_bracketed(self.host)}:{self.port}"

    def url(self, scheme: str = "https") -> str:
        return f"{scheme}://{self.endpoint}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _split(entry: str) -> tuple[str, str | None]:
    """(host, port text or None) of `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address."""
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise HostsError(f"{entry!r}: an IPv6 address goes in brackets, [address] or [address]:port")
        return host, rest[1:] if rest else None
    if entry.count(":") > 1:
        return entry, None
    host, colon, port = entry.partition(":")
    return host, port if colon else None


def parse_host(entry: str, default_port: int, listen: str | None = None) -> NodeAddress:
    """One node's address from `entry` (`host` or `host:port`); HostsError if it is not one."""
    entry = entry.strip()
    if not entry:
        raise HostsError("an empty host")
    if "/" in entry:
        raise HostsError(f"{entry!r}: give host or host:port, not a URL or a path")
    host, port_text = _split(entry)
    ip = _ip(host)
    if ip is not None:
        if ip.is_unspecified:
            raise HostsError(f"{entry!r}: {host} is an address to listen on, not one peers can dial "
                             "(name the host's own address, and --listen 0.0.0.0 if it should bind every interface)")
        host = str(ip)
    elif not DNS_NAME_PATTERN.fullmatch(host):
        raise HostsError(f"{entry!r}: {host!r} is neither a host name (letters, digits, inner hyphens, dots) "
                         "nor an IP address")
    host = host.lower()
    port = default_port if port_text is None else _port(entry, port_text)
    problem = endpoint_problem(f"{_bracketed(host)}:{port}")
    if problem is not None:
        raise HostsError(f"{entry!r}: {problem}")
    return NodeAddress(host, port, listen or (host if ip is not None else LISTEN_ALL))


def _port(entry: str, text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= PORT_MAX:
        raise HostsError(f"{entry!r}: the port must be an integer from 1 to {PORT_MAX}")
    return int(text)


def check_listen(address: str) -> str:
    """`address` if a node can bind it (an IP address); else HostsError."""
    ip = _ip(address.strip())
    if ip is None:
        raise HostsError(f"--listen {address!r}: give an IP address to bind (0.0.0.0 for every interface)")
    return str(ip)


def parse_hosts(entries: list[str], default_port: int, listen: str | None = None) -> list[NodeAddress]:
    """Every node's address, in order; HostsError for a bad entry, two nodes
    at one host:port, or none or more than NODES_MAX entries."""
    if not 1 <= len(entries) <= NODES_MAX:
        raise HostsError(f"give 1 to {NODES_MAX} hosts (got {len(entries)})")
    listen = None if listen is None else check_listen(listen)
    addresses = [parse_host(entry, default_port, listen) for entry in entries]
    seen: set[tuple[str, int]] = set()
    for address in addresses:
        if (address.host, address.port) in seen:
            raise HostsError(f"two nodes at {address.endpoint}: give each its own host, or host:port")
        seen.add((address.host, address.port))
    return addresses


def split_hosts_list(text: str) -> list[str]:
    """The entries of a --hosts value: comma-separated, blanks around them ignored."""
    return [part.strip() for part in text.split(",")]


def hosts_file_entries(text: str) -> list[str]:
    """The entries of a hosts file: one per line; blank lines and lines
    starting with # are skipped."""
    if len(text.encode()) > HOSTS_FILE_BYTES_MAX:
        raise HostsError(f"a hosts file has at most {HOSTS_FILE_BYTES_MAX} bytes")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]
