"""`consort chain status|block`: read a node's view of the chain (signed
with --key; whole blocks are for auditors, regulators and validators)."""

from __future__ import annotations

import asyncio

from node.cli.shared import add_reader_arguments, print_json, reader


def cmd_chain_status(args) -> int:
    async def run():
        async with reader(args) as client:
            return await client.status()
    print_json(asyncio.run(run()))
    return 0


def cmd_chain_block(args) -> int:
    async def run():
        async with reader(args) as client:
            return await client.block(args.height)
    print_json(asyncio.run(run()))
    return 0


def add_commands(commands) -> None:
    chain = commands.add_parser("chain", help="read the chain").add_subparsers(dest="action", required=True)
    status = chain.add_parser("status", help="height, view, state root and peers of a node")
    add_reader_arguments(status)
    status.set_defaults(func=cmd_chain_status)
    block = chain.add_parser("block", help="one block with its certificate and receipts")
    block.add_argument("height", type=int)
    add_reader_arguments(block)
    block.set_defaults(func=cmd_chain_block)
