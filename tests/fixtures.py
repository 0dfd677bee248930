"""Helpers shared by every test folder: genesis documents with keys from
fixed seeds, blocks executed from genesis and compared byte for byte,
waiting for a condition with a deadline, and free ports to listen on.

Not a pytest conftest: tests import it by name (`from fixtures import ...`),
which works from every folder because tests/conftest.py puts tests/ on
sys.path. Nothing here starts a process, the only sockets are the ones
`free_base_port` binds and closes at once to find free ports, and nothing
waits without a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import io
import random
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from consensus.config import ReplicaConfig
from contracts.executor import BlockContext, BlockResult, Executor
from contracts.genesis import CONSENSUS_DEFAULTS, Genesis, genesis_state
from contracts.state import DictState
from crypto import encoding
from crypto.keys import KeyPair

KEY_SEED_PREFIX = b"consort-test-key/"
PASSPHRASE = "consort test passphrase"  # of every test consortium's key files (written with KDF_COST_LIGHT)
POLL_INTERVAL_S = 0.05


# --- replicas ------------------------------------------------------------------

def replica_config(chain_id: bytes, replica_id: int, validators: Sequence[bytes], **overrides) -> ReplicaConfig:
    """A replica's configuration with the genesis defaults for every consensus
    parameter not overridden, as a node whose genesis leaves them out runs."""
    return ReplicaConfig(chain_id, replica_id, tuple(validators), **{**CONSENSUS_DEFAULTS, **overrides})


# --- keys and genesis documents -------------------------------------------------

def key(label: str) -> KeyPair:
    """The key pair named `label` ("bank-a/client", "bank-a/node", ...), from a
    fixed seed, so every run and every failure reproduces byte for byte."""
    return KeyPair.from_seed(hashlib.sha256(KEY_SEED_PREFIX + label.encode()).digest())


def genesis_document(roles: Mapping[str, Sequence[str]], *, chain_name: str,
                     validators: Sequence[str] | None = None,
                     balances: Mapping[str, Mapping[str, int]] | None = None,
                     net_debit_caps: Mapping[str, Mapping[str, int]] | None = None,
                     client_keys: Mapping[str, Sequence[str]] | None = None,
                     node_endpoints: Mapping[str, str] | None = None,
                     currencies: Sequence[str] = ("EUR", "USD"),
                     parameters: Mapping[str, int] | None = None,
                     consensus: Mapping[str, int] | None = None) -> dict:
    """A genesis document for the institutions in `roles` (id -> its roles), in that order.

    Each institution is named by its id in capitals. Its client keys are
    `key(label)` for each label in `client_keys[id]` (by default the one label
    "<id>/client"); an institution with the validator role has the node key
    `key("<id>/node")`. Balances and net debit caps go by id, then currency,
    and default to none. The validators are, unless given, every institution
    with the validator role, in order. `node_endpoints` gives an institution
    with a node key its node's host:port. The result is a fresh dict a test
    may change before parsing it.
    """
    balances, net_debit_caps, client_keys = balances or {}, net_debit_caps or {}, client_keys or {}
    institutions = []
    for iid, its_roles in roles.items():
        entry = {"id": iid, "name": iid.upper(), "roles": list(its_roles),
                 "client_keys": [key(label).public_key.hex() for label in client_keys.get(iid, [f"{iid}/client"])],
                 "balances": dict(balances.get(iid, {})), "net_debit_caps": dict(net_debit_caps.get(iid, {}))}
        if "validator" in its_roles:
            entry["node_key"] = key(f"{iid}/node").public_key.hex()
        if iid in (node_endpoints or {}):
            entry["node_endpoint"] = node_endpoints[iid]
        institutions.append(entry)
    if validators is None:
        validators = [iid for iid, its_roles in roles.items() if "validator" in its_roles]
    return {"chain_name": chain_name, "currencies": list(currencies), "institutions": institutions,
            "validators": list(validators), "parameters": dict(parameters or {}),
            "consensus": dict(consensus or {})}


# --- transaction arguments ------------------------------------------------------------

_DOCUMENTS = bytes(range(32))
_POINT = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")  # ed25519's base point
_PAY = {"from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": 5}

# Arguments that pass every stateless check (contracts.executor.check_stateless)
# for each transaction type, with every optional field given (mpc.result: the
# fields of one result form, a clear sum); whether they then
# succeed depends on the state (ids, holdings, roles). Copy before changing.
VALID_ARGS: dict[str, dict] = {
    "assets.cancel_offer": {"offer": "O000000000001"},
    "assets.consent": {"asset": "A000000000001", "holder": "bank-a", "op": "transfer", "units": 1, "party": "bank-b"},
    "assets.enforce": {"asset": "A000000000001", "holder": "bank-a"},
    "assets.freeze": {"asset": "A000000000001", "reason": "court order"},
    "assets.merge": {"part": "A000000000002", "units": 1},
    "assets.offer": {"asset": "A000000000001", "units": 1, "buyer": "bank-b", "price": 10, "currency": "EUR",
                     "expiry_height": 100},
    "assets.pledge": {"asset": "A000000000001", "pledgee": "bank-b", "secured_amount": 50, "currency": "EUR",
                      "due_height": 100},
    "assets.redeem": {"asset": "A000000000001"},
    "assets.register": {"class": "receivable", "issuer": "bank-a", "holders": {"bank-a": 10}, "currency": "EUR",
                        "face_value": 2, "maturity_height": 100, "documents_hash": _DOCUMENTS},
    "assets.release": {"asset": "A000000000001", "holder": "bank-a"},
    "assets.split": {"asset": "A000000000001", "parts": [1, 2]},
    "assets.transfer": {"asset": "A000000000001", "to": "bank-b", "units": 1},
    "assets.unfreeze": {"asset": "A000000000001", "reason": "lifted"},
    "governance.propose": {"action": "mint", "args": {"institution": "bank-a", "currency": "EUR", "amount": 1}},
    "governance.vote": {"proposal": 1, "yes": True},
    "mpc.abort": {"session": "M000000000001"},
    "mpc.commit": {"session": "M000000000001", "commitment": [_POINT, _POINT], "public": bytes(32)},
    "mpc.open": {"protocol": "sum", "participants": ["bank-a", "bank-b", "bank-c"],
                 "params": {"length": 2, "value_max": 1000}, "deadline_height": 100, "result_to": ["cb"]},
    "mpc.result": {"session": "M000000000001", "totals": [3, 4], "blindings": [bytes(32), bytes(32)],
                   "transcripts": {"bank-a": bytes(32), "bank-b": bytes(32), "bank-c": bytes(32)},
                   "signatures": {"bank-a": bytes(64), "bank-b": bytes(64), "bank-c": bytes(64)}},
    "settlement.burn": {"institution": "bank-a", "currency": "EUR", "amount": 5, "reference": "r"},
    "settlement.cancel": {"instruction": 1},
    "settlement.close_cycle": {"currency": "EUR"},
    "settlement.dvp": {"offer": "O000000000001"},
    "settlement.instruct": {**_PAY, "reference": "inv-1", "idempotency_key": "k-1"},
    "settlement.mint": {"institution": "bank-a", "currency": "EUR", "amount": 5, "reference": "r"},
    "settlement.pay": {**_PAY, "reference": "inv-1", "idempotency_key": "k-1"},
}


# --- executing blocks ---------------------------------------------------------------

def run(genesis: Genesis, blocks: list[list]) -> tuple[list[BlockResult], DictState]:
    """Execute `blocks` (of Transactions or wire bytes) from genesis, block
    `n` at height n and time 1000 * n ms; return per-block results and the
    final state."""
    state = DictState(genesis_state(genesis))
    executor = Executor()
    results = []
    for height, txs in enumerate(blocks, start=1):
        result = executor.execute(state, BlockContext(genesis.chain_id, height, 1000 * height), txs)
        state.apply(result.writes)
        results.append(result)
    return results, state


def split_blocks(items: list, cuts: list[bool]) -> list[list]:
    """Cut `items` into blocks after every item whose cut flag is set."""
    blocks, current = [], []
    for item, cut in zip(items, cuts):
        current.append(item)
        if cut:
            blocks.append(current)
            current = []
    return blocks + [current] if current else blocks


def wire(result: BlockResult) -> bytes:
    """A block result as canonical bytes (its writes, then its receipts), to
    compare two executions byte for byte."""
    return encoding.encode([[list(w) for w in result.writes], [r.to_wire() for r in result.receipts]])


def accounts(state: DictState) -> dict[tuple[str, str], int]:
    """Every settlement balance in `state`, by (institution, currency)."""
    found = {}
    for state_key, value in state.items.items():
        if state_key.startswith(b"acct/"):
            iid, currency = state_key[len(b"acct/"):].decode().split("/")
            found[iid, currency] = encoding.decode(value)
    return found


# --- waiting with a deadline ----------------------------------------------------------

async def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str | Callable[[], str],
                     interval_s: float = POLL_INTERVAL_S) -> Any:
    """Call `predicate` (plain or async) every `interval_s` until it returns
    something true, and return that. After `timeout_s` fail with an
    AssertionError naming `what` (a text, or a function giving the text at
    that moment) and the predicate's last value when it says more than
    None or False."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            described = what() if callable(what) else what
            seen = "" if value is None or value is False else f"; last saw {value!r}"
            raise AssertionError(f"timed out after {timeout_s} s waiting for {described}{seen}")
        await asyncio.sleep(interval_s)


# --- ports --------------------------------------------------------------------------

EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
LISTEN_PORT_MIN = 10_000


def ephemeral_port_min() -> int:
    """Where the kernel starts picking ports for outgoing connections (Linux; else its default)."""
    try:
        return int(EPHEMERAL_PORTS.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_base_port(count: int, hosts: Sequence[str] = ("127.0.0.1",)) -> int:
    """A base port with `count` consecutive free ports on each of `hosts`
    (loopback addresses), below the ephemeral range: a port free now cannot
    be taken, before a node binds it, by one of the many outgoing
    connections the tests make (as a port drawn from the ephemeral range
    once was). The `count` ports OPERATOR_PORT_OFFSET above them are free
    too: create_consortium puts the nodes' operator sites there."""
    from node.devtools.consortium import OPERATOR_PORT_OFFSET  # here: most tests never start a node
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(LISTEN_PORT_MIN,
                             max(LISTEN_PORT_MIN + 1, ephemeral_port_min() - OPERATOR_PORT_OFFSET - count))
        sockets = []
        try:
            for port in [*range(base, base + count), *range(base + OPERATOR_PORT_OFFSET,
                                                            base + OPERATOR_PORT_OFFSET + count)]:
                for host in hosts:
                    s = socket.socket()
                    sockets.append(s)
                    s.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range")


def export_records(raw: bytes) -> list[list]:
    """The records of an export stream (node.audit.export), in order."""
    from node.audit.export import read_records
    return list(read_records(io.BytesIO(raw)))


def export_bytes(records: list[list]) -> bytes:
    """An export stream of `records`: the inverse of `export_records`, for tests that tamper with one."""
    from node.audit.export import MAGIC, write_record
    out = io.BytesIO()
    out.write(MAGIC)
    for record in records:
        write_record(out, record)
    return out.getvalue()


class CountedReads:
    """A plyvel database (a Storage's `db`), recording the keys read with `get`."""

    def __init__(self, db) -> None:
        self.db = db
        self.keys: list[bytes] = []

    def get(self, key: bytes, *args, **kwargs):
        self.keys.append(key)
        return self.db.get(key, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.db, name)


class Raw(bytes):
    """Bytes that are no transaction, included in a block as they are (ChainBuilder.append)."""

    def wire(self) -> bytes:
        return bytes(self)


MIXED_CHAIN_TYPES = ("settlement.pay", "settlement.instruct")


def build_mixed_chain(directory: Path, blocks: int):
    """A ChainBuilder chain of `blocks` blocks of payments and instructions
    from four members (block h holds h + 2), block 2 also an undecodable
    transaction and one from an unregistered key; with the truth:
    (height, index) -> (sender's institution, type)."""
    import itertools

    from contracts.tx import sign_tx
    from node.devtools.chainbuilder import ChainBuilder  # here: the unit tests import this module without LevelDB

    builder = ChainBuilder(directory)
    truth: dict[tuple[int, int], tuple[str | None, str | None]] = {}
    stranger, counter = KeyPair.generate().signer(), itertools.count()
    for height in range(1, blocks + 1):
        txs = []
        for _ in range(height + 2):
            n = next(counter)
            payer, payee = builder.members[n % 4], builder.members[(n + 1) % 4]
            tx_type = MIXED_CHAIN_TYPES[n % 3 == 0]
            txs.append(builder.tx(payer, tx_type, {"from": payer, "to": payee, "currency": "EUR", "amount": 1 + n}))
            truth[height, len(txs) - 1] = (payer, tx_type)
        if height == 2:
            txs.append(Raw(b"\x92\xc4\x01x"))
            truth[height, len(txs) - 1] = (None, None)
            txs.append(sign_tx(stranger, builder.genesis.chain_id, 1, "settlement.pay", {}))
            truth[height, len(txs) - 1] = (None, "settlement.pay")
        builder.append(txs)
    return builder, truth
