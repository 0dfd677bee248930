"""The `consort` command line.

    consort init --dir DIR [--institutions 4] [--base-port 7100]
    consort node start --config DIR/<institution>/node.json
    consort tx pay --key KEYFILE --from A --to B --amount N [--currency EUR]
    consort chain status | consort chain block HEIGHT

Errors print one line (`consort: error: ...`) and exit 1; no tracebacks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

from contracts.tx import TxError, sign_tx
from crypto.keys import KeyFileError, read_key_file
from node.client import ClientError, ConsortClient
from node.config import ConfigError, load_config
from node.storage import StorageError

DEFAULT_NODE = os.environ.get("CONSORT_NODE", "http://127.0.0.1:7100")


class UsageError(Exception):
    pass


def _print(document) -> None:
    print(json.dumps(document, indent=2))


def cmd_init(args) -> int:
    from node.consortium import create_consortium
    index = create_consortium(Path(args.dir), institutions=args.institutions, base_port=args.base_port,
                              currency=args.currency, opening_balance=args.balance,
                              clients_per_institution=args.clients)
    print(f"created a {args.institutions}-institution consortium in {Path(args.dir).resolve()}")
    print(f"chain id {index['chain_id']}")
    for entry in index["institutions"]:
        print(f"  {entry['id']:<14} replica {entry['replica_id']}  {entry['url']}  config {entry['config']}")
    return 0


def cmd_node_start(args) -> int:
    from node.server import serve
    config = load_config(Path(args.config))
    return asyncio.run(serve(config))


async def _pay(args) -> dict:
    key = read_key_file(Path(args.key))
    async with ConsortClient(args.node) as client:
        status = await client.status()
        nonce = args.nonce if args.nonce is not None else time.time_ns() // 1000
        args_map = {"from": args.payer, "to": args.payee, "currency": args.currency, "amount": args.amount}
        if args.reference:
            args_map["reference"] = args.reference
        tx = sign_tx(key.signer(), bytes.fromhex(status["chain_id"]), nonce, "settlement.pay", args_map)
        result = await client.submit([tx], wait=not args.no_wait, timeout_ms=args.timeout_ms)
        return {"tx_hash": tx.hash.hex(), **result}


def cmd_tx_pay(args) -> int:
    if args.amount <= 0:
        raise UsageError("--amount must be a positive integer in minor units")
    result = asyncio.run(_pay(args))
    _print(result)
    receipts = result.get("receipts") or []
    return 0 if all(r and r["ok"] for r in receipts) else 1


def cmd_chain_status(args) -> int:
    async def run():
        async with ConsortClient(args.node) as client:
            return await client.status()
    _print(asyncio.run(run()))
    return 0


def cmd_chain_block(args) -> int:
    async def run():
        async with ConsortClient(args.node) as client:
            return await client.block(args.height)
    _print(asyncio.run(run()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consort", description="Consort permissioned ledger node")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="create a local consortium (keys, genesis, node configs)")
    init.add_argument("--dir", required=True)
    init.add_argument("--institutions", type=int, default=4)
    init.add_argument("--base-port", type=int, default=7100)
    init.add_argument("--currency", default="EUR")
    init.add_argument("--balance", type=int, default=1_000_000_000_00, help="opening balance, minor units")
    init.add_argument("--clients", type=int, default=4, help="client keys per institution")
    init.set_defaults(func=cmd_init)

    node = commands.add_parser("node", help="run a node").add_subparsers(dest="action", required=True)
    start = node.add_parser("start", help="start a node from its config file")
    start.add_argument("--config", required=True)
    start.set_defaults(func=cmd_node_start)

    tx = commands.add_parser("tx", help="sign and submit transactions").add_subparsers(dest="action", required=True)
    pay = tx.add_parser("pay", help="gross payment between settlement accounts")
    pay.add_argument("--node", default=DEFAULT_NODE)
    pay.add_argument("--key", required=True, help="client key file of the paying institution")
    pay.add_argument("--from", dest="payer", required=True)
    pay.add_argument("--to", dest="payee", required=True)
    pay.add_argument("--amount", type=int, required=True, help="minor units")
    pay.add_argument("--currency", default="EUR")
    pay.add_argument("--reference", default="")
    pay.add_argument("--nonce", type=int)
    pay.add_argument("--no-wait", action="store_true")
    pay.add_argument("--timeout-ms", type=int, default=30_000)
    pay.set_defaults(func=cmd_tx_pay)

    chain = commands.add_parser("chain", help="read the chain").add_subparsers(dest="action", required=True)
    status = chain.add_parser("status", help="height, view, state root and peers of a node")
    status.add_argument("--node", default=DEFAULT_NODE)
    status.set_defaults(func=cmd_chain_status)
    block = chain.add_parser("block", help="one block with its certificate and receipts")
    block.add_argument("height", type=int)
    block.add_argument("--node", default=DEFAULT_NODE)
    block.set_defaults(func=cmd_chain_block)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.func(args)
    except (ClientError, ConfigError, KeyFileError, StorageError, TxError, UsageError, FileExistsError,
            OSError) as exc:
        print(f"consort: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
