"""`consort query WHAT [PARAMS]`: read contract state through a node, with
a signed request (--key): a member sees its own, auditors and regulators
everything (README, "Who may read what")."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from node.cli.shared import UsageError, add_reader_arguments, print_json, reader

QUERIES = {  # name: (path, number of parameters)
    "accounts": ("/v1/accounts", 0), "assets": ("/v1/assets", 0), "asset": ("/v1/assets/{0}", 1),
    "history": ("/v1/assets/{0}/history", 1),
    "queue": ("/v1/settlement/queue/{0}", 1), "cycles": ("/v1/settlement/cycles/{0}", 1),
    "cycle": ("/v1/settlement/cycles/{0}/{1}", 2), "finality": ("/v1/settlement/finality/{0}", 1),
    "proposals": ("/v1/governance/proposals", 0), "proposal": ("/v1/governance/proposals/{0}", 1),
    "validators": ("/v1/governance/validators", 0), "receipt": ("/v1/tx/{0}", 1),
}


def cmd_query(args) -> int:
    path, arity = QUERIES[args.what]
    if len(args.params) != arity:
        raise UsageError(f"query {args.what} takes {arity} argument(s)")

    async def run():
        async with reader(args) as client:
            return await client.get(path.format(*(quote(p, safe="") for p in args.params)))
    print_json(asyncio.run(run()))
    return 0


def add_commands(commands) -> None:
    query = commands.add_parser("query", help="read state: " + ", ".join(QUERIES))
    query.add_argument("what", choices=sorted(QUERIES))
    query.add_argument("params", nargs="*", help="asset id, currency, cycle number, proposal id, tx hash")
    add_reader_arguments(query)
    query.set_defaults(func=cmd_query)
