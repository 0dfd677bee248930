"""The auditors' transaction query, each answer with its proofs.

    GET /v1/audit/txs?institution=X&type=T&from_height=H1&to_height=H2&after=H:I&limit=N

Auditors and regulators only. The transactions that the institution X sent
(as the block result names the sender) and of type T, each when given, in
blocks H1..H2, in chain order, from the node's LevelDB index
(Ledger.find_txs), at most `limit` (at most PAGE_TXS_MAX) a page, after the
cursor `after`; `next` is the cursor of the next page, null once the range
is done. A page looks at most SCAN_ENTRIES_MAX index entries, so a page may
hold fewer transactions than asked and still have a `next`; it also decodes
the rest of the first block's index row, the entries before the cursor
(one block's at most: the index keeps a row per block).

A block's receipts are certified by the next block's header, so the answer
covers blocks up to the tip's parent (`certified_height`); a larger H2 is
cut there (not an error: the chain grows). Each transaction comes with its
bytes and Merkle proof against its block's transaction root, its receipt's
bytes and proof against the next header's receipts root, and the proof of
its sender key's registration in the state its block began from; `headers`
holds every header the page's proofs need (blocks h and h + 1) with its
commit certificate, as canonical msgpack in hex. node.audit.txs checks all
of it with nothing but the genesis file.

Bad parameters are 400 `bad_parameter`: a parameter not listed above or
given twice, a non-integer or out-of-range height, limit or cursor, H1 > H2,
a malformed institution id, an unknown transaction type. The index and the
blocks are read on the node's worker threads.

Holds no storage logic (the Ledger reads and proves) and no verification.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from contracts.genesis import ID_PATTERN
from contracts.registry import TX_TYPES
from crypto import encoding
from node.api.access import OVERSIGHT, requires
from node.api.http import EVERYONE, NODE, BadRequest, note_whose, parse_uint
from node.runtime.driver import Node
from node.runtime.ledger import CertifiedHeader, IncludedTx, Ledger, TxQuery

PAGE_TXS_MAX = 100             # transactions in one answer
SCAN_ENTRIES_MAX = 10_000      # index entries one answer reads
PARAMETERS = ("institution", "type", "from_height", "to_height", "after", "limit")
CURSOR_SEPARATOR = ":"
INDEX_MAX = 2**32 - 1          # a cursor's index in its block, at most (blocks hold far fewer transactions)


def _one(query, name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise BadRequest("bad_parameter", f"{name} is given more than once")
    return values[0] if values else None


def parse_cursor(text: str) -> tuple[int, int]:
    """"height:index" as a pair of integers; BadRequest otherwise."""
    height, separator, index = text.partition(CURSOR_SEPARATOR)
    if not separator:
        raise BadRequest("bad_parameter", "after is a cursor height:index, as a previous page's next gives it")
    return parse_uint(height, "after's height"), parse_uint(index, "after's index", INDEX_MAX)


def parse_query(query, certified_height: int) -> TxQuery:
    """The index query the parameters ask for, its last height cut at
    `certified_height`; BadRequest for anything malformed."""
    unknown = sorted(set(query) - set(PARAMETERS))
    if unknown:
        raise BadRequest("bad_parameter", f"unknown parameter {unknown[0]!r}; known: {', '.join(PARAMETERS)}")
    institution, tx_type = _one(query, "institution"), _one(query, "type")
    if institution is not None and not ID_PATTERN.fullmatch(institution):
        raise BadRequest("bad_parameter", "institution is an institution id (a-z, 0-9 and -, at most 32)")
    if tx_type is not None and tx_type not in TX_TYPES:
        raise BadRequest("bad_parameter", f"unknown transaction type {tx_type[:64]!r}")
    text = _one(query, "from_height")
    first = 1 if text is None else parse_uint(text, "from_height")
    text = _one(query, "to_height")
    last = max(certified_height, first) if text is None else parse_uint(text, "to_height")
    if first < 1:
        raise BadRequest("bad_parameter", "from_height is 1 or more: block 1 is the first")
    if first > last:
        raise BadRequest("bad_parameter", f"from_height {first} is above to_height {last}")
    text = _one(query, "limit")
    limit = PAGE_TXS_MAX if text is None else parse_uint(text, "limit", PAGE_TXS_MAX)
    if limit < 1:
        raise BadRequest("bad_parameter", f"limit is 1 to {PAGE_TXS_MAX}")
    text = _one(query, "after")
    after = None if text is None else parse_cursor(text)
    return TxQuery(institution, tx_type, first, min(last, certified_height), after, limit, SCAN_ENTRIES_MAX)


def read_page(ledger: Ledger, query: TxQuery) -> tuple[list[IncludedTx], dict[int, CertifiedHeader], str | None]:
    """One page with its proofs and the next cursor (on a worker thread)."""
    if query.first_height > query.last_height:
        return [], {}, None
    found, cursor = ledger.find_txs(query)
    included, headers = ledger.tx_inclusions(found)
    return included, headers, None if cursor is None else f"{cursor[0]}{CURSOR_SEPARATOR}{cursor[1]}"


def entry_json(tx: IncludedTx) -> dict:
    return {
        "height": tx.found.height, "index": tx.found.index, "institution": tx.found.institution,
        "type": tx.found.type, "tx": tx.tx.hex(), "tx_proof": [h.hex() for h in tx.tx_proof],
        "receipt": tx.receipt.hex(), "receipt_proof": [h.hex() for h in tx.receipt_proof],
        "sender_proof": None if tx.sender_proof is None else tx.sender_proof.to_wire().hex(),
    }


def headers_json(headers: dict[int, CertifiedHeader]) -> dict:
    return {str(height): {"header": encoding.encode(found.header.to_wire()).hex(),
                          "certificate": found.certificate.hex()}
            for height, found in sorted(headers.items())}


@requires(OVERSIGHT)
async def get_audit_txs(request: web.Request) -> web.Response:
    node: Node = request.app[NODE]
    certified_height = node.ledger.tip.height - 1
    query = parse_query(request.query, certified_height)
    note_whose(request, [query.institution or EVERYONE])
    included, headers, cursor = await asyncio.get_running_loop().run_in_executor(
        node.workers, read_page, node.ledger, query)
    return web.json_response({
        "chain_id": node.genesis.chain_id.hex(), "institution": query.institution, "type": query.type,
        "from_height": query.first_height, "to_height": query.last_height, "certified_height": certified_height,
        "txs": [entry_json(tx) for tx in included], "headers": headers_json(headers), "next": cursor,
    })


def routes() -> list[web.RouteDef]:
    return [web.get("/v1/audit/txs", get_audit_txs)]
