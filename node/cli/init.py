"""`consort init`: keys, genesis and node configs for a consortium, every node
on 127.0.0.1 or each on its own host (--hosts, --hosts-file; see
node.devtools.hosts for what a node binds and what its peers dial), and with
--compose a Docker Compose file for it (node.devtools.compose).

A command line that cannot be carried out as written (a host that is no
host, two nodes at one address, --institutions that disagrees with the
hosts) is refused before any key is made, with argparse's usage message and
exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from node.cli.shared import KDF_COSTS, add_new_key_options, passphrase_source
from node.devtools.compose import compose_text, hosts_problem
from node.devtools.consortium import BASE_PORT, create_consortium, require_empty
from node.devtools.hosts import (HOSTS_FILE_BYTES_MAX, HostsError, NodeAddress, hosts_file_entries, parse_hosts,
                                 split_hosts_list)

DEFAULT_INSTITUTIONS = 4
COMPOSE_FILE = "compose.yaml"


def _hosts_file(path: str) -> list[str]:
    try:
        with open(path, "rb") as file:
            raw = file.read(HOSTS_FILE_BYTES_MAX + 1)
        return hosts_file_entries(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, HostsError) as exc:
        raise argparse.ArgumentTypeError(f"{path}: {exc}") from None


def _addresses(args) -> list[NodeAddress] | None:
    """The nodes' addresses from --hosts or --hosts-file (None: all on
    127.0.0.1); HostsError for anything that cannot place them."""
    entries = args.hosts if args.hosts is not None else args.hosts_file
    if entries is None:
        if args.listen is not None or args.compose:
            raise HostsError("--listen and --compose go with --hosts or --hosts-file")
        return None
    addresses = parse_hosts(entries, args.base_port, args.listen)
    if args.institutions is not None and args.institutions != len(addresses):
        raise HostsError(f"--institutions {args.institutions} but {len(addresses)} hosts: one node per host "
                         "(leave --institutions out)")
    problem = hosts_problem([address.host for address in addresses]) if args.compose else None
    if problem is not None:
        raise HostsError(f"--compose: {problem}")
    return addresses


def cmd_init(args) -> int:
    try:
        addresses = _addresses(args)
    except HostsError as exc:
        args.usage_error(str(exc))  # exits 2
    require_empty(Path(args.dir))
    passphrase = passphrase_source(args).read("passphrase for the new keys: ", confirm=True)
    institutions = len(addresses) if addresses is not None else args.institutions or DEFAULT_INSTITUTIONS
    index = create_consortium(Path(args.dir), institutions=institutions, base_port=args.base_port,
                              currency=args.currency, opening_balance=args.balance,
                              clients_per_institution=args.clients, validators=args.validators,
                              passphrase=passphrase, kdf_cost=KDF_COSTS[args.kdf_cost], mpc=not args.no_mpc,
                              hosts=addresses)
    print(f"created a {institutions}-institution consortium in {Path(args.dir).resolve()}")
    print(f"chain id {index['chain_id']}")
    for entry in index["institutions"]:
        print(f"  {entry['id']:<14} replica {entry['replica_id']}  {entry['url']}  listens on "
              f"{entry['listen']} port {entry['port']}  config {entry['config']}  operator {entry['operator_url']}")
    if args.compose:
        _write_compose(Path(args.dir), [entry["id"] for entry in index["institutions"]], addresses)
    return 0


def _write_compose(directory: Path, institutions: list[str], addresses: list[NodeAddress]) -> None:
    (directory / COMPOSE_FILE).write_text(compose_text(list(zip(institutions, addresses))))
    print(f"compose file {directory.resolve() / COMPOSE_FILE}: build the image (docker build -t consort .), put "
          "the passphrase in a mode-600 file and name it in CONSORT_PASSPHRASE_FILE, set CONSORT_UID and "
          "CONSORT_GID, then: docker compose up")


def add_commands(commands) -> None:
    init = commands.add_parser("init", help="create a consortium (keys, genesis, node configs) on 127.0.0.1 or "
                                            "on the hosts given")
    init.add_argument("--dir", required=True)
    init.add_argument("--institutions", type=int,
                      help=f"how many (default: {DEFAULT_INSTITUTIONS}, or one per host with --hosts)")
    init.add_argument("--base-port", type=int, default=BASE_PORT,
                      help="the first node's port on 127.0.0.1 (the next ones count up); with --hosts, the port "
                           "of a host given without one")
    placed = init.add_mutually_exclusive_group()
    placed.add_argument("--hosts", type=split_hosts_list, metavar="HOST[:PORT],...",
                        help="one node per host (DNS name or IP address; IPv6 as [addr] or [addr]:port), in order")
    placed.add_argument("--hosts-file", type=_hosts_file, metavar="FILE",
                        help="as --hosts, one host per line (blank lines and # comments skipped)")
    init.add_argument("--listen", metavar="ADDR",
                      help="the address every node binds (default: its host's address if that is an IP address, "
                           "else 0.0.0.0)")
    init.add_argument("--compose", action="store_true",
                      help=f"also write {COMPOSE_FILE}: one container per node (hosts must be names)")
    init.add_argument("--currency", default="EUR")
    init.add_argument("--balance", type=int, default=1_000_000_000_00, help="opening balance, minor units")
    init.add_argument("--clients", type=int, default=4, help="client keys per institution")
    init.add_argument("--validators", type=int, help="how many validate from genesis (default: all)")
    init.add_argument("--no-mpc", action="store_true", help="no MPC keys (mpc.key, mpc-client.key) and no MPC runner")
    add_new_key_options(init)
    init.set_defaults(func=cmd_init, usage_error=init.error)
