"""Create a local consortium: keys, genesis, and node configs on 127.0.0.1.

Layout of the folder it writes:

    genesis.json                 the chain's identity (hashed into the chain id)
    consortium.json              index for tools: institutions, node URLs, key files
    <institution>/node.json      node config
    <institution>/node.key       node key (validators)
    <institution>/client-N.key   client keys
    <institution>/data/          LevelDB, created when the node first starts
    central-bank/client-0.key    the regulator's client key (it runs no node)

Every key file is encrypted with the passphrase given (crypto.keys); the
passphrase itself is written nowhere. `kdf_cost` is the strong one unless
the caller says the consortium is throwaway (tests, the demo, the bench).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from contracts.genesis import parse_genesis
from crypto.keys import KDF_COST_STRONG, KeyPair, ScryptCost, write_key_file
from node.runtime.passphrase import ENV_VAR

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


def create_consortium(directory: Path, institutions: int = 4, base_port: int = 7100,
                      currency: str = "EUR", opening_balance: int = 1_000_000_000_00,
                      clients_per_institution: int = 4, genesis_time_ms: int = 0,
                      consensus: dict | None = None, regulator: bool = True,
                      validators: int | None = None, *, passphrase: str,
                      kdf_cost: ScryptCost = KDF_COST_STRONG) -> dict:
    """Write a fresh consortium into `directory` (which must be empty or absent),
    its keys encrypted with `passphrase`. The first `validators` institutions
    (default: all) validate from genesis; the others run nodes that follow the
    chain until governance adds them."""
    directory = require_empty(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ids = institution_ids(institutions)
    members, index = [], {"institutions": []}

    def new_key(path: Path) -> KeyPair:
        key_pair = KeyPair.generate()
        write_key_file(path, key_pair, passphrase, kdf_cost)
        return key_pair

    for replica_id, iid in enumerate(ids):
        folder = directory / iid
        folder.mkdir(mode=0o700)
        node_key = new_key(folder / "node.key")
        client_keys = [new_key(folder / f"client-{k}.key").public_key.hex() for k in range(clients_per_institution)]
        members.append({
            "id": iid, "name": iid.replace("-", " ").title(), "roles": ["validator", "member"],
            "node_key": node_key.public_key.hex(), "client_keys": client_keys,
            "balances": {currency: opening_balance},
        })
        index["institutions"].append({
            "id": iid, "replica_id": replica_id, "url": f"http://127.0.0.1:{base_port + replica_id}",
            "config": f"{iid}/node.json",
            "client_keys": [f"{iid}/client-{k}.key" for k in range(clients_per_institution)],
        })
    if regulator:
        folder = directory / "central-bank"
        folder.mkdir(mode=0o700)
        key = new_key(folder / "client-0.key")
        members.append({"id": "central-bank", "name": "Central Bank", "roles": ["regulator"],
                        "client_keys": [key.public_key.hex()]})
        index["regulators"] = [{"id": "central-bank", "client_keys": ["central-bank/client-0.key"]}]
    genesis = {
        "chain_name": "consort-local", "genesis_time_ms": genesis_time_ms, "currencies": [currency],
        "consensus": consensus or {}, "institutions": members,
        "validators": ids[: institutions if validators is None else validators],
    }
    parsed = parse_genesis(genesis)
    (directory / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
    for entry in index["institutions"]:
        peers = [{"institution": other["id"], "url": other["url"]}
                 for other in index["institutions"] if other["id"] != entry["id"]]
        config = {"institution": entry["id"], "host": "127.0.0.1",
                  "port": base_port + entry["replica_id"], "data_dir": "data", "node_key": "node.key",
                  "genesis": "../genesis.json", "peers": peers}
        (directory / entry["id"] / "node.json").write_text(json.dumps(config, indent=2) + "\n")
    index["chain_id"] = parsed.chain_id.hex()
    index["currency"] = currency
    (directory / "consortium.json").write_text(json.dumps(index, indent=2) + "\n")
    return index
