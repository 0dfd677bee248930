"""A headless Chromium driven over its DevTools protocol (CDP), for the
explorer's browser test and the screenshot in docs/: open a page, read what
it shows with JavaScript, take a PNG. Nothing but aiohttp (a websocket to
the browser) and the Chromium binary itself; no browser-automation package.

`Chromium` is one browser process of our own, started with a fresh profile
folder and `--remote-debugging-port=0` (the browser picks a free port and
writes "DevTools listening on ws://..." to its stderr, which goes to a
file we read, so a chatty browser can never fill a pipe and stall). It is
started in a session of its own, so stopping it ends its helper processes
too: Browser.close over the protocol, then SIGTERM and at last SIGKILL to
its process group, each wait bounded. Run as root, Chromium refuses to
start unless its sandbox is off, so `--no-sandbox` is added then and only
then (CI containers run as root; a developer's machine keeps the sandbox).

Every wait has a deadline; the events a page sends (console messages,
uncaught exceptions) are kept up to EVENTS_KEPT_MAX.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections import deque
from pathlib import Path

import aiohttp

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "CONSORT_CHROMIUM"  # a browser binary to use instead of the first of CHROMIUM_NAMES found
START_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
EVENTS_KEPT_MAX = 200
MESSAGE_BYTES_MAX = 64 * 1024 * 1024  # a full-page screenshot comes as one base64 message
WINDOW_SIZE = (1400, 1000)
DEVTOOLS_LINE = re.compile(r"DevTools listening on (ws://\S+)")


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary to drive: $CONSORT_CHROMIUM, else the first on PATH; None if none."""
    chosen = os.environ.get(CHROMIUM_ENV)
    if chosen:
        return shutil.which(chosen)
    return next((found for found in map(shutil.which, CHROMIUM_NAMES) if found), None)


class BrowserError(Exception):
    """The browser did not start, answer, or do what was asked."""


class Chromium:
    """One headless browser process; `async with Chromium(binary, folder) as browser:`."""

    def __init__(self, binary: str, folder: Path, window: tuple[int, int] = WINDOW_SIZE) -> None:
        self.binary = binary
        self.folder = Path(folder)
        self.window = window
        self.process: subprocess.Popen | None = None
        self.devtools_url: str | None = None
        self.session: aiohttp.ClientSession | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / "chromium.log"

    def arguments(self) -> list[str]:
        width, height = self.window
        sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium will not run as root with it
        return [self.binary, "--headless", "--remote-debugging-port=0", f"--user-data-dir={self.folder / 'profile'}",
                "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--disable-component-update",
                "--mute-audio", "--hide-scrollbars", f"--window-size={width},{height}", *sandbox, "about:blank"]

    async def __aenter__(self) -> "Chromium":
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(self.arguments(), stdin=subprocess.DEVNULL, stdout=log_file,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.devtools_url = await self._devtools_url()
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=COMMAND_TIMEOUT_S))
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def _devtools_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            found = DEVTOOLS_LINE.search(self.log_path.read_text(errors="replace"))
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                raise BrowserError(f"{self.binary} exited with {self.process.returncode} before its DevTools "
                                   f"endpoint was up; its output is in {self.log_path}")
            await asyncio.sleep(POLL_INTERVAL_S)
        raise BrowserError(f"{self.binary} wrote no DevTools endpoint within {START_TIMEOUT_S} s ({self.log_path})")

    async def page(self) -> "Page":
        """The browser's first page (the about:blank it started with), connected."""
        http_url = self.devtools_url.replace("ws://", "http://", 1).split("/devtools/")[0]
        async with self.session.get(http_url + "/json/list") as response:
            targets = await response.json()
        target = next((t for t in targets if t.get("type") == "page"), None)
        if target is None:
            raise BrowserError(f"the browser lists no page target: {targets}")
        socket = await self.session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=MESSAGE_BYTES_MAX)
        page = Page(socket)
        await page.call("Page.enable")
        await page.call("Runtime.enable")
        return page

    async def stop(self) -> None:
        """Close the browser and every process of its group, waiting at most about 2 x STOP_TIMEOUT_S."""
        running = self.process is not None and self.process.poll() is None
        if running and self.devtools_url is not None and self.session is not None:
            try:
                async with self.session.ws_connect(self.devtools_url) as socket:
                    await socket.send_json({"id": 1, "method": "Browser.close"})
                    await asyncio.wait_for(socket.receive(), STOP_TIMEOUT_S)
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass  # signals below
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self.process is not None:
            await asyncio.to_thread(stop_group, self.process)


def stop_group(process: subprocess.Popen) -> None:
    """Wait for `process` to exit, then SIGTERM, then SIGKILL its process group
    (its own session: the browser's helpers), each wait bounded."""
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return  # the group is gone: nothing of ours is left
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            continue


class Page:
    """One page target over its websocket: numbered commands and their answers."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.events: deque[dict] = deque(maxlen=EVENTS_KEPT_MAX)

    async def call(self, method: str, **params) -> dict:
        """Send one command and wait (at most COMMAND_TIMEOUT_S) for its answer;
        the events that arrive meanwhile are kept in `events`."""
        number = next(self.ids)
        await self.socket.send_json({"id": number, "method": method, "params": params})

        async def answer() -> dict:
            while True:
                message = await self.socket.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise BrowserError(f"the page's DevTools connection ended ({message.type.name}) during {method}")
                found = json.loads(message.data)
                if found.get("id") == number:
                    if "error" in found:
                        raise BrowserError(f"{method}: {found['error']}")
                    return found.get("result", {})
                if "method" in found:
                    self.events.append(found)

        return await asyncio.wait_for(answer(), COMMAND_TIMEOUT_S)

    async def navigate(self, url: str) -> None:
        """Load `url` and wait until its document and deferred scripts are loaded."""
        found = await self.call("Page.navigate", url=url)
        if found.get("errorText"):
            raise BrowserError(f"could not open {url}: {found['errorText']}")
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while await self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading within {COMMAND_TIMEOUT_S} s")
            await asyncio.sleep(POLL_INTERVAL_S)

    async def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-able values)."""
        found = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in found:
            raise BrowserError(f"{expression[:80]!r} threw: {found['exceptionDetails'].get('text')}")
        return found["result"].get("value")

    def exceptions(self) -> list[str]:
        """The uncaught exceptions the page reported (Runtime.exceptionThrown)."""
        return [json.dumps(e["params"]["exceptionDetails"])[:500] for e in self.events
                if e.get("method") == "Runtime.exceptionThrown"]

    async def screenshot(self, path: Path, full_page: bool = True, scale: float = 1.0) -> int:
        """Write the page as a PNG (all of it, or the window; `scale` times its
        CSS pixels); returns its size in bytes."""
        params: dict = {"format": "png"}
        if full_page:
            size = (await self.call("Page.getLayoutMetrics"))["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": scale})
        data = base64.b64decode((await self.call("Page.captureScreenshot", **params))["data"])
        Path(path).write_bytes(data)
        return len(data)

    async def close(self) -> None:
        await self.socket.close()
