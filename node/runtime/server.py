"""Run one node process: the HTTP app, peer links and the consensus task.

The HTTP routes come from the caller (`make_app`, the API's, and
`make_operator_app` for the operator site on the config's `operator`
address, plain HTTP), so the runtime does not depend on the API; the
runtime adds its own peer route.
SIGTERM or SIGINT stops the node cleanly; a failure in the consensus task
stops the whole node (exit 1) rather than letting it limp on. `run` runs
it on asyncio's event loop, or on uvloop's with CONSORT_EVENT_LOOP=uvloop
when the optional `fast` extra installed it (measured on the 4-node bench
on 2 cores it saved nothing: the standard loop stays the default). A request
aiohttp's parser refuses (the client's fault) is one short DEBUG line, not
an ERROR with a traceback; our own bugs stay at ERROR.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from typing import Any, Awaitable, Callable, Coroutine

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from node.runtime.config import NodeConfig
from node.runtime.driver import ConsensusFailure, Node, open_node
from node.runtime.peers import PEER_PATH

log = logging.getLogger("consort.server")

EVENT_LOOP_ENV = "CONSORT_EVENT_LOOP"  # "uvloop": uvloop's event loop, if installed; else asyncio's
SHUTDOWN_TIMEOUT_S = 1.0
GC_YOUNG_OBJECTS_MAX = 10_000  # new container objects between two collections of the youngest generation
AIOHTTP_SERVER_LOGGER = "aiohttp.server"
REFUSAL_TEXT_CHARS_MAX = 120
INSECURE_WARNING = ("INSECURE: started with --insecure: the API is plain HTTP and peer links carry no "
                    "certificates; anyone on the path reads every message. For local experiments only.")


class RefusedRequestFilter(logging.Filter):
    """Turns aiohttp's log of a request its parser refused (malformed request
    line or header: an HttpProcessingError with a 4xx code, logged at ERROR
    with a traceback) into one short line at DEBUG, dropped unless DEBUG is
    on. Every other record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        refused = record.exc_info[1] if record.exc_info else None
        if not isinstance(refused, HttpProcessingError) or not 400 <= refused.code < 500:
            return True
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
        record.msg, record.args = "refused request from %s: %d %s", (
            remote, refused.code, " ".join(refused.message.split())[:REFUSAL_TEXT_CHARS_MAX])
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        record.exc_info = record.exc_text = None
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_refused_requests() -> None:
    """Install RefusedRequestFilter on aiohttp's server logger (once)."""
    logger = logging.getLogger(AIOHTTP_SERVER_LOGGER)
    if not any(isinstance(f, RefusedRequestFilter) for f in logger.filters):
        logger.addFilter(RefusedRequestFilter())


async def start_operator_site(runner: web.AppRunner, config: NodeConfig) -> None:
    """The operator site on its address, plain HTTP: said at every start,
    louder when the address is not a loopback one."""
    address = config.operator
    await web.TCPSite(runner, address.host, address.port, reuse_address=True).start()
    if address.is_loopback:
        log.info("operator site (metrics, health, explorer) on %s", address.url)
    else:
        log.warning("operator site (metrics, health, explorer) on %s: plain HTTP without authentication; keep that "
                    "address on a management network", address.url)


def startup_line(node: Node, addresses: list[str]) -> str:
    """The one line a node logs once it listens: what an operator checks
    first (the chain it follows, its own key, where it listens, how far it
    is, which peers it will link with)."""
    config, replica = node.config, node.replica.config
    peers = sorted(node.membership.institution_of(key) or key.hex()[:16] for key in node.membership.peer_urls())
    role = (f"replica {replica.replica_id} of {len(replica.validators)} validators" if replica.replica_id >= 0
            else "not a validator")
    return (f"{config.institution} started: chain {node.genesis.chain_id.hex()}, node key "
            f"{node.membership.own_key.hex()}, {role}, listening on {', '.join(addresses)}, "
            f"height {node.ledger.tip.height}, peers {len(peers)} ({', '.join(peers) or 'none'})")


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop if CONSORT_EVENT_LOOP=uvloop asks for it and it is
    installed (the `fast` extra); None: asyncio's own (said in the log when
    uvloop was asked for but is missing)."""
    if os.environ.get(EVENT_LOOP_ENV, "").strip().lower() != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        log.warning("%s=uvloop, but uvloop is not installed (pip install 'consort[fast]'): the standard event "
                    "loop runs", EVENT_LOOP_ENV)
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, int]) -> int:
    """Run a node's `serve` to its end on the event loop `event_loop_factory` chooses."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(main)


Extension = Callable[[Node, web.Application], Awaitable[Callable[[], Awaitable[None]]]]


async def serve(config: NodeConfig, make_app: Callable[[Node], web.Application],
                ready: asyncio.Event | None = None, extensions: tuple[Extension, ...] = (),
                make_operator_app: Callable[[Node], web.Application] | None = None,
                freeze_startup_heap: bool = False) -> int:
    """Run the node until SIGTERM/SIGINT or a consensus failure. Each of
    `extensions` (e.g. node.mpc's) is awaited with the node and its app
    before the site starts, and returns how to close it. The operator site
    is served when the config names its address and `make_operator_app` is
    given. `freeze_startup_heap` (a node process of its own, not a test's):
    once the node has started, what exists then is moved out of the cyclic
    garbage collector's sight (`gc.freeze`): modules, classes and the node's
    parts live as long as the process, and each full collection walked them
    all (about 25 ms each); and the youngest generation is collected after
    GC_YOUNG_OBJECTS_MAX new objects instead of 700, so most of a
    transaction's objects are gone before a collection looks at them. On
    the 4-node bench the collector's CPU fell from about 4.4 to 1.4 us a
    transaction."""
    quiet_refused_requests()
    node = open_node(config)
    app = make_app(node)
    app.router.add_get(PEER_PATH, node.inbound.handle)
    app.on_shutdown.append(node.inbound.close_all)
    closers = [await extension(node, app) for extension in extensions]
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    operator = None
    if config.operator is not None and make_operator_app is not None:
        operator = web.AppRunner(make_operator_app(node), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await operator.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consensus = asyncio.create_task(node.consensus_loop(), name="consensus")
    stopper = asyncio.create_task(stop.wait(), name="stop")
    try:
        if node.tls is None:
            log.warning(INSECURE_WARNING)
        await web.TCPSite(runner, config.host, config.port, reuse_address=True,
                          ssl_context=node.tls.server if node.tls is not None else None).start()
        if operator is not None:
            await start_operator_site(operator, config)
        await node.start()
        if freeze_startup_heap:
            gc.collect()
            gc.freeze()
            gc.set_threshold(GC_YOUNG_OBJECTS_MAX, *gc.get_threshold()[1:])
        addresses = [f"{config.url} (API and peer links)"]
        if operator is not None:
            addresses.append(f"{config.operator.url} (operator site)")
        log.info("%s", startup_line(node, addresses))
        log.info("event loop: %s", type(loop).__module__.split(".")[0])
        if ready is not None:
            ready.set()
        await asyncio.wait({consensus, stopper}, return_when=asyncio.FIRST_COMPLETED)
        failure = consensus.exception() if consensus.done() and not consensus.cancelled() else None
        if isinstance(failure, ConsensusFailure):
            log.critical("CONSENSUS FAILURE, the node stops: %s", failure)
            return 1
        if failure is not None:
            log.critical("consensus task failed; stopping the node", exc_info=failure)
            return 1
        return 0
    finally:
        for task in (consensus, stopper):
            task.cancel()
        await asyncio.gather(consensus, stopper, return_exceptions=True)
        await runner.cleanup()
        if operator is not None:
            await operator.cleanup()
        for close in reversed(closers):
            await close()
        await node.close()
        log.info("%s stopped at height %d", config.institution, node.ledger.tip.height)
