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
import re
import sys
import time
from pathlib import Path

from contracts.tx import TxError, args_from_json, sign_tx
from crypto.keys import KeyFileError, read_key_file
from node.client import ClientError, ConsortClient
from node.config import ConfigError, load_config
from node.audit import AuditFailure
from node.cli_audit import AuditCommandError
from node.export import ExportError
from node.storage import StorageError
from crypto.smt import ProofFormatError

DEFAULT_NODE = os.environ.get("CONSORT_NODE", "http://127.0.0.1:7100")


class UsageError(Exception):
    pass


def _print(document) -> None:
    print(json.dumps(document, indent=2))


def cmd_init(args) -> int:
    from node.consortium import create_consortium
    index = create_consortium(Path(args.dir), institutions=args.institutions, base_port=args.base_port,
                              currency=args.currency, opening_balance=args.balance,
                              clients_per_institution=args.clients, validators=args.validators)
    print(f"created a {args.institutions}-institution consortium in {Path(args.dir).resolve()}")
    print(f"chain id {index['chain_id']}")
    for entry in index["institutions"]:
        print(f"  {entry['id']:<14} replica {entry['replica_id']}  {entry['url']}  config {entry['config']}")
    return 0


def cmd_node_start(args) -> int:
    from node.server import serve
    config = load_config(Path(args.config))
    return asyncio.run(serve(config))


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
    """Sign one transaction with --key (nonce: --nonce or microseconds now) and submit it."""
    key = read_key_file(Path(args.key))
    async with ConsortClient(args.node) as client:
        status = await client.status()
        nonce = args.nonce if args.nonce is not None else time.time_ns() // 1000
        tx = sign_tx(key.signer(), bytes.fromhex(status["chain_id"]), nonce, tx_type, values)
        result = await client.submit([tx], wait=not args.no_wait, timeout_ms=args.timeout_ms)
        return {"tx_hash": tx.hash.hex(), **result}


def _print_outcome(result: dict) -> int:
    _print(result)
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


QUERIES = {
    "accounts": ("/v1/accounts", 0), "assets": ("/v1/assets", 0), "asset": ("/v1/assets/{0}", 1), "history": ("/v1/assets/{0}/history", 1),
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
        async with ConsortClient(args.node) as client:
            return await client.get(path.format(*args.params))
    _print(asyncio.run(run()))
    return 0


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


def cmd_sim_run(args) -> int:
    import time as clock

    from netsim.network import Latency
    from netsim.report import replay_command, summary, write_plot
    from netsim.run import SimConfig, Simulation
    from netsim.scenarios import SCENARIOS
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose from {', '.join(SCENARIOS)}")
    f = (args.nodes - 1) // 3
    faulty = (0 if args.scenario == "none" else f) if args.faulty is None else args.faulty
    if not 0 <= faulty <= f:
        raise UsageError(f"--faulty must be between 0 and f={f} for {args.nodes} nodes")
    try:
        config = SimConfig(nodes=args.nodes, faulty=faulty, seed=args.seed, duration_s=args.duration,
                           scenario=args.scenario, rate_tps=args.rate,
                           latency=Latency(args.latency, args.latency_a_ms * 1000, args.latency_b_ms * 1000),
                           bandwidth_bytes_per_s=args.bandwidth_mbit * 125_000,
                           liveness_bound_s=min(5, args.duration - 1))
    except AssertionError as exc:
        raise UsageError(f"invalid simulation settings: {exc}") from None
    started = clock.perf_counter()
    report = Simulation(config).run()
    print(summary(report, clock.perf_counter() - started))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        plot = write_plot(report, Path(args.out).with_suffix(".svg"))
        print(f"  wrote {args.out} and {plot}")
    if report["violations"]:
        print(f"reproduce with seed={report['seed']}: {replay_command(report)}")
        return 1
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
    init.add_argument("--validators", type=int, help="how many validate from genesis (default: all)")
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

    send = tx.add_parser("send", help="sign and submit any transaction type")
    send.add_argument("type", help="e.g. assets.register, settlement.instruct, governance.vote")
    send.add_argument("--node", default=DEFAULT_NODE)
    send.add_argument("--key", required=True, help="client key file of the sending institution")
    send.add_argument("--args", help='arguments as a JSON object (bytes as {"$bytes": "<hex>"})')
    send.add_argument("--arg", action="append", help="name=value (int, true/false, hex:<bytes>, JSON, text)")
    send.add_argument("--nonce", type=int)
    send.add_argument("--no-wait", action="store_true")
    send.add_argument("--timeout-ms", type=int, default=30_000)
    send.set_defaults(func=cmd_tx_send)

    chain = commands.add_parser("chain", help="read the chain").add_subparsers(dest="action", required=True)
    status = chain.add_parser("status", help="height, view, state root and peers of a node")
    status.add_argument("--node", default=DEFAULT_NODE)
    status.set_defaults(func=cmd_chain_status)
    block = chain.add_parser("block", help="one block with its certificate and receipts")
    block.add_argument("height", type=int)
    block.add_argument("--node", default=DEFAULT_NODE)
    block.set_defaults(func=cmd_chain_block)
    query = commands.add_parser("query", help="read state: " + ", ".join(QUERIES))
    query.add_argument("what", choices=sorted(QUERIES))
    query.add_argument("params", nargs="*", help="asset id, currency, cycle number, proposal id, tx hash")
    query.add_argument("--node", default=DEFAULT_NODE)
    query.set_defaults(func=cmd_query)

    from node import cli_audit
    cli_audit.add_commands(commands)

    sim = commands.add_parser("sim", help="network simulator").add_subparsers(dest="action", required=True)
    run = sim.add_parser("run", help="one seeded simulated run of the real consensus code")
    run.add_argument("--nodes", type=int, default=4)
    run.add_argument("--faulty", type=int, help="faulty replicas (default f, or 0 for scenario none)")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--duration", type=int, default=20, help="simulated seconds")
    run.add_argument("--scenario", default="none", help="none, lossy, partition, split, crash, wipe, silent, "
                     "silent-primary, withhold-commits, forge, equivocate, replay, huge-view")
    run.add_argument("--rate", type=int, default=2000, help="client requests per simulated second")
    run.add_argument("--latency", default="uniform", choices=["constant", "uniform", "lognormal"])
    run.add_argument("--latency-a-ms", type=int, default=2, help="constant, low or median one-way latency")
    run.add_argument("--latency-b-ms", type=int, default=8, help="uniform high; for lognormal, sigma x 1000 (500 = 0.5)")
    run.add_argument("--bandwidth-mbit", type=int, default=0, help="per-link bandwidth in Mbit/s (0: unlimited)")
    run.add_argument("--out", help="write the JSON report here (and an SVG plot beside it)")
    run.set_defaults(func=cmd_sim_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.func(args)
    except (ClientError, ConfigError, KeyFileError, StorageError, TxError, UsageError, FileExistsError,
            OSError, AuditCommandError, AuditFailure, ExportError, ProofFormatError) as exc:
        print(f"consort: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
