"""`consort tx send|pay`: sign a transaction with a client key and submit it.
`consort tx send TYPE --help` adds TYPE's argument schema to the usage
(node.cli.txdoc, from the registry)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time

from contracts.tx import args_from_json, sign_tx
from node.cli.shared import (
    DEFAULT_NODE, UsageError, add_ca_argument, add_genesis_argument, add_json_option, add_passphrase_options, ca_path,
    chain_id, open_key, print_json,
)
from node.cli.txdoc import type_help
from node.client import ConsortClient

TIMEOUT_MS_DEFAULT = 30_000


def parse_arg_value(text: str):
    """--arg values: integers, true/false, hex:<bytes>, JSON lists/maps, else text."""
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    if text.startswith("hex:"):
        try:
            return bytes.fromhex(text[4:])
        except ValueError:
            raise UsageError(f"{text!r} is not hex") from None
    if text[:1] in "[{":
        try:
            return args_from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{text!r} is not JSON: {exc}") from None
    return text


def tx_args(args) -> dict:
    values: dict = {}
    if args.args:
        try:
            values = args_from_json(json.loads(args.args))
        except json.JSONDecodeError as exc:
            raise UsageError(f"--args is not JSON: {exc}") from None
        if not isinstance(values, dict):
            raise UsageError("--args must be a JSON object")
    for item in args.arg or []:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--arg {item!r}: write name=value")
        values[name] = parse_arg_value(text)
    return values


async def _send(args, tx_type: str, values: dict) -> dict:
    """Sign one transaction with --key for the chain of --genesis (never the
    chain a node reports; nonce: --nonce or microseconds now) and submit it."""
    signer = open_key(args.key, args).signer()
    chain = chain_id(args)
    nonce = args.nonce if args.nonce is not None else time.time_ns() // 1000
    tx = sign_tx(signer, chain, nonce, tx_type, values)
    async with ConsortClient(args.node, ca=ca_path(args)) as client:
        result = await client.submit([tx], wait=not args.no_wait, timeout_ms=args.timeout_ms)
    return {"tx_hash": tx.hash.hex(), **result}


def _print_outcome(result: dict) -> int:
    print_json(result)
    receipts = result.get("receipts") or []
    return 0 if all(r and r["ok"] for r in receipts) else 1


def cmd_tx_send(args) -> int:
    return _print_outcome(asyncio.run(_send(args, args.type, tx_args(args))))


def cmd_tx_pay(args) -> int:
    if args.amount <= 0:
        raise UsageError("--amount must be a positive integer in minor units")
    values = {"from": args.payer, "to": args.payee, "currency": args.currency, "amount": args.amount}
    if args.reference:
        values["reference"] = args.reference
    return _print_outcome(asyncio.run(_send(args, "settlement.pay", values)))


class TypeHelp(argparse.Action):
    """-h/--help of `tx send`: the usage, then, when TYPE came before it, TYPE's
    roles and argument schema (argparse has read TYPE by then)."""

    def __init__(self, option_strings, dest, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.print_help()
        tx_type = getattr(namespace, "type", None)
        if tx_type:
            print()
            print(type_help(tx_type))
        parser.exit()


def _common(parser) -> None:
    parser.add_argument("--node", default=DEFAULT_NODE)
    parser.add_argument("--key", required=True, help="client key file of the sending institution")
    add_passphrase_options(parser)
    add_genesis_argument(parser, "; transactions are signed for its chain id only")
    add_ca_argument(parser)
    parser.add_argument("--nonce", type=int)
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--timeout-ms", type=int, default=TIMEOUT_MS_DEFAULT)
    add_json_option(parser)


def add_commands(commands) -> None:
    tx = commands.add_parser("tx", help="sign and submit transactions").add_subparsers(dest="action", required=True)
    pay = tx.add_parser("pay", help="gross payment between settlement accounts")
    _common(pay)
    pay.add_argument("--from", dest="payer", required=True)
    pay.add_argument("--to", dest="payee", required=True)
    pay.add_argument("--amount", type=int, required=True, help="minor units")
    pay.add_argument("--currency", default="EUR")
    pay.add_argument("--reference", default="")
    pay.set_defaults(func=cmd_tx_pay)

    send = tx.add_parser("send", help="sign and submit any transaction type", add_help=False)
    send.add_argument("-h", "--help", action=TypeHelp, help="show this help; after TYPE, also TYPE's arguments")
    send.add_argument("type", help="e.g. assets.register, settlement.instruct, governance.vote "
                                   "(docs/transactions.md lists every type)")
    _common(send)
    send.add_argument("--args", help='arguments as a JSON object (bytes as {"$bytes": "<hex>"})')
    send.add_argument("--arg", action="append", help="name=value (int, true/false, hex:<bytes>, JSON, text)")
    send.set_defaults(func=cmd_tx_send)
