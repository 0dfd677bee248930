"""The compose files (node.devtools.compose): deploy/compose.yaml is what the
writer gives for `consort init --dir deploy/consortium --hosts
node-0,node-1,node-2,node-3`, and the file `consort init --hosts ...
--compose` writes parses, names one service per configured node at the
address and port of that node's configuration, and mounts the node's own
folder but never the root CA's key. No container runtime runs here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fixtures import PASSPHRASE
from node.cli import main
from node.devtools.compose import DEPLOY_HOSTS, ComposeError, compose_text, deploy_text
from node.devtools.hosts import parse_hosts
from node.runtime.config import load_config
from node.runtime.passphrase import ENV_VAR

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_COMPOSE = ROOT / "deploy" / "compose.yaml"


@pytest.fixture
def consortium(tmp_path, monkeypatch) -> Path:
    """`consort init --hosts node-0,...,node-3 --compose` in tmp_path/c."""
    monkeypatch.setenv(ENV_VAR, PASSPHRASE)
    assert main(["init", "--dir", str(tmp_path / "c"), "--hosts", ",".join(DEPLOY_HOSTS), "--compose",
                 "--kdf-cost", "light", "--clients", "1"]) == 0
    return (tmp_path / "c").resolve()


def mounts(service: dict, folder: Path) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (`folder`: the compose file's)."""
    found = {}
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        assert source.startswith(("./", "/")), f"{source} would be a named volume"
        found[target] = (folder / source).resolve()
    return found


def test_the_deploy_file_is_what_the_writer_gives():
    assert DEPLOY_COMPOSE.read_text() == deploy_text(), \
        "deploy/compose.yaml drifted: regenerate with `python -m node.devtools.compose > deploy/compose.yaml`"


def test_each_configured_node_is_one_service_at_its_address(consortium):
    document = yaml.safe_load((consortium / "compose.yaml").read_text())
    genesis = json.loads((consortium / "genesis.json").read_text())
    nodes = [member for member in genesis["institutions"] if "node_key" in member]
    assert list(document["services"]) == list(DEPLOY_HOSTS) == [m["node_endpoint"].split(":")[0] for m in nodes]
    for (name, service), member in zip(document["services"].items(), nodes):
        folder = consortium / member["id"]
        config = load_config(folder / "node.json")
        assert (config.host, config.port, config.endpoint) == ("0.0.0.0", 7100, f"{name}:7100")
        assert service["expose"] == [str(config.port)]
        assert service["environment"]["CONSORT_NODE"] == config.url == f"https://{member['node_endpoint']}"
        command = service["command"]
        assert command[:2] == ["node", "start"] and "--passphrase-file" in command
        in_container = command[command.index("--config") + 1]
        mounted = mounts(service, consortium)
        assert mounted[str(Path(in_container).parent)] == folder
        assert mounted["/consortium/genesis.json"] == consortium / "genesis.json"
        assert mounted["/consortium/ca/ca.crt"] == consortium / "ca" / "ca.crt"
        assert not any(path.name == "ca.key" or path == consortium / "ca" for path in mounted.values())
        assert service["secrets"] == ["passphrase"]
    assert set(document["secrets"]) == {"passphrase"}


def test_the_deploy_file_runs_the_nodes_init_writes_for_those_hosts(consortium):
    written = yaml.safe_load((consortium / "compose.yaml").read_text())["services"]
    deploy = yaml.safe_load(DEPLOY_COMPOSE.read_text())["services"]
    assert list(deploy) == list(written)
    for name, service in deploy.items():
        assert service["build"] == ".."
        assert (ROOT / "deploy" / service["build"] / "Dockerfile").is_file()
        same = {key: value for key, value in service.items() if key not in ("build", "volumes")}
        assert same == {key: value for key, value in written[name].items() if key != "volumes"}
        assert [v.replace("./consortium/", "./", 1) for v in service["volumes"]] == written[name]["volumes"]


def test_nodes_placed_by_ip_address_get_no_compose_file():
    with pytest.raises(ComposeError, match="names its nodes by host name"):
        compose_text([("bank-alpha", parse_hosts(["10.0.0.1"], 7100)[0])])
