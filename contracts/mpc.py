"""MPC sessions on chain: a session is opened, each participant commits to
its input, the participants' nodes compute off chain, and one transaction
brings back the result with every participant's signature over it, or the
session is aborted after its deadline. Inputs never reach the chain.

Like every contract: a pure function of the state view and the call; no
clock (block heights), no randomness, no floats, sorted iteration; it must
not import the node or consensus. State layout, queries, visibility and
the attestation's byte strings: contracts/mpc_state.py; the Pedersen check:
contracts/mpc_checks.py.

Transaction types (roles; refusal codes besides bad_args):

  mpc.open    member/validator (a participant), regulator. protocol
              ("sum", "psi_cardinality", "psi_intersection", "threshold"),
              participants (sorted, distinct; a sum or a threshold check
              3..MPC_PARTIES_MAX: with two, each would learn the other's
              input from the total; a PSI exactly 2), params (sum: length
              1..VECTOR_LENGTH_MAX and value_max with value_max *
              participants <= AMOUNT_MAX, so every total is storable; PSI:
              set_size_max 1..PSI_SET_MAX; threshold: value_max, a bank's
              largest input, and limit L, at least 0 and below 2^b where
              b = (value_max * participants).bit_length(): no sum reaches
              2^b, so a larger L would make the answer always no),
              deadline_height (above the current height, at most
              MPC_DEADLINE_BLOCKS_MAX ahead), result_to (["*"]: in clear
              for all members; or sorted, distinct recipients, to whom it
              is sealed; a PSI intersection goes to its two participants,
              sealed, and nowhere else; a threshold check's verdict, and a
              PSI count not for all, go sealed to recipients none of whom
              is a participant, within the size rule below).
              -> not_participant, unknown_institution,
              ineligible_participant (neither member nor validator),
              no_node_key, no_mpc_key, ineligible_recipient (removed),
              bad_deadline, too_many_open_sessions (the opener has
              mpc_open_per_opener_max sessions open), rate_limited (PSI: the pair had
              mpc_psi_per_pair_max sessions opened in the last
              mpc_psi_window_blocks blocks; every open counts, whatever
              became of it, so aborting does not give probes back; a
              threshold check counts as a PSI session of its first two
              participants, who run its comparison)
  mpc.commit  member/validator (a participant, once, at a height up to the
              deadline). commitment: a sum's `length` Pedersen commitments
              (a threshold check's: one)
              (valid ed25519 points: in the prime-order subgroup and not
              the identity, which v = r = 0 would give), a PSI's one
              32-byte hash; public: optional per-session key material
              (bytes, <= 256).
              -> unknown_session, session_closed, not_participant,
              deadline_passed, already_committed, bad_commitment
  mpc.result  member/validator (a participant), once every participant
              has committed, up to the deadline. One of: totals and
              blindings (a clear sum: 32-byte little-endian scalars below
              the group order), count (a clear PSI cardinality), or sealed
              ({recipient: box}, exactly the session's recipients) and
              result_commitment (32 bytes; for a sealed PSI count and a
              threshold check, the digest of the boxes:
              mpc_state.bundle_commitment). transcripts {participant:
              32-byte hash}, signatures {participant: 64 bytes}, exactly the
              participants, each by its node key over the attestation
              (contracts.mpc_state). The contract computes the commitment
              and transcript roots itself; a clear sum must open the sum of
              the commitments. -> unknown_session, session_closed,
              not_participant, deadline_passed, commits_missing,
              bad_result (the form or figures do not fit the session),
              bad_attestation, result_mismatch
  mpc.abort   member/validator (a participant), regulator; only at a height
              above the deadline. Names the participants that did not
              commit, and (when every commit is in) those whose signature is
              not on chain: all of them, since signatures only land together
              with the result. -> unknown_session, session_closed,
              not_participant, deadline_not_passed

Decisions:
- PSI consent is the commit: a party consents to a PSI session by committing
  to its input (no separate transaction), so no PSI result lands without
  both parties' consent on chain, with its height. The opener, when a
  participant, consents by opening in the sense that it asked for the
  session, but still commits like the other.
- Deadlines: commits and the result are taken at heights up to and
  including deadline_height; abort only above it. A session ends only by
  a result (done) or an abort (aborted).
- The MPC keys of the participants and recipients are copied into the
  session when it opens: the runner seals to, and agrees keys with, those,
  even if a key is changed while the session runs.
- A signature is checked against the participant's node key at the
  result's height (a rotation during the session is followed); the keys
  used are kept in the attestation, and named in the result's receipt
  with the result digest and both roots, so an auditor checks every
  attestation again without re-executing (node.audit.mpc).
- A clear sum proves only that the totals open the sum of the commitments
  modulo the group order; a commitment says nothing about its input's
  range (no range proofs): the protocol's own checks bound inputs.
- Sealed PSI counts and threshold checks go only to non-participants: in
  PSI cardinality-to-regulator neither party is ever sent the other's
  double-blinding of its own set, which a malicious party could unblind
  element by element (crypto.mpc.psi); a participant reading a box would
  hold exactly that. Two parties learn their count from a count for all
  (result_to ["*"]); a threshold check has no participant recipient.
- Sealed PSI results travel whole in one transaction. A box holds the two
  parties' sealed double-blinded sets, 2 * 32 bytes per element plus at
  most PSI_BOX_OVERHEAD (ids, message headers, the seals, the recipient's
  entry), and every recipient's box goes in the one mpc.result, which must
  fit contracts.tx.TX_SIZE_MAX (16 KiB) with sixteen participants'
  transcripts and signatures: SEALED_BYTES_MAX is the room for boxes. So
  recipients * (PSI_BOX_OVERHEAD + 64 * set size) <= SEALED_BYTES_MAX
  (`sealed_psi_bytes`), the set size being set_size_max for a PSI count and
  the width w = b + 41 for a threshold check (w <= 108): with one recipient
  at most PSI_SEALED_SET_MAX (184) elements, with two 88. A larger set would
  need the boxes delivered off chain, the chain keeping their commitment
  only; nodes do not do that.

Governance action (through the registry): set_mpc_key {id, [mpc_key]}:
register or replace an active institution's X25519 key; without mpc_key,
clear it. -> unknown_institution, institution_removed, key_in_use.
"""

from __future__ import annotations

from contracts import governance, mpc_state
from contracts.genesis import PARAMETER_DEFAULTS, mpc_key_key
from contracts.interface import Call, TxType
from contracts.mpc_checks import GROUP_ORDER, _sum_opens, is_point
from contracts.mpc_state import (
    ALL, DONE, OPEN, PROTOCOLS, PSI_CARDINALITY, PSI_INTERSECTION, PSI_PROTOCOLS, SUM, THRESHOLD, attestation_bytes,
    bundle_checked, bundle_commitment, clear_result_digest, commitment_root, recipients, transcript_root,
)
from contracts.schema import AMOUNT_MAX, ContractError, Field
from contracts.store import get, institution, next_id, param, put
from crypto import keys
from crypto.mpc.psi_messages import POINT_BYTES
from crypto.mpc.threshold import sum_bits, width

PARTICIPANT_ROLES = ("member", "validator")
OPENER_ROLES = ("member", "regulator", "validator")
MPC_PARTIES_MAX = 16
MPC_RECIPIENTS_MAX = 16
MPC_DEADLINE_BLOCKS_MAX = 10_000
VECTOR_LENGTH_MAX = 256       # so a commit and a clear result fit a transaction (contracts.tx.TX_SIZE_MAX)
PSI_SET_MAX = 1_000_000
PUBLIC_BYTES_MAX = 256
SEAL_OVERHEAD = 48            # crypto_box_seal: an ephemeral key and a tag
SEALED_BYTES_MAX = 12 * 1024  # one box: a sum of VECTOR_LENGTH_MAX totals and blindings, salted, sealed
PSI_BOX_OVERHEAD = 512        # a sealed PSI box's bytes besides its points, with its recipient's entry (tested)
PSI_SEALED_SET_MAX = (SEALED_BYTES_MAX - PSI_BOX_OVERHEAD) // (2 * POINT_BYTES)  # 184: one recipient's sealed sets
PARAMS = {SUM: ("length", "value_max"), PSI_CARDINALITY: ("set_size_max",), PSI_INTERSECTION: ("set_size_max",),
          THRESHOLD: ("limit", "value_max")}
RESULT_FORMS = {"a clear sum": ("totals", "blindings"), "a clear count": ("count",),
                "a sealed result": ("result_commitment", "sealed")}

INSTITUTION = Field("institution", str, minimum=1, length_max=32)
SESSION = Field("session", str, minimum=mpc_state.ID_LENGTH, length_max=mpc_state.ID_LENGTH)
OPEN_FIELDS = (
    Field("protocol", str, minimum=1, length_max=32),
    Field("participants", list, minimum=2, length_max=MPC_PARTIES_MAX, items=INSTITUTION),
    Field("params", dict, minimum=1, length_max=2, keys=Field("param", str, minimum=1, length_max=32),
          items=Field("value", int, minimum=0)),
    Field("deadline_height", int, minimum=1),
    Field("result_to", list, minimum=1, length_max=MPC_RECIPIENTS_MAX, items=INSTITUTION),
)
COMMIT_FIELDS = (
    SESSION,
    Field("commitment", list, minimum=1, length_max=VECTOR_LENGTH_MAX,
          items=Field("commitment element", bytes, minimum=32, length_max=32)),
    Field("public", bytes, required=False, minimum=1, length_max=PUBLIC_BYTES_MAX),
)
RESULT_FIELDS = (
    SESSION,
    Field("totals", list, required=False, minimum=1, length_max=VECTOR_LENGTH_MAX, items=Field("total", int)),
    Field("blindings", list, required=False, minimum=1, length_max=VECTOR_LENGTH_MAX,
          items=Field("blinding", bytes, minimum=32, length_max=32)),
    Field("count", int, required=False),
    Field("sealed", dict, required=False, minimum=1, length_max=MPC_RECIPIENTS_MAX, keys=INSTITUTION,
          items=Field("sealed box", bytes, minimum=SEAL_OVERHEAD, length_max=SEALED_BYTES_MAX)),
    Field("result_commitment", bytes, required=False, minimum=32, length_max=32),
    Field("transcripts", dict, minimum=1, length_max=MPC_PARTIES_MAX, keys=INSTITUTION,
          items=Field("transcript hash", bytes, minimum=32, length_max=32)),
    Field("signatures", dict, minimum=1, length_max=MPC_PARTIES_MAX, keys=INSTITUTION,
          items=Field("signature", bytes, minimum=keys.SIGNATURE_SIZE, length_max=keys.SIGNATURE_SIZE)),
)
ABORT_FIELDS = (SESSION,)


# --- stateless checks --------------------------------------------------------------

def _sorted_distinct(names: list[str]) -> bool:
    return all(a < b for a, b in zip(names, names[1:]))


def sealed_psi_bytes(set_size: int, recipient_count: int) -> int:
    """A bound on the bytes of a sealed PSI result's boxes in mpc.result."""
    return recipient_count * (PSI_BOX_OVERHEAD + 2 * POINT_BYTES * set_size)


def _check_params(protocol: str, params: dict, parties: int) -> None:
    names = PARAMS[protocol]
    if sorted(params) != list(names):
        raise ContractError("bad_args", f"params of {protocol} are exactly {list(names)}")
    for name in names:
        if name != "limit" and params[name] < 1:
            raise ContractError("bad_args", f"params.{name} must be at least 1")
    if protocol == SUM:
        if params["length"] > VECTOR_LENGTH_MAX:
            raise ContractError("bad_args", f"params.length must be in [1, {VECTOR_LENGTH_MAX}]")
        if params["value_max"] * parties > AMOUNT_MAX:
            raise ContractError("bad_args", "params.value_max times the participants must be at most 2^62")
    elif protocol == THRESHOLD:
        if params["limit"] >= 2 ** sum_bits(params["value_max"], parties):
            raise ContractError("bad_args", "params.limit must be below 2^b, b the bit length of value_max times the "
                                            "participants: no sum reaches it, so the answer would always be no")
    elif params["set_size_max"] > PSI_SET_MAX:
        raise ContractError("bad_args", f"params.set_size_max must be in [1, {PSI_SET_MAX}]")


def _check_sealed_psi(protocol: str, participants: list[str], params: dict, result_to: list[str]) -> None:
    """A threshold check's verdict, or a PSI count not for all: sealed to
    non-participants, in boxes that fit one transaction."""
    if result_to == [ALL] or set(result_to) & set(participants):
        if protocol == THRESHOLD:
            raise ContractError("bad_args", "a threshold check's verdict is sealed to recipients none of whom is a "
                                            "participant")
        raise ContractError("bad_args", f"a PSI count not for all is sealed to recipients none of whom is a "
                                        f'participant (its two parties learn it from a count for all, result_to '
                                        f'["{ALL}"])')
    size = width(sum_bits(params["value_max"], len(participants))) if protocol == THRESHOLD else params["set_size_max"]
    if sealed_psi_bytes(size, len(result_to)) > SEALED_BYTES_MAX:
        raise ContractError("bad_args", f"the sealed sets do not fit one transaction: the set size times the "
                                        f"recipients is too large (with one recipient, at most {PSI_SEALED_SET_MAX} "
                                        f"elements)")


def check_open(args: dict) -> None:
    protocol, participants, result_to = args["protocol"], args["participants"], args["result_to"]
    if protocol not in PROTOCOLS:
        raise ContractError("bad_args", f"protocol must be one of {list(PROTOCOLS)}")
    if not _sorted_distinct(participants):
        raise ContractError("bad_args", "participants must be sorted and distinct")
    if protocol in PSI_PROTOCOLS and len(participants) != 2:
        raise ContractError("bad_args", f"{protocol} takes exactly 2 participants")
    if protocol == SUM and not 3 <= len(participants) <= MPC_PARTIES_MAX:
        raise ContractError("bad_args", f"a sum takes 3 to {MPC_PARTIES_MAX} participants (with 2, the total "
                                        f"gives each the other's input)")
    if protocol == THRESHOLD and not 3 <= len(participants) <= MPC_PARTIES_MAX:
        raise ContractError("bad_args", f"a threshold check takes 3 to {MPC_PARTIES_MAX} participants (as its "
                                        f"secure sum)")
    _check_params(protocol, args["params"], len(participants))
    if result_to != [ALL] and (ALL in result_to or not _sorted_distinct(result_to)):
        raise ContractError("bad_args", f'result_to is ["{ALL}"] (all members, in clear) or sorted, distinct '
                                        f"recipients")
    if protocol == PSI_INTERSECTION and result_to != participants:
        raise ContractError("bad_args", "a PSI intersection goes to its two participants only, sealed")
    if protocol == THRESHOLD or (protocol == PSI_CARDINALITY and result_to != [ALL]):
        _check_sealed_psi(protocol, participants, args["params"], result_to)


def check_result(args: dict) -> None:
    given = [form for form, names in RESULT_FORMS.items() if any(name in args for name in names)]
    if len(given) != 1:
        raise ContractError("bad_args", "a result is one of: totals and blindings, count, or sealed and "
                                        "result_commitment")
    names = RESULT_FORMS[given[0]]
    if not all(name in args for name in names):
        raise ContractError("bad_args", f"{given[0]} gives {' and '.join(names)}")
    if "totals" in args and len(args["totals"]) != len(args["blindings"]):
        raise ContractError("bad_args", "totals and blindings have one length")
    if any(int.from_bytes(b, "little") >= GROUP_ORDER for b in args.get("blindings", [])):
        raise ContractError("bad_args", "each blinding is a 32-byte little-endian scalar below the group order")


# --- shared state checks ---------------------------------------------------------------

def _load_open(state, session_id: str) -> dict:
    record = mpc_state.session(state, session_id)
    if record is None:
        raise ContractError("unknown_session", session_id)
    if record["status"] != OPEN:
        raise ContractError("session_closed", f"session {session_id} is {record['status']}")
    return record


def _require_participant(record: dict, institution_id: str) -> None:
    if institution_id not in record["participants"]:
        raise ContractError("not_participant", f"{institution_id} is not a participant of session {record['id']}")


def _require_participant_or_regulator(record_participants: list[str], call: Call, what: str) -> None:
    if call.institution not in record_participants and "regulator" not in call.roles:
        raise ContractError("not_participant", f"only a participant or a regulator may {what}")


def _require_before_deadline(record: dict, height: int) -> None:
    if height > record["deadline_height"]:
        raise ContractError("deadline_passed", f"session {record['id']} is past its deadline height")


def _save(state, record: dict) -> None:
    put(state, mpc_state.session_key(record["id"]), record)


# --- open --------------------------------------------------------------------------------

def _participant_key(state, iid: str) -> bytes:
    record = institution(state, iid)
    if record is None:
        raise ContractError("unknown_institution", iid)
    if not set(record["roles"]) & set(PARTICIPANT_ROLES):
        raise ContractError("ineligible_participant", f"{iid} is neither a member nor a validator")
    if governance.institution_keys(state, iid)["node_key"] is None:
        raise ContractError("no_node_key", f"{iid} has no node to run the session")
    return _registered_key(state, iid)


def _recipient_key(state, iid: str) -> bytes:
    record = institution(state, iid)
    if record is None:
        raise ContractError("unknown_institution", iid)
    if not record["roles"]:
        raise ContractError("ineligible_recipient", f"{iid} was removed")
    return _registered_key(state, iid)


def _registered_key(state, iid: str) -> bytes:
    mpc_key = mpc_state.mpc_key(state, iid)
    if mpc_key is None:
        raise ContractError("no_mpc_key", f"{iid} has no MPC key registered")
    return mpc_key


def _count_psi_pair(state, participants: list[str], height: int) -> None:
    """Refuse (rate_limited) or count a PSI session of this pair at `height`."""
    first, second = participants
    window = param(state, "mpc_psi_window_blocks", PARAMETER_DEFAULTS["mpc_psi_window_blocks"])
    per_pair_max = param(state, "mpc_psi_per_pair_max", PARAMETER_DEFAULTS["mpc_psi_per_pair_max"])
    pair_key = mpc_state.psi_pair_key(first, second)
    recent = [h for h in get(state, pair_key) or [] if h > height - window]
    if len(recent) >= per_pair_max:
        raise ContractError("rate_limited", f"the pair {first}, {second} reached mpc_psi_per_pair_max PSI sessions "
                                            f"within mpc_psi_window_blocks")
    put(state, pair_key, [*recent, height])


def _count_opened(state, opener: str, change: int) -> None:
    """Count a session `opener` opens (+1) or that ends (-1); refuse an open
    beyond mpc_open_per_opener_max (too_many_open_sessions), so no member can
    keep other banks' nodes busy with sessions without end."""
    key = mpc_state.opened_key(opener)
    count = (get(state, key) or 0) + change
    limit = param(state, "mpc_open_per_opener_max", PARAMETER_DEFAULTS["mpc_open_per_opener_max"])
    if change > 0 and count > limit:
        raise ContractError("too_many_open_sessions", f"{opener} has mpc_open_per_opener_max sessions open")
    if count:
        put(state, key, count)
    else:
        state.delete(key)


def open_session(state, call: Call) -> dict:
    args = call.args
    participants, deadline = args["participants"], args["deadline_height"]
    _require_participant_or_regulator(participants, call, "open a session")
    if not call.height < deadline <= call.height + MPC_DEADLINE_BLOCKS_MAX:
        raise ContractError("bad_deadline", f"deadline_height must be above the current height and at most "
                                            f"{MPC_DEADLINE_BLOCKS_MAX} blocks ahead")
    session_keys = {iid: _participant_key(state, iid) for iid in participants}
    for iid in recipients(args):
        session_keys[iid] = _recipient_key(state, iid)
    if args["protocol"] in PSI_PROTOCOLS:
        _count_psi_pair(state, participants, call.height)
    elif args["protocol"] == THRESHOLD:
        _count_psi_pair(state, participants[:2], call.height)  # its comparison is a PSI between these two
    _count_opened(state, call.institution, +1)
    session_id = mpc_state.session_id_of(next_id(state, "mpc"))
    _save(state, mpc_state.new_session(session_id, args, call.institution, session_keys, call.height, call.tx_hash))
    return {"session": session_id, "protocol": args["protocol"], "deadline_height": deadline}


# --- commit ------------------------------------------------------------------------------

def _check_commitment(record: dict, elements: list[bytes]) -> None:
    if record["protocol"] in (SUM, THRESHOLD):
        length = record["params"]["length"] if record["protocol"] == SUM else 1
        if len(elements) != length or not all(is_point(e) for e in elements):
            raise ContractError("bad_commitment", "a sum's commitment is one Pedersen commitment (a valid ed25519 "
                                                  "point) per element of the session's length (a threshold "
                                                  "check's: one)")
    elif len(elements) != 1:
        raise ContractError("bad_commitment", "a PSI commitment is one 32-byte hash")


def commit(state, call: Call) -> dict:
    record = _load_open(state, call.args["session"])
    me = call.institution
    _require_participant(record, me)
    _require_before_deadline(record, call.height)
    if me in record["commits"]:
        raise ContractError("already_committed", f"{me} has committed to session {record['id']}")
    _check_commitment(record, call.args["commitment"])
    put(state, mpc_state.commit_key(record["id"], me),
        {"commitment": list(call.args["commitment"]), "public": call.args.get("public"), "height": call.height,
         "tx_hash": call.tx_hash})
    record["commits"] = dict(sorted({**record["commits"], me: call.height}.items()))
    _save(state, record)
    output = {"session": record["id"], "participant": me,
              "ready": len(record["commits"]) == len(record["participants"])}
    return {**output, "consented": True} if record["protocol"] in PSI_PROTOCOLS else output


# --- result ------------------------------------------------------------------------------

def _clear_result(record: dict, args: dict) -> dict:
    params, parties = record["params"], len(record["participants"])
    if record["protocol"] == SUM:
        totals = args.get("totals")
        if totals is None or len(totals) != params["length"]:
            raise ContractError("bad_result", "a clear sum gives totals and blindings, one per element")
        if any(total > params["value_max"] * parties for total in totals):
            raise ContractError("bad_result", "a total exceeds the participants times params.value_max")
        return {"totals": list(totals), "blindings": list(args["blindings"])}
    if "count" not in args:
        raise ContractError("bad_result", "a clear PSI cardinality gives count")
    if args["count"] > params["set_size_max"]:
        raise ContractError("bad_result", "the count exceeds params.set_size_max")
    return {"count": args["count"]}


def _result_of(record: dict, args: dict) -> tuple[dict, bytes]:
    """The result record to store, and the digest the participants signed."""
    if record["result_to"] == [ALL]:
        clear = _clear_result(record, args)
        return {"clear": clear}, clear_result_digest(clear)
    if "sealed" not in args:
        raise ContractError("bad_result", f"session {record['id']}'s result is sealed to its recipients")
    if sorted(args["sealed"]) != recipients(record):
        raise ContractError("bad_result", "sealed boxes go to exactly the session's recipients")
    sealed = dict(sorted(args["sealed"].items()))
    if bundle_checked(record) and args["result_commitment"] != bundle_commitment(sealed):
        raise ContractError("bad_result", "the result_commitment is not the digest of the sealed boxes")
    return {"sealed": sealed, "commitment": args["result_commitment"]}, args["result_commitment"]


def _verified_signers(state, record: dict, signatures: dict[str, bytes], attested: bytes) -> dict[str, bytes]:
    """Each participant's node key, once its signature over `attested` verifies."""
    if sorted(signatures) != record["participants"]:
        raise ContractError("bad_attestation", "every participant signs, and only they")
    node_keys = {}
    for participant in record["participants"]:
        node_key = governance.institution_keys(state, participant)["node_key"]
        if node_key is None or not keys.verify(node_key, keys.MPC_ATTEST_DOMAIN, attested, signatures[participant]):
            raise ContractError("bad_attestation", f"{participant}'s signature does not verify under its node key")
        node_keys[participant] = node_key
    return node_keys


def submit_result(state, call: Call) -> dict:
    args = call.args
    record = _load_open(state, args["session"])
    _require_participant(record, call.institution)
    _require_before_deadline(record, call.height)
    if len(record["commits"]) != len(record["participants"]):
        raise ContractError("commits_missing", "every participant commits before the result")
    result, result_digest = _result_of(record, args)
    if sorted(args["transcripts"]) != record["participants"]:
        raise ContractError("bad_attestation", "transcripts name exactly the participants")
    commit_records = mpc_state.commitments(state, record)
    roots = {"commitment_root": commitment_root(commit_records), "transcript_root": transcript_root(args["transcripts"])}
    attested = attestation_bytes(call.chain_id, record["id"], result_digest, roots["commitment_root"],
                                 roots["transcript_root"])
    node_keys = _verified_signers(state, record, args["signatures"], attested)
    if "clear" in result and record["protocol"] == SUM:
        vectors = [commit_records[p]["commitment"] for p in record["participants"]]
        blindings = [int.from_bytes(b, "little") for b in result["clear"]["blindings"]]
        if not _sum_opens(vectors, result["clear"]["totals"], blindings):
            raise ContractError("result_mismatch", "the totals and blindings do not open the sum of the commitments")
    _count_opened(state, record["opener"], -1)
    record.update(status=DONE, result=result, closed_height=call.height, attestation={
        "result_digest": result_digest, **roots, "transcripts": dict(sorted(args["transcripts"].items())),
        "signatures": dict(sorted(args["signatures"].items())), "node_keys": node_keys, "height": call.height,
        "tx_hash": call.tx_hash})
    _save(state, record)
    return {"session": record["id"], "status": DONE, "result_digest": result_digest, **roots, "node_keys": node_keys}


# --- abort -------------------------------------------------------------------------------

def abort(state, call: Call) -> dict:
    record = _load_open(state, call.args["session"])
    _require_participant_or_regulator(record["participants"], call, "abort a session")
    if call.height <= record["deadline_height"]:
        raise ContractError("deadline_not_passed", f"session {record['id']} may be aborted only above its "
                                                   f"deadline height")
    missing_commits = [p for p in record["participants"] if p not in record["commits"]]
    missing = {"commits": missing_commits, "signatures": [] if missing_commits else list(record["participants"])}
    _count_opened(state, record["opener"], -1)
    record.update(status=mpc_state.ABORTED, missing=missing, closed_height=call.height)
    _save(state, record)
    return {"session": record["id"], "status": mpc_state.ABORTED, "missing": missing}


# --- the governance action ---------------------------------------------------------------

def _mpc_key_owner(state, mpc_key: bytes) -> str | None:
    for iid in governance.institution_ids(state):
        if mpc_state.mpc_key(state, iid) == mpc_key:
            return iid
    return None


def set_mpc_key(state, args: dict, height: int) -> dict:
    iid, mpc_key = args["id"], args.get("mpc_key")
    record = institution(state, iid)
    if record is None:
        raise ContractError("unknown_institution", iid)
    if not record["roles"]:
        raise ContractError("institution_removed", iid)
    if mpc_key is None:
        state.delete(mpc_key_key(iid))
        return {"institution": iid, "mpc_key": None}
    if _mpc_key_owner(state, mpc_key) not in (None, iid):
        raise ContractError("key_in_use", f"MPC key {mpc_key.hex()} is already registered")
    put(state, mpc_key_key(iid), mpc_key)
    return {"institution": iid, "mpc_key": mpc_key}


GOVERNANCE_ACTIONS = {
    "set_mpc_key": governance.Action(set_mpc_key, (
        Field("id", str, minimum=1, length_max=32), Field("mpc_key", bytes, required=False, minimum=32,
                                                          length_max=32))),
}

TX_TYPES = {
    "mpc.abort": TxType(abort, OPENER_ROLES, ABORT_FIELDS),
    "mpc.commit": TxType(commit, PARTICIPANT_ROLES, COMMIT_FIELDS),
    "mpc.open": TxType(open_session, OPENER_ROLES, OPEN_FIELDS, check=check_open),
    "mpc.result": TxType(submit_result, PARTICIPANT_ROLES, RESULT_FIELDS, check=check_result),
}
