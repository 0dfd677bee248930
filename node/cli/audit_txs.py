"""`consort audit txs`: the transactions an institution sent (or of a type,
or both) in heights H1..H2, found by a node's index (GET /v1/audit/txs)
and each verified here with only the genesis file: first the chain from
genesis through H2 + 1 (the node's export stream, as `audit verify` does),
which fixes the validator set in force at each height, then every
transaction's inclusion, receipt and certified headers (node.audit.txs
says what is checked and why that is sound).

Prints one JSON document, written as the pages come (one transaction a
line, so a long answer takes no memory here):

    {"query": {...}, "chain_verified_to": h, "covered_to_height": h,
     "transactions": [{..., "verified": true}, ...],
     "count": n, "verified": n, "not_verified": 0}

Exit status 0 when every transaction printed is verified; 1 when one is
not, when the chain does not verify, or when the node's answer is
malformed (the document then ends with "error").
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from contracts.executor import to_json_value
from contracts.tx import TxError, decode_tx
from crypto import encoding
from node.audit.auditor import AuditFailure
from node.audit.export import ExportError
from node.audit.txs import AnswerError, AuditedTx, TxFilter, ValidatorEras, check_page
from node.audit.verify import read_genesis, verify_node
from node.cli.shared import UsageError, add_reader_arguments, ca_path, genesis_path, open_key
from node.client import ClientError, ConsortClient


class JsonDocument:
    """A JSON object printed as it is made: head fields, then one list whose
    items are printed one a line as they come, then tail fields."""

    def __init__(self, out: TextIO, head: dict, list_name: str) -> None:
        self.out = out
        self.items = 0
        out.write("{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in head.items()))
        out.write(f"  {json.dumps(list_name)}: [")

    def item(self, value: dict) -> None:
        self.out.write(("\n" if not self.items else ",\n") + "    " + json.dumps(value))
        self.items += 1
        self.out.flush()

    def close(self, tail: dict) -> None:
        self.out.write(("\n  ]" if self.items else "]") + "".join(
            f",\n  {json.dumps(k)}: {json.dumps(v)}" for k, v in tail.items()) + "\n}\n")
        self.out.flush()


def tx_line(tx: AuditedTx) -> dict:
    """What the auditor reads of one transaction (decoded from its bytes as sent)."""
    try:
        decoded = decode_tx(tx.tx)
        shown = {"tx_hash": decoded.hash.hex(), "sender": decoded.sender.hex(), "args": to_json_value(decoded.args)}
    except TxError:
        shown = {"tx_hash": None, "tx": tx.tx.hex()}
    try:
        receipt = encoding.decode(tx.receipt)
        outcome = {"code": receipt[1], "detail": receipt[2], "output": to_json_value(receipt[3])}
    except (encoding.DecodeError, IndexError, TypeError, KeyError):
        outcome = {"receipt": tx.receipt.hex()}
    return {
        "height": tx.height, "index": tx.index, "institution": tx.institution, "type": tx.type, **shown, **outcome,
        "block_hash": None if tx.block_hash is None else tx.block_hash.hex(),
        "tx_proof": [h.hex() for h in tx.tx_proof], "receipt_proof": [h.hex() for h in tx.receipt_proof],
        "verified": tx.verified, **({"problem": tx.problem} if tx.problem else {}),
    }


async def audit_txs(args, genesis, signer, out: TextIO = sys.stdout) -> int:
    async with ConsortClient(args.node, signer=signer, chain_id=genesis.chain_id, ca=ca_path(args)) as client:
        tip = (await client.status())["height"]
        last = min(args.to_height + 1, tip)  # a block's receipts are certified by the next header
        eras = ValidatorEras(genesis.chain_id)
        try:
            if last >= 1:
                await verify_node(genesis, args.node, signer=signer, last_height=last, ca=ca_path(args),
                                  on_block=eras.record)
        except (AuditFailure, ExportError) as exc:
            print(f"AUDIT FAILED: the chain from genesis does not verify: {exc}", file=sys.stderr)
            return 1
        covered = max(min(args.to_height, last - 1), 0)  # nothing is covered when below --from
        query = {"institution": args.institution, "type": args.type, "from_height": args.from_height,
                 "to_height": args.to_height}
        document = JsonDocument(out, {"query": query, "chain_verified_to": eras.height,
                                      "covered_to_height": covered}, "transactions")
        counts = {"count": 0, "verified": 0, "not_verified": 0}
        try:
            if covered >= args.from_height:
                await _pages(client, args, TxFilter(args.institution, args.type, args.from_height, covered), eras,
                             document, counts)
        except (AnswerError, ClientError) as exc:
            document.close({**counts, "error": str(exc)})
            print(f"AUDIT FAILED: the node's answer: {exc}", file=sys.stderr)
            return 1
        document.close(counts)
    _summary(args, counts, eras.height, covered)
    return 0 if counts["not_verified"] == 0 else 1


async def _pages(client: ConsortClient, args, asked: TxFilter, eras: ValidatorEras, document: JsonDocument,
                 counts: dict) -> None:
    after = None
    while True:
        page = await client.audit_txs(institution=asked.institution, type=asked.type,
                                      from_height=asked.first_height, to_height=asked.last_height,
                                      after=None if after is None else f"{after[0]}:{after[1]}", limit=args.limit)
        audited, after = check_page(page, eras, asked, after)
        for tx in audited:
            document.item(tx_line(tx))
            counts["count"] += 1
            counts["verified" if tx.verified else "not_verified"] += 1
        if after is None:
            return


def _summary(args, counts: dict, verified_to: int, covered: int) -> None:
    failed = f", {counts['not_verified']} NOT VERIFIED" if counts["not_verified"] else ""
    print(f"audit txs: {counts['count']} transactions, {counts['verified']} verified{failed}; "
          f"chain verified from genesis to height {verified_to}", file=sys.stderr)
    if covered < args.to_height:
        print(f"note: receipts are certified up to height {covered} (the block after certifies them); "
              f"heights {max(covered + 1, args.from_height)}..{args.to_height} are not covered", file=sys.stderr)


def cmd_audit_txs(args) -> int:
    if args.from_height < 1 or args.to_height < args.from_height:
        raise UsageError("--from and --to are heights with 1 <= FROM <= TO")
    genesis = read_genesis(genesis_path(args))
    return asyncio.run(audit_txs(args, genesis, open_key(args.key, args).signer()))


def add_command(audit_commands) -> None:
    command = audit_commands.add_parser(
        "txs", help="transactions by institution, type and heights, each verified against certified headers")
    command.add_argument("--institution", help="the institution that sent them")
    command.add_argument("--type", help="the transaction type, e.g. settlement.pay")
    command.add_argument("--from", dest="from_height", type=int, required=True, metavar="H1")
    command.add_argument("--to", dest="to_height", type=int, required=True, metavar="H2")
    command.add_argument("--limit", type=int, help="transactions a page (default: the node's page maximum)")
    add_reader_arguments(command)
    command.set_defaults(func=cmd_audit_txs)
