"""Peer links over mutual TLS 1.3, as every node runs them unless started
--insecure: a node certificate from the consortium's root whose key is the
key the peer proves in the handshake is admitted; no certificate, another
root's certificate, a certificate for another key, or a key the state no
longer lists is refused, and a departed member's open link is closed."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp import web

from crypto import certs
from crypto.keys import KeyPair
from fixtures import wait_until
from node.client import tls_context
from node.runtime.config import Limits
from node.runtime.peers import PeerLinks
from node.runtime.tls import TlsFiles, contexts
from test_peers import CHAIN_ID, KEYS, VALIDATORS, RecordingInbound

pytestmark = pytest.mark.integration
NOW = datetime.now(timezone.utc)
DAY = timedelta(days=1)
HOSTS = ("127.0.0.1",)


class Consortium:
    """A root CA and one institution CA under it that issues node certificates."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        directory.mkdir()
        self.root_key, self.ca_key = KeyPair.generate(), KeyPair.generate()
        self.root = certs.root_certificate(self.root_key, name, NOW - 10 * DAY, 30 * DAY)
        self.ca = certs.sign_institution_csr(certs.institution_csr(self.ca_key, "bank-x"), self.root,
                                             self.root_key, NOW - 10 * DAY, 30 * DAY)
        (directory / "ca.crt").write_bytes(self.root)

    def files(self, node_key: bytes, name: str, lifetime: timedelta = 10 * DAY,
              issued: datetime = NOW - DAY) -> TlsFiles:
        node = certs.node_certificate(node_key, HOSTS, self.ca, self.ca_key, issued, lifetime)
        (self.directory / f"{name}.crt").write_bytes(certs.node_chain(node, self.ca))
        return TlsFiles(ca=self.directory / "ca.crt", cert=self.directory / f"{name}.crt")


@pytest.fixture
def ours(tmp_path):
    return Consortium(tmp_path / "ours", "our root")


@contextlib.asynccontextmanager
async def tls_receiver(files: TlsFiles, key: KeyPair, members=VALIDATORS):
    """Validator 0's inbound links on an HTTPS site of 127.0.0.1, certificates required."""
    received: asyncio.Queue = asyncio.Queue()
    receiver = RecordingInbound(key.signer(), received, Limits(), tls_required=True, members=members)
    app = web.Application()
    app.router.add_get("/v1/peer", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=contexts(files, key, NOW).server)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield receiver, f"https://127.0.0.1:{port}", received
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def dialling(key: KeyPair, peers: dict, files: TlsFiles | None = None, tls: ssl.SSLContext | None = None):
    """Links dialled with `key`, over the client context of `files` (or `tls` as given)."""
    if files is not None:
        tls = contexts(files, key, NOW).client
    dialler = PeerLinks(CHAIN_ID, key.signer(), peers, Limits(connect_timeout_ms=1000), tls)
    await dialler.start()
    try:
        yield dialler
    finally:
        await dialler.close()


async def refused(receiver, dialler) -> None:
    """The dialler keeps failing and the receiver never admits it."""
    await wait_until(lambda: dialler.dial_failures >= 2, 10.0, "two refused dials")
    assert not any(dialler.outbound_up.values()) and not receiver.up


async def test_a_certified_member_connects_and_its_frames_arrive(ours):
    async with tls_receiver(ours.files(VALIDATORS[0], "n0"), KEYS[0]) as (receiver, url, received), \
            dialling(KEYS[1], {VALIDATORS[0]: url}, ours.files(VALIDATORS[1], "n1")) as dialler:
        await wait_until(lambda: dialler.outbound_up[VALIDATORS[0]], 10.0, "the TLS link to validator 0")
        dialler.send(VALIDATORS[0], b"over tls")
        sender, _ = await asyncio.wait_for(received.get(), 5)
        assert sender == VALIDATORS[1] and receiver.up[VALIDATORS[1]] == 1


async def test_a_peer_without_a_certificate_is_refused(ours):
    async with tls_receiver(ours.files(VALIDATORS[0], "n0"), KEYS[0]) as (receiver, url, _):
        no_certificate = tls_context(ours.directory / "ca.crt")  # trusts the server, presents nothing
        async with dialling(KEYS[1], {VALIDATORS[0]: url}, tls=no_certificate) as dialler:
            await refused(receiver, dialler)
            assert receiver.refused >= 2  # refused before the application handshake


async def test_a_certificate_from_another_root_is_refused(ours, tmp_path):
    theirs = Consortium(tmp_path / "theirs", "another root")
    async with tls_receiver(ours.files(VALIDATORS[0], "n0"), KEYS[0]) as (receiver, url, _):
        # the dialler trusts our root (so it would accept the server) but presents a certificate from another
        files = theirs.files(VALIDATORS[1], "n1")
        tls = contexts(files, KEYS[1], NOW).client
        tls.load_verify_locations(cafile=str(ours.directory / "ca.crt"))
        async with dialling(KEYS[1], {VALIDATORS[0]: url}, tls=tls) as dialler:
            await refused(receiver, dialler)


async def test_an_expired_certificate_is_refused(ours):
    expired = ours.files(VALIDATORS[1], "n1", lifetime=DAY, issued=NOW - 3 * DAY)
    with pytest.raises(certs.CertificateError):
        contexts(expired, KEYS[1], NOW)  # a node does not start with one
    async with tls_receiver(ours.files(VALIDATORS[0], "n0"), KEYS[0]) as (receiver, url, _):
        tls = contexts(expired, KEYS[1], NOW - 2 * DAY).client  # made while it was valid
        async with dialling(KEYS[1], {VALIDATORS[0]: url}, tls=tls) as dialler:
            await refused(receiver, dialler)


async def test_a_certificate_for_another_node_key_than_the_one_proved_is_refused(ours):
    """Validator 2 dials with validator 1's certificate and TLS key (a stolen
    certificate without the consensus key): its handshake proves key 2, not
    the certificate's key 1, and is refused."""
    async with tls_receiver(ours.files(VALIDATORS[0], "n0"), KEYS[0]) as (receiver, url, _):
        borrowed = ours.files(VALIDATORS[1], "n1")
        tls = contexts(borrowed, KEYS[1], NOW).client
        async with dialling(KEYS[2], {VALIDATORS[0]: url}, tls=tls):
            await wait_until(lambda: receiver.refused >= 2, 10.0, "two refused handshakes")
            assert not receiver.up


async def test_a_server_whose_certificate_is_for_another_key_is_not_dialled_further(ours):
    async with tls_receiver(ours.files(VALIDATORS[0], "n0"), KEYS[0]) as (receiver, url, _), \
            dialling(KEYS[1], {VALIDATORS[2]: url}, ours.files(VALIDATORS[1], "n1")) as dialler:
        await refused(receiver, dialler)  # it expected validator 2 at that address and met validator 0


async def test_a_key_no_longer_listed_is_refused_and_its_open_link_closed(ours):
    members = set(VALIDATORS)
    async with tls_receiver(ours.files(VALIDATORS[0], "n0"), KEYS[0], members=members) as (receiver, url, _), \
            dialling(KEYS[1], {VALIDATORS[0]: url}, ours.files(VALIDATORS[1], "n1")) as dialler:
        await wait_until(lambda: dialler.outbound_up[VALIDATORS[0]], 10.0, "the link up")
        members.discard(VALIDATORS[1])  # governance removed it
        assert await receiver.close_non_members() == 1
        await wait_until(lambda: not receiver.up.get(VALIDATORS[1]), 5.0, "its link closed")
        failures = dialler.dial_failures
        await wait_until(lambda: dialler.dial_failures >= failures + 1, 10.0, "its next dial refused")
        assert not receiver.up.get(VALIDATORS[1])
