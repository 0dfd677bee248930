"""Governance: proposals, votes, and the actions a passing vote executes.

Membership, roles, keys, the validator set, contract switches, parameters
and central-bank money change here and nowhere else, and only when enough
member institutions vote yes. Like every contract it is a pure function of
the state view and the call: no clock (block heights only), no randomness,
no floats, sorted iteration, and no import of the node or of any I/O.

The rules, as decided:

- Members are the institutions holding the `member` or `validator` role,
  counted when each vote executes (membership may change while a proposal
  is open). Only members may propose and vote.
- A proposal passes when `yes * 10000 >= governance_threshold_bps * members`,
  counting only the yes votes of current members. The default, 6666 bps,
  is exactly "two thirds or more" for fewer than 5,000 members (3 members:
  2 yes; 4 members: 3 yes); institutions are capped at INSTITUTIONS_MAX.
- Proposing is not voting: the proposer votes like anyone else. Each
  institution votes once per proposal; a second vote is refused
  (`already_voted`), never replaced.
- The vote that reaches the threshold executes the action in the same
  transaction. If the action is refused at that point (the state moved on
  since the proposal), the proposal closes as `failed` with the error code
  and none of the action's writes; the vote's receipt is still `ok`.
- A vote after which the proposal can no longer pass (yes plus members yet
  to vote stay under the threshold) closes it as `rejected`.
- A proposal made at height h takes votes while the height is below
  h + proposal_ttl_blocks; later votes fail with `proposal_expired`. Expired
  proposals are closed (`expired`) by the next successful propose or vote.
- A proposal's action is checked (run on a throwaway overlay) when it is
  proposed, so a proposal that would be refused is refused at once.
- Validator-set changes take effect at a checkpoint boundary: they write
  `gov/validators_pending`, which `activate_pending_validators`, the
  end-of-block hook the registry names, moves into `gov/validators` at the
  end of the effective block. The set keeps at least one validator and no
  duplicates; BFT sizing (3f + 1) is the members' call.
- Switching contracts on and off is the registry's action (it knows which
  contracts exist); it reaches `propose` and `vote` through `tx_types`.
- A node's endpoint (host:port, see contracts.endpoints) is kept with its
  node key in `gov/keys/<id>`. It is an address, not a consensus key:
  `set_node_endpoint` moves it at once, and `set_node_key` may move it with
  the key; removing an institution clears both. `node_directory` lists
  every node key a peer may hold, with its endpoint: whom a node dials and
  admits.

State written here, besides what genesis writes: `gov/proposal/<id>`
(records), `gov/proposals/open` (sorted open ids, bounded by
open_proposals_max), `seq/proposal`, `gov/validators_pending`,
`gov/contract/<name>`, and the registry records of contracts.genesis
(`gov/mpc_key/<id>` among them: set by contracts.mpc's `set_mpc_key`
action, cleared here when an institution is removed).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, NamedTuple

from contracts import money
from contracts.endpoints import ENDPOINT_LENGTH_MAX, endpoint_problem
from contracts.genesis import (
    BPS, CONSENSUS_DEFAULTS, CURRENCIES_KEY, ID_PATTERN, INSTITUTIONS_KEY, PARAMETER_DEFAULTS, PARAMETER_RANGES, ROLES,
    VALIDATORS_KEY, account_key, client_key_key, institution_key, institution_keys_key, mpc_key_key,
)
from contracts.interface import BlockEnd, Call, TxType
from contracts.schema import AMOUNT_MAX, ContractError, Field, bounded, check_args
from contracts.state import Overlay
from contracts.store import get, institution, key, next_id, param, put
from crypto import encoding

VOTING_ROLES = ("member", "validator")
INSTITUTIONS_MAX = 1000
CLIENT_KEYS_MAX = 16
OPEN_KEY = b"gov/proposals/open"
PENDING_KEY = b"gov/validators_pending"
PROTECTED_PARAMETERS = ("checkpoint_interval",)  # the replicas read theirs from the genesis
OPEN, PASSED, FAILED, REJECTED, EXPIRED = "open", "passed", "failed", "rejected", "expired"


# --- queries: pure reads ----------------------------------------------------------

def proposal_key(proposal_id: int) -> bytes:
    return key("gov", "proposal", proposal_id)


def proposal(state, proposal_id: int) -> dict | None:
    """The proposal record: id, action, args, proposer, tx_hash, created_height,
    expires_height, status, yes and no (sorted voter ids), closed_height, and
    once closed by a passing vote either result or error and detail."""
    return get(state, proposal_key(proposal_id))


def open_proposal_ids(state) -> list[int]:
    return get(state, OPEN_KEY) or []


def open_proposals(state, height: int | None = None) -> list[dict]:
    """Open proposals by id; with `height`, only those still taking votes there."""
    records = [proposal(state, pid) for pid in open_proposal_ids(state)]
    return [r for r in records if height is None or height < r["expires_height"]]


def institution_ids(state) -> list[str]:
    return get(state, INSTITUTIONS_KEY) or []


def members(state) -> list[str]:
    """Institutions that may propose and vote, sorted."""
    return [iid for iid in institution_ids(state) if set(VOTING_ROLES) & set(institution(state, iid)["roles"])]


def currencies(state) -> list[str]:
    return get(state, CURRENCIES_KEY) or []


def institution_keys(state, institution_id: str) -> dict:
    """{"client_keys": [sorted keys], "node_key": bytes or None, "node_endpoint": "host:port" or None}."""
    return {**_no_keys(), **(get(state, institution_keys_key(institution_id)) or {})}


def _no_keys() -> dict:
    return {"client_keys": [], "node_key": None, "node_endpoint": None}


def parameters(state, names: list[str] | None = None) -> dict[str, int]:
    """Governance parameters by name (the known ones when `names` is None)."""
    names = sorted({*PARAMETER_DEFAULTS, *PROTECTED_PARAMETERS} if names is None else names)
    defaults = {**PARAMETER_DEFAULTS, "checkpoint_interval": CONSENSUS_DEFAULTS["checkpoint_interval"]}
    return {name: param(state, name, defaults.get(name, 0)) for name in names}


def tally(state, record: dict) -> dict:
    """Count a proposal's votes against the current members and threshold."""
    voters = set(members(state))
    yes = len(voters & set(record["yes"]))
    no = len(voters & set(record["no"]))
    threshold_bps = param(state, "governance_threshold_bps", PARAMETER_DEFAULTS["governance_threshold_bps"])
    needed = threshold_bps * len(voters)
    return {"yes": yes, "no": no, "members": len(voters), "threshold_bps": threshold_bps,
            "passes": yes * BPS >= needed, "can_pass": (len(voters) - no) * BPS >= needed}


# --- the validator set --------------------------------------------------------------

def validators(state) -> list[list]:
    """The validator set in force: [[institution id, node key], ...] in replica order."""
    return get(state, VALIDATORS_KEY) or []


def pending_validators(state) -> dict | None:
    """{"set": [[id, node key], ...], "effective_height": h} or None."""
    return get(state, PENDING_KEY)


def validator_set_at(state, height: int) -> list[list]:
    """The set that orders block `height`, for heights at or after the state's
    own: a pending set takes over from the block after its effective height."""
    pending = pending_validators(state)
    if pending is not None and height > pending["effective_height"]:
        return pending["set"]
    return validators(state)


def activate_pending_validators(state, height: int) -> BlockEnd | None:
    """The end-of-block hook: on the state including block `height`'s writes,
    None unless a pending set's effective height has been reached; otherwise
    the writes that move it into force (in the same write batch and state
    root as block `height`) and the node keys that order the blocks after it.
    Pure: reads `state`, writes nothing."""
    pending = pending_validators(state)
    if pending is None or height < pending["effective_height"]:
        return None
    new_set = pending["set"]
    writes = ((VALIDATORS_KEY, encoding.encode(new_set)), (PENDING_KEY, None))
    return BlockEnd(writes, tuple(node_key for _, node_key in new_set))


def scheduled_validator_set(output: Any) -> tuple[bytes, ...] | None:
    """The node keys (in replica order) of the validator set that a governance
    receipt's output schedules, when its proposal passed with a validator
    change; else None. Receipts are this contract's format, so its reader
    is here: an auditor that does not re-execute follows the set with it."""
    if not isinstance(output, dict) or output.get("status") != PASSED:
        return None
    result = output.get("result")
    scheduled = result.get("validator_set") if isinstance(result, dict) else None
    if not isinstance(scheduled, list) or not all(
            isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], bytes) for entry in scheduled):
        return None
    return tuple(node_key for _, node_key in scheduled)


class NodeEntry(NamedTuple):
    institution: str
    node_key: bytes
    endpoint: str | None


def node_directory(state) -> list[NodeEntry]:
    """Every node a peer may meet, sorted by institution then key: each
    institution's node key and endpoint as governance records them, and,
    while a validator's key rotation waits for its checkpoint boundary, the
    key still in force too (under the same endpoint), so the node that
    orders blocks until then stays reachable, and the new key is already
    known when it takes over. The node dials these and admits only these."""
    pairs = {(iid, keys["node_key"]) for iid in institution_ids(state)
             for keys in [institution_keys(state, iid)] if keys["node_key"] is not None}
    pending = pending_validators(state)
    pairs |= {(iid, node_key) for iid, node_key in [*validators(state), *(pending["set"] if pending else [])]}
    return [NodeEntry(iid, node_key, institution_keys(state, iid)["node_endpoint"])
            for iid, node_key in sorted(pairs)]


def _planned_set(state) -> list[list]:
    pending = pending_validators(state)
    return validators(state) if pending is None else pending["set"]


def _schedule(state, new_set: list[list], height: int) -> dict:
    """Make `new_set` pending from the next checkpoint boundary above `height`."""
    if not new_set:
        raise ContractError("last_validator", "the validator set cannot be empty")
    ids = [iid for iid, _ in new_set]
    assert len(set(ids)) == len(ids), ids
    assert len({node_key for _, node_key in new_set}) == len(new_set), ids
    interval = max(1, param(state, "checkpoint_interval", CONSENSUS_DEFAULTS["checkpoint_interval"]))
    effective_height = (height // interval + 1) * interval
    put(state, PENDING_KEY, {"set": new_set, "effective_height": effective_height})
    return {"validators": ids, "validator_set": new_set, "effective_height": effective_height}


def _require_not_validator(state, institution_id: str) -> None:
    if institution_id in [iid for iid, _ in [*validators(state), *_planned_set(state)]]:
        raise ContractError("still_validator", f"{institution_id} is in the validator set; remove it there first")


# --- argument and registry checks -------------------------------------------------

def _check_id(institution_id: str) -> None:
    if not ID_PATTERN.fullmatch(institution_id):  # not match: "$" also matches before a final newline
        raise ContractError("bad_args", f"institution id {institution_id!r} is invalid")


def _check_roles(roles: list) -> None:
    if not roles or any(r not in ROLES for r in roles) or len(set(roles)) != len(roles):
        raise ContractError("bad_args", f"roles must be distinct, non-empty and drawn from {list(ROLES)}")


def _check_endpoint(args: dict) -> None:
    """A node endpoint, when given, is host:port (contracts.endpoints)."""
    if "node_endpoint" in args:
        problem = endpoint_problem(args["node_endpoint"])
        if problem is not None:
            raise ContractError("bad_args", f"node_endpoint: {problem}")


def _check_new_institution(args: dict) -> None:
    """add_institution's stateless checks (its keys are 32 bytes by the schema)."""
    _check_id(args["id"])
    _check_roles(args["roles"])
    all_keys = [*args["client_keys"], *([args["node_key"]] if "node_key" in args else [])]
    if len(set(all_keys)) != len(all_keys):
        raise ContractError("bad_args", "a key is listed twice")
    if "node_endpoint" in args and "node_key" not in args:
        raise ContractError("bad_args", "a node_endpoint comes with a node_key")
    _check_endpoint(args)


def _check_set_roles(args: dict) -> None:
    _check_roles(args["roles"])


def _check_parameter(args: dict) -> None:
    name, value = args["name"], args["value"]
    if name in PROTECTED_PARAMETERS:
        raise ContractError("parameter_protected", f"{name} is fixed by the genesis consensus section")
    low, high = PARAMETER_RANGES.get(name, (0, AMOUNT_MAX))
    if not low <= value <= high:
        raise ContractError("bad_args", f"{name} must be in [{low}, {high}]")


def _key_owner(state, public_key: bytes) -> str | None:
    """Who holds `public_key` as a client key (indexed) or node key (scanned:
    the directory's, so a rotated validator's old key stays taken while it
    is still in force)."""
    owner = get(state, client_key_key(public_key))
    if owner is not None:
        return owner
    for entry in node_directory(state):
        if entry.node_key == public_key:
            return entry.institution
    return None


def _require_unused_key(state, public_key: bytes) -> None:
    owner = _key_owner(state, public_key)
    if owner is not None:
        raise ContractError("key_in_use", f"key {public_key.hex()} is already registered")


def _require_active(state, institution_id: str) -> dict:
    record = institution(state, institution_id)
    if record is None:
        raise ContractError("unknown_institution", institution_id)
    if not record["roles"]:
        raise ContractError("institution_removed", institution_id)
    return record


def _open_accounts(state, institution_id: str, roles: list[str]) -> list[str]:
    """Zero settlement accounts for a member in every currency it lacks."""
    if not set(VOTING_ROLES) & set(roles):
        return []
    opened = [c for c in sorted(currencies(state)) if money.balance(state, institution_id, c) is None]
    for currency in opened:
        put(state, account_key(institution_id, currency), 0)
    return opened


# --- actions: run on a state view with their args; raise ContractError ----------

def _add_institution(state, args: dict, height: int) -> dict:
    iid = args["id"]
    if institution(state, iid) is not None:
        raise ContractError("institution_exists", iid)
    ids = institution_ids(state)
    if len(ids) >= INSTITUTIONS_MAX:
        raise ContractError("too_many_institutions", f"at most {INSTITUTIONS_MAX}")
    roles, client_keys, node_key = sorted(args["roles"]), sorted(args["client_keys"]), args.get("node_key")
    for public_key in [*client_keys, *([node_key] if node_key is not None else [])]:
        _require_unused_key(state, public_key)
    put(state, institution_key(iid), {"name": args["name"], "roles": roles})
    put(state, institution_keys_key(iid), {"client_keys": client_keys, "node_key": node_key,
                                           "node_endpoint": args.get("node_endpoint")})
    for public_key in client_keys:
        put(state, client_key_key(public_key), iid)
    put(state, INSTITUTIONS_KEY, sorted([*ids, iid]))
    return {"institution": iid, "roles": roles, "accounts": _open_accounts(state, iid, roles)}


def _remove_institution(state, args: dict, height: int) -> dict:
    """Drop roles, keys (the MPC key too) and the node endpoint; accounts, balances and records stay for history.
    The id is never reused; `set_roles` and `add_client_key` re-admit it."""
    iid = args["id"]
    record = _require_active(state, iid)
    _require_not_validator(state, iid)
    keys = institution_keys(state, iid)
    for public_key in keys["client_keys"]:
        state.delete(client_key_key(public_key))
    put(state, institution_keys_key(iid), _no_keys())
    state.delete(mpc_key_key(iid))
    put(state, institution_key(iid), {**record, "roles": []})
    return {"institution": iid, "client_keys_dropped": len(keys["client_keys"])}


def _set_roles(state, args: dict, height: int) -> dict:
    iid = args["id"]
    record = institution(state, iid)
    if record is None:
        raise ContractError("unknown_institution", iid)
    roles = sorted(args["roles"])
    if "validator" not in roles:
        _require_not_validator(state, iid)
    put(state, institution_key(iid), {**record, "roles": roles})
    return {"institution": iid, "roles": roles, "accounts": _open_accounts(state, iid, roles)}


def _add_client_key(state, args: dict, height: int) -> dict:
    iid, public_key = args["id"], args["key"]
    _require_active(state, iid)
    keys = institution_keys(state, iid)
    if len(keys["client_keys"]) >= CLIENT_KEYS_MAX:
        raise ContractError("too_many_keys", f"{iid} holds {CLIENT_KEYS_MAX} client keys")
    _require_unused_key(state, public_key)
    put(state, client_key_key(public_key), iid)
    put(state, institution_keys_key(iid), {**keys, "client_keys": sorted([*keys["client_keys"], public_key])})
    return {"institution": iid, "client_keys": len(keys["client_keys"]) + 1}


def _remove_client_key(state, args: dict, height: int) -> dict:
    iid, public_key = args["id"], args["key"]
    _require_active(state, iid)
    keys = institution_keys(state, iid)
    if public_key not in keys["client_keys"]:
        raise ContractError("unknown_key", f"{public_key.hex()} is not a client key of {iid}")
    state.delete(client_key_key(public_key))
    put(state, institution_keys_key(iid),
        {**keys, "client_keys": [k for k in keys["client_keys"] if k != public_key]})
    return {"institution": iid, "client_keys": len(keys["client_keys"]) - 1}


def _set_node_key(state, args: dict, height: int) -> dict:
    """Set a node key, and its endpoint if given (a rotation may move the
    node; else the endpoint stays). For a validator this is a key rotation
    that takes effect, like any validator change, at the next checkpoint
    boundary; the endpoint, an address, at once."""
    iid, node_key = args["id"], args["node_key"]
    _require_active(state, iid)
    _require_unused_key(state, node_key)
    moved = {"node_endpoint": args["node_endpoint"]} if "node_endpoint" in args else {}
    put(state, institution_keys_key(iid), {**institution_keys(state, iid), "node_key": node_key, **moved})
    planned = _planned_set(state)
    if iid not in [v for v, _ in planned]:
        return {"institution": iid, **moved}
    rotated = [[v, node_key if v == iid else old] for v, old in planned]
    return {"institution": iid, **moved, **_schedule(state, rotated, height)}


def _set_node_endpoint(state, args: dict, height: int) -> dict:
    """Move an institution's node to another address, at once: the key, and
    so the validator set, stay as they are."""
    iid, endpoint = args["id"], args["node_endpoint"]
    _require_active(state, iid)
    keys = institution_keys(state, iid)
    if keys["node_key"] is None:
        raise ContractError("no_node_key", f"{iid} has no node key to give an endpoint")
    put(state, institution_keys_key(iid), {**keys, "node_endpoint": endpoint})
    return {"institution": iid, "node_endpoint": endpoint}


def _add_validator(state, args: dict, height: int) -> dict:
    iid = args["id"]
    record = _require_active(state, iid)
    node_key = institution_keys(state, iid)["node_key"]
    if "validator" not in record["roles"] or node_key is None:
        raise ContractError("not_validator_capable", f"{iid} needs the validator role and a node key")
    planned = _planned_set(state)
    if iid in [v for v, _ in planned]:
        raise ContractError("already_validator", iid)
    return _schedule(state, [*planned, [iid, node_key]], height)


def _remove_validator(state, args: dict, height: int) -> dict:
    iid = args["id"]
    planned = _planned_set(state)
    if iid not in [v for v, _ in planned]:
        raise ContractError("not_validator", iid)
    return _schedule(state, [v for v in planned if v[0] != iid], height)


def _set_parameter(state, args: dict, height: int) -> dict:
    name, value = args["name"], args["value"]
    if name not in PARAMETER_DEFAULTS and get(state, key("gov", "param", name)) is None:
        raise ContractError("unknown_parameter", name)
    put(state, key("gov", "param", name), value)
    return {"name": name, "value": value}


def _mint(state, args: dict, height: int) -> dict:
    iid, currency, amount = args["institution"], args["currency"], args["amount"]
    _require_active(state, iid)
    money.mint(state, iid, currency, amount)
    return {"institution": iid, "currency": currency, "amount": amount,
            "supply": get(state, money.total_key(currency))}


@dataclass(frozen=True, slots=True)
class Action:
    run: Callable[[Any, dict, int], dict]  # (state, args, height) -> output
    fields: tuple[Field, ...]
    check: Callable[[dict], None] | None = None  # args -> None or ContractError; no state


ID = Field("id", str, minimum=1, length_max=32)
KEY = Field("key", bytes, minimum=32, length_max=32)
NODE_KEY = Field("node_key", bytes, minimum=32, length_max=32)
NODE_ENDPOINT = Field("node_endpoint", str, minimum=1, length_max=ENDPOINT_LENGTH_MAX)
OPTIONAL_NODE_ENDPOINT = Field("node_endpoint", str, required=False, minimum=1, length_max=ENDPOINT_LENGTH_MAX)
ROLES_FIELD = Field("roles", list, minimum=1, length_max=len(ROLES), items=Field("role", str, minimum=1, length_max=16))

ACTIONS: dict[str, Action] = {
    "add_institution": Action(_add_institution, (
        ID, Field("name", str, minimum=1, length_max=128), ROLES_FIELD,
        Field("client_keys", list, length_max=CLIENT_KEYS_MAX,
              items=Field("client key", bytes, minimum=32, length_max=32)),
        Field("node_key", bytes, required=False, minimum=32, length_max=32), OPTIONAL_NODE_ENDPOINT),
        _check_new_institution),
    "remove_institution": Action(_remove_institution, (ID,)),
    "set_roles": Action(_set_roles, (ID, ROLES_FIELD), _check_set_roles),
    "add_client_key": Action(_add_client_key, (ID, KEY)),
    "remove_client_key": Action(_remove_client_key, (ID, KEY)),
    "set_node_key": Action(_set_node_key, (ID, NODE_KEY, OPTIONAL_NODE_ENDPOINT), _check_endpoint),
    "set_node_endpoint": Action(_set_node_endpoint, (ID, NODE_ENDPOINT), _check_endpoint),
    "add_validator": Action(_add_validator, (ID,)),
    "remove_validator": Action(_remove_validator, (ID,)),
    "set_parameter": Action(_set_parameter, (Field("name", str, minimum=1, length_max=64), Field("value", int)),
                            _check_parameter),
    "mint": Action(_mint, (Field("institution", str, minimum=1, length_max=32),
                           Field("currency", str, minimum=3, length_max=3), Field("amount", int, minimum=1))),
}


def check_action(actions: dict[str, Action], action_name: str, args: dict) -> Action:
    """A proposal's stateless checks: a known action whose args fit its
    schema and its own checks. Run when the proposal is sent (through
    governance.propose's `check`) and again when it executes."""
    action = actions.get(action_name)
    if action is None:
        raise ContractError("unknown_action", action_name)
    check_args(action.fields, args)
    if action.check is not None:
        action.check(args)
    return action


def _check_proposal(args: dict, actions: dict[str, Action]) -> None:
    check_action(actions, args["action"], args.get("args", {}))


def _run_action(state, actions: dict[str, Action], action_name: str, args: dict, height: int) -> dict:
    return check_action(actions, action_name, args).run(state, args, height)


# --- proposal lifecycle ------------------------------------------------------------

def _store(state, record: dict) -> None:
    """Write a proposal record; a closed one leaves the open index."""
    put(state, proposal_key(record["id"]), record)
    if record["status"] != OPEN:
        put(state, OPEN_KEY, [pid for pid in open_proposal_ids(state) if pid != record["id"]])


def _close_expired(state, height: int) -> None:
    for pid in open_proposal_ids(state):
        record = proposal(state, pid)
        if height >= record["expires_height"]:
            _store(state, {**record, "status": EXPIRED, "closed_height": height})


def _check_capacity(state, proposer: str) -> None:
    ids = open_proposal_ids(state)
    total_max = param(state, "open_proposals_max", PARAMETER_DEFAULTS["open_proposals_max"])
    if len(ids) >= total_max:
        raise ContractError("too_many_proposals", "the open proposals reach open_proposals_max")
    mine_max = param(state, "open_proposals_per_institution_max",
                     PARAMETER_DEFAULTS["open_proposals_per_institution_max"])
    if sum(1 for pid in ids if proposal(state, pid)["proposer"] == proposer) >= mine_max:
        raise ContractError("too_many_proposals", f"{proposer}'s open proposals reach "
                                                  f"open_proposals_per_institution_max")


def _execute(state, actions: dict[str, Action], record: dict, height: int) -> dict:
    """Run a passed proposal's action, all or nothing; the record's new fields."""
    scope = Overlay(state)
    try:
        result = _run_action(scope, actions, record["action"], record["args"], height)
    except ContractError as exc:
        return {"status": FAILED, "error": exc.code, "detail": exc.detail}
    for state_key, value in scope.sorted_writes():
        if value is None:
            state.delete(state_key)
        else:
            state.put(state_key, value)
    return {"status": PASSED, "result": result}


def propose(state, call: Call, actions: dict[str, Action]) -> dict:
    action, args = call.args["action"], call.args.get("args", {})
    _run_action(Overlay(state), actions, action, args, call.height)  # refuse now what would be refused then
    _close_expired(state, call.height)
    _check_capacity(state, call.institution)
    proposal_id = next_id(state, "proposal")
    ttl_blocks = param(state, "proposal_ttl_blocks", PARAMETER_DEFAULTS["proposal_ttl_blocks"])
    record = {"id": proposal_id, "action": action, "args": args, "proposer": call.institution,
              "tx_hash": call.tx_hash, "created_height": call.height,
              "expires_height": bounded(call.height + ttl_blocks, "the proposal's expiry height"),
              "status": OPEN, "yes": [], "no": [], "closed_height": None}
    _store(state, record)
    put(state, OPEN_KEY, [*open_proposal_ids(state), proposal_id])
    return {"proposal": proposal_id, "expires_height": record["expires_height"]}


def vote(state, call: Call, actions: dict[str, Action]) -> dict:
    proposal_id = call.args["proposal"]
    record = proposal(state, proposal_id)
    if record is None:
        raise ContractError("unknown_proposal", str(proposal_id))
    if record["status"] != OPEN:
        raise ContractError("proposal_closed", f"proposal {proposal_id} is {record['status']}")
    if call.height >= record["expires_height"]:
        raise ContractError("proposal_expired", f"proposal {proposal_id} has expired")
    if call.institution in record["yes"] or call.institution in record["no"]:
        raise ContractError("already_voted", f"{call.institution} voted on proposal {proposal_id}")
    side = "yes" if call.args["yes"] else "no"
    record = {**record, side: sorted([*record[side], call.institution])}
    _close_expired(state, call.height)  # the others: this one is still open
    counts = tally(state, record)
    closing: dict = {}
    if counts["passes"]:
        closing = {**_execute(state, actions, record, call.height), "closed_height": call.height}
    elif not counts["can_pass"]:
        closing = {"status": REJECTED, "closed_height": call.height}
    record = {**record, **closing}
    _store(state, record)
    outcome = {k: record[k] for k in ("result", "error", "detail") if k in record}
    return {"proposal": proposal_id, "status": record["status"], **outcome,
            **{k: counts[k] for k in ("yes", "no", "members", "threshold_bps")}}


def tx_types(actions: dict[str, Action]) -> dict[str, TxType]:
    """governance.propose and governance.vote over `actions` (ACTIONS and
    whatever the registry adds)."""
    return {
        "governance.propose": TxType(apply=partial(propose, actions=actions), roles=VOTING_ROLES, fields=(
            Field("action", str, minimum=1, length_max=32), Field("args", dict, required=False, length_max=16)),
            check=partial(_check_proposal, actions=actions)),
        "governance.vote": TxType(apply=partial(vote, actions=actions), roles=VOTING_ROLES, fields=(
            Field("proposal", int, minimum=1), Field("yes", bool))),
    }
