"""`consort export` and `consort audit verify|prove|history|txs`: the
auditor's commands (`audit txs` in node.cli.audit_txs). Each trusts only
the genesis file it is given; exit status 0 means everything checked holds.
Reading from a node (--node) takes --key, a client key of an auditor,
regulator or validator: the export stream is theirs."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from contracts.executor import to_json_value
from contracts.tx import decode_tx
from crypto import encoding, smt
from node.audit.auditor import AuditFailure
from node.audit.export import ExportError, declared_height, export_storage
from node.audit.signatures import default_workers
from node.audit.history import asset_touches, inclusion_entry, verify_inclusion_entry
from node.audit.verify import bulk_records, check_state_proof, download_export, read_genesis, verify_export
from node.cli.audit_txs import add_command as add_txs_command
from node.cli.shared import (
    GENESIS_ENVIRONMENT, CommandFailed, UsageError, add_ca_argument, add_json_option, add_out_option,
    add_passphrase_options, ca_path, open_key, print_json, reader,
)
from node.devtools.progress import Progress
from node.runtime.storage import Storage


def _node_signer(args):
    """The signer of --key, which reading from --node needs."""
    if not args.key:
        raise UsageError("--node needs --key KEYFILE: a client key of an auditor, regulator or validator")
    return open_key(args.key, args).signer()


def cmd_export(args) -> int:
    out = Path(args.out)
    started = time.perf_counter()
    if not args.genesis:
        raise UsageError(f"give --genesis FILE (or set {GENESIS_ENVIRONMENT}): the chain to export "
                         "(and, with --node, to sign for)")
    genesis = read_genesis(Path(args.genesis))
    if args.node:
        size = _download(args, genesis, out, _node_signer(args))
        done = {"source": args.node, "out": str(out), "bytes": size}
    else:
        storage = Storage(Path(args.data), genesis.chain_id, create=False)
        try:
            with open(out, "wb") as handle, Progress("exporting", unit="blocks") as progress:
                height = export_storage(storage, handle, progress.update)
        finally:
            storage.close()
        done = {"source": args.data, "out": str(out), "blocks": height}
    done["seconds"] = round(time.perf_counter() - started, 3)
    if args.json:
        print_json(done)
    else:
        amount = f"{done['bytes']} bytes" if "bytes" in done else f"{done['blocks']} blocks"
        print(f"exported {amount} from {done['source']} to {out} in {done['seconds']:.1f} s")
    return 0


def _download(args, genesis, path: Path, signer) -> int:
    """--node's export stream into `path`, signed by `signer`, showing progress; the bytes written."""
    with Progress("downloading", unit="bytes") as progress:
        return asyncio.run(download_export(args.node, path, signer, genesis.chain_id, ca=ca_path(args),
                                           progress=progress.update))


def _audited(args, on_block=None):
    """Run the audit over --file or --node, showing progress; return the auditor."""
    if not (args.file or args.node):
        raise UsageError("name the chain to audit: --file EXPORT or --node URL")
    signer = None if args.file else _node_signer(args)
    genesis = read_genesis(Path(args.genesis))
    # re-execution starts from the whole genesis state: a bulk state file's records too
    bulk = bulk_records(Path(args.genesis), genesis) if args.reexecute and genesis.bulk_state else None
    if args.file:
        return _verified(genesis, Path(args.file), args, on_block, bulk)
    with tempfile.TemporaryDirectory(prefix="consort-audit-") as folder:
        path = Path(folder) / "chain.export"
        _download(args, genesis, path, signer)
        return _verified(genesis, path, args, on_block, bulk)


def _verified(genesis, path: Path, args, on_block=None, bulk=None):
    """verify_export with a progress bar out of the height the file declares."""
    with Progress("verifying", total=declared_height(path), unit="blocks") as progress:
        def each_block(auditor, block, certificate, receipts):
            progress.update(auditor.height, note=f"{auditor.report.txs:,} transactions")
            if on_block is not None:
                on_block(auditor, block, certificate, receipts)
        return verify_export(genesis, path, args.reexecute, on_block=each_block, progress=None,
                             workers=_workers(args), bulk=bulk)


def _workers(args) -> int:
    """--workers, else one per core (none on a single core)."""
    return default_workers() if args.workers is None else args.workers


def _processes(text: str) -> int:
    """--workers' value: a number of processes, 0 or more (argparse makes anything else exit 2)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"a number of processes, 0 or more, not {text!r}")
    return int(text)


def cmd_audit_verify(args) -> int:
    started = time.perf_counter()
    try:
        auditor = _audited(args)
    except (AuditFailure, ExportError) as exc:
        if args.json:
            print_json({"ok": False, "failure": str(exc)})
        else:
            print(f"AUDIT FAILED: {exc}")
        return 1
    elapsed = time.perf_counter() - started
    report = auditor.report
    if args.json:
        print_json({"ok": True, "blocks": report.blocks, "transactions": report.txs,
                    "validator_changes": report.validator_changes, "seconds": round(elapsed, 3),
                    "mpc": {"results": auditor.mpc.report.results, "aborted": auditor.mpc.report.aborted},
                    "reexecuted": args.reexecute, "workers": _workers(args),
                    "state_root": report.state_root.hex() if args.reexecute else None})
        return 0
    print(f"audit ok: {report.blocks} blocks, {report.txs} transactions, "
          f"{report.validator_changes} validator-set changes, in {elapsed:.1f} s "
          f"({report.blocks / elapsed if elapsed else 0:.0f} blocks/s, {report.txs / elapsed if elapsed else 0:.0f} tx/s)")
    if auditor.mpc.report.results or auditor.mpc.report.aborted:
        print(auditor.mpc.report.summary())
    if args.reexecute:
        print(f"re-executed every block; state root after block {report.blocks}: {report.state_root.hex()}")
    return 0


def parse_key(text: str) -> bytes:
    return bytes.fromhex(text[4:]) if text.startswith("hex:") else text.encode()


def cmd_audit_prove(args) -> int:
    key = parse_key(args.state_key)
    if not args.node:
        raise UsageError("audit prove asks a node for the proof: give --node URL and --key KEYFILE")
    _node_signer(args)

    async def fetch():
        async with reader(args) as client:
            return await client.state_proof(key)

    answer = asyncio.run(fetch())
    headers = {}

    def keep_header(auditor, block, certificate, receipts):
        if block.header.height == answer["header_height"]:
            headers["header"] = block.header

    auditor = _audited(args, keep_header)
    header = headers.get("header")
    if header is None:
        raise CommandFailed("the node's answer names a header beyond the audited chain")
    value = None if answer["value"] is None else bytes.fromhex(answer["value"])
    proof = smt.Proof.from_wire(bytes.fromhex(answer["proof"]))
    problem = check_state_proof(auditor, header, key, value, proof)
    result = {"key": args.state_key, "value": _show(value), "present": value is not None,
              "certified_by_block": header.height, "state_after_block": header.height - 1,
              "state_root": header.state_root.hex(), "proof_bytes": len(proof.to_wire()),
              "verified": problem is None}
    print(json.dumps(result, indent=2))
    if problem is not None:
        print(f"PROOF FAILED: {problem}", file=sys.stderr)
        return 1
    return 0


def _show(value: bytes | None):
    if value is None:
        return None
    try:
        return to_json_value(encoding.decode(value))
    except encoding.DecodeError:
        return value.hex()


def cmd_audit_history(args) -> int:
    found: list[dict] = []
    headers: dict[int, object] = {}

    def collect(auditor, block, certificate, receipts):
        headers[block.header.height] = block.header
        for index, raw in enumerate(receipts):
            output = _receipt_output(raw)
            if asset_touches(block.txs[index], output, args.asset):
                found.append(inclusion_entry(block, index, receipts))

    _audited(args, collect)
    failures = 0
    lines = []
    for entry in found:
        next_header = headers.get(entry["height"] + 1)
        problem = verify_inclusion_entry(entry, headers[entry["height"]],
                                         None if next_header is None else next_header.receipts_root)
        failures += problem is not None
        lines.append(_history_line(entry, problem, next_header is not None))
    print(json.dumps({"asset": args.asset, "transactions": lines}, indent=2))
    return 1 if failures else 0


def _receipt_output(raw: bytes):
    try:
        return encoding.decode(raw)[3]
    except (encoding.DecodeError, IndexError, TypeError):
        return None


def _history_line(entry: dict, problem: str | None, receipt_certified: bool) -> dict:
    tx = decode_tx(entry["tx"])
    receipt = encoding.decode(entry["receipt"])
    return {
        "height": entry["height"], "index": entry["index"], "tx_hash": tx.hash.hex(), "type": tx.type,
        "args": to_json_value(tx.args), "code": receipt[1], "output": to_json_value(receipt[3]),
        "tx_proof": [h.hex() for h in entry["tx_proof"]],
        "receipt_proof": [h.hex() for h in entry["receipt_proof"]],
        "receipt_certified": receipt_certified, "verified": problem is None,
        **({"problem": problem} if problem else {}),
    }


def add_commands(commands) -> None:
    export = commands.add_parser("export", help="write the chain to one file (from a node or a data folder)")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--node", help="node URL")
    source.add_argument("--data", help="a stopped node's data folder (needs --genesis)")
    export.add_argument("--genesis", help="the genesis file (default: $CONSORT_GENESIS)",
                        default=os.environ.get(GENESIS_ENVIRONMENT))
    export.add_argument("--key", help="with --node: a client key of an auditor, regulator or validator")
    add_passphrase_options(export)
    add_ca_argument(export)
    add_out_option(export, "the export file to write", required=True)
    add_json_option(export)
    export.set_defaults(func=cmd_export)

    audit = commands.add_parser("audit", help="verify the chain, prove values").add_subparsers(
        dest="action", required=True)
    for name, func, help_text in (
        ("verify", cmd_audit_verify, "verify a whole chain from genesis"),
        ("prove", cmd_audit_prove, "a state value with its proof against a certified header"),
        ("history", cmd_audit_history, "every transaction that touched an asset, with inclusion proofs"),
    ):
        command = audit.add_parser(name, help=help_text)
        if name == "prove":
            command.add_argument("state_key", metavar="key", help="state key, as text or hex:<bytes>")
        if name == "history":
            command.add_argument("asset", help="asset id")
        command.add_argument("--genesis", required=not os.environ.get(GENESIS_ENVIRONMENT),
                             default=os.environ.get(GENESIS_ENVIRONMENT),
                             help="the genesis file, the only thing trusted (default: $CONSORT_GENESIS)")
        chain = command.add_mutually_exclusive_group(required=name == "verify")
        chain.add_argument("--file", help="an export file")
        chain.add_argument("--node", help="a node URL (its /v1/export stream is verified)")
        command.add_argument("--key", help="with --node: a client key of an auditor, regulator or validator")
        add_passphrase_options(command)
        add_ca_argument(command)
        command.add_argument("--reexecute", action="store_true", help="replay every block, recompute state roots")
        command.add_argument("--workers", type=_processes, metavar="N",
                             help="processes that check signatures ahead of the audit "
                                  "(default: one per core; 0: none, all in this process)")
        add_json_option(command)
        command.set_defaults(func=func)
    add_txs_command(audit)
