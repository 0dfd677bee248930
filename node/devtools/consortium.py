"""Create a consortium: keys, certificates, genesis, and node configs, with
every node on 127.0.0.1 (ports base_port, base_port + 1, ...) or each on the
host given for it (node.devtools.hosts: what a node dials and what it binds).

Layout of the folder it writes (node.runtime.keystore names the files):

    genesis.json                     the chain's identity (hashed into the chain id)
    consortium.json                  index for tools: institutions, node URLs, key and CA files
    ca/ca.key, ca/ca.crt             the consortium root CA (its key: the operator holds it)
    <institution>/node.json          node config: "host" and "port" it binds, "endpoint" peers
                                       dial, "tls": {"ca", "cert"}, peers' URLs, "operator" (below)
    <institution>/institution-ca.key the institution CA, its request (.csr) and
    <institution>/institution-ca.crt   certificate, signed by the root
    <institution>/node.key           node key (the consensus key, also its TLS key)
    <institution>/node.crt           node certificate for its endpoint's host, then the institution CA's
    <institution>/client-N.key       client keys
    <institution>/data/              LevelDB, created when the node first starts
    central-bank/                    the regulator: institution CA and client-0.key (it runs no node)

Every key file is encrypted with the passphrase given (crypto.keys); the
passphrase itself is written nowhere. `kdf_cost` is the strong one unless
the caller says the consortium is throwaway (tests, the demo, the bench).
Nodes serve https; the genesis records each node's endpoint (governance
keeps it from then on), and each node.json lists its peers' URLs too.
Each node's operator site (metrics, health; plain HTTP) listens on
127.0.0.1 of its own host (`operator_host`) at its API port +
OPERATOR_PORT_OFFSET (a management address: reach it on the host, or
through an SSH tunnel);
consortium.json gives its URL there (`operator_url`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from contracts.genesis import parse_genesis
from crypto import certs
from crypto.keys import KDF_COST_STRONG, KeyPair, ScryptCost
from node.devtools.bulk_state import BULK_FILE_NAME, BulkFile, declare, link_or_copy
from node.devtools.hosts import NodeAddress
from node.mpc.runner import kx_from_key_file
from node.runtime import keystore
from node.runtime.passphrase import ENV_VAR

LOCAL_HOST = "127.0.0.1"
BASE_PORT = 7100  # the first node's (every node's, when each has its own host)
MPC_KEY = "mpc.key"
MPC_CLIENT_KEY = "mpc-client.key"
ROOT_NAME = "consort-local root CA"
OPERATOR_PORT_OFFSET = 1000  # a node's operator port is its API port + this (7100 -> 8100)


NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa")


def throwaway_passphrase() -> tuple[str, bool]:
    """The passphrase of a throwaway consortium (demo, bench, chaos): CONSORT_PASSPHRASE
    if set (True: the caller's, so its nodes can be restarted later), else a
    random one that no one keeps (False)."""
    given = os.environ.get(ENV_VAR)
    return (given, True) if given else (secrets.token_urlsafe(24), False)


def require_empty(directory: Path) -> Path:
    """`directory`, resolved, if it is absent or empty; else FileExistsError."""
    directory = Path(directory).resolve()
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty")
    return directory


def institution_ids(count: int) -> list[str]:
    return [f"bank-{NAMES[i]}" if i < len(NAMES) else f"bank-{i}" for i in range(count)]


class _Issuer:
    """Writes an institution's keys and certificates under the local root."""

    def __init__(self, directory: Path, passphrase: str, cost: ScryptCost) -> None:
        self.passphrase, self.cost = passphrase, cost
        self.now = datetime.now(timezone.utc)
        self.root_key = self.new_key(directory / "ca" / keystore.CA_KEY)
        self.root_pem = certs.root_certificate(self.root_key, ROOT_NAME, self.now,
                                               timedelta(days=keystore.ROOT_DAYS))
        keystore.write_public(directory / "ca" / keystore.CA_CERT, self.root_pem)

    def new_key(self, path: Path) -> KeyPair:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        return keystore.new_key(path, self.passphrase, self.cost)

    def institution(self, folder: Path, iid: str, clients: int,
                    node_hosts: tuple[str, ...] = ()) -> tuple[bytes | None, list[str]]:
        """Its CA (request signed by the root), client keys, and with `node_hosts`
        a node key and a certificate for those hosts: (node key, client keys)."""
        ca_key = self.new_key(folder / keystore.INSTITUTION_CA_KEY)
        csr = certs.institution_csr(ca_key, iid)
        keystore.write_public(folder / keystore.INSTITUTION_CA_CSR, csr)
        ca_pem = certs.sign_institution_csr(csr, self.root_pem, self.root_key, self.now,
                                            timedelta(days=keystore.INSTITUTION_DAYS))
        keystore.write_public(folder / keystore.INSTITUTION_CA_CERT, ca_pem)
        node_key = None
        if node_hosts:
            node_key = self.new_key(folder / keystore.NODE_KEY).public_key
            node_pem = certs.node_certificate(node_key, node_hosts, ca_pem, ca_key, self.now,
                                              timedelta(days=keystore.NODE_DAYS))
            keystore.write_public(folder / keystore.NODE_CERT, certs.node_chain(node_pem, ca_pem))
        client_keys = [self.new_key(folder / keystore.client_key_name(k)).public_key.hex() for k in range(clients)]
        return node_key, client_keys

    def mpc_keys(self, folder: Path, node: bool) -> dict:
        """An MPC key (its X25519 public half: the genesis's mpc_key) and, for a
        node, the client key its MPC runner signs with."""
        found = {"mpc_key": kx_from_key_file(self.new_key(folder / MPC_KEY))[0].hex()}
        if node:
            found["mpc_client_key"] = self.new_key(folder / MPC_CLIENT_KEY).public_key.hex()
        return found


def local_addresses(institutions: int, base_port: int) -> list[NodeAddress]:
    """Every node on 127.0.0.1, at base_port, base_port + 1, ..."""
    return [NodeAddress(LOCAL_HOST, base_port + i, LOCAL_HOST) for i in range(institutions)]


def operator_host(address: NodeAddress) -> str:
    """Where a node's operator site listens: its own listen address when that
    is a loopback one (nodes placed on 127.0.0.2, ... of one machine each
    keep their own), else 127.0.0.1 of its host."""
    try:
        return address.listen if ipaddress.ip_address(address.listen).is_loopback else LOCAL_HOST
    except ValueError:
        return LOCAL_HOST


def create_consortium(directory: Path, institutions: int = 4, base_port: int = BASE_PORT,
                      currency: str = "EUR", opening_balance: int = 1_000_000_000_00,
                      clients_per_institution: int = 4, genesis_time_ms: int = 0,
                      consensus: dict | None = None, regulator: bool = True,
                      validators: int | None = None, *, passphrase: str,
                      kdf_cost: ScryptCost = KDF_COST_STRONG, mpc: bool = False,
                      hosts: list[NodeAddress] | None = None, bulk: BulkFile | None = None) -> dict:
    """Write a fresh consortium into `directory` (which must be empty or absent),
    its keys encrypted with `passphrase`. The first `validators` institutions
    (default: all) validate from genesis; the others run nodes that follow the
    chain until governance adds them. With `mpc`, every institution gets an
    MPC key (mpc.key, its X25519 half registered in genesis) and every node
    an MPC client key (mpc-client.key) and an "mpc" config section
    (node.mpc.runner). `hosts` (node.devtools.hosts.parse_hosts) places one
    node each, `institutions` and `base_port` then unused; by default every
    node is on 127.0.0.1. Each node's operator site listens on a loopback
    address of its own host at its port + OPERATOR_PORT_OFFSET. `bulk`
    (node.devtools.bulk_state.write_bulk_file) goes beside the genesis,
    which names it; then load the nodes' data folders with
    node.devtools.bulk_state.initialize_consortium before starting them."""
    addresses = local_addresses(institutions, base_port) if hosts is None else list(hosts)
    directory = require_empty(directory)
    directory.mkdir(parents=True, exist_ok=True)
    issuer = _Issuer(directory, passphrase, kdf_cost)
    ids = institution_ids(len(addresses))
    members, index = [], {"institutions": [], "ca_cert": f"ca/{keystore.CA_CERT}"}
    for replica_id, (iid, address) in enumerate(zip(ids, addresses)):
        node_key, client_keys = issuer.institution(directory / iid, iid, clients_per_institution, (address.host,))
        extra = issuer.mpc_keys(directory / iid, node=True) if mpc else {}
        if "mpc_client_key" in extra:
            client_keys = [*client_keys, extra.pop("mpc_client_key")]
        members.append({**extra,
            "id": iid, "name": iid.replace("-", " ").title(), "roles": ["validator", "member"],
            "node_key": node_key.hex(), "node_endpoint": address.endpoint,
            "client_keys": client_keys,
            "balances": {currency: opening_balance},
        })
        index["institutions"].append({
            "id": iid, "replica_id": replica_id, "url": address.url(), "endpoint": address.endpoint,
            "listen": address.listen, "port": address.port,
            "operator_url": f"http://{operator_host(address)}:{address.port + OPERATOR_PORT_OFFSET}",
            "config": f"{iid}/node.json", "node_key": f"{iid}/{keystore.NODE_KEY}",
            "node_cert": f"{iid}/{keystore.NODE_CERT}", "institution_ca_cert": f"{iid}/{keystore.INSTITUTION_CA_CERT}",
            "client_keys": [f"{iid}/{keystore.client_key_name(k)}" for k in range(clients_per_institution)],
        })
    if regulator:
        _, client_keys = issuer.institution(directory / "central-bank", "central-bank", 1)
        extra = issuer.mpc_keys(directory / "central-bank", node=False) if mpc else {}
        members.append({**extra, "id": "central-bank", "name": "Central Bank", "roles": ["regulator"],
                        "client_keys": client_keys})
        index["regulators"] = [{"id": "central-bank", "client_keys": [f"central-bank/{keystore.client_key_name(0)}"],
                                "institution_ca_cert": f"central-bank/{keystore.INSTITUTION_CA_CERT}"}]
    genesis = {
        "chain_name": "consort-local", "genesis_time_ms": genesis_time_ms, "currencies": [currency],
        "consensus": consensus or {}, "institutions": members,
        "validators": ids[: len(ids) if validators is None else validators],
    }
    if bulk is not None:
        genesis = declare(genesis, bulk)
        link_or_copy(bulk.path, directory / BULK_FILE_NAME)
    parsed = parse_genesis(genesis)
    (directory / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
    _write_node_configs(directory, index["institutions"], mpc)
    index["chain_id"] = parsed.chain_id.hex()
    index["currency"] = currency
    (directory / "consortium.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def _write_node_configs(directory: Path, entries: list[dict], mpc: bool) -> None:
    """Each node's node.json: it binds "host" (its listen address) and "port";
    "endpoint" is where the others dial it (as genesis records it)."""
    for entry in entries:
        peers = [{"institution": other["id"], "url": other["url"]} for other in entries if other["id"] != entry["id"]]
        config = {"institution": entry["id"], "host": entry["listen"], "port": entry["port"],
                  "endpoint": entry["endpoint"], "data_dir": "data", "node_key": keystore.NODE_KEY,
                  "tls": {"ca": f"../ca/{keystore.CA_CERT}", "cert": keystore.NODE_CERT},
                  "genesis": "../genesis.json", "peers": peers,
                  "operator": entry["operator_url"].removeprefix("http://")}
        if mpc:
            config["mpc"] = {"key": MPC_KEY, "client_key": MPC_CLIENT_KEY, "inputs": "mpc-inputs"}
        (directory / entry["id"] / "node.json").write_text(json.dumps(config, indent=2) + "\n")
