"""The explorer on a live 4-node cluster: its summary and event stream read
as the node's own institution (bank alpha's node shows alpha's balances and
receipts, never bravo's), its static files, the Host check, the cap on its
streams; and the page itself in a real headless Chromium
(node.devtools.browser), whose height moves while payments commit, with a
screenshot in the test's folder; and, against a scripted stream, that the
page starts a fresh stream after `resync` and retries one refused.

Without a Chromium binary the browser test skips, saying so; scripts/test
installs one where it can (root with apt-get, as in CI)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import aiohttp.web
import pytest
from yarl import URL

from conftest import Payer
from crypto.keys import KDF_COST_LIGHT
from fixtures import PASSPHRASE, free_base_port, wait_until
from node.api.explorer_site import read_static
from node.api.explorer_view import BLOCKS_SHOWN
from node.client.sse import EventStreamParser
from node.devtools.browser import Chromium, find_chromium
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import create_consortium

pytestmark = pytest.mark.integration

ALPHA, BRAVO, CHARLIE, DELTA = "bank-alpha", "bank-bravo", "bank-charlie", "bank-delta"
REQUEST_TIMEOUT_S = 10.0
WAIT_S = 30.0
STREAMS_PER_CALLER = 3  # node 0's events_subscribers_per_caller_max, so the cap is reached with few streams
CHROMIUM = find_chromium()
NO_CHROMIUM = ("NO CHROMIUM: the explorer's browser test cannot run without a Chromium binary (chromium, "
               "chromium-browser, google-chrome or $CONSORT_CHROMIUM); scripts/test installs Debian's `chromium` "
               "with apt-get when run as root")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Four nodes with operator sites; node 0 allows STREAMS_PER_CALLER streams per caller."""
    directory = tmp_path_factory.mktemp("explorer") / "consortium"
    create_consortium(directory, institutions=4, base_port=free_base_port(4), passphrase=PASSPHRASE,
                      kdf_cost=KDF_COST_LIGHT)
    config_path = directory / ALPHA / "node.json"
    config = json.loads(config_path.read_text())
    config["limits"] = {**config.get("limits", {}), "events_subscribers_per_caller_max": STREAMS_PER_CALLER}
    config_path.write_text(json.dumps(config))
    with LocalCluster(directory, log_level="info", passphrase=PASSPHRASE) as local:
        local.start_all()
        asyncio.run(local.wait_ready())
        yield local


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))


async def summary(http: aiohttp.ClientSession, operator_url: str) -> dict:
    async with http.get(operator_url + "/explorer/summary.json") as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def pay(payer: Payer, via: int, count: int) -> list[str]:
    """`count` payments from institution `via` through its own node, committed; their hashes."""
    receipts = await payer.send(via=via, payer=via, count=count)
    assert all(r["ok"] for r in receipts), receipts
    return [r["tx_hash"] for r in receipts]


async def shows_height(http: aiohttp.ClientSession, operator_url: str, height: int) -> dict:
    found: dict = {}

    async def reached() -> bool:
        found.update(await summary(http, operator_url))
        return found["height"] >= height

    await wait_until(reached, WAIT_S, lambda: f"{operator_url} at height {height}; saw {found.get('height')}")
    return found


def test_the_explorer_reads_as_the_node_institution(cluster):
    payer = Payer(cluster)
    alpha_site, bravo_site = cluster.operator_urls[0], cluster.operator_urls[1]

    async def scenario():
        async with session() as http:
            alpha_paid, bravo_paid = await pay(payer, 0, 4), await pay(payer, 1, 3)
            async with cluster.client(0) as client:
                tip = (await client.status())["height"]
                alpha_accounts = (await client.accounts())["accounts"]
            alpha, bravo = await shows_height(http, alpha_site, tip), await shows_height(http, bravo_site, tip)

            assert alpha["institution"] == ALPHA and alpha["reader"]["roles"] == ["validator", "member"]
            consensus = alpha["consensus"]
            assert (consensus["n"], consensus["f"], consensus["quorum"]) == (4, 1, 3)
            assert [v["institution"] for v in consensus["validators"]] == [ALPHA, BRAVO, CHARLIE, DELTA]
            assert consensus["primary"]["institution"] in {ALPHA, BRAVO, CHARLIE, DELTA}
            assert set(alpha["peers"]) == {BRAVO, CHARLIE, DELTA}
            assert 0 < len(alpha["blocks"]) <= BLOCKS_SHOWN and alpha["blocks"][0]["height"] == alpha["height"]
            assert all(b["proposer_institution"] in {ALPHA, BRAVO, CHARLIE, DELTA} for b in alpha["blocks"])

            # Alpha's operator sees alpha's balances and receipts, as alpha's keys read them; never bravo's.
            assert {a["institution"] for a in alpha["accounts"]} == {ALPHA}
            assert [(a["currency"], int(a["balance"])) for a in alpha["accounts"]] == \
                [(a["currency"], a["balance"]) for a in alpha_accounts]
            alpha_rows = {t["tx_hash"]: t for t in alpha["transactions"]}
            assert set(alpha_paid) <= set(alpha_rows) and not set(bravo_paid) & set(alpha_rows)
            assert alpha_rows[alpha_paid[0]]["brief"] == {"from": ALPHA, "to": BRAVO, "currency": "EUR",
                                                          "amount": "100"}
            assert {a["institution"] for a in bravo["accounts"]} == {BRAVO}
            bravo_rows = {t["tx_hash"] for t in bravo["transactions"]}
            assert set(bravo_paid) <= bravo_rows and not set(alpha_paid) & bravo_rows
            # A validator reads whole blocks, so it counts every institution's transactions.
            counts = {c["institution"]: c["count"] for c in alpha["tx_counts"]["by_institution"]}
            assert alpha["tx_counts"]["scope"] == "all" and counts[ALPHA] >= 4 and counts[BRAVO] >= 3

            # The stream: history then live, with alpha's receipts only.
            first = min(t["height"] for t in alpha["transactions"] if t["tx_hash"] in alpha_paid + bravo_paid)
            events = await read_stream(http, alpha_site, {"from_height": first, "to_height": tip})
            blocks = [e.json()["height"] for e in events if e.name == "block"]
            receipts = {e.json()["tx_hash"] for e in events if e.name == "receipt"}
            assert blocks == list(range(first, tip + 1))
            assert set(alpha_paid) <= receipts and not set(bravo_paid) & receipts

            await check_site(http, alpha_site)
            await check_stream_cap(http, alpha_site)

    asyncio.run(scenario())


async def read_stream(http: aiohttp.ClientSession, site: str, query: dict) -> list:
    parser, events = EventStreamParser(), []
    async with http.get(URL(site + "/explorer/events").with_query(query)) as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        async for chunk in response.content.iter_any():
            events.extend(parser.feed(chunk))
    return events


async def check_site(http: aiohttp.ClientSession, site: str) -> None:
    """The static files with their types and policy; names other than an IP
    address or localhost refused (a rebound DNS name); the member API and
    the metrics unchanged."""
    for path, content_type, text in [("/", "text/html", 'src="explorer.js"'),
                                     ("/explorer.js", "text/javascript", "EventSource"),
                                     ("/explorer.css", "text/css", "font-family")]:
        async with http.get(site + path) as response:
            assert response.status == 200 and response.content_type == content_type, path
            assert text in await response.text()
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    port = URL(site).port
    for host, status in [(f"evil.example:{port}", 421), ("evil.example", 421), (f"localhost:{port + 1}", 200),
                         (f"127.0.0.1:{port}", 200)]:
        async with http.get(site + "/explorer/summary.json", headers={"Host": host}) as response:
            assert response.status == status, host
            if status == 421:
                assert (await response.json())["error"]["code"] == "misdirected_request"
    async with http.get(site + "/", headers={"Host": "evil.example"}) as response:
        assert response.status == 421
    async with http.get(site + "/healthz", headers={"Host": "prometheus.mgmt.example"}) as response:
        assert response.status == 200  # metrics and health keep answering any name


async def check_stream_cap(http: aiohttp.ClientSession, site: str) -> None:
    """Every explorer stream has one owner: node 0 serves STREAMS_PER_CALLER at once."""
    opened = []
    try:
        for _ in range(STREAMS_PER_CALLER):
            response = await http.get(site + "/explorer/events")
            opened.append(response)
            assert response.status == 200
        async with http.get(site + "/explorer/events") as refused:
            assert refused.status == 429 and (await refused.json())["error"]["code"] == "too_many_subscriptions"
    finally:
        for response in opened:
            response.close()


# --- the page in a browser ---------------------------------------------------------

SHOWN = """JSON.stringify({
  height: Number(document.body.dataset.height || 0),
  n: document.getElementById("n").textContent,
  f: document.getElementById("f").textContent,
  quorum: document.getElementById("quorum").textContent,
  institution: document.getElementById("institution").textContent,
  live: document.getElementById("live").className,
  validators: [...document.querySelectorAll("#validators tbody tr[data-institution]")]
    .map((tr) => tr.dataset.institution),
  blocks: [...document.querySelectorAll("#blocks tbody tr")].map((tr) => Number(tr.dataset.height)),
  txs: Object.fromEntries([...document.querySelectorAll("#txs tbody tr")]
    .map((tr) => [tr.dataset.hash, [...tr.cells].map((td) => td.textContent)])),
  counts: Object.fromEntries([...document.querySelectorAll("#counts .bar")]
    .map((bar) => [bar.dataset.institution, Number(bar.dataset.count)])),
  accounts: [...document.querySelectorAll("#accounts tbody tr")].map((tr) => tr.cells[0].textContent),
  problem: document.getElementById("problem").hidden ? null : document.getElementById("problem").textContent,
})"""


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_the_page_in_headless_chromium(cluster, tmp_path):
    payer = Payer(cluster)
    page_url = cluster.operator_urls[0] + "/"

    async def scenario():
        async with Chromium(CHROMIUM, tmp_path / "chromium") as browser:
            page = await browser.page()
            await page.navigate(page_url)
            seen: dict = {}

            async def read() -> dict:
                seen.clear()
                seen.update(json.loads(await page.evaluate(SHOWN)))
                return seen

            async def loaded_and_live() -> bool:
                found = await read()
                return found["n"] == "4" and found["live"] == "live on"  # height 0 before any payment

            await wait_until(loaded_and_live, WAIT_S, lambda: f"the page loaded and its stream open; saw {seen}")
            before = seen["height"]
            alpha_paid, bravo_paid = await pay(payer, 0, 5), await pay(payer, 1, 3)

            async def caught_up() -> bool:  # the page never polls: only its stream's block events move it
                found = await read()
                row = found["txs"].get(alpha_paid[-1])
                return found["height"] > before and row is not None and row[3] != "" \
                    and found["counts"].get(BRAVO, 0) >= 3 and found["blocks"][:1] == [found["height"]]

            await wait_until(caught_up, WAIT_S, lambda: f"the page to show the payments; saw {seen}")
            assert (seen["n"], seen["f"], seen["quorum"], seen["institution"]) == ("4", "1", "3", ALPHA)
            assert seen["validators"] == [ALPHA, BRAVO, CHARLIE, DELTA]
            assert seen["accounts"] == [ALPHA] and seen["problem"] is None
            assert seen["blocks"] == sorted(seen["blocks"], reverse=True) and len(seen["blocks"]) <= BLOCKS_SHOWN
            _, tx_type, sender, what, receipt, _ = seen["txs"][alpha_paid[-1]]
            assert (tx_type, sender, receipt) == ("settlement.pay", ALPHA, "ok")
            assert what == f"{ALPHA} → {BRAVO} EUR 100"  # from the summary the block event asked for
            assert not set(bravo_paid) & set(seen["txs"]), "bravo's payments are not alpha's to read"
            assert seen["counts"][ALPHA] >= 5
            assert page.exceptions() == []
            size = await page.screenshot(tmp_path / "explorer.png")
            assert size > 10_000 and (tmp_path / "explorer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            await page.close()

    asyncio.run(scenario())


def static(body: bytes, content_type: str):
    async def get_file(request):
        return aiohttp.web.Response(body=body, headers={"Content-Type": content_type})
    return get_file


class ScriptedSite:
    """The page's own files beside a scripted summary (one taken from a live
    node) and event stream, on 127.0.0.1: stream 1 sends a block, then
    `resync`, and ends; stream 2 is refused (429, as when too many pages are
    open); stream 3 sends a block far ahead and stays open until `close`.
    Every stream request's Last-Event-ID is kept."""

    def __init__(self, summary: dict) -> None:
        self.summary = summary
        self.height = summary["height"]
        self.streams: list[str | None] = []
        self.summaries = 0
        self.done = asyncio.Event()
        self.runner: aiohttp.web.AppRunner | None = None

    async def start(self) -> str:
        app = aiohttp.web.Application()
        for path, (body, content_type) in read_static().items():
            app.router.add_get(path, static(body, content_type))
        app.router.add_get("/explorer/summary.json", self.get_summary)
        app.router.add_get("/explorer/events", self.get_events)
        self.runner = aiohttp.web.AppRunner(app, shutdown_timeout=1.0)
        await self.runner.setup()
        site = aiohttp.web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}/"

    async def close(self) -> None:
        self.done.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def get_summary(self, request):
        self.summaries += 1
        return aiohttp.web.json_response(self.summary)

    async def get_events(self, request):
        self.streams.append(request.headers.get("Last-Event-ID"))
        if len(self.streams) == 2:
            return aiohttp.web.json_response({"error": {"code": "too_many_subscriptions"}}, status=429)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if len(self.streams) == 1:
            await response.write(self.block(self.height + 1) + b'event: resync\ndata: {"from_height": '
                                 + str(self.height + 2).encode() + b', "reason": "behind"}\n\n')
            return response
        await response.write(self.block(self.height + 50))
        await asyncio.wait_for(self.done.wait(), WAIT_S * 2)
        return response

    @staticmethod
    def block(height: int) -> bytes:
        data = json.dumps({"height": height, "hash": "ab" * 32, "tx_count": 0, "timestamp_ms": 1_767_225_600_000})
        return f"id: {height}\nevent: block\ndata: {data}\n\n".encode()


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_the_page_starts_a_fresh_stream_after_resync_and_retries_a_refused_one(cluster, tmp_path):
    async def scenario():
        async with session() as http:
            site = ScriptedSite(await summary(http, cluster.operator_urls[0]))
        page_url = await site.start()
        try:
            async with Chromium(CHROMIUM, tmp_path / "chromium") as browser:
                page = await browser.page()
                await page.navigate(page_url)
                shown: list = []

                async def far_ahead() -> bool:
                    shown[:] = [await page.evaluate("Number(document.body.dataset.height || 0)"),
                                await page.evaluate('document.getElementById("live").className')]
                    return shown == [site.height + 50, "live on"]

                await wait_until(far_ahead, WAIT_S, lambda: f"the third stream's block and live; saw {shown}, "
                                 f"streams {site.streams}")
                assert site.streams == [None, None, None], "after resync, a new stream from the next block on"
                assert site.summaries >= 2, "a block or a resync asks for the summary again"
                assert page.exceptions() == []
                await page.close()
        finally:
            await site.close()

    asyncio.run(scenario())
