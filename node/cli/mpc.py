"""`consort mpc open|input|status|result`: MPC sessions from the command line.

    consort mpc open --participants a,b,c --length 1 --value-max V --deadline-blocks 100 --result-to central-bank
    consort mpc open psi_cardinality --participants a,b --set-size-max 100 --to central-bank
    consort mpc open threshold --participants a,b,c --limit L --value-max V --to central-bank
    consort mpc input M000000000001 --config bank-alpha/node.json --values 1200000,0
    consort mpc input M000000000002 --config bank-alpha/node.json --elements-file customers.txt
    consort mpc rerun M000000000003          # an aborted sum again, without who did not commit
    consort mpc status M000000000001
    consort mpc result M000000000001 [--mpc-key central-bank/mpc.key]

`open`, `rerun`, `status` and `result` talk to a node like every reader
(--node, --key, --genesis, --ca); `open` and `rerun` sign an mpc.open
transaction. `input`
talks to no one: it writes the institution's input into its own node's
local input folder (the "mpc" section of the node's config), mode 0600,
where only that node reads it. `result` prints a session's result: in
clear from the record, or, for a recipient of a sealed result, opened with
its MPC key: a sum's totals checked against every participant's
commitments, a PSI count, or a threshold check's verdict ("over": true or
false, and nothing else).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from nacl import bindings

from contracts import mpc_state
from contracts.tx import sign_tx
from node.cli.shared import CommandFailed, UsageError, add_reader_arguments, chain_id, open_key, print_json, reader
from node.mpc.runner import inputs_folder, kx_from_key_file, mpc_section, write_local
from node.mpc.sealing import SealError, recipient_count_of_view, recipient_result_of_view, recipient_verdict_of_view

TIMEOUT_MS = 30_000


def _ids(text: str) -> list[str]:
    return sorted({part.strip() for part in text.split(",") if part.strip()})


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--values {text!r}: write integers separated by commas") from None


def _protocol(args) -> str:
    """The protocol named first (`consort mpc open threshold ...`) or by --protocol (default sum)."""
    if args.named and args.protocol and args.named != args.protocol:
        raise UsageError(f"the protocol is named twice: {args.named} and --protocol {args.protocol}")
    return args.named or args.protocol or mpc_state.SUM


def open_params(args, protocol: str) -> dict:
    """mpc.open's params for `protocol` from the command line's options."""
    if protocol == mpc_state.SUM:
        return {"length": args.length, "value_max": args.value_max}
    if protocol == mpc_state.THRESHOLD:
        if args.limit is None:
            raise UsageError("a threshold check needs --limit (minor units): is the sum over it?")
        return {"limit": args.limit, "value_max": args.value_max}
    return {"set_size_max": args.set_size_max}


def cmd_open(args) -> int:
    protocol = _protocol(args)
    params = open_params(args, protocol)

    async def run() -> dict:
        signer = open_key(args.key, args).signer()
        async with reader(args) as client:
            height = (await client.status())["height"]
            tx = sign_tx(signer, chain_id(args), time.time_ns() // 1000, "mpc.open", {
                "protocol": protocol, "participants": _ids(args.participants), "params": params,
                "deadline_height": height + args.deadline_blocks,
                "result_to": ["*"] if args.result_to == "*" else _ids(args.result_to)})
            return await client.submit([tx], wait=True, timeout_ms=TIMEOUT_MS)
    result = asyncio.run(run())
    print_json(result)
    receipt = (result.get("receipts") or [None])[0]
    return 0 if receipt and receipt["ok"] else 1


def rerun_args(record: dict, height: int, deadline_blocks: int) -> dict:
    """mpc.open's arguments to run an aborted session again without the
    participants it names as not having committed, under a fresh session id
    (a fresh id gives fresh pair seeds and blindings: nothing of the aborted
    run is reused)."""
    if record["status"] != mpc_state.ABORTED:
        raise CommandFailed(f"session {record['id']} is {record['status']}: only an aborted session is run again")
    dropped = set((record.get("missing") or {}).get("commits") or [])
    participants = [p for p in record["participants"] if p not in dropped]
    if not dropped or len(participants) < 3:
        raise CommandFailed(f"session {record['id']}: without {', '.join(sorted(dropped)) or 'no one'} it would have "
                            f"{len(participants)} participants; a sum or a threshold check takes 3 or more")
    return {"protocol": record["protocol"], "participants": participants, "params": record["params"],
            "deadline_height": height + deadline_blocks, "result_to": record["result_to"]}


def cmd_rerun(args) -> int:
    async def run() -> dict:
        signer = open_key(args.key, args).signer()
        async with reader(args) as client:
            record = (await client.get(f"/v1/mpc/sessions/{args.session}"))["session"]
            height = (await client.status())["height"]
            tx = sign_tx(signer, chain_id(args), time.time_ns() // 1000, "mpc.open",
                         rerun_args(record, height, args.deadline_blocks))
            return await client.submit([tx], wait=True, timeout_ms=TIMEOUT_MS)
    result = asyncio.run(run())
    print_json(result)
    receipt = (result.get("receipts") or [None])[0]
    return 0 if receipt and receipt["ok"] else 1


def cmd_input(args) -> int:
    config_path = Path(args.config)
    section = mpc_section(config_path)
    if section is None:
        raise CommandFailed(f"{config_path} has no 'mpc' section: its node runs no MPC sessions")
    if len(args.session) != mpc_state.ID_LENGTH or not args.session.startswith("M"):
        raise UsageError(f"{args.session!r} is not a session id (M and {mpc_state.ID_DIGITS} digits)")
    if (args.values is None) == (args.elements_file is None):
        raise UsageError("give --values (a sum) or --elements-file (a PSI set), one of them")
    if args.values is not None:
        document = {"values": _ints(args.values)}
    else:
        lines = Path(args.elements_file).read_text(encoding="utf-8").splitlines()
        document = {"elements": sorted({line.strip() for line in lines if line.strip()})}
    path = write_local(inputs_folder(config_path, section), f"{args.session}.json", document)
    print_json({"session": args.session, "input": str(path), **{k: len(v) for k, v in document.items()}})
    return 0


async def _session(args) -> dict:
    async with reader(args) as client:
        return (await client.get(f"/v1/mpc/sessions/{args.session}"))["session"]


def cmd_status(args) -> int:
    print_json(asyncio.run(_session(args)))
    return 0


def cmd_result(args) -> int:
    record = asyncio.run(_session(args))
    result = record.get("result")
    if record["status"] != mpc_state.DONE or result is None:
        raise CommandFailed(f"session {args.session} is {record['status']}: no result")
    if "clear" in result:
        print_json({"session": args.session, "sealed": False, **result["clear"]})
        return 0
    box = (result.get("sealed") or {}).get(args.institution or "")
    if box is None:
        raise UsageError(f"the result is sealed to {', '.join(result.get('sealed_to', []))}; give --institution "
                         "(one of them, whose --key reads it) and --mpc-key")
    if not args.mpc_key:
        raise UsageError("a sealed result opens with the recipient's MPC key: give --mpc-key FILE")
    kx = kx_from_key_file(open_key(args.mpc_key, args))
    if record["protocol"] in (mpc_state.THRESHOLD, mpc_state.PSI_CARDINALITY):
        return _print_opened_psi(args, record, kx)
    if record["protocol"] != mpc_state.SUM:
        try:
            as_stored = {**record, "result": {**result, "commitment": bytes.fromhex(result["commitment"])}}  # JSON: hex
            opened = mpc_state.opened_result(as_stored, bindings.crypto_box_seal_open(bytes.fromhex(box), *kx))
        except Exception:  # noqa: BLE001 - nacl's CryptoError: not our box
            opened = None
        if opened is None:
            raise CommandFailed(f"session {args.session}: the box does not open to the result committed on chain")
        print_json({"session": args.session, "sealed": True, **opened,
                    "note": "the intersection itself is in the node's local folder: <session>.result.json"})
        return 0
    try:
        opened = recipient_result_of_view(record, args.institution, kx)
    except SealError as exc:
        raise CommandFailed(f"session {args.session}: {exc}") from None
    print_json({"session": args.session, "sealed": True, "totals": list(opened.sums),
                "checked": "the totals open every participant's commitments"})
    return 0


def _print_opened_psi(args, record: dict, kx: tuple[bytes, bytes]) -> int:
    """A threshold check's verdict, or a PSI count, from the recipient's sealed box."""
    try:
        if record["protocol"] == mpc_state.THRESHOLD:
            print_json({"session": args.session, "over": recipient_verdict_of_view(record, args.institution, kx)})
        else:
            print_json({"session": args.session, "sealed": True,
                        "count": recipient_count_of_view(record, args.institution, kx)})
    except SealError as exc:
        raise UsageError(f"session {args.session}: {exc}") from None
    return 0


def add_commands(commands) -> None:
    mpc = commands.add_parser("mpc", help="MPC sessions").add_subparsers(dest="action", required=True)
    opening = mpc.add_parser("open", help="open a session (mpc.open)")
    opening.add_argument("named", nargs="?", choices=mpc_state.PROTOCOLS, metavar="PROTOCOL",
                         help=f"one of {', '.join(mpc_state.PROTOCOLS)} (default sum)")
    opening.add_argument("--protocol", choices=mpc_state.PROTOCOLS, help="the same, as an option")
    opening.add_argument("--participants", required=True, help="institution ids, comma-separated")
    opening.add_argument("--length", type=int, default=1, help="sum: values per party")
    opening.add_argument("--value-max", type=int, default=10**12,
                         help="sum, threshold: a party's largest value, minor units")
    opening.add_argument("--limit", type=int, help="threshold: is the sum of the values over this? (minor units)")
    opening.add_argument("--set-size-max", type=int, default=10_000, help="PSI: largest set (sealed: 184)")
    opening.add_argument("--deadline-blocks", type=int, default=100, help="blocks from now to the deadline")
    opening.add_argument("--result-to", "--to", default="*",
                         help="'*' (in clear, for all) or recipients, comma-separated")
    add_reader_arguments(opening)
    opening.set_defaults(func=cmd_open)

    again = mpc.add_parser("rerun", help="open an aborted sum again without the participants that did not commit")
    again.add_argument("session")
    again.add_argument("--deadline-blocks", type=int, default=100, help="blocks from now to the deadline")
    add_reader_arguments(again)
    again.set_defaults(func=cmd_rerun)

    giving = mpc.add_parser("input", help="give this institution's input to its own node (local file only)")
    giving.add_argument("session")
    giving.add_argument("--config", required=True, help="the institution's node config")
    giving.add_argument("--values", help="a sum: integers, comma-separated, minor units; a threshold check: one")
    giving.add_argument("--elements-file", help="a PSI: the set, one element per line (UTF-8)")
    giving.set_defaults(func=cmd_input)

    for name, func, text in (("status", cmd_status, "a session as the caller may see it"),
                             ("result", cmd_result, "a session's result (a sealed one opened, a sum's checked)")):
        command = mpc.add_parser(name, help=text)
        command.add_argument("session")
        if name == "result":
            command.add_argument("--institution", help="the recipient reading a sealed result")
            command.add_argument("--mpc-key", help="the recipient's MPC key file")
        add_reader_arguments(command)
        command.set_defaults(func=func)
