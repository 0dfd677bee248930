"""MPC sessions: state layout, records, the pure queries, and the byte
strings a session's attestation is made of (which the participants' nodes
sign and the auditor checks again, so they are defined once, here).

State layout (values canonical, see contracts.store):

    mpc/session/<id>                 the session record (see `new_session`)
    mpc/commit/<id>/<participant>    {commitment: [32-byte values], public:
                                     bytes or None, height, tx_hash}
    mpc/psi_pair/<a>/<b>             heights at which PSI sessions of the pair
                                     a < b were opened, within the window
    gov/mpc_key/<institution>        its X25519 key (contracts.genesis)
    seq/mpc                          the last session's sequence number

Session ids are "M" and a zero-padded sequence number ("M000000000001"),
the same on every node; `sessions` pages through them by number (there is
no range scan).

Attestation (what every participant's node signs with its node key, in the
crypto.keys.MPC_ATTEST_DOMAIN domain): the canonical encoding of
[chain id, session id, result digest, commitment root, transcript root].
- commitment root: crypto.merkle root over one leaf per participant in
  sorted order, encode([participant, commitment list, public or None]);
- transcript root: the same over encode([participant, transcript hash]);
- result digest: for a clear result, digest("mpc-result", encode(clear))
  where clear is {"totals": [...], "blindings": [32-byte scalars]} (sum)
  or {"count": n} (psi_cardinality); for a sealed result, its commitment,
  digest("mpc-sealed-result", encode({"result": clear, "salt": 32 bytes})),
  and every sealed box holds encode({"result": clear, "salt": salt}), so a
  recipient checks what it opened against the commitment on chain
  (`opened_result`). psi_intersection's clear is {"intersection": [...]}
  in the PSI module's element encoding; the contract never sees it.

Sealed bundles: what the participants' nodes bring for a sum, a PSI count
or a threshold check sealed to recipients, where no participant holds the
result and each seals its own message to each recipient's MPC key
(node.mpc.sealing). The box for recipient R is `bundle_box`, the canonical
encoding of {sender: sealed message to R} for every sender
(`bundle_senders`: a sum's and a PSI count's participants, a threshold
check's comparator and evaluator, its first two participants); the result
commitment every participant signs is `bundle_commitment`, the digest
("mpc-sealed-bundle") of the encoding of {recipient: box}. For a PSI count
and a threshold check the contract checks that the commitment is the
boxes' digest (`bundle_checked`), so the boxes a recipient reads are the
ones every participant signed; the recipient cannot check them otherwise.
(A sealed sum's recipient checks its totals against the commitments.)

Must not import the node, read a clock or draw randomness; sorted iteration.
"""

from __future__ import annotations

from contracts.genesis import mpc_key_key
from contracts.store import get, key
from crypto import encoding, hashing, merkle

ID_DIGITS = 12
ID_LENGTH = 1 + ID_DIGITS
PAGE_MAX = 1000
ALL = "*"  # result_to ["*"]: the result in clear, for every member
OPEN, DONE, ABORTED = "open", "done", "aborted"
SUM, PSI_CARDINALITY, PSI_INTERSECTION, THRESHOLD = "sum", "psi_cardinality", "psi_intersection", "threshold"
PROTOCOLS = (PSI_CARDINALITY, PSI_INTERSECTION, SUM, THRESHOLD)
PSI_PROTOCOLS = (PSI_CARDINALITY, PSI_INTERSECTION)
SEE_ALL_ROLES = ("auditor", "regulator")  # see every session's full record but others' sealed boxes
BUNDLE_DOMAIN = "mpc-sealed-bundle"


# --- keys ----------------------------------------------------------------------

def session_key(session_id: str) -> bytes:
    return key("mpc", "session", session_id)


def commit_key(session_id: str, participant: str) -> bytes:
    return key("mpc", "commit", session_id, participant)


def opened_key(opener: str) -> bytes:
    """How many sessions `opener` opened are open now."""
    return f"mpc/opened/{opener}".encode()


def psi_pair_key(first: str, second: str) -> bytes:
    assert first < second, (first, second)
    return key("mpc", "psi_pair", first, second)


def session_id_of(number: int) -> str:
    return f"M{number:0{ID_DIGITS}d}"


# --- queries (pure reads, bounded) -------------------------------------------------

def mpc_key(state, institution: str) -> bytes | None:
    """The institution's registered X25519 key for MPC sessions, or None."""
    return get(state, mpc_key_key(institution))


def session(state, session_id: str) -> dict | None:
    return get(state, session_key(session_id))


def commitment(state, session_id: str, participant: str) -> dict | None:
    """A participant's commit record: commitment, public, height, tx_hash."""
    return get(state, commit_key(session_id, participant))


def commitments(state, record: dict) -> dict[str, dict]:
    """The commit records of a session's participants that committed, by participant."""
    return {p: commitment(state, record["id"], p) for p in sorted(record["commits"])}


def session_count(state) -> int:
    return get(state, key("seq", "mpc")) or 0


def sessions(state, start: int = 1, limit: int = PAGE_MAX, institution: str | None = None) -> list[str]:
    """Session ids in opening order from sequence number `start`, at most
    min(limit, PAGE_MAX); page on from start + limit up to `session_count`.
    With `institution`, only those of the page it is a party to
    (`session_parties`), so a page may hold fewer ids than `limit`."""
    first = max(start, 1)
    last = min(session_count(state), first + max(0, min(limit, PAGE_MAX)) - 1)
    ids = [session_id_of(n) for n in range(first, last + 1)]
    return ids if institution is None else [i for i in ids if institution in session_parties(session(state, i))]


def recipients(record: dict) -> list[str]:
    """Whom a session's (or mpc.open's arguments') sealed result is sealed
    to; [] when the result is for all, in clear."""
    return [] if record["result_to"] == [ALL] else list(record["result_to"])


def session_parties(record: dict) -> set[str]:
    """The institutions a session concerns: participants, recipients, opener."""
    return {*record["participants"], *recipients(record), record["opener"]}


PUBLIC_FIELDS = ("id", "protocol", "participants", "opener", "result_to", "status", "opened_height",
                 "deadline_height", "closed_height", "commits", "attestation", "missing")


def visible_session(record: dict, institution: str, roles: tuple[str, ...] | list[str] = ()) -> dict:
    """What `institution` (holding `roles`) may read of a session record.

    Its parties (`session_parties`), auditors and regulators read the whole
    record, except that a sealed result shows only the box addressed to the
    reader (the others are ciphertexts for someone else; `sealed_to` lists
    them all). Anyone else reads that the session exists and how it went:
    protocol, participants, opener, result_to, status, heights, who
    committed when, the attestation and the abort's names, and the result
    when it is clear (for all) or its commitment when sealed; not the
    parameters (a PSI's set_size_max hints at a set's size) nor the keys."""
    full = institution in session_parties(record) or bool(set(roles) & set(SEE_ALL_ROLES))
    view = dict(record) if full else {name: record[name] for name in PUBLIC_FIELDS}
    result = record["result"]
    if result is not None and "sealed" in result:
        own = {r: box for r, box in result["sealed"].items() if r == institution and full}
        view["result"] = {"sealed": own, "commitment": result["commitment"], "sealed_to": sorted(result["sealed"])}
    elif not full:
        view["result"] = result
    return view


# --- records ---------------------------------------------------------------------

def new_session(session_id: str, args: dict, opener: str, keys: dict[str, bytes], height: int,
                tx_hash: bytes) -> dict:
    return {"id": session_id, "protocol": args["protocol"], "participants": list(args["participants"]),
            "params": dict(sorted(args["params"].items())), "deadline_height": args["deadline_height"],
            "result_to": list(args["result_to"]), "keys": dict(sorted(keys.items())), "opener": opener,
            "opened_height": height, "tx_hash": tx_hash, "status": OPEN, "commits": {}, "result": None,
            "attestation": None, "missing": None, "closed_height": None}


# --- the attestation's parts --------------------------------------------------------

def commitment_leaf(participant: str, record: dict) -> bytes:
    return encoding.encode([participant, record["commitment"], record["public"]])


def commitment_root(commit_records: dict[str, dict]) -> bytes:
    return merkle.root([commitment_leaf(p, commit_records[p]) for p in sorted(commit_records)])


def transcript_root(transcripts: dict[str, bytes]) -> bytes:
    return merkle.root([encoding.encode([p, transcripts[p]]) for p in sorted(transcripts)])


def clear_result_digest(clear: dict) -> bytes:
    return hashing.digest("mpc-result", encoding.encode(clear))


def sealed_content(clear: dict, salt: bytes) -> bytes:
    """What each sealed box holds (before sealing) for a clear result `clear`."""
    assert len(salt) == 32
    return encoding.encode({"result": clear, "salt": salt})


def sealed_result_commitment(clear: dict, salt: bytes) -> bytes:
    return hashing.digest("mpc-sealed-result", sealed_content(clear, salt))


def opened_result(record: dict, content: bytes) -> dict | None:
    """The clear result inside an opened box of a done, sealed session, when
    it matches the commitment on chain; else None. (For a sum, the
    recipient then checks the totals against the commitments with
    contracts.mpc_checks, as the contract does for a clear sum.)"""
    result = record.get("result") or {}
    try:
        opened = encoding.decode(content)
    except encoding.DecodeError:
        return None
    if not isinstance(opened, dict) or sorted(opened) != ["result", "salt"] or not isinstance(opened["salt"], bytes):
        return None
    if len(opened["salt"]) != 32 or hashing.digest("mpc-sealed-result", content) != result.get("commitment"):
        return None
    return opened["result"]


def bundle_senders(record: dict) -> list[str]:
    """Who puts a sealed message in each box of a session's sealed bundle."""
    return list(record["participants"][:2]) if record["protocol"] == THRESHOLD else list(record["participants"])


def bundle_checked(record: dict) -> bool:
    """Whether the contract checks a sealed result's commitment is its boxes' digest."""
    return record["protocol"] == THRESHOLD or (record["protocol"] == PSI_CARDINALITY and record["result_to"] != [ALL])


def bundle_box(sealed_by_sender: dict[str, bytes]) -> bytes:
    """One recipient's box: every sender's sealed message to it."""
    return encoding.encode(dict(sorted(sealed_by_sender.items())))


def bundle_commitment(boxes: dict[str, bytes]) -> bytes:
    """What the participants sign for a sealed bundle: the digest of every recipient's box."""
    return hashing.digest(BUNDLE_DOMAIN, encoding.encode(dict(sorted(boxes.items()))))


def attestation_bytes(chain_id: bytes, session_id: str, result_digest: bytes, commit_root: bytes,
                      transcripts_root: bytes) -> bytes:
    """What each participant's node signs (crypto.keys.MPC_ATTEST_DOMAIN)."""
    return encoding.encode([chain_id, session_id, result_digest, commit_root, transcripts_root])
