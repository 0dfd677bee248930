"""What every handler shares: the app key that finds the node, the JSON
error shape, the middleware that applies it, and query-parameter parsing.

Every error is JSON: {"error": {"code": ..., "message": ..., "problems": [...]}}.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from node.runtime.driver import Node

log = logging.getLogger("consort.api")

MSGPACK = "application/msgpack"
NODE = web.AppKey("node", Node)
ERROR_CODES_BY_STATUS = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}


class BadRequest(Exception):
    """A request the handler refuses with 400 and `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def error(status: int, code: str, message: str, **extra) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except BadRequest as exc:
        return error(400, exc.code, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, ERROR_CODES_BY_STATUS.get(exc.status, "http_error"), exc.reason)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # our bug: report it, keep serving
        log.exception("internal error on %s", request.path)
        return error(500, "internal", f"{type(exc).__name__}")


def int_param(request: web.Request, name: str, default: int, maximum: int) -> int:
    """Query parameter `name` as an integer in [0, maximum]; BadRequest otherwise."""
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        raise BadRequest("bad_parameter", f"{name} must be an integer") from None
    if not 0 <= value <= maximum:
        raise BadRequest("bad_parameter", f"{name} must be between 0 and {maximum}")
    return value
