"""A node's configuration file (JSON) and the limits it runs under."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.genesis import Genesis, GenesisError, genesis_from_json


class ConfigError(ValueError):
    """A configuration that cannot start a node."""


@dataclass(frozen=True, slots=True)
class Peer:
    institution: str
    url: str


@dataclass(frozen=True, slots=True)
class Limits:
    request_bytes_max: int = 8 * 1024 * 1024
    batch_txs_max: int = 5000
    inbox_max: int = 10_000
    peer_queue_max: int = 10_000
    wait_ms_max: int = 60_000
    waiters_max: int = 200_000
    connect_timeout_ms: int = 2000
    handshake_timeout_ms: int = 2000
    send_timeout_ms: int = 5000


@dataclass(frozen=True, slots=True)
class NodeConfig:
    path: Path
    institution: str
    host: str
    port: int
    data_dir: Path
    node_key: Path
    genesis_path: Path
    peers: tuple[Peer, ...]
    limits: Limits = field(default_factory=Limits)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def load_genesis(self) -> Genesis:
        return load_genesis(self.genesis_path)


def load_genesis(path: Path) -> Genesis:
    try:
        return genesis_from_json(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read genesis {path}: {exc}") from None
    except GenesisError as exc:
        raise ConfigError(f"genesis {path}: {exc}") from None


def _resolve(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (base / path).resolve()


def load_config(path: Path) -> NodeConfig:
    path = Path(path).resolve()
    try:
        document: dict[str, Any] = json.loads(path.read_text())
        base = path.parent
        limits = Limits(**document.get("limits", {}))
        return NodeConfig(
            path=path,
            institution=str(document["institution"]),
            host=str(document.get("host", "127.0.0.1")),
            port=int(document["port"]),
            data_dir=_resolve(base, document.get("data_dir", "data")),
            node_key=_resolve(base, document.get("node_key", "node.key")),
            genesis_path=_resolve(base, document["genesis"]),
            peers=tuple(Peer(str(p["institution"]), str(p["url"])) for p in document.get("peers", [])),
            limits=limits,
        )
    except OSError as exc:
        raise ConfigError(f"cannot read node config {path}: {exc}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"node config {path} is invalid: {exc!r}") from None
