"""What every handler shares: the app key that finds the node, the caller
(node.api.access authenticates it), the JSON error shape, the middleware
that applies it, and query-parameter parsing.

Every error is JSON: {"error": {"code": ..., "message": ..., "problems": [...]}}.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from aiohttp import web

from node.runtime.driver import Node

log = logging.getLogger("consort.api")

MSGPACK = "application/msgpack"
NODE = web.AppKey("node", Node)
UINT64_MAX = 2**64 - 1
UINT_DIGITS_MAX = len(str(UINT64_MAX))
ERROR_CODES_BY_STATUS = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}


OVERSIGHT_ROLES = frozenset({"auditor", "regulator"})
CHAIN_ROLES = frozenset({"auditor", "regulator", "validator"})


class BadRequest(Exception):
    """A request the handler refuses with 400 and `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Forbidden(Exception):
    """An authenticated caller asking for what it may not read: 403 forbidden."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who signed a request: the institution its client key is registered
    to and that institution's roles, as the committed state says."""

    institution: str
    roles: tuple[str, ...]
    key: bytes

    @property
    def sees_all(self) -> bool:
        """Auditors and regulators read every party's data."""
        return bool(OVERSIGHT_ROLES & set(self.roles))

    @property
    def reads_chain(self) -> bool:
        """Auditors, regulators and validators read whole blocks, the export
        and any state proof."""
        return bool(CHAIN_ROLES & set(self.roles))


CALLER = web.RequestKey("caller", Caller)


def signed_caller(request: web.Request) -> Caller | None:
    """The authenticated caller; None for an unsigned submission."""
    return request.get(CALLER)


def authenticated(request: web.Request) -> Caller:
    """The caller of a route whose rule requires a signature."""
    found = signed_caller(request)
    assert found is not None, "a route that reads needs a signed request (node.api.access)"
    return found


EVERYONE = "*"  # whose data: every party's
WHOSE = web.RequestKey("whose", list)


def note_whose(request: web.Request, parties) -> None:
    """Say whose data the answer carries (institution ids, or EVERYONE), for the access log."""
    request[WHOSE] = sorted(set(parties))


def scope(request: web.Request) -> str | None:
    """None when the caller sees every party's data, else the one
    institution whose data it may see (its own); noted for the access log."""
    who = authenticated(request)
    note_whose(request, [EVERYONE] if who.sees_all else [who.institution])
    return None if who.sees_all else who.institution


def require_party(request: web.Request, parties, what: str) -> None:
    """Forbidden unless the caller sees all or is one of `parties` (the
    institutions `what` belongs to; none: no one party's, every party's
    concern); noted for the access log."""
    who = authenticated(request)
    if not may_read(who, parties):
        raise Forbidden(f"{what} is not {who.institution}'s to read")
    note_whose(request, (parties or [EVERYONE]) if who.sees_all else [who.institution])


def may_read(who: Caller, parties) -> bool:
    """Whether `who` may read what belongs to `parties` (require_party's rule)."""
    return who.sees_all or who.institution in parties


def caller(request: web.Request) -> str:
    """Who is asking, for per-caller limits: the caller's institution when the
    request is signed, else (an unsigned submission) the remote address."""
    found = signed_caller(request)
    return f"institution:{found.institution}" if found else f"address:{request.remote or ''}"


def error(status: int, code: str, message: str, **extra) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except BadRequest as exc:
        return error(400, exc.code, str(exc))
    except Forbidden as exc:
        return error(403, "forbidden", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, ERROR_CODES_BY_STATUS.get(exc.status, "http_error"), exc.reason)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # our bug: report it, keep serving
        log.exception("internal error on %s", request.path)
        return error(500, "internal", f"{type(exc).__name__}")


def _short_int(text: str) -> int:
    if len(text) > UINT_DIGITS_MAX:
        raise ValueError(f"an integer of more than {UINT_DIGITS_MAX} digits")
    return int(text)


def json_body(body: bytes, elements_max: int) -> object:
    """The JSON document in `body`; BadRequest("malformed") if it is not JSON,
    holds more than about `elements_max` values (counted, before parsing, as
    the brackets, braces, commas and colons it holds, an upper bound), nests
    deeper than the parser's recursion limit, or holds an integer of more
    digits than a 64-bit one has."""
    structure = sum(body.count(mark) for mark in (b"[", b"{", b",", b":"))
    if structure >= elements_max:
        raise BadRequest("malformed", f"a JSON body here holds at most {elements_max} values")
    try:
        return json.loads(body, parse_int=_short_int)
    except RecursionError:
        raise BadRequest("malformed", "JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise BadRequest("malformed", f"body is not JSON: {str(exc)[:200]}") from None


def parse_uint(text: str, name: str, maximum: int = UINT64_MAX) -> int:
    """`text` as an integer in [0, maximum], written in ASCII digits only;
    BadRequest otherwise. (`int()` also takes signs, spaces, underscores and
    other scripts' digits, and "²".isdigit() is true while int("²") fails.)"""
    if not (0 < len(text) <= UINT_DIGITS_MAX and text.isascii() and text.isdigit()):
        raise BadRequest("bad_parameter", f"{name} must be a non-negative integer in decimal digits")
    value = int(text)
    if value > maximum:
        raise BadRequest("bad_parameter", f"{name} must be between 0 and {maximum}")
    return value


def int_param(request: web.Request, name: str, default: int, maximum: int) -> int:
    """Query parameter `name` as an integer in [0, maximum]; BadRequest otherwise."""
    text = request.query.get(name)
    return default if text is None else parse_uint(text, name, maximum)


def path_uint(request: web.Request, name: str) -> int:
    """Path segment `name` as an integer of at most 64 bits; BadRequest otherwise."""
    return parse_uint(request.match_info[name], name)
