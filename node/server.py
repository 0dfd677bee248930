"""Run one node process: HTTP API, peer links and the consensus task.

SIGTERM or SIGINT stops it cleanly; a failure in the consensus task stops
the whole node (exit 1) rather than letting it limp on.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from node.api import make_app
from node.config import NodeConfig
from node.runtime import Node

log = logging.getLogger("consort.server")


async def serve(config: NodeConfig, ready: asyncio.Event | None = None) -> int:
    node = Node(config)
    runner = web.AppRunner(make_app(node), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    consensus = asyncio.create_task(node.consensus_loop(), name="consensus")
    stopper = asyncio.create_task(stop.wait(), name="stop")
    try:
        await web.TCPSite(runner, config.host, config.port, reuse_address=True).start()
        await node.start()
        log.info("%s (replica %d) serving on %s at height %d", config.institution,
                 node.replica.config.replica_id, config.url, node.ledger.tip.height)
        if ready is not None:
            ready.set()
        await asyncio.wait({consensus, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if consensus.done() and not consensus.cancelled() and consensus.exception() is not None:
            log.critical("consensus task failed; stopping the node", exc_info=consensus.exception())
            return 1
        return 0
    finally:
        for task in (consensus, stopper):
            task.cancel()
        await asyncio.gather(consensus, stopper, return_exceptions=True)
        await runner.cleanup()
        await node.close()
        log.info("%s stopped at height %d", config.institution, node.ledger.tip.height)
