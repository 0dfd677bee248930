"""Who may link to a running consortium, on real node processes over mutual
TLS, as governance changes the membership (none of the running nodes
restarts):

- a peer without a certificate, or with one from another root, is refused;
- an institution added by governance starts its node and catches up;
- a rotated node key works once governance records it, and the old key is
  refused;
- a removed institution's links are closed and it no longer follows the chain.

Five institutions: four validators and bank-echo, a member whose node
follows the chain as an observer (a validator cannot be removed)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from conftest import free_base_port
from crypto import certs
from crypto.keys import KDF_COST_LIGHT, KeyPair, read_key_file
from fixtures import PASSPHRASE, wait_until
from node.client import tls_context
from node.devtools import story
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import create_consortium
from node.runtime import keystore
from node.runtime.config import Limits
from node.runtime.inbound import HANDSHAKE_REFUSED_CODE
from node.runtime.peers import PeerLinks
from node.runtime.tls import TlsFiles, contexts

pytestmark = pytest.mark.integration
ECHO = 4
NEW = "bank-foxtrot"


@pytest.fixture
def five(tmp_path):
    directory = tmp_path / "consortium"
    create_consortium(directory, institutions=5, validators=4, base_port=free_base_port(6),
                      passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    with LocalCluster(directory, log_level="info", passphrase=PASSPHRASE) as cluster:
        cluster.start_all()
        asyncio.run(cluster.wait_ready())
        yield cluster


async def decide(parties: dict, action: str, args: dict) -> dict:
    """Propose `action` as bank-alpha and vote it through with the validators' institutions."""
    voters = [parties[iid] for iid in ("bank-alpha", "bank-bravo", "bank-charlie", "bank-delta")]
    proposal = (await voters[0].send("governance.propose", {"action": action, "args": args}))["output"]["proposal"]
    for voter in voters:
        outcome = (await voter.send("governance.vote", {"proposal": proposal, "yes": True}))["output"]
        if outcome["status"] == "passed":
            return outcome
    raise AssertionError(f"{action} did not pass: {outcome}")


async def height_of(cluster: LocalCluster, replica_id: int) -> int:
    async with cluster.client(replica_id, institution="bank-alpha", timeout_s=5) as client:
        return (await client.status())["height"]


async def follows(cluster: LocalCluster, replica_id: int, parties: dict, timeout_s: float = 30.0) -> None:
    """The node reaches the height bank-alpha's node had when asked."""
    target = await height_of(cluster, 0)
    await parties["bank-alpha"].send("settlement.pay", {"from": "bank-alpha", "to": "bank-bravo",
                                                        "currency": "EUR", "amount": 1})

    async def caught_up() -> bool:
        try:
            return await height_of(cluster, replica_id) > target
        except Exception:  # noqa: BLE001 - not up yet
            return False

    await wait_until(caught_up, timeout_s, f"node {replica_id} to pass height {target}")


async def dial_refused(links: PeerLinks) -> None:
    """The links never come up and their dials keep failing."""
    await links.start()
    try:
        await wait_until(lambda: links.dial_failures >= 2, 20.0, "two refused dials")
        assert not any(links.outbound_up.values())
    finally:
        await links.close()


async def peer_socket_refused(url: str, ssl_context) -> str:
    """Open the peer endpoint with `ssl_context`: how it was refused."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url + "/v1/peer", ssl=ssl_context, timeout=aiohttp.ClientWSTimeout(5)) as ws:
                message = await ws.receive(timeout=10)
                assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                assert ws.close_code == HANDSHAKE_REFUSED_CODE, ws.close_code
                return "closed by the node"
        except aiohttp.ClientConnectionError as exc:
            return f"TLS refused: {type(exc).__name__}"


def add_institution_files(cluster: LocalCluster, port: int) -> dict:
    """bank-foxtrot makes its own keys and request, the root CA holder signs it, it
    issues its node certificate and writes its node config: what README's joining walkthrough does."""
    folder = cluster.directory / NEW
    made = keystore.make_institution(folder, NEW, PASSPHRASE, KDF_COST_LIGHT, clients=1)
    now = datetime.now(timezone.utc)
    institution_pem = keystore.sign_request(cluster.directory / "ca", made.csr, PASSPHRASE, now)
    keystore.write_public(folder / keystore.INSTITUTION_CA_CERT, institution_pem)
    keystore.issue_node_certificate(folder, ["127.0.0.1"], PASSPHRASE, now, root_pem=cluster.ca.read_bytes())
    peers = [{"institution": e["id"], "url": e["url"]} for e in cluster.institutions]
    (folder / "node.json").write_text(json.dumps({
        "institution": NEW, "host": "127.0.0.1", "port": port, "data_dir": "data", "node_key": keystore.NODE_KEY,
        "tls": {"ca": "../ca/ca.crt", "cert": keystore.NODE_CERT}, "genesis": "../genesis.json", "peers": peers}))
    cluster.institutions.append({"id": NEW, "replica_id": len(cluster.institutions),
                                 "url": f"https://127.0.0.1:{port}", "config": f"{NEW}/node.json",
                                 "client_keys": [f"{NEW}/{keystore.client_key_name(0)}"]})
    return {"id": NEW, "name": "Bank Foxtrot", "roles": ["member"], "client_keys": list(made.client_keys),
            "node_key": made.node_key, "node_endpoint": f"127.0.0.1:{port}"}


def rotate_echo_key(cluster: LocalCluster) -> tuple[KeyPair, TlsFiles]:
    """A new node key for bank-echo with its certificate; its node.json points at them.
    Returns the old key and its TLS files (kept to show they are refused)."""
    folder = cluster.directory / "bank-echo"
    old_key = read_key_file(folder / keystore.NODE_KEY, PASSPHRASE)
    (folder / "old.crt").write_bytes((folder / keystore.NODE_CERT).read_bytes())
    new_key = keystore.new_key(folder / "node-2.key", PASSPHRASE, KDF_COST_LIGHT)
    institution_pem = (folder / keystore.INSTITUTION_CA_CERT).read_bytes()
    institution_key = read_key_file(folder / keystore.INSTITUTION_CA_KEY, PASSPHRASE)
    now = datetime.now(timezone.utc)
    node_pem = certs.node_certificate(new_key.public_key, ["127.0.0.1"], institution_pem, institution_key, now,
                                      timedelta(days=30))
    keystore.write_public(folder / "node-2.crt", certs.node_chain(node_pem, institution_pem))
    config = json.loads((folder / "node.json").read_text())
    config.update(node_key="node-2.key", tls={"ca": "../ca/ca.crt", "cert": "node-2.crt"})
    (folder / "node.json").write_text(json.dumps(config))
    return old_key, TlsFiles(ca=cluster.ca, cert=folder / "old.crt")


def test_membership_follows_governance_over_mutual_tls(five, tmp_path):
    cluster = five
    parties = story.parties(cluster.directory, cluster.index, PASSPHRASE)
    alpha_url = cluster.urls[0]

    async def scenario():
        # --- outsiders: no certificate, or one from another consortium's root
        assert await peer_socket_refused(alpha_url, tls_context(cluster.ca)) == "closed by the node"
        other = tmp_path / "other"
        create_consortium(other, institutions=1, base_port=free_base_port(1), passphrase=PASSPHRASE,
                          kdf_cost=KDF_COST_LIGHT, clients_per_institution=0, regulator=False)
        stranger_key = read_key_file(other / "bank-alpha" / keystore.NODE_KEY, PASSPHRASE)
        stranger = contexts(TlsFiles(ca=other / "ca" / "ca.crt", cert=other / "bank-alpha" / keystore.NODE_CERT),
                            stranger_key, datetime.now(timezone.utc)).client
        stranger.load_verify_locations(cafile=str(cluster.ca))  # it trusts our nodes; they do not trust it
        assert (await peer_socket_refused(alpha_url, stranger)).startswith("TLS refused")

        # --- an institution added by governance joins; no running node restarts
        port = free_base_port(1)
        record = add_institution_files(cluster, port)
        await decide(parties, "add_institution", record)
        cluster.start(5)
        await follows(cluster, 5, parties, timeout_s=60)

        # --- bank-echo's node key rotated: the new one works, the old one is refused
        old_key, old_files = rotate_echo_key(cluster)
        new_key = read_key_file(cluster.directory / "bank-echo" / "node-2.key", PASSPHRASE)
        await decide(parties, "set_node_key", {"id": "bank-echo", "node_key": new_key.public_key})
        cluster.kill(ECHO)
        cluster.start(ECHO)
        await follows(cluster, ECHO, parties)
        old_tls = contexts(old_files, old_key, datetime.now(timezone.utc)).client
        await dial_refused(PeerLinks(cluster.chain_id, old_key.signer(),
                                     {read_key_file(cluster.directory / "bank-alpha" / keystore.NODE_KEY,
                                                    PASSPHRASE).public_key: alpha_url}, Limits(), old_tls))

        # --- bank-echo removed: its links are closed, it stops following the chain
        await decide(parties, "remove_institution", {"id": "bank-echo"})
        await asyncio.sleep(1.0)  # every node has applied the removal
        stalled = await height_of(cluster, ECHO)
        for _ in range(3):
            await parties["bank-alpha"].send("settlement.pay", {"from": "bank-alpha", "to": "bank-bravo",
                                                                "currency": "EUR", "amount": 1})
        assert await height_of(cluster, 0) >= stalled + 3
        await asyncio.sleep(2.0)
        assert await height_of(cluster, ECHO) == stalled  # no block reaches it any more
        async with cluster.client(0, institution="bank-alpha") as client:
            peers = (await client.status())["peers"]
        assert "bank-echo" not in peers and peers[NEW]["outbound"]
        await follows(cluster, 5, parties)  # the added member still follows

    asyncio.run(scenario())
