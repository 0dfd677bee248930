"""A node's configuration file (JSON) and the limits it runs under.

A file that cannot start a node is refused with one ConfigError naming the
file and the field, never a traceback.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consensus.config import ConfigError as ReplicaConfigError, ReplicaConfig
from contracts.endpoints import endpoint_problem
from contracts.genesis import Genesis, GenesisError, genesis_from_json
from node.runtime.passphrase import PassphraseSource
from node.runtime.tls import TlsFiles


class ConfigError(ValueError):
    """A configuration that cannot start a node."""


@dataclass(frozen=True, slots=True)
class Peer:
    institution: str
    url: str


PORT_MAX = 65_535
KIND_NAMES = {int: "an integer", str: "a string"}


@dataclass(frozen=True, slots=True)
class OperatorAddress:
    """Where the operator site listens (/metrics, /healthz, /readyz): plain
    HTTP with no client authentication, so it is bound to one explicit
    address, a loopback or a management network's, never to every interface."""

    host: str  # an IP address literal, IPv6 without brackets
    port: int

    @property
    def url(self) -> str:
        return f"http://[{self.host}]:{self.port}" if ":" in self.host else f"http://{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback


def parse_operator(text: Any) -> OperatorAddress:
    """`host:port` as a node endpoint is written (contracts.endpoints: an IPv6
    address in brackets), whose host is an IP address literal: a name could
    resolve to any address, and the unspecified address (0.0.0.0, ::) or a
    multicast one is not one interface. ConfigError otherwise."""
    problem = endpoint_problem(text)
    if problem is not None:
        raise ConfigError(f"field 'operator' must be \"host:port\", e.g. \"127.0.0.1:9100\": {problem}")
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") else host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"field 'operator': host {host!r} must be an IP address (127.0.0.1 for this host only, "
                          "or the management network's address)") from None
    if address.is_unspecified or address.is_multicast:
        raise ConfigError(f"field 'operator': {host} is not one interface; bind a loopback or a management "
                          "address: the operator site has no authentication")
    return OperatorAddress(str(address), int(port))


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound a node applies to what clients and peers send it and to the
    work it does for them (worker_threads: the threads that do it off the
    event loop); each is a positive integer."""

    request_bytes_max: int = 8 * 1024 * 1024
    batch_txs_max: int = 5000
    inbox_max: int = 10_000
    peer_queue_max: int = 10_000
    wait_ms_max: int = 60_000
    waiters_max: int = 200_000
    waiters_per_caller_max: int = 20_000
    pending_txs_max: int = 100_000                 # admitted, not yet committed
    recent_requests_max: int = 50_000              # committed ones the replica remembers, to drop late copies
                                                   # (admission refuses older ones by the transaction index)
    pending_bytes_max: int = 256 * 1024 * 1024     # their wire bytes
    verifying_txs_max: int = 20_000                # transactions whose signatures are being verified
    worker_threads: int = 4                        # verify signatures and read the store off the event loop
    connect_timeout_ms: int = 2000
    handshake_timeout_ms: int = 2000
    inbound_handshakes_max: int = 64               # inbound peer sockets not yet authenticated
    fetches_per_peer_max: int = 2                  # FETCH-BLOCKS served to one peer at once
    send_timeout_ms: int = 5000
    request_window_ms: int = 60_000                # a signed API request's time may be this far from ours
    seen_requests_max: int = 200_000               # signed requests remembered within the window (replays)
    seen_requests_per_key_max: int = 20_000        # of which one client key's
    events_subscribers_max: int = 64               # open event streams (GET /v1/events) on this node
    events_subscribers_per_caller_max: int = 8     # of which one institution's
    events_queue_max: int = 256                    # blocks a stream may fall behind before it gets resync
    events_replay_blocks_max: int = 1000           # blocks of history one stream replays before resync
    events_send_buffer_bytes: int = 256 * 1024     # a stream's transport and kernel send buffers, each


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """`host` and `port` are what the node binds (0.0.0.0: every interface);
    `endpoint` is the host:port the others dial it at, as genesis or
    governance records it (only named in the node's own log here: peers
    learn it from the chain)."""

    path: Path
    institution: str
    host: str
    port: int
    data_dir: Path
    node_key: Path
    genesis_path: Path
    peers: tuple[Peer, ...]
    limits: Limits = field(default_factory=Limits)
    passphrase_source: PassphraseSource = PassphraseSource()  # of node_key; from the command line, not the file
    access_log: Path | None = None  # JSON lines of refused requests and reads of others' data (node.api.access_log)
    tls: TlsFiles | None = None     # the consortium's root and this node's certificate chain
    insecure: bool = False          # plain HTTP and peer links without certificates: --insecure only, never the file
    endpoint: str | None = None     # host:port the others dial; None: host:port
    operator: OperatorAddress | None = None  # the operator site's address (metrics, health, explorer); None: none

    @property
    def scheme(self) -> str:
        return "http" if self.insecure else "https"

    @property
    def url(self) -> str:
        """Where the others reach this node."""
        return f"{self.scheme}://{self.endpoint or f'{self.host}:{self.port}'}"

    def load_genesis(self) -> Genesis:
        return load_genesis(self.genesis_path)


def load_genesis(path: Path) -> Genesis:
    """The genesis file, with consensus parameters a replica can run with."""
    try:
        genesis = genesis_from_json(Path(path).read_text())
        ReplicaConfig(genesis.chain_id, -1, genesis.validator_keys, **genesis.consensus)
    except OSError as exc:
        raise ConfigError(f"cannot read genesis {path}: {exc}") from None
    except GenesisError as exc:
        raise ConfigError(f"genesis {path}: {exc}") from None
    except ReplicaConfigError as exc:
        raise ConfigError(f"genesis {path}: consensus.{exc}") from None
    return genesis


def _resolve(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (base / path).resolve()


def _field(document: dict, name: str, kind: type, default: Any = None) -> Any:
    value = document.get(name, default)
    if value is None:
        raise ConfigError(f"missing field {name!r}")
    if type(value) is not kind:
        raise ConfigError(f"field {name!r} must be {KIND_NAMES[kind]}")
    return value


def _limits(document: Any) -> Limits:
    if not isinstance(document, dict):
        raise ConfigError("field 'limits' must be an object")
    known = {f.name for f in dataclasses.fields(Limits)}
    for name, value in document.items():
        if name not in known:
            raise ConfigError(f"limits: unknown field {name!r}")
        if type(value) is not int or value <= 0:
            raise ConfigError(f"limits.{name} must be a positive integer")
    limits = Limits(**document)
    if limits.seen_requests_per_key_max > limits.seen_requests_max:
        raise ConfigError("limits.seen_requests_per_key_max must not exceed limits.seen_requests_max")
    if limits.events_subscribers_per_caller_max > limits.events_subscribers_max:
        raise ConfigError("limits.events_subscribers_per_caller_max must not exceed limits.events_subscribers_max")
    return limits


def _peers(document: Any) -> tuple[Peer, ...]:
    if not isinstance(document, list):
        raise ConfigError("field 'peers' must be a list")
    peers = []
    for index, entry in enumerate(document):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("institution", "url")):
            raise ConfigError(f"peers[{index}] must be an object with string fields 'institution' and 'url'")
        peers.append(Peer(entry["institution"], entry["url"]))
    return tuple(peers)


def _endpoint(document: dict) -> str | None:
    if document.get("endpoint") is None:
        return None
    endpoint = _field(document, "endpoint", str)
    problem = endpoint_problem(endpoint)
    if problem is not None:
        raise ConfigError(f"field 'endpoint': {problem}")
    return endpoint


def _tls(document: Any, base: Path) -> TlsFiles | None:
    if document is None:
        return None
    if not isinstance(document, dict) or set(document) != {"ca", "cert"} or not all(
            isinstance(value, str) for value in document.values()):
        raise ConfigError("field 'tls' must be an object with string fields 'ca' and 'cert' (and no others)")
    return TlsFiles(ca=_resolve(base, document["ca"]), cert=_resolve(base, document["cert"]))


def _operator(value: Any, api_port: int) -> OperatorAddress | None:
    if value is None:
        return None
    operator = parse_operator(value)
    if operator.port == api_port:
        raise ConfigError(f"field 'operator': port {api_port} is the API's; give the operator site its own")
    return operator


def load_config(path: Path) -> NodeConfig:
    path = Path(path).resolve()
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read node config {path}: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"node config {path} is not JSON: {exc}") from None
    try:
        if not isinstance(document, dict):
            raise ConfigError("it must be a JSON object")
        port = _field(document, "port", int)
        if not 1 <= port <= PORT_MAX:
            raise ConfigError(f"field 'port' must be in 1..{PORT_MAX}")
        base = path.parent
        return NodeConfig(
            path=path,
            institution=_field(document, "institution", str),
            host=_field(document, "host", str, "127.0.0.1"),
            port=port,
            data_dir=_resolve(base, _field(document, "data_dir", str, "data")),
            node_key=_resolve(base, _field(document, "node_key", str, "node.key")),
            genesis_path=_resolve(base, _field(document, "genesis", str)),
            peers=_peers(document.get("peers", [])),
            limits=_limits(document.get("limits", {})),
            access_log=None if document.get("access_log") is None else _resolve(
                base, _field(document, "access_log", str)),
            tls=_tls(document.get("tls"), base),
            endpoint=_endpoint(document),
            operator=_operator(document.get("operator"), port),
        )
    except ConfigError as exc:
        raise ConfigError(f"node config {path}: {exc}") from None
