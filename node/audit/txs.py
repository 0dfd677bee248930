"""Check a node's answers to an auditor's transaction query (GET
/v1/audit/txs, node.api.audit_txs) with nothing trusted but the genesis file.

What is checked, per transaction at (height h, index i):

- header h and header h + 1 are each certified: a commit certificate for
  that header's hash at that sequence number holding a quorum (n - f) of
  valid COMMIT signatures of the validator set in force at that height,
  under that set's signing context (chain id and set hash), and the header
  names that set's hash, this chain and that height; header h + 1 links to
  header h;
- the transaction's bytes are leaf i of header h's transaction root (the
  tree's size is the header's tx_count), and its receipt's bytes are leaf i
  of header h + 1's receipts root (a block's receipts are certified by the
  next header), the receipt naming the transaction's hash;
- the type the node claims is the transaction's own; the institution it
  claims is the one the sender's key was registered to (key/<sender>) in
  the state header h certifies, the state its block began from, proved
  against that state root (none for a transaction that does not decode or
  whose signature fails: the executor gives those no sender);
- the transaction is what was asked (institution, type, heights), and the
  pages go forward: every position after the cursor, the next cursor past
  the page.

How the client learns the validator set in force at a height. Before it
asks, it verifies the chain from genesis to the highest height it needs
(the export stream through min(H2 + 1, tip), node.audit.verify) with the
ChainAuditor: the genesis set is trusted; each block is accepted only if a
quorum of the set in force certifies it, and the set in force changes only
as governance receipts of blocks already accepted (certified by the next
header) schedule it, at the first header naming the scheduled set. With at
most f faulty validators in each set while it is in force, any two quorums
of a set share an honest validator, so at each height at most one block is
certified: the accepted chain is the committed one and the sets it follows
are the sets that were in force. `ValidatorEras` keeps only those sets and
the heights from which each was in force (no headers), and a page's
headers are then checked against them, which by the same quorum argument
makes each certified header the committed one, whatever node sent it. A
header beyond the verified chain is not verified.

Cheaper ways were weighed and refused: following validator-set changes
from state proofs alone is unsound here, because a governance vote in the
block that activates a pending set can replace it (so the state before the
boundary does not fix the next set), and trusting the node's list of
governance transactions lets an omitted change be exploited by retired
keys. The full pass costs one download and one certificate check per
block up to the query's end, as `audit history` does.

What it does not prove: completeness. The index is the node's, not the
chain's; a node can leave out a matching transaction (re-executing the
chain, `audit verify --reexecute`, or `audit history`'s full scan is the
check for that). A key registered and first used within the same block
has no registration in the state the block began from, so such a
transaction's institution is reported as not proved.

Pure: no I/O; the CLI (node.cli.audit_txs) fetches and prints.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from consensus.auth import verify_certificate
from consensus.messages import BlockHeader, CommitCertificate, MessageError
from consensus.validators import ValidatorSet
from contracts.genesis import client_key_key
from contracts.tx import Transaction, TxError, decode_tx
from crypto import encoding, merkle, smt

HEX_BYTES_MAX = 64 * 1024 * 1024  # one hex field of an answer (a transaction is far smaller)


class AnswerError(ValueError):
    """An answer that is not what the API sends (malformed, or pages that do not go forward)."""


@dataclass
class ValidatorEras:
    """The validator sets in force, each from its first height, through
    `height`: read off a chain the ChainAuditor verified from genesis
    (`record` is verify_export's on_block hook; without re-execution)."""

    chain_id: bytes
    eras: list[tuple[int, ValidatorSet]] = field(default_factory=list)
    height: int = 0

    def record(self, auditor, block, certificate, receipts) -> None:
        validators = auditor.validators
        assert block.header.validator_set_hash == validators.hash, "the auditor checked the set in force"
        if not self.eras or self.eras[-1][1].hash != validators.hash:
            self.eras.append((block.header.height, validators))
        self.height = block.header.height

    def at(self, height: int) -> ValidatorSet | None:
        """The set in force at `height`; None beyond the verified chain."""
        if not 1 <= height <= self.height or not self.eras:
            return None
        position = bisect.bisect_right([first for first, _ in self.eras], height) - 1
        return None if position < 0 else self.eras[position][1]


@dataclass(frozen=True, slots=True)
class TxFilter:
    """What the auditor asked for."""

    institution: str | None
    type: str | None
    first_height: int
    last_height: int


@dataclass(frozen=True, slots=True)
class CheckedHeader:
    header: BlockHeader
    problem: str | None  # None: certified by the set in force at its height


@dataclass(frozen=True, slots=True)
class AuditedTx:
    """One transaction of an answer, as checked."""

    height: int
    index: int
    institution: str | None
    type: str | None
    tx: bytes
    receipt: bytes
    tx_proof: list[bytes]
    receipt_proof: list[bytes]
    block_hash: bytes | None
    problem: str | None

    @property
    def verified(self) -> bool:
        return self.problem is None


# ---------------------------------------------------------------- parsing


def _bytes(value, what: str) -> bytes:
    if not isinstance(value, str) or len(value) > 2 * HEX_BYTES_MAX:
        raise AnswerError(f"{what} is not hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise AnswerError(f"{what} is not hex") from None


def _int(value, what: str) -> int:
    if type(value) is not int or value < 0:
        raise AnswerError(f"{what} is not a non-negative integer")
    return value


def _name(value, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise AnswerError(f"{what} is not a string or null")
    return value


def _hashes(value, what: str) -> list[bytes]:
    if not isinstance(value, list) or len(value) > merkle.PROOF_LENGTH_MAX:
        raise AnswerError(f"{what} is not a list of at most {merkle.PROOF_LENGTH_MAX} hashes")
    return [_bytes(item, what) for item in value]


def _decoded(raw: bytes, what: str):
    try:
        return encoding.decode(raw)
    except encoding.DecodeError as exc:
        raise AnswerError(f"{what} is not canonical msgpack: {exc}") from None


def parse_cursor(text) -> tuple[int, int] | None:
    """A page's `next`: None, or "height:index"."""
    if text is None:
        return None
    height, separator, index = text.partition(":") if isinstance(text, str) else ("", "", "")
    if not (separator and height.isascii() and height.isdigit() and index.isascii() and index.isdigit()):
        raise AnswerError(f"next cursor {str(text)[:40]!r} is not height:index")
    return int(height), int(index)


# ---------------------------------------------------------------- checks


def check_header(height: int, document, eras: ValidatorEras) -> CheckedHeader:
    """The header and certificate of `height` in a page's `headers`, checked."""
    if not isinstance(document, dict):
        raise AnswerError(f"header {height} is not an object")
    try:
        header = BlockHeader.from_wire(_decoded(_bytes(document.get("header"), "a header"), "a header"))
        certificate = CommitCertificate.from_wire(
            _decoded(_bytes(document.get("certificate"), "a certificate"), "a certificate"))
    except MessageError as exc:
        raise AnswerError(f"header {height}: {exc}") from None
    validators = eras.at(height)
    if validators is None:
        return CheckedHeader(header, f"height {height} is beyond the chain verified from genesis ({eras.height})")
    problem = next((what for failed, what in (
        (header.height != height, f"the header of height {height} says {header.height}"),
        (header.chain_id != eras.chain_id, "the header is of another chain"),
        (header.validator_set_hash != validators.hash, "the header names another validator set than the one in force"),
        (certificate.seq != height, "the certificate is for another sequence number"),
    ) if failed), None)
    if problem is None:
        problem = verify_certificate(certificate, header.hash(), validators)
        problem = None if problem is None else f"header {height} is not certified: {problem}"
    return CheckedHeader(header, problem)


def check_headers(page: dict, eras: ValidatorEras) -> dict[int, CheckedHeader]:
    headers = page.get("headers")
    if not isinstance(headers, dict):
        raise AnswerError("the answer has no headers object")
    checked = {}
    for key, document in headers.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()):
            raise AnswerError(f"header key {str(key)[:40]!r} is not a height")
        checked[int(key)] = check_header(int(key), document, eras)
    return checked


def expected_institution(tx: Transaction | None, header: BlockHeader, claimed: str | None,
                         sender_proof: smt.Proof | None) -> str | None:
    """Why the claimed institution is not the sender's, or None."""
    if tx is None or not tx.signature_valid():
        return None if claimed is None else f"the node names {claimed} for a transaction with no valid sender"
    if sender_proof is None:
        return "no proof of the sender key's institution"
    value = None if claimed is None else encoding.encode(claimed)
    if not smt.verify(header.state_root, client_key_key(tx.sender), value, sender_proof):
        return f"the sender's key is not proved to be {claimed or 'no institution'}'s"
    return None


def _decode_tx(raw: bytes) -> Transaction | None:
    try:
        return decode_tx(raw)
    except TxError:
        return None


def _sender_proof(value) -> smt.Proof | None:
    if value is None:
        return None
    try:
        return smt.Proof.from_wire(_bytes(value, "a sender proof"))
    except smt.ProofFormatError as exc:
        raise AnswerError(f"a sender proof: {exc}") from None


def _entry_problem(entry: dict, tx: Transaction | None, headers: dict[int, CheckedHeader],
                   asked: TxFilter, sender_proof) -> str | None:
    height, index = entry["height"], entry["index"]
    if not asked.first_height <= height <= asked.last_height:
        return f"height {height} is outside the heights asked ({asked.first_height}..{asked.last_height})"
    for name, want in (("institution", asked.institution), ("type", asked.type)):
        if want is not None and entry[name] != want:
            return f"the node names {name} {entry[name]!r}, not the {want!r} asked"
    this, following = headers.get(height), headers.get(height + 1)
    for height_of, checked in ((height, this), (height + 1, following)):
        if checked is None:
            return f"the answer has no header for height {height_of}"
        if checked.problem is not None:
            return checked.problem
    header = this.header
    if following.header.prev_hash != header.hash():
        return f"header {height + 1} does not follow header {height}"
    if not merkle.verify_inclusion(header.tx_root, entry["tx"], index, header.tx_count, entry["tx_proof"]):
        return "the transaction is not proved in its block's transaction root"
    if not merkle.verify_inclusion(following.header.receipts_root, entry["receipt"], index, header.tx_count,
                                   entry["receipt_proof"]):
        return "the receipt is not proved in the next header's receipts root"
    receipt = _decoded(entry["receipt"], "a receipt")
    if tx is not None and not (isinstance(receipt, list) and receipt and receipt[0] == tx.hash):
        return "the receipt is another transaction's"
    if entry["type"] != (None if tx is None else tx.type):
        return f"the node names type {entry['type']!r}; the transaction is {None if tx is None else tx.type!r}"
    return expected_institution(tx, header, entry["institution"], sender_proof)


def check_entry(entry, headers: dict[int, CheckedHeader], asked: TxFilter) -> AuditedTx:
    """One transaction of a page, checked against the page's checked headers."""
    if not isinstance(entry, dict):
        raise AnswerError("a transaction entry is not an object")
    parsed = {
        "height": _int(entry.get("height"), "height"), "index": _int(entry.get("index"), "index"),
        "institution": _name(entry.get("institution"), "institution"), "type": _name(entry.get("type"), "type"),
        "tx": _bytes(entry.get("tx"), "tx"), "tx_proof": _hashes(entry.get("tx_proof"), "tx_proof"),
        "receipt": _bytes(entry.get("receipt"), "receipt"),
        "receipt_proof": _hashes(entry.get("receipt_proof"), "receipt_proof"),
    }
    sender_proof = _sender_proof(entry.get("sender_proof"))
    problem = _entry_problem(parsed, _decode_tx(parsed["tx"]), headers, asked, sender_proof)
    this = headers.get(parsed["height"])
    block_hash = this.header.hash() if this is not None and this.problem is None else None
    return AuditedTx(parsed["height"], parsed["index"], parsed["institution"], parsed["type"], parsed["tx"],
                     parsed["receipt"], parsed["tx_proof"], parsed["receipt_proof"], block_hash, problem)


def check_page(page, eras: ValidatorEras, asked: TxFilter,
               after: tuple[int, int] | None) -> tuple[list[AuditedTx], tuple[int, int] | None]:
    """Every transaction of one page, checked, and the cursor to go on from
    (None: done); AnswerError when the page is malformed or does not go
    forward from `after`."""
    if not isinstance(page, dict) or not isinstance(page.get("txs"), list):
        raise AnswerError("the answer is not a page of transactions")
    headers = check_headers(page, eras)
    audited = [check_entry(entry, headers, asked) for entry in page["txs"]]
    position = after
    for tx in audited:
        if position is not None and (tx.height, tx.index) <= position:
            raise AnswerError(f"transaction ({tx.height}, {tx.index}) does not come after {position}")
        position = (tx.height, tx.index)
    following = parse_cursor(page.get("next"))
    if following is not None and position is not None and following < position:
        raise AnswerError(f"the next cursor {following} goes back before {position}")
    if following is not None and after is not None and following <= after:
        raise AnswerError(f"the next cursor {following} does not move on from {after}")
    return audited, following
