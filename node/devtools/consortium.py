"""Create a local consortium: keys, genesis, and node configs on 127.0.0.1.

Layout of the folder it writes:

    genesis.json                 the chain's identity (hashed into the chain id)
    consortium.json              index for tools: institutions, node URLs, key files
    <institution>/node.json      node config
    <institution>/node.key       node key (validators)
    <institution>/client-N.key   client keys
    <institution>/data/          LevelDB, created when the node first starts
    central-bank/client-0.key    the regulator's client key (it runs no node)
"""

from __future__ import annotations

import json
from pathlib import Path

from contracts.genesis import parse_genesis
from crypto.keys import KeyPair, write_key_file

NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa")


def institution_ids(count: int) -> list[str]:
    return [f"bank-{NAMES[i]}" if i < len(NAMES) else f"bank-{i}" for i in range(count)]


def create_consortium(directory: Path, institutions: int = 4, base_port: int = 7100,
                      currency: str = "EUR", opening_balance: int = 1_000_000_000_00,
                      clients_per_institution: int = 4, genesis_time_ms: int = 0,
                      consensus: dict | None = None, regulator: bool = True,
                      validators: int | None = None) -> dict:
    """Write a fresh consortium into `directory` (which must be empty or absent).
    The first `validators` institutions (default: all) validate from genesis;
    the others run nodes that follow the chain until governance adds them."""
    directory = Path(directory).resolve()
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty")
    directory.mkdir(parents=True, exist_ok=True)
    ids = institution_ids(institutions)
    members, index = [], {"institutions": []}
    for replica_id, iid in enumerate(ids):
        folder = directory / iid
        folder.mkdir()
        node_key = KeyPair.generate()
        write_key_file(folder / "node.key", node_key)
        client_keys = []
        for k in range(clients_per_institution):
            key = KeyPair.generate()
            write_key_file(folder / f"client-{k}.key", key)
            client_keys.append(key.public_key.hex())
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
        folder.mkdir()
        key = KeyPair.generate()
        write_key_file(folder / "client-0.key", key)
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
