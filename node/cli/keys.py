"""`consort keygen`, `consort ca init|sign`, `consort cert node|show`: an
institution's keys and the consortium's certificates, made where each secret
lives (node.runtime.keystore names the files):

    the root CA holder   consort ca init --ca-dir CA --name NAME          -> CA/ca.key, CA/ca.crt
    each institution     consort keygen --dir D --institution ID          -> its keys and D/institution-ca.csr
    the root CA holder   consort ca sign --ca-dir CA --csr D/institution-ca.csr --out institution-ca.crt
    the institution      consort cert node --dir D --host H [--host H]... -> D/node.crt
    anyone               consort cert show D/node.crt [--ca CA/ca.crt]

No private key leaves the folder it was made in: the institution sends its
request (and its public keys, for the governance proposal that admits it),
the root CA holder sends back the certificate.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from crypto import certs
from node.cli.shared import (
    KDF_COSTS, add_json_option, add_new_key_options, add_out_option, add_passphrase_options, passphrase_source,
    print_json,
)
from node.runtime import keystore


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _window(pem: bytes) -> dict:
    validity = certs.validity(pem)
    return {"not_before": validity.not_before.isoformat(), "not_after": validity.not_after.isoformat()}


def cmd_keygen(args) -> int:
    directory = Path(args.dir)
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty: keygen makes new keys in a new folder")
    certs.check_institution_id(args.institution)
    passphrase = passphrase_source(args).read(f"passphrase for {args.institution}'s new keys: ", confirm=True)
    made = keystore.make_institution(directory, args.institution, passphrase, KDF_COSTS[args.kdf_cost],
                                     args.clients, node=not args.no_node)
    print_json({
        "institution": made.institution,
        "node_key": made.node_key.hex() if made.node_key else None,
        "client_keys": [k.hex() for k in made.client_keys],
        "institution_ca_key": made.institution_ca_key.hex(),
        "request": str(directory / keystore.INSTITUTION_CA_CSR),
        "next": f"send {keystore.INSTITUTION_CA_CSR} to the root CA holder (consort ca sign), put the certificate "
                f"it returns at {directory / keystore.INSTITUTION_CA_CERT}, then: consort cert node --dir {directory} "
                "--host HOST",
    })
    return 0


def cmd_ca_init(args) -> int:
    ca_dir = Path(args.ca_dir)
    if (ca_dir / keystore.CA_KEY).exists() or (ca_dir / keystore.CA_CERT).exists():
        raise FileExistsError(f"{ca_dir} already holds a root CA")
    passphrase = passphrase_source(args).read("passphrase for the new root CA key: ", confirm=True)
    pem = keystore.make_root(ca_dir, args.name, passphrase, KDF_COSTS[args.kdf_cost], _now(), args.days)
    print_json({"root_ca": str(ca_dir / keystore.CA_CERT), "name": args.name,
                "public_key": certs.public_key_of(pem).hex(), **_window(pem)})
    return 0


def cmd_ca_sign(args) -> int:
    out = Path(args.out)
    if out.exists():
        raise FileExistsError(f"{out} exists")
    csr = keystore.read_public(Path(args.csr), "certificate request")
    institution = certs.institution_of_request(csr)  # refused before the CA key is opened
    passphrase = passphrase_source(args).read("passphrase of the root CA key: ")
    pem = keystore.sign_request(Path(args.ca_dir), csr, passphrase, _now(), args.days)
    keystore.write_public(out, pem)
    print_json({"institution": institution, "certificate": str(out),
                "institution_ca_key": certs.public_key_of(pem).hex(), **_window(pem)})
    return 0


def cmd_cert_node(args) -> int:
    directory = Path(args.dir)
    root_pem = keystore.read_public(Path(args.ca), "root CA certificate") if args.ca else None
    passphrase = passphrase_source(args).read(f"passphrase of {directory / keystore.INSTITUTION_CA_KEY}: ")
    chain = keystore.issue_node_certificate(directory, args.host, passphrase, _now(), args.days, root_pem)
    return _show(chain, Path(args.ca) if args.ca else None, str(directory / keystore.NODE_CERT))


def cmd_cert_show(args) -> int:
    pem = keystore.read_public(Path(args.file), "certificate")
    return _show(pem, Path(args.ca) if args.ca else None, args.file)


def _show(chain: bytes, ca: Path | None, name: str) -> int:
    """Print a node chain's identity, hosts and window, checked against the root when given."""
    identity = certs.verify_node_chain(chain, keystore.read_public(ca, "root CA certificate"), _now()) \
        if ca is not None else certs.node_identity(chain)
    print_json({"certificate": name, "institution": identity.institution, "node_key": identity.node_key.hex(),
                "hosts": certs.node_hosts(chain), **_window(chain),
                "verified_against": str(ca) if ca is not None else None})
    return 0


def days(text: str) -> int:
    """A positive whole number of days (argparse type)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of days")
    return int(text)


def add_commands(commands) -> None:
    keygen = commands.add_parser("keygen", help="an institution's own keys and its CA certificate request")
    keygen.add_argument("--dir", required=True, help="a new folder for the keys")
    keygen.add_argument("--institution", required=True, help="its id, as in the genesis file")
    keygen.add_argument("--clients", type=int, default=1, choices=range(0, 65), metavar="N",
                        help="client keys to make (0..64)")
    keygen.add_argument("--no-node", action="store_true", help="no node key (an institution that runs no node)")
    add_new_key_options(keygen)
    keygen.set_defaults(func=cmd_keygen)

    ca = commands.add_parser("ca", help="the consortium root CA").add_subparsers(dest="action", required=True)
    init = ca.add_parser("init", help="make the root CA key and certificate")
    init.add_argument("--ca-dir", required=True)
    init.add_argument("--name", required=True, help="the root's name, e.g. 'Example consortium root CA'")
    init.add_argument("--days", type=days, default=keystore.ROOT_DAYS)
    add_new_key_options(init)
    init.set_defaults(func=cmd_ca_init)
    sign = ca.add_parser("sign", help="sign an institution's CA request")
    sign.add_argument("--ca-dir", required=True)
    sign.add_argument("--csr", required=True)
    add_out_option(sign, "the institution's CA certificate to write", required=True)
    sign.add_argument("--days", type=days, default=keystore.INSTITUTION_DAYS)
    add_passphrase_options(sign)
    sign.set_defaults(func=cmd_ca_sign)

    cert = commands.add_parser("cert", help="node certificates").add_subparsers(dest="action", required=True)
    node = cert.add_parser("node", help="issue the node's certificate with the institution CA key")
    node.add_argument("--dir", required=True, help="the institution's folder (from consort keygen)")
    node.add_argument("--host", action="append", required=True, help="an IP address or DNS name (repeat)")
    node.add_argument("--days", type=days, default=keystore.NODE_DAYS)
    node.add_argument("--ca", help="the root CA certificate: check the new chain against it")
    add_passphrase_options(node)
    node.set_defaults(func=cmd_cert_node)
    show = cert.add_parser("show", help="a node certificate's identity and window")
    show.add_argument("file")
    show.add_argument("--ca", help="the root CA certificate: check the chain against it")
    add_json_option(show)
    show.set_defaults(func=cmd_cert_show)
