"""A Docker Compose file for a consortium written by `consort init --hosts`:
one service per node, named by the host its peers dial (so the service name
is the name that resolves on the compose network and that the node
certificate carries), running `consort node start` on its own folder.

Each service mounts its institution's folder (read-write: the node's LevelDB
goes to data/ there), the genesis file and the root CA certificate (read
only; the root CA's key, next to it in ca/, is never mounted), and reads
the key passphrase from a compose secret (a file, mode 600, named by
CONSORT_PASSPHRASE_FILE, else `passphrase` beside the compose file) with
--passphrase-file, so it is in no environment variable `docker inspect`
shows. The container runs as CONSORT_UID:CONSORT_GID, which must own the
consortium folder: key files are mode 600 and refused otherwise.

No port is published on the Docker host: the nodes reach each other on the
compose network, and clients run in a node's container (`docker compose exec
node-0 consort chain status --key ...`, with CONSORT_NODE, CONSORT_GENESIS
and CONSORT_CA set for it).

Nodes placed by IP address cannot be given those addresses here: compose
files are written for host names only. The text is built by hand, one
deterministic layout (scalars are JSON strings, which YAML reads as they
are), and written two ways that cannot drift apart: `consort init --hosts
... --compose` puts compose.yaml in the consortium folder (image
consort:latest, built beforehand), and deploy/compose.yaml in the repository
is `deploy_text()` (built from the repository), which
tests/unit/test_compose.py compares with this writer and with what `consort
init --hosts node-0,node-1,node-2,node-3` writes.
"""

from __future__ import annotations

import ipaddress
import json

from node.devtools.consortium import BASE_PORT, institution_ids
from node.devtools.hosts import NodeAddress, parse_hosts

DEPLOY_HOSTS = ("node-0", "node-1", "node-2", "node-3")
DEPLOY_FOLDER = "./consortium"
DEPLOY_BUILD = ".."
IMAGE = "consort:latest"
MOUNT_ROOT = "/consortium"
SECRET = "passphrase"
UID_MESSAGE = "set CONSORT_UID and CONSORT_GID to the consortium folder's owner (id -u, id -g)"


class ComposeError(ValueError):
    """A consortium that this compose layout cannot run."""


def _q(text: str) -> str:
    return json.dumps(text)


def hosts_problem(hosts: list[str]) -> str | None:
    """None if nodes at `hosts` can be compose services; else why not."""
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            continue
        return (f"a compose file names its nodes by host name (e.g. --hosts node-0,node-1,node-2,node-3), "
                f"and {host} is an address")
    return None


def _service(institution: str, address: NodeAddress, folder: str, build: str | None) -> list[str]:
    config = f"{MOUNT_ROOT}/{institution}/node.json"
    command = ["node", "start", "--config", config, "--passphrase-file", f"/run/secrets/{SECRET}"]
    lines = [f"  {address.host}:"]
    if build is not None:
        lines.append(f"    build: {_q(build)}")
    lines += [
        f"    image: {_q(IMAGE)}",
        f"    user: {_q('${CONSORT_UID:?' + UID_MESSAGE + '}:${CONSORT_GID:?' + UID_MESSAGE + '}')}",
        f"    command: [{', '.join(_q(part) for part in command)}]",
        "    volumes:",
        f"      - {_q(f'{folder}/{institution}:{MOUNT_ROOT}/{institution}')}",
        f"      - {_q(f'{folder}/genesis.json:{MOUNT_ROOT}/genesis.json:ro')}",
        f"      - {_q(f'{folder}/ca/ca.crt:{MOUNT_ROOT}/ca/ca.crt:ro')}",
        f"    secrets: [{_q(SECRET)}]",
        "    environment:",
        f"      CONSORT_NODE: {_q(address.url())}",
        f"      CONSORT_GENESIS: {_q(f'{MOUNT_ROOT}/genesis.json')}",
        f"      CONSORT_CA: {_q(f'{MOUNT_ROOT}/ca/ca.crt')}",
        f"    expose: [{_q(str(address.port))}]",
        f"    restart: {_q('unless-stopped')}",
    ]
    return lines


def compose_text(nodes: list[tuple[str, NodeAddress]], folder: str = ".", build: str | None = None) -> str:
    """The compose file for `nodes` ((institution id, its address), in
    replica order) of a consortium whose folder is at `folder`, relative to
    the compose file; `build`: the build context of the image (the folder
    holding the Dockerfile), else the image `consort:latest` must exist
    (`docker build -t consort .`). ComposeError if a node is placed by IP
    address."""
    problem = hosts_problem([address.host for _, address in nodes])
    if problem is not None:
        raise ComposeError(problem)
    folder = folder.rstrip("/") or "."
    if not folder.startswith(("/", ".")):
        folder = f"./{folder}"  # a bare name would be a named volume, not the folder
    lines = ["# Written by consort (node/devtools/compose.py) for the consortium in "
             f"{_q(folder)}; one service per node.", "services:"]
    for institution, address in nodes:
        lines += _service(institution, address, folder, build)
    lines += ["secrets:", f"  {SECRET}:", f"    file: {_q('${CONSORT_PASSPHRASE_FILE:-./passphrase}')}"]
    return "\n".join(lines) + "\n"


def deploy_text() -> str:
    """deploy/compose.yaml: the nodes of `consort init --dir deploy/consortium
    --hosts node-0,node-1,node-2,node-3`, the image built from the repository.
    Regenerate with `python -m node.devtools.compose > deploy/compose.yaml`."""
    addresses = parse_hosts(list(DEPLOY_HOSTS), BASE_PORT)
    return compose_text(list(zip(institution_ids(len(addresses)), addresses)), DEPLOY_FOLDER, DEPLOY_BUILD)


if __name__ == "__main__":
    print(deploy_text(), end="")
