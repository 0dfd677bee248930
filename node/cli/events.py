"""`consort events`: follow the chain through a node's event stream
(GET /v1/events, signed with --key), one line per event as it commits,
history first with --from-height; --type, --account and --asset keep
the receipts that match (a member sees its own institution's receipts
only, auditors and regulators every one). It runs until Ctrl-C (exit 0)
or, with --to-height, until that height's block. A resync from the node
(its history page done, or this reader behind) is followed by asking
again from the height it names, without a gap (node.client's `events`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

from node.cli.shared import UsageError, add_reader_arguments, reader

BLOCK_HASH_DIGITS = 16  # of a block's hash on its line (a receipt's line gives its transaction's whole hash)


def event_line(name: str, data: dict) -> str:
    """One event as a line for a terminal."""
    if name == "block":
        when = datetime.fromtimestamp(data["timestamp_ms"] / 1000, timezone.utc).isoformat(timespec="milliseconds")
        return (f"block {data['height']} hash {data['hash'][:BLOCK_HASH_DIGITS]} txs {data['tx_count']} "
                f"time {when.replace('+00:00', 'Z')}")
    if name == "receipt":
        outcome = "ok" if data["ok"] else f"failed {data['code']}"
        return (f"receipt {data['height']}.{data['index']} {data['type']} {outcome} sender {data['sender'] or 'unknown'} "
                f"tx {data['tx_hash']}")
    return f"{name} {json.dumps(data, separators=(',', ':'))}"


async def follow(args) -> None:
    async with reader(args) as client:
        async for event in client.events(args.from_height, args.to_height, tx_type=args.tx_type,
                                         account=args.account, asset=args.asset):
            data = event.json()
            if args.json:
                line = json.dumps({"event": event.name, "id": event.id if event.name == "block" else None,
                                   "data": data}, separators=(",", ":"))
            else:
                line = event_line(event.name, data)
            print(line, flush=True)


def cmd_events(args) -> int:
    for name in ("from_height", "to_height"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} starts at 1 (the first block)")
    try:
        asyncio.run(follow(args))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one stops following: not an error
    return 0


def add_commands(commands) -> None:
    events = commands.add_parser("events", help="follow blocks and receipts as they commit (Ctrl-C stops)")
    events.add_argument("--from-height", type=int, metavar="N", help="replay from height N first "
                                                                     "(default: start at the next block)")
    events.add_argument("--to-height", type=int, metavar="M", help="stop after height M (default: follow on)")
    events.add_argument("--type", dest="tx_type", metavar="TYPE", help="receipts of this type only, "
                                                                      "e.g. settlement.pay")
    events.add_argument("--account", metavar="INSTITUTION", help="receipts that involve this institution only")
    events.add_argument("--asset", metavar="ASSET", help="receipts that involve this asset only")
    add_reader_arguments(events)  # its --json: one JSON object per line, {"event", "id", "data"}
    events.set_defaults(func=cmd_events)
