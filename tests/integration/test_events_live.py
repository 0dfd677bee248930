"""GET /v1/events on a live 4-node cluster (TLS, signed requests): history
from LevelDB then live blocks and receipts without gap or repeat, resuming
with Last-Event-ID, the type filter, a member kept from receipts it may not
read, `consort events`; and on node 0, started with small limits, the
paged history, the caps on subscribers, and a reader that stops reading
and gets `resync`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest
from yarl import URL

from conftest import Payer
from contracts.tx import sign_tx
from crypto.keys import KDF_COST_LIGHT
from fixtures import PASSPHRASE, free_base_port, wait_until
from node.client import ClientError, ConsortClient, tls_context
from node.client.request_signing import request_headers
from node.client.sse import EventStreamParser
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import create_consortium
from node.runtime.passphrase import ENV_VAR

pytestmark = pytest.mark.integration

SMALL_LIMITS = {"events_subscribers_max": 3, "events_subscribers_per_caller_max": 2, "events_queue_max": 2,
                "events_replay_blocks_max": 4, "events_send_buffer_bytes": 16 * 1024}
ALPHA, BRAVO, CHARLIE, REGULATOR = "bank-alpha", "bank-bravo", "bank-charlie", "central-bank"
STREAM_TIMEOUT_S = 30.0
SLOW_ROUNDS, SLOW_ROUND_PAYMENTS = 16, 250  # ~4000 receipts, ~1.7 MB of events: some times what the buffers hold
READ_BUFFER_BYTES = 4096                    # the slow reader's: aiohttp's and the kernel's


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Four nodes; node 0 with SMALL_LIMITS, the others with the defaults."""
    directory = tmp_path_factory.mktemp("events") / "consortium"
    create_consortium(directory, institutions=4, base_port=free_base_port(4), passphrase=PASSPHRASE,
                      kdf_cost=KDF_COST_LIGHT)
    config_path = directory / ALPHA / "node.json"
    config = json.loads(config_path.read_text())
    config["limits"] = {**config.get("limits", {}), **SMALL_LIMITS}
    config_path.write_text(json.dumps(config))
    with LocalCluster(directory, log_level="info", passphrase=PASSPHRASE) as local:
        local.start_all()
        asyncio.run(local.wait_ready())
        yield local


async def collect(client, until_height: int, **options) -> list:
    """The events of `client.events(**options)` through the block event of `until_height`."""
    events = []

    async def read() -> None:
        async for event in client.events(**options):
            events.append(event)
            if event.name == "block" and int(event.id) >= until_height:
                return
    await asyncio.wait_for(read(), STREAM_TIMEOUT_S)
    return events


def blocks(events) -> list[int]:
    return [event.json()["height"] for event in events if event.name == "block"]


def receipts(events) -> list[dict]:
    return [event.json() for event in events if event.name == "receipt"]


def check_sequence(events, first: int, last: int) -> None:
    """Block events first..last, each once and in order, each after its height's receipts."""
    assert blocks(events) == list(range(first, last + 1))
    height = first
    for event in events:
        assert event.name in ("receipt", "block"), event
        assert event.json()["height"] == height, event
        height += event.name == "block"


async def tip(cluster: LocalCluster, replica_id: int) -> int:
    async with cluster.client(replica_id) as client:
        return (await client.status())["height"]


async def submit(cluster: LocalCluster, via: int, txs: list) -> list[str]:
    async with cluster.client(via) as client:
        result = await client.submit(txs, wait=True, timeout_ms=20_000)
    assert all(r is not None and r["ok"] for r in result["receipts"]), result
    return [r["tx_hash"] for r in result["receipts"]]


class Instructions:
    """bank-bravo's settlement.instruct transactions to bank-charlie, with fresh nonces."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.signer, self.chain_id, self.nonce = cluster.signer(BRAVO), cluster.chain_id, 1

    def next(self):
        self.nonce += 1
        return sign_tx(self.signer, self.chain_id, self.nonce, "settlement.instruct",
                       {"from": BRAVO, "to": CHARLIE, "currency": "EUR", "amount": 3})


async def raw_stream(cluster: LocalCluster, replica_id: int, who: str, query: dict, headers: dict) -> list:
    """One signed GET /v1/events with extra `headers`, read to its end."""
    url = URL(cluster.urls[replica_id] + "/v1/events").with_query(query)
    signed = {**request_headers(cluster.signer(who), cluster.chain_id, "GET", url.raw_path_qs), **headers}
    parser, events = EventStreamParser(), []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STREAM_TIMEOUT_S)) as session:
        async with session.get(url, headers=signed, ssl=tls_context(cluster.ca)) as response:
            assert response.status == 200 and response.content_type == "text/event-stream"
            async for chunk in response.content.iter_any():
                events.extend(parser.feed(chunk))
    return events


class Follower:
    """Reads `client.events(**options)` on a task of its own, keeping every event."""

    def __init__(self, client, **options) -> None:
        self.events: list = []
        self.task = asyncio.create_task(self._read(client, options))

    async def _read(self, client, options: dict) -> None:
        async for event in client.events(**options):
            self.events.append(event)

    def reached(self, height: int) -> bool:
        if self.task.done():
            self.task.result()  # its error, if the stream failed
        return any(event.name == "block" and int(event.id) >= height for event in self.events)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_history_then_live_resume_filter_and_who_sees_what(cluster):
    payer, instructions = Payer(cluster), Instructions(cluster)
    paid_before = []
    for _ in range(3):
        paid_before += await submit(cluster, 1, [payer.pay(0), payer.pay(0)])  # bank-alpha pays bank-bravo
    start = await tip(cluster, 1)

    async with cluster.client(1, REGULATOR) as regulator:
        follower = Follower(regulator, from_height=1)
        try:
            await wait_until(lambda: follower.reached(start), STREAM_TIMEOUT_S, f"history through {start}")
            paid_after, instructed = [], []
            for _ in range(3):
                paid, instruct = await submit(cluster, 2, [payer.pay(0), instructions.next()])
                paid_after.append(paid)
                instructed.append(instruct)
            last = await tip(cluster, 1)
            await wait_until(lambda: follower.reached(last), STREAM_TIMEOUT_S, f"live blocks through {last}")
        finally:
            await follower.stop()
    # The regulator: 1..start from LevelDB, then live blocks, in order, every receipt once.
    seen = follower.events
    check_sequence(seen, 1, blocks(seen)[-1])
    assert blocks(seen)[-1] >= last > start
    hashes = [r["tx_hash"] for r in receipts(seen)]
    assert len(hashes) == len(set(hashes)) and set(paid_before + paid_after + instructed) <= set(hashes)
    assert {r["type"] for r in receipts(seen) if r["tx_hash"] in instructed} == {"settlement.instruct"}

    # bank-bravo is paid by bank-alpha but may not read those receipts (GET /v1/tx's rule): only its own.
    async with cluster.client(1, BRAVO) as bravo:
        own = await collect(bravo, last, from_height=1, to_height=last)
    check_sequence(own, 1, last)
    assert [r["tx_hash"] for r in receipts(own)] == instructed
    assert {r["sender"] for r in receipts(own)} == {BRAVO}

    # The type filter, from another node: only the instructions, every block still closing its height.
    async with cluster.client(3, REGULATOR) as regulator:
        typed = await collect(regulator, last, from_height=1, to_height=last, tx_type="settlement.instruct")
    check_sequence(typed, 1, last)
    assert [r["tx_hash"] for r in receipts(typed)] == instructed

    # Resuming after height `start` with Last-Event-ID (as a browser's EventSource does): start + 1 on.
    resumed = await raw_stream(cluster, 2, REGULATOR, {"to_height": str(last)}, {"Last-Event-ID": str(start)})
    check_sequence(resumed, start + 1, last)
    assert [e.json() for e in resumed] == [e.json() for e in seen if start < e.json()["height"] <= last]
    assert [e.id for e in resumed if e.name == "block"] == [str(h) for h in range(start + 1, last + 1)]


def consort(*args: str) -> tuple[list[str], dict]:
    """The command line and environment of `consort ARGS` (the passphrase from the environment)."""
    environment = {**{k: v for k, v in os.environ.items() if k not in ("CONSORT_GENESIS", "CONSORT_CA")},
                   ENV_VAR: PASSPHRASE}
    return [sys.executable, "-m", "node.cli", *args], environment


async def test_consort_events_prints_one_line_per_event_and_stops_on_ctrl_c(cluster):
    height = await tip(cluster, 1)
    assert height >= 2
    common = ["--node", cluster.urls[1], "--key", str(cluster.directory / BRAVO / "client-0.key"),
              "--genesis", str(cluster.directory / "genesis.json"), "--ca", str(cluster.ca)]
    command, environment = consort("events", "--from-height", "1", "--to-height", str(height), "--json", *common)
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["id"] for line in lines if line["event"] == "block"] == [str(h) for h in range(1, height + 1)]
    assert all(line["data"]["sender"] == BRAVO for line in lines if line["event"] == "receipt")

    command, environment = consort("events", "--from-height", str(height), *common)
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    try:
        first = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), STREAM_TIMEOUT_S)
        assert first.startswith((f"receipt {height}.", f"block {height} hash ")), first
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 30) == 0, process.stderr.read()
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


async def test_history_is_paged_and_subscribers_are_capped(cluster):
    """Node 0 replays at most 4 blocks per stream and holds at most 3 streams, 2 per institution."""
    payer = Payer(cluster)
    while await tip(cluster, 0) < 6:
        await submit(cluster, 0, [payer.pay(0)])
    async with cluster.client(0) as alpha:
        paged = await asyncio.wait_for(_all(alpha.events(1, 6, resume=False)), STREAM_TIMEOUT_S)
        assert paged[-1].name == "resync" and paged[-1].json() == {"from_height": 5, "reason": "history_page"}
        check_sequence(paged[:-1], 1, 4)
        followed = await asyncio.wait_for(_all(alpha.events(1, 6)), STREAM_TIMEOUT_S)
        check_sequence(followed, 1, 6)  # the client asked again from 5: one sequence, no gap

    height = await tip(cluster, 0)
    streams = []
    try:
        for who in (ALPHA, ALPHA):
            streams.append(await open_stream(cluster, who, height))
        with pytest.raises(ClientError) as refused:
            await open_stream(cluster, ALPHA, height)
        assert (refused.value.status, refused.value.code) == (429, "too_many_subscriptions")
        streams.append(await open_stream(cluster, BRAVO, height))
        with pytest.raises(ClientError) as refused:
            await open_stream(cluster, CHARLIE, height)
        assert (refused.value.status, refused.value.code) == (503, "busy")
        assert refused.value.body["error"]["message"]
        await close_stream(streams.pop(0))

        async def room_again():
            try:
                streams.append(await open_stream(cluster, CHARLIE, height))
                return True
            except ClientError as exc:
                assert exc.status == 503
                return False
        await wait_until(room_again, STREAM_TIMEOUT_S, "a stream's slot to be freed once its reader left")
    finally:
        for stream in streams:
            await close_stream(stream)


async def _all(stream) -> list:
    return [event async for event in stream]


async def open_stream(cluster: LocalCluster, who: str, height: int):
    """A stream of `who`'s on node 0, from `height` (so its first event comes at once), its first event read."""
    client = cluster.client(0, who)
    await client.__aenter__()
    stream = client.events(height)
    try:
        first = await asyncio.wait_for(stream.__anext__(), STREAM_TIMEOUT_S)
    except BaseException:
        await client.close()
        raise
    assert first.name in ("receipt", "block")
    return client, stream


async def close_stream(opened) -> None:
    client, stream = opened
    await stream.aclose()
    await client.close()


def small_receive_buffer(addr_info) -> socket.socket:
    """A client socket whose kernel receive buffer is small and fixed (not grown by autotuning)."""
    family, kind, protocol, _, _ = addr_info
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, READ_BUFFER_BYTES)
    return sock


async def test_a_reader_that_stops_reading_gets_resync_and_resumes_without_gap(cluster):
    """Node 0 lets a stream fall 2 blocks behind: bank-alpha's reader stops reading while its bank
    pays in many blocks; once it reads again, its stream ends with resync at the height it got to."""
    payer = Payer(cluster)
    await submit(cluster, 0, [payer.pay(0)])
    start = await tip(cluster, 0)
    connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector, read_bufsize=READ_BUFFER_BYTES) as session, \
            ConsortClient(cluster.urls[0], session, signer=cluster.signer(ALPHA), chain_id=cluster.chain_id,
                          ca=cluster.ca) as alpha:
        opened: list = []

        async def opens():  # the streams of the test before may take a moment to be let go
            stream = alpha.events(start, resume=False)
            try:
                opened.append((stream, await asyncio.wait_for(stream.__anext__(), STREAM_TIMEOUT_S)))
                return True
            except ClientError as exc:
                assert exc.status in (429, 503), exc
                return False
        await wait_until(opens, STREAM_TIMEOUT_S, "room for a stream on node 0")
        stream, first = opened[0]
        try:
            for _ in range(SLOW_ROUNDS):  # the reader reads nothing meanwhile
                await submit(cluster, 1, [payer.pay(0) for _ in range(SLOW_ROUND_PAYMENTS)])
            rest = await asyncio.wait_for(_all(stream), STREAM_TIMEOUT_S)
        finally:
            await stream.aclose()
        seen = [first, *rest]
        assert seen[-1].name == "resync", [e.name for e in seen[-3:]]
        resync = seen[-1].json()
        assert resync["reason"] == "behind"
        check_sequence(seen[:-1], start, resync["from_height"] - 1)
        last = await tip(cluster, 0)
        assert resync["from_height"] <= last
        following = await asyncio.wait_for(_all(alpha.events(resync["from_height"], last)), STREAM_TIMEOUT_S)
        check_sequence(following, resync["from_height"], last)
