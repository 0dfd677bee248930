"""The real node's wire limits, applied to what simulated replicas send.

The simulator hands message objects from replica to replica without
encoding them, so without this check a run could pass on messages no real
node would decode: `decode_message` refuses a PREPARED certificate of more
than PREPARES_MAX (256) PREPAREs, a NEW-VIEW of more than VIEW_CHANGES_MAX
(256) VIEW-CHANGEs, more than TXS_PER_BLOCK_MAX transactions, more than
BLOCKS_PER_FETCH_MAX blocks a reply, more than MESSAGE_ELEMENTS_MAX values
or FRAME_SIZE_MAX bytes (consensus/messages.py). A NEW-VIEW holds a quorum
of VIEW-CHANGEs, so a view change cannot complete on the wire above 383
validators (a quorum of 257 at n = 384); a VIEW-CHANGE carrying a prepared
certificate is refused from n = 386 (quorum - 1 = 257 PREPAREs).

We keep those limits rather than raise them: they bound what a node decodes
and verifies from one peer, and a NEW-VIEW at 1,000 validators would hold
some 466,000 PREPAREs (over 50 MB, a minute of Ed25519 checks), which no
raise of the limits makes workable; a consortium needing that many
validators needs another view change, not bigger frames. So the simulator
checks every message against the real limits, and a run that sent one a
real node would refuse is reported invalid (netsim.run).

The check counts rather than encodes: `shape` gives the exact number of
msgpack values of a message's encoding and an upper bound on its size in
bytes, from its fields alone; only a message whose bound passes the frame
limit is encoded to settle it. Votes, STATUS and FETCH-BLOCKS have a fixed
small shape and cost nothing. Pure functions of the message: no state.
"""

from __future__ import annotations

from consensus.messages import (
    BLOCKS_PER_FETCH_MAX, FRAME_SIZE_MAX, MESSAGE_ELEMENTS_MAX, PREPARES_MAX, TXS_PER_BLOCK_MAX,
    VIEW_CHANGES_MAX, Block, Blocks, Checkpoint, CheckpointCertificate, Commit, CommitCertificate, FetchBlocks,
    Forward, NewView, PreparedCertificate, PrePrepare, Prepare, Status, ViewChange, encode_message,
)

# Upper bounds, in bytes, of one encoded value (canonical msgpack, crypto/encoding.py).
INT_BYTES = 9         # uint64
HASH_BYTES = 2 + 32   # bin8 header
SIGNATURE_BYTES = 2 + 64
KIND_BYTES = 1 + 31   # fixstr: every KIND is shorter than 32 characters
LIST_BYTES = 5        # array32 header
NONE_BYTES = 1
BIN_HEADER_BYTES = 5  # bin32 header of a transaction
HEADER_BYTES = LIST_BYTES + 6 * HASH_BYTES + 5 * INT_BYTES  # a block header: 6 hashes, 5 integers
VOTE_BYTES = LIST_BYTES + KIND_BYTES + 3 * INT_BYTES + HASH_BYTES + SIGNATURE_BYTES
SIGNATURE_PAIR_BYTES = LIST_BYTES + INT_BYTES + SIGNATURE_BYTES

FIXED_SHAPE = frozenset((Prepare, Commit, Checkpoint, Status))
Shape = tuple[int, int]  # (values in the encoding, most bytes it can take)


def problem(message) -> str | None:
    """Why a real node would refuse `message` from a peer, or None."""
    kind = type(message)
    if kind in FIXED_SHAPE:
        return None
    if kind is FetchBlocks:
        fits = 1 <= message.first <= message.last < message.first + BLOCKS_PER_FETCH_MAX
        return None if fits else f"fetch-blocks asks for {message.first}..{message.last}"
    counted = _count_problem(message)
    if counted is not None:
        return counted
    elements, bytes_max = shape(message)
    if elements > MESSAGE_ELEMENTS_MAX:
        return f"{message.KIND} of {elements:,} values (MESSAGE_ELEMENTS_MAX {MESSAGE_ELEMENTS_MAX:,})"
    if bytes_max > FRAME_SIZE_MAX:
        size = len(encode_message(message))
        if size > FRAME_SIZE_MAX:
            return f"{message.KIND} of {size:,} bytes (FRAME_SIZE_MAX {FRAME_SIZE_MAX:,})"
    return None


def _count_problem(message) -> str | None:
    """The limits `decode_message` checks by counting items."""
    blocks: list[Block] = []
    prepared: list[PreparedCertificate] = []
    if isinstance(message, PrePrepare):
        blocks.append(message.block)
    elif isinstance(message, Forward) and len(message.txs) > TXS_PER_BLOCK_MAX:
        return f"forward of {len(message.txs):,} transactions (TXS_PER_BLOCK_MAX {TXS_PER_BLOCK_MAX:,})"
    elif isinstance(message, ViewChange) and message.prepared is not None:
        prepared.append(message.prepared)
    elif isinstance(message, NewView):
        if len(message.view_changes) > VIEW_CHANGES_MAX:
            return (f"new-view of {len(message.view_changes)} view-changes (VIEW_CHANGES_MAX {VIEW_CHANGES_MAX}): "
                    f"a real node refuses a NEW-VIEW above 383 validators")
        prepared.extend(vc.prepared for vc in message.view_changes if vc.prepared is not None)
        if message.pre_prepare is not None:
            blocks.append(message.pre_prepare.block)
    elif isinstance(message, Blocks):
        if len(message.entries) > BLOCKS_PER_FETCH_MAX:
            return f"blocks reply of {len(message.entries)} blocks (BLOCKS_PER_FETCH_MAX {BLOCKS_PER_FETCH_MAX})"
        blocks.extend(block for block, _ in message.entries)
    for certificate in prepared:
        if len(certificate.prepares) > PREPARES_MAX:
            return (f"{message.KIND} carrying a prepared certificate of {len(certificate.prepares)} prepares "
                    f"(PREPARES_MAX {PREPARES_MAX}): a real node refuses it from 386 validators")
        blocks.append(certificate.pre_prepare.block)
    for block in blocks:
        if len(block.txs) > TXS_PER_BLOCK_MAX:
            return f"{message.KIND} with a block of {len(block.txs):,} transactions (TXS_PER_BLOCK_MAX)"
    return None


def shape(message) -> Shape:
    """The exact number of values in `message`'s encoding and a bound on its bytes."""
    kind = type(message)
    if kind is Prepare or kind is Commit or kind is Checkpoint:
        return 7, VOTE_BYTES
    if kind is Status or kind is FetchBlocks:
        return 4, LIST_BYTES + KIND_BYTES + 2 * INT_BYTES
    if kind is PrePrepare:
        return _pre_prepare(message)
    if kind is Forward:
        elements, bytes_max = _txs(message.txs)
        return 2 + elements, LIST_BYTES + KIND_BYTES + bytes_max
    if kind is ViewChange:
        return _view_change(message)
    if kind is NewView:
        elements, bytes_max = 6, LIST_BYTES + KIND_BYTES + 2 * INT_BYTES + LIST_BYTES + SIGNATURE_BYTES
        for vc in message.view_changes:
            vc_elements, vc_bytes = _view_change(vc)
            elements, bytes_max = elements + vc_elements, bytes_max + vc_bytes
        pp_elements, pp_bytes = (1, NONE_BYTES) if message.pre_prepare is None else _pre_prepare(message.pre_prepare)
        return elements + pp_elements, bytes_max + pp_bytes
    if kind is Blocks:
        elements, bytes_max = 3, 2 * LIST_BYTES + KIND_BYTES
        for block, certificate in message.entries:
            block_elements, block_bytes = _block(block)
            cert_elements, cert_bytes = _commit_certificate(certificate)
            elements += 1 + block_elements + cert_elements
            bytes_max += LIST_BYTES + block_bytes + cert_bytes
        return elements, bytes_max
    raise TypeError(f"no wire shape for {message!r}")


def _txs(txs: tuple[bytes, ...]) -> Shape:
    return 1 + len(txs), LIST_BYTES + sum(len(tx) for tx in txs) + BIN_HEADER_BYTES * len(txs)


def _block(block: Block) -> Shape:
    elements, bytes_max = _txs(block.txs)
    return 13 + elements, LIST_BYTES + HEADER_BYTES + bytes_max


def _pre_prepare(message: PrePrepare) -> Shape:
    elements, bytes_max = _block(message.block)
    return 7 + elements, VOTE_BYTES + bytes_max


def _commit_certificate(certificate: CommitCertificate | CheckpointCertificate) -> Shape:
    pairs = len(certificate.signatures)
    return 5 + 3 * pairs, 2 * LIST_BYTES + 2 * HASH_BYTES + INT_BYTES + pairs * SIGNATURE_PAIR_BYTES


def _prepared(certificate: PreparedCertificate) -> Shape:
    elements, bytes_max = _pre_prepare(certificate.pre_prepare)
    prepares = len(certificate.prepares)
    return 2 + elements + 7 * prepares, 2 * LIST_BYTES + bytes_max + prepares * VOTE_BYTES


def _view_change(vc: ViewChange) -> Shape:
    elements, bytes_max = 6, LIST_BYTES + KIND_BYTES + 3 * INT_BYTES + SIGNATURE_BYTES
    for part, measure in ((vc.commit_certificate, _commit_certificate), (vc.checkpoint, _commit_certificate),
                          (vc.prepared, _prepared)):
        part_elements, part_bytes = (1, NONE_BYTES) if part is None else measure(part)
        elements, bytes_max = elements + part_elements, bytes_max + part_bytes
    return elements, bytes_max
