"""`consort init`: keys, genesis and node configs for a local consortium."""

from __future__ import annotations

from pathlib import Path

from node.cli.shared import KDF_COSTS, add_new_key_options, passphrase_source
from node.devtools.consortium import create_consortium, require_empty


def cmd_init(args) -> int:
    require_empty(Path(args.dir))
    passphrase = passphrase_source(args).read("passphrase for the new keys: ", confirm=True)
    index = create_consortium(Path(args.dir), institutions=args.institutions, base_port=args.base_port,
                              currency=args.currency, opening_balance=args.balance,
                              clients_per_institution=args.clients, validators=args.validators,
                              passphrase=passphrase, kdf_cost=KDF_COSTS[args.kdf_cost], mpc=not args.no_mpc)
    print(f"created a {args.institutions}-institution consortium in {Path(args.dir).resolve()}")
    print(f"chain id {index['chain_id']}")
    for entry in index["institutions"]:
        print(f"  {entry['id']:<14} replica {entry['replica_id']}  {entry['url']}  config {entry['config']}  "
              f"operator {entry['operator_url']}")
    return 0


def add_commands(commands) -> None:
    init = commands.add_parser("init", help="create a local consortium (keys, genesis, node configs)")
    init.add_argument("--dir", required=True)
    init.add_argument("--institutions", type=int, default=4)
    init.add_argument("--base-port", type=int, default=7100)
    init.add_argument("--currency", default="EUR")
    init.add_argument("--balance", type=int, default=1_000_000_000_00, help="opening balance, minor units")
    init.add_argument("--clients", type=int, default=4, help="client keys per institution")
    init.add_argument("--validators", type=int, help="how many validate from genesis (default: all)")
    init.add_argument("--no-mpc", action="store_true", help="no MPC keys (mpc.key, mpc-client.key) and no MPC runner")
    add_new_key_options(init)
    init.set_defaults(func=cmd_init)
