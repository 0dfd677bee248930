"""Placing nodes on hosts: `--hosts` entries parsed and refused
(node.devtools.hosts), what `consort init --hosts` writes for each node (the
address it binds, the endpoint the others dial, a certificate naming that
host), and its usage errors: exit status 2, nothing written."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from crypto import certs
from crypto.keys import KDF_COST_LIGHT
from fixtures import PASSPHRASE
from node.cli import main
from node.devtools.consortium import create_consortium
from node.devtools.hosts import (NODES_MAX, HostsError, NodeAddress, hosts_file_entries, parse_host, parse_hosts,
                                 split_hosts_list)
from node.runtime.config import load_config
from node.runtime.passphrase import ENV_VAR


@pytest.mark.parametrize("entry, host, port, listen, endpoint", [
    ("node-0", "node-0", 7100, "0.0.0.0", "node-0:7100"),
    ("Node-0.Bank-Alpha.example:7443", "node-0.bank-alpha.example", 7443, "0.0.0.0", "node-0.bank-alpha.example:7443"),
    (" 10.1.2.3:9000 ", "10.1.2.3", 9000, "10.1.2.3", "10.1.2.3:9000"),
    ("127.0.0.2", "127.0.0.2", 7100, "127.0.0.2", "127.0.0.2:7100"),
    ("[2001:db8::1]:7000", "2001:db8::1", 7000, "2001:db8::1", "[2001:db8::1]:7000"),
    ("[2001:DB8::1]", "2001:db8::1", 7100, "2001:db8::1", "[2001:db8::1]:7100"),
    ("::1", "::1", 7100, "::1", "[::1]:7100"),
])
def test_a_host_gives_what_peers_dial_and_what_the_node_binds(entry, host, port, listen, endpoint):
    address = parse_host(entry, 7100)
    assert address == NodeAddress(host, port, listen)
    assert address.endpoint == endpoint and address.url() == f"https://{endpoint}"


@pytest.mark.parametrize("entry, fragment", [
    ("", "an empty host"),
    ("node_0", "neither a host name"),
    ("bank alpha", "neither a host name"),
    ("-node", "neither a host name"),
    ("node-0:", "the port must be an integer from 1 to 65535"),
    ("node-0:0", "the port must be an integer from 1 to 65535"),
    ("node-0:70000", "the port must be an integer from 1 to 65535"),
    ("node-0:http", "the port must be an integer from 1 to 65535"),
    ("1.2.3", "must be an IPv4 address"),
    ("300.1.1.1", "must be an IPv4 address"),
    ("0.0.0.0", "an address to listen on, not one peers can dial"),
    ("[::]:7100", "an address to listen on, not one peers can dial"),
    ("[2001:db8::1", "an IPv6 address goes in brackets"),
    ("[2001:db8::1]7100", "an IPv6 address goes in brackets"),
    ("https://node-0", "not a URL"),
    ("a" * 64 + ".example", "neither a host name"),
])
def test_junk_is_refused_naming_the_entry(entry, fragment):
    with pytest.raises(HostsError) as caught:
        parse_host(entry, 7100)
    assert fragment in str(caught.value)


def test_a_list_refuses_two_nodes_at_one_address_and_too_many_and_none():
    assert [a.endpoint for a in parse_hosts(["a", "a:7101", "b"], 7100)] == ["a:7100", "a:7101", "b:7100"]
    for entries in (["a", "b", "A"], ["a:7100", "a"]):
        with pytest.raises(HostsError, match="two nodes at a:7100"):
            parse_hosts(entries, 7100)
    with pytest.raises(HostsError, match=f"give 1 to {NODES_MAX} hosts"):
        parse_hosts([], 7100)
    with pytest.raises(HostsError, match=f"give 1 to {NODES_MAX} hosts"):
        parse_hosts([f"n{i}" for i in range(NODES_MAX + 1)], 7100)


def test_listen_overrides_every_nodes_bind_address_and_must_be_an_ip_address():
    assert {a.listen for a in parse_hosts(["10.0.0.1", "node-1"], 7100, listen="0.0.0.0")} == {"0.0.0.0"}
    with pytest.raises(HostsError, match="give an IP address to bind"):
        parse_hosts(["node-0"], 7100, listen="node-0")


def test_hosts_lists_and_files():
    assert split_hosts_list("a, b:7101 ,c") == ["a", "b:7101", "c"]
    assert hosts_file_entries("# the banks\nnode-0\n\n  node-1:7443  \n#node-2\n") == ["node-0", "node-1:7443"]


def test_init_on_hosts_writes_binds_endpoints_and_certificates_for_each_host(tmp_path):
    addresses = parse_hosts(["node-0.example", "10.0.0.7:7443", "[2001:db8::9]"], 7100)
    index = create_consortium(tmp_path / "c", clients_per_institution=1, passphrase=PASSPHRASE,
                              kdf_cost=KDF_COST_LIGHT, hosts=addresses)
    directory = tmp_path / "c"
    genesis = json.loads((directory / "genesis.json").read_text())
    root = (directory / index["ca_cert"]).read_bytes()
    assert [e["id"] for e in index["institutions"]] == ["bank-alpha", "bank-bravo", "bank-charlie"]
    expected = [("node-0.example", "node-0.example:7100", "0.0.0.0", 7100),
                ("10.0.0.7", "10.0.0.7:7443", "10.0.0.7", 7443),
                ("2001:db8::9", "[2001:db8::9]:7100", "2001:db8::9", 7100)]
    for entry, member, (host, endpoint, listen, port) in zip(index["institutions"], genesis["institutions"],
                                                             expected):
        config = load_config(directory / entry["config"])
        assert (config.host, config.port, config.endpoint) == (listen, port, endpoint)
        assert config.url == f"https://{endpoint}" == entry["url"]
        assert member["node_endpoint"] == endpoint
        others = [other["url"] for other in index["institutions"] if other is not entry]
        assert [peer.url for peer in config.peers] == others
        chain = (directory / entry["node_cert"]).read_bytes()
        certs.verify_node_chain(chain, root, datetime.now(timezone.utc))
        assert certs.node_hosts(chain) == [host]


def test_init_without_hosts_keeps_every_node_on_127_0_0_1(tmp_path):
    index = create_consortium(tmp_path / "c", institutions=2, base_port=7190, clients_per_institution=1,
                              passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    for entry in index["institutions"]:
        config = load_config(tmp_path / "c" / entry["config"])
        assert (config.host, config.port) == ("127.0.0.1", 7190 + entry["replica_id"])
        assert config.endpoint == f"127.0.0.1:{config.port}"


def init(tmp_path, monkeypatch, *arguments: str) -> int:
    monkeypatch.setenv(ENV_VAR, PASSPHRASE)
    return main(["init", "--dir", str(tmp_path / "c"), "--kdf-cost", "light", "--clients", "1", *arguments])


@pytest.mark.parametrize("arguments, fragment", [
    (["--hosts", "node-0,node_1"], "'node_1' is neither a host name"),
    (["--hosts", "node-0,,node-1"], "an empty host"),
    (["--hosts", "node-0,node-0"], "two nodes at node-0:7100"),
    (["--hosts", "node-0,node-1", "--institutions", "3"], "--institutions 3 but 2 hosts"),
    (["--hosts", "127.0.0.2,127.0.0.3", "--compose"], "names its nodes by host name"),
    (["--hosts", "node-0", "--listen", "everywhere"], "give an IP address to bind"),
    (["--listen", "0.0.0.0"], "--listen and --compose go with --hosts"),
    (["--compose"], "--listen and --compose go with --hosts"),
    (["--hosts-file", "missing-hosts.txt"], "missing-hosts.txt"),
    (["--hosts", "a", "--hosts-file", "missing-hosts.txt"], "missing-hosts.txt"),
])
def test_a_bad_host_line_is_a_usage_error_and_writes_nothing(tmp_path, monkeypatch, capsys, arguments, fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        init(tmp_path, monkeypatch, *arguments)
    assert exited.value.code == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_a_hosts_file_places_the_nodes_in_its_order(tmp_path, monkeypatch):
    hosts_file = tmp_path / "hosts.txt"
    hosts_file.write_text("# one node per line\n10.0.0.1\n10.0.0.2:7443\n")
    assert init(tmp_path, monkeypatch, "--hosts-file", str(hosts_file)) == 0
    index = json.loads((tmp_path / "c" / "consortium.json").read_text())
    assert [(e["endpoint"], e["listen"]) for e in index["institutions"]] == [
        ("10.0.0.1:7100", "10.0.0.1"), ("10.0.0.2:7443", "10.0.0.2")]
    assert not (tmp_path / "c" / "compose.yaml").exists()
