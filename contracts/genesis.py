"""The genesis document: members, roles, keys (and each node's endpoint,
and the X25519 key an institution takes part in MPC sessions with),
validators, opening balances.

The file is JSON (byte strings as hex). Its canonical msgpack encoding is
hashed into the chain id, so every signature on the chain is bound to one
exact membership. `parse_genesis` refuses anything malformed with a message
naming the field; `genesis_state` gives the state before block 1. A
genesis may also name a bulk state file (`bulk_state`: file name beside
the genesis file, SHA-256, record count; contracts.genesis_bulk): records
that join the state before block 1, such as an opening asset register too
large to list here; its hash, in the chain id, binds the chain to them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from contracts.endpoints import endpoint_problem
from contracts.schema import AMOUNT_MAX
from crypto import encoding, hashing

ROLES = ("validator", "member", "auditor", "regulator")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
BULK_FILE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # a plain file name, no folder
BULK_KEYS_MAX = 10**9
CONSENSUS_DEFAULTS = {
    "batch_size_max": 2000, "batch_delay_ms": 5, "checkpoint_interval": 16, "window": 64,
    "request_timeout_ms": 1000, "view_change_timeout_ms": 1000, "view_change_timeout_ms_max": 30_000,
    "status_interval_ms": 500, "fetch_timeout_ms": 2000,
    "block_time_ahead_ms_max": 5000,  # a backup refuses a block whose time is further ahead of its clock
}


PARAMETER_DEFAULTS = {
    # Share of members whose yes votes pass a proposal: yes * 10000 >= bps * members.
    # 6666, not 6667: 2 of 3 (66.67 %) must pass, and 6667 bps would refuse it.
    "governance_threshold_bps": 6666,
    "proposal_ttl_blocks": 2000,        # a proposal expires this many blocks after it is made
    "netting_queue_max": 10_000,        # queued netting instructions per currency
    "netting_queue_per_member_max": 1000,  # of which one payer's (and the same share of the queued amount)
    "netting_gridlock_cycles_max": 3,   # cycles in a row the gridlock rule may drop an instruction; then it expires
    "open_proposals_max": 64,           # open governance proposals, all proposers together
    "open_proposals_per_institution_max": 8,
    "mpc_psi_per_pair_max": 8,          # PSI sessions one pair of institutions may be opened for ...
    "mpc_psi_window_blocks": 10_000,    # ... within this many blocks (contracts/mpc.py)
    "mpc_open_per_opener_max": 16,      # sessions one institution opened that are open at once
}
BPS = 10_000
# The values a parameter may take, in the genesis and by governance; any
# other parameter may take 0 to AMOUNT_MAX.
PARAMETER_RANGES = {
    "governance_threshold_bps": (BPS // 2 + 1, BPS),  # a majority at least, and reachable
    "proposal_ttl_blocks": (1, AMOUNT_MAX // 2),      # so that height + ttl stays under AMOUNT_MAX
    "netting_queue_max": (1, 100_000),                # a cycle nets the whole queue in one transaction
    "netting_queue_per_member_max": (1, 100_000),
    "netting_gridlock_cycles_max": (1, 10_000),
    "open_proposals_max": (1, 1024),
    "open_proposals_per_institution_max": (1, 1024),
    "mpc_psi_per_pair_max": (1, 1024),                # the heights of a pair's sessions are kept in one record
    "mpc_psi_window_blocks": (1, AMOUNT_MAX // 2),
    "mpc_open_per_opener_max": (1, 1024),
}


class GenesisError(ValueError):
    """A genesis document that cannot define a chain."""


@dataclass(frozen=True, slots=True)
class Institution:
    id: str
    name: str
    roles: tuple[str, ...]
    node_key: bytes | None
    client_keys: tuple[bytes, ...]
    balances: tuple[tuple[str, int], ...]
    net_debit_caps: tuple[tuple[str, int], ...] = ()
    node_endpoint: str | None = None  # host:port of its node; only with a node key
    mpc_key: bytes | None = None      # X25519 public key for MPC key agreement and sealed results


@dataclass(frozen=True, slots=True)
class BulkState:
    """The bulk state file a genesis names: its file name (in the genesis
    file's folder), the SHA-256 of its bytes and its number of records."""

    file: str
    sha256: bytes
    keys: int


@dataclass(frozen=True, slots=True)
class Genesis:
    document: dict[str, Any]
    chain_id: bytes
    chain_name: str
    genesis_time_ms: int
    currencies: tuple[str, ...]
    institutions: tuple[Institution, ...]
    validators: tuple[str, ...]
    consensus: dict[str, int]
    parameters: dict[str, int]
    bulk_state: BulkState | None = None

    def institution(self, institution_id: str) -> Institution:
        for institution in self.institutions:
            if institution.id == institution_id:
                return institution
        raise KeyError(institution_id)

    @property
    def validator_keys(self) -> tuple[bytes, ...]:
        return tuple(self.institution(v).node_key for v in self.validators)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise GenesisError(message)


def _key(value: Any, where: str, what: str = "an Ed25519 public key") -> bytes:
    try:
        key = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise GenesisError(f"{where}: not a hex string") from None
    _require(len(key) == 32, f"{where}: {what} is 32 bytes")
    return key


def _institution(item: Any, currencies: tuple[str, ...]) -> Institution:
    _require(isinstance(item, dict), "institutions: each entry must be an object")
    iid = item.get("id")
    _require(isinstance(iid, str) and bool(ID_PATTERN.fullmatch(iid)), f"institution id {iid!r} is invalid")
    roles = item.get("roles", [])
    _require(isinstance(roles, list) and roles and all(r in ROLES for r in roles),
             f"{iid}: roles must be a non-empty list drawn from {ROLES}")
    node_key = _key(item["node_key"], f"{iid}.node_key") if item.get("node_key") else None
    node_endpoint = item.get("node_endpoint")
    if node_endpoint is not None:
        _require(node_key is not None, f"{iid}.node_endpoint: only an institution with a node_key has one")
        problem = endpoint_problem(node_endpoint)
        _require(problem is None, f"{iid}.node_endpoint: {problem}")
    client_keys = tuple(_key(k, f"{iid}.client_keys") for k in item.get("client_keys", []))
    mpc_key = _key(item["mpc_key"], f"{iid}.mpc_key", "an X25519 public key") if item.get("mpc_key") else None
    balances = item.get("balances", {})
    _require(isinstance(balances, dict), f"{iid}.balances must be an object")
    for currency, amount in balances.items():
        _require(currency in currencies, f"{iid}.balances: unknown currency {currency}")
        _require(type(amount) is int and 0 <= amount <= AMOUNT_MAX,
                 f"{iid}.balances.{currency}: an integer in minor units, 0 to 2^62")
    caps = item.get("net_debit_caps", {})
    _require(isinstance(caps, dict) and all(c in currencies and type(v) is int and 0 <= v <= AMOUNT_MAX
                                            for c, v in caps.items()),
             f"{iid}.net_debit_caps: integers in minor units per known currency")
    name = item.get("name", iid)
    _require(isinstance(name, str) and len(name) <= 128, f"{iid}.name must be a short string")
    return Institution(iid, name, tuple(roles), node_key, client_keys, tuple(sorted(balances.items())),
                       tuple(sorted(caps.items())), node_endpoint, mpc_key)


def _bulk_state(item: Any) -> BulkState | None:
    if item is None:
        return None
    _require(isinstance(item, dict) and set(item) == {"file", "sha256", "keys"},
             "bulk_state: an object with exactly file, sha256 and keys")
    name = item["file"]
    _require(isinstance(name, str) and bool(BULK_FILE_PATTERN.fullmatch(name)),
             "bulk_state.file: a plain file name (letters, digits, '.', '_', '-'), beside the genesis file")
    digest = _key(item["sha256"], "bulk_state.sha256", "a SHA-256")
    keys = item["keys"]
    _require(type(keys) is int and 1 <= keys <= BULK_KEYS_MAX, f"bulk_state.keys: an integer, 1 to {BULK_KEYS_MAX}")
    return BulkState(name, digest, keys)


def parse_genesis(document: Any) -> Genesis:
    _require(isinstance(document, dict), "genesis must be a JSON object")
    try:
        chain_id = hashing.digest("genesis", encoding.encode(document))
    except encoding.EncodingError as exc:
        raise GenesisError(f"genesis holds a value with no canonical form: {exc}") from None
    currencies = tuple(document.get("currencies", []))
    _require(bool(currencies) and all(isinstance(c, str) and CURRENCY_PATTERN.fullmatch(c) for c in currencies),
             "currencies must be a non-empty list of ISO 4217 codes")
    institutions = tuple(_institution(i, currencies) for i in document.get("institutions", []))
    for currency in currencies:  # payments conserve money, so no balance can then exceed this
        _require(sum(dict(i.balances).get(currency, 0) for i in institutions) <= AMOUNT_MAX,
                 f"balances: the total of {currency} exceeds 2^62")
    ids = [i.id for i in institutions]
    _require(len(set(ids)) == len(ids), "institution ids must be unique")
    all_keys = [k for i in institutions for k in (*i.client_keys, *([i.node_key] if i.node_key else []))]
    _require(len(set(all_keys)) == len(all_keys), "a key is listed twice")
    mpc_keys = [i.mpc_key for i in institutions if i.mpc_key is not None]
    _require(len(set(mpc_keys)) == len(mpc_keys), "an mpc_key is listed twice")
    validators = tuple(document.get("validators", []))
    _require(len(validators) >= 1 and len(set(validators)) == len(validators), "validators must be unique and non-empty")
    by_id = {i.id: i for i in institutions}
    for v in validators:
        _require(v in by_id and "validator" in by_id[v].roles and by_id[v].node_key is not None,
                 f"validator {v} must be an institution with the validator role and a node_key")
    consensus = dict(CONSENSUS_DEFAULTS)
    for name, value in document.get("consensus", {}).items():
        _require(name in CONSENSUS_DEFAULTS and type(value) is int and value >= 0,
                 f"consensus.{name}: unknown parameter or not a non-negative integer")
        consensus[name] = value
    parameters = dict(PARAMETER_DEFAULTS)
    for name, value in document.get("parameters", {}).items():
        _require(isinstance(name, str) and 0 < len(name) <= 64, f"parameters.{name}: a name of 1 to 64 characters")
        low, high = PARAMETER_RANGES.get(name, (0, AMOUNT_MAX))
        _require(type(value) is int and low <= value <= high, f"parameters.{name}: an integer in [{low}, {high}]")
        parameters[name] = value
    genesis_time_ms = document.get("genesis_time_ms", 0)
    _require(type(genesis_time_ms) is int and genesis_time_ms >= 0, "genesis_time_ms must be an integer")
    chain_name = document.get("chain_name", "consort")
    _require(isinstance(chain_name, str), "chain_name must be a string")
    return Genesis(document, chain_id, chain_name, genesis_time_ms, currencies,
                   institutions, validators, consensus, parameters, _bulk_state(document.get("bulk_state")))


def genesis_from_json(text: str) -> Genesis:
    """Parse a genesis file's text; GenesisError if it is not JSON or not a genesis."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenesisError(f"not JSON: {exc}") from None
    return parse_genesis(document)


def institution_key(institution_id: str) -> bytes:
    return b"inst/" + institution_id.encode()


def client_key_key(public_key: bytes) -> bytes:
    return b"key/" + public_key


def account_key(institution_id: str, currency: str) -> bytes:
    return b"acct/" + institution_id.encode() + b"/" + currency.encode()


# Governance's registry records (see contracts/governance.py).
INSTITUTIONS_KEY = b"gov/institutions"  # every institution id ever admitted, sorted
CURRENCIES_KEY = b"gov/currencies"      # the chain's currencies, as in the genesis
VALIDATORS_KEY = b"gov/validators"      # [[id, node_key], ...] in replica order


def institution_keys_key(institution_id: str) -> bytes:
    """-> {"client_keys": [sorted keys], "node_key": bytes or None,
    "node_endpoint": "host:port" or None (set only with a node key)}"""
    return b"gov/keys/" + institution_id.encode()


def mpc_key_key(institution_id: str) -> bytes:
    """-> the institution's X25519 public key for MPC sessions (absent: none);
    see contracts.mpc_state.mpc_key and governance's set_mpc_key."""
    return b"gov/mpc_key/" + institution_id.encode()


def genesis_state(genesis: Genesis) -> dict[bytes, bytes]:
    """The state before block 1: institutions, client keys, opening balances,
    parameters, the validator set and governance's registry records (node
    keys and endpoints among them, and MPC keys). A bulk state's records
    are not here: contracts.genesis_bulk.with_bulk_records adds them."""
    state: dict[bytes, bytes] = {}
    for institution in genesis.institutions:
        state[institution_key(institution.id)] = encoding.encode(
            {"name": institution.name, "roles": list(institution.roles)})
        for key in institution.client_keys:
            state[client_key_key(key)] = encoding.encode(institution.id)
        if "member" in institution.roles or "validator" in institution.roles:
            balances = dict(institution.balances)
            for currency in genesis.currencies:
                state[account_key(institution.id, currency)] = encoding.encode(balances.get(currency, 0))
        for currency, cap in institution.net_debit_caps:
            state[b"settlement/cap/" + institution.id.encode() + b"/" + currency.encode()] = encoding.encode(cap)
    for currency in genesis.currencies:
        supply = sum(dict(i.balances).get(currency, 0) for i in genesis.institutions)
        state[b"settlement/supply/" + currency.encode()] = encoding.encode(supply)
    for name, value in genesis.parameters.items():
        state[b"gov/param/" + name.encode()] = encoding.encode(value)
    # Governance schedules validator changes at checkpoint boundaries: it must
    # read the interval the replicas use, so the consensus value wins here.
    state[b"gov/param/checkpoint_interval"] = encoding.encode(genesis.consensus["checkpoint_interval"])
    state[VALIDATORS_KEY] = encoding.encode(
        [[v, genesis.institution(v).node_key] for v in genesis.validators])
    state[INSTITUTIONS_KEY] = encoding.encode(sorted(i.id for i in genesis.institutions))
    state[CURRENCIES_KEY] = encoding.encode(list(genesis.currencies))
    for institution in genesis.institutions:
        state[institution_keys_key(institution.id)] = encoding.encode(
            {"client_keys": sorted(institution.client_keys), "node_key": institution.node_key,
             "node_endpoint": institution.node_endpoint})
        if institution.mpc_key is not None:
            state[mpc_key_key(institution.id)] = encoding.encode(institution.mpc_key)
    return dict(sorted(state.items()))
