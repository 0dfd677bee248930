"""What the explorer's summary shows (node.api.explorer_site serves it), built
for one reader: the node's own institution, with the roles the committed
state gives it. Each part applies the member API's rule for the same data
through the same functions, so the page shows that institution's
operations staff nothing its client systems could not read through the
member API with one of its keys:

- accounts: its own rows (auditors, regulators: every row), as GET /v1/accounts;
- settlement cycles: per currency the count and the latest cycle, of which
  a member sees the public facts and its own net position (queries.own_cycle),
  as GET /v1/settlement/cycles/{ccy};
- assets: the latest it is involved in (assets.list_assets with its id,
  which applies assets.involves), as GET /v1/assets;
- MPC sessions: the latest it is a party to (mpc_state.sessions with its id),
  each as mpc_state.visible_session shows it, as GET /v1/mpc/sessions;
- transactions: the latest whose receipts it may read (http.may_read over
  transactions.tx_parties: the ones its institution sent), as GET /v1/tx
  and the event stream;
- transactions per institution, counted over the recent blocks: every
  sender's count for a reader of whole blocks (validators, auditors,
  regulators: GET /v1/blocks shows them every transaction's sender); any
  other reader gets its own count only;
- blocks in brief (height, hash, count, time, proposer), the validators
  with n, f and the quorum, the view and its primary: what GET /v1/status,
  GET /v1/governance/validators and the event stream show every member.

Every list has a named maximum, so a summary's size does not grow with
the chain. Money amounts are decimal strings: a JavaScript number is exact
only up to 2^53, and amounts go up to 2^62 (contracts.schema.AMOUNT_MAX).

Pure: no I/O; it reads the state view and the block digests it is given
(a digest is made on a worker thread from a stored block).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from consensus.validators import faulty_max, quorum
from contracts import assets, governance, mpc_state, settlement
from contracts.executor import to_json_value
from node.api.event_feed import block_facts
from node.api.http import Caller, may_read
from node.api.queries import own_cycle
from node.api.transactions import tx_parties
from node.runtime.storage import StoredBlock

BLOCKS_SHOWN = 12      # latest blocks listed
WINDOW_BLOCKS = 64     # blocks whose transactions are counted per institution and searched for the latest
TXS_SHOWN = 20         # latest transactions listed
ASSETS_SHOWN = 20      # latest assets listed (of the last ASSETS_PAGE ids)
SESSIONS_SHOWN = 10    # latest MPC sessions listed (of the last SESSIONS_PAGE ids)
ASSETS_PAGE = 100      # ids scanned from the newest asset back, as GET /v1/assets pages them
SESSIONS_PAGE = 100    # ids scanned from the newest session back, as GET /v1/mpc/sessions pages them
BRIEF_ARGS = ("from", "to", "currency", "amount", "asset", "buyer", "seller", "pledgee", "protocol", "session")
MONEY_ARGS = frozenset({"amount"})
ASSET_FIELDS = ("id", "class", "issuer", "currency", "status", "frozen")
SESSION_FIELDS = ("id", "protocol", "participants", "opener", "status", "opened_height", "closed_height")


@dataclass(frozen=True, slots=True)
class TxRow:
    """One committed transaction as the explorer lists it."""

    height: int
    index: int
    tx_hash: str
    type: str | None
    sender: str | None
    ok: bool
    code: str
    brief: dict  # a few of its arguments (BRIEF_ARGS), money as strings

    def to_json(self) -> dict:
        return {"height": self.height, "index": self.index, "tx_hash": self.tx_hash, "type": self.type,
                "sender": self.sender, "ok": self.ok, "code": self.code, "brief": self.brief}


@dataclass(frozen=True, slots=True)
class BlockDigest:
    """What the explorer keeps of one block: its summary, who proposed it,
    how many transactions each institution sent in it, and its last
    transactions, of all senders and of the node's own institution (the two
    candidate lists; the reader's rule picks and filters at each request)."""

    height: int
    summary: dict           # event_feed's block summary: height, hash, tx_count, timestamp_ms
    view: int
    proposer: int           # replica number in the set that ordered the block
    proposer_key: bytes | None
    senders: tuple[tuple[str | None, int], ...]
    latest: tuple[TxRow, ...]
    latest_own: tuple[TxRow, ...]


def brief_args(args) -> dict:
    """The BRIEF_ARGS a transaction carries as text or integers (money as strings)."""
    if not isinstance(args, dict):
        return {}
    found = {}
    for name in BRIEF_ARGS:
        value = args.get(name)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            continue
        found[name] = str(value) if name in MONEY_ARGS else value
    return found


def digest(stored: StoredBlock, senders: list[str | None], own: str, proposer_key: bytes | None) -> BlockDigest:
    """A stored block with its transactions' senders (Ledger.tx_senders), for
    a node of institution `own`."""
    facts = block_facts(stored, senders)
    header = stored.block.header
    rows = [TxRow(facts.height, tx.index, tx.receipt.tx_hash.hex(), tx.type, tx.sender, tx.receipt.ok,
                  tx.receipt.code, brief_args(tx.args)) for tx in facts.txs]
    counted = Counter(tx.sender for tx in facts.txs)
    return BlockDigest(facts.height, facts.summary, header.view, header.proposer, proposer_key,
                       tuple(sorted(counted.items(), key=lambda item: (item[0] is None, item[0] or ""))),
                       tuple(rows[-TXS_SHOWN:]), tuple([r for r in rows if r.sender == own][-TXS_SHOWN:]))


def consensus_part(state, view: int, primary: int) -> dict:
    """The validator set in force, n, f and the quorum, the view and its primary."""
    validators = governance.validators(state)
    n = len(validators)
    names = [iid for iid, _ in validators]
    return {
        "n": n, "f": faulty_max(n), "quorum": quorum(n), "view": view,
        "primary": {"replica": primary, "institution": names[primary] if 0 <= primary < n else None},
        "validators": [{"replica": i, "institution": iid, "node_key": key.hex()}
                       for i, (iid, key) in enumerate(validators)],
        "pending": to_json_value(governance.pending_validators(state)),
    }


def blocks_part(digests: list[BlockDigest], state) -> list[dict]:
    """The latest BLOCKS_SHOWN blocks, newest first, each with its proposer named."""
    names = {key: iid for iid, key in governance.validators(state)}
    return [{**d.summary, "view": d.view, "proposer": d.proposer,
             "proposer_institution": names.get(d.proposer_key) if d.proposer_key else None}
            for d in reversed(digests[-BLOCKS_SHOWN:])]


def txs_part(digests: list[BlockDigest], who: Caller) -> list[dict]:
    """The latest TXS_SHOWN transactions whose receipts `who` may read, newest first."""
    found: list[dict] = []
    for block in reversed(digests):
        candidates = block.latest if who.sees_all else block.latest_own
        for row in reversed(candidates):
            if may_read(who, tx_parties(row.sender)):
                found.append(row.to_json())
                if len(found) == TXS_SHOWN:
                    return found
    return found


def counts_part(digests: list[BlockDigest], who: Caller) -> dict:
    """Transactions per sending institution over the digests' blocks: all
    for a reader of whole blocks, else its own count only."""
    counted: Counter = Counter()
    for block in digests:
        for sender, count in block.senders:
            if who.reads_chain or sender == who.institution:
                counted[sender] += count
    if not who.reads_chain:
        counted.setdefault(who.institution, 0)
    return {"blocks": len(digests), "from_height": digests[0].height if digests else None,
            "to_height": digests[-1].height if digests else None, "scope": "all" if who.reads_chain else "own",
            "by_institution": [{"institution": sender, "count": count}
                               for sender, count in sorted(counted.items(), key=lambda i: (-i[1], i[0] or ""))]}


def accounts_part(state, who: Caller) -> list[dict]:
    """Balances as GET /v1/accounts answers `who`: its own rows, or all for oversight."""
    ids = governance.institution_ids(state) if who.sees_all else [who.institution]
    return [{"institution": iid, "currency": ccy, "balance": str(balance)}
            for iid, by_currency in sorted(settlement.balances(state, ids, governance.currencies(state)).items())
            for ccy, balance in sorted(by_currency.items())]


def cycles_part(state, who: Caller) -> list[dict]:
    """Per currency: cycles closed, and the latest as `who` may see it."""
    own = None if who.sees_all else who.institution
    found = []
    for currency in governance.currencies(state):
        count = settlement.cycles_count(state, currency)
        latest = own_cycle(settlement.cycle(state, currency, count), own) if count else None
        if latest is not None:
            latest = {**latest, "positions": {iid: str(v) for iid, v in latest.get("positions", {}).items()}}
        found.append({"currency": currency, "count": count, "latest": to_json_value(latest)})
    return found


def assets_part(state, who: Caller) -> list[dict]:
    """The latest ASSETS_SHOWN assets `who` may list, newest first."""
    count = assets.asset_count(state)
    start = max(1, count - ASSETS_PAGE + 1)
    ids = assets.list_assets(state, start, ASSETS_PAGE, institution=None if who.sees_all else who.institution)
    found = []
    for asset_id in reversed(ids[-ASSETS_SHOWN:]):
        record = assets.get_asset(state, asset_id)
        found.append({**{name: record.get(name) for name in ASSET_FIELDS}, "units": str(record["units"]),
                      "face_value": str(record["face_value"]), "holders": sorted(record["holders"])})
    return to_json_value(found)


def sessions_part(state, who: Caller) -> list[dict]:
    """The latest SESSIONS_SHOWN MPC sessions `who` may list, newest first, as it may see them."""
    count = mpc_state.session_count(state)
    start = max(1, count - SESSIONS_PAGE + 1)
    ids = mpc_state.sessions(state, start, SESSIONS_PAGE, institution=None if who.sees_all else who.institution)
    found = []
    for session_id in reversed(ids[-SESSIONS_SHOWN:]):
        seen = mpc_state.visible_session(mpc_state.session(state, session_id), who.institution, who.roles)
        found.append({name: seen.get(name) for name in SESSION_FIELDS})
    return to_json_value(found)


def reader_part(who: Caller) -> dict:
    return {"institution": who.institution, "roles": list(who.roles), "sees_all": who.sees_all,
            "reads_chain": who.reads_chain}


def summary(state, who: Caller, digests: list[BlockDigest], node_part: dict, view: int, primary: int) -> dict:
    """The whole summary: `node_part` (the node's own figures: height,
    peers, readiness, ...) and every part above, for `who`."""
    return {
        **node_part,
        "reader": reader_part(who),
        "consensus": consensus_part(state, view, primary),
        "blocks": blocks_part(digests, state),
        "transactions": txs_part(digests, who),
        "tx_counts": counts_part(digests, who),
        "accounts": accounts_part(state, who),
        "cycles": cycles_part(state, who),
        "assets": assets_part(state, who),
        "mpc_sessions": sessions_part(state, who),
        "limits": {"blocks_shown": BLOCKS_SHOWN, "window_blocks": WINDOW_BLOCKS, "txs_shown": TXS_SHOWN,
                   "assets_shown": ASSETS_SHOWN, "sessions_shown": SESSIONS_SHOWN},
    }
