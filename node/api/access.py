"""Who may call what: every route declares its rule (`@requires(RULE)` on
its handler), and one middleware authenticates each request and enforces
the rule before the handler runs. `check_routes` refuses an application
with a route that declares none, so a new route cannot forget it.

Rules belong to a site: the member API (TLS, signed requests: everything
below) or the operator site (node.api.operator: plain HTTP on a local or
management address, no authentication). `check_routes` also refuses a
route declared for the other site, so an operator route cannot end up on
the member API, nor a member route on the unauthenticated site.

Authentication is a request signed by a client key as
node.client.request_signing defines: fresh (within Limits.request_window_ms
of this node's clock), never seen before within that window (SeenRequests,
bounded), by a key the committed state registers to an institution that
holds a role; the caller's institution and roles are read from the
committed state on every request, so governance's changes apply at once.

A refusal is 401 (`unauthenticated`, `bad_request_signature`,
`stale_request`, `replayed_request`, `unknown_key`), 403 (`forbidden`:
authenticated, without the right), or, when the memory of requests holds
a key's share or is full, 429 `too_many_requests` or 503 `busy`. What a
caller sees within a route it may call (its own rows, its own assets) is
the handler's to scope (node.api.queries, chain, transactions); a handler
says whose data it answers with (http.note_whose), and every refusal and
every read of another party's data goes to the access log (access_log).

Must not hold handler logic or contract knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from aiohttp import web

from contracts.genesis import client_key_key
from contracts.store import get, institution
from crypto import keys
from node.api.access_log import AccessLog, access_entry, reads_another_party
from node.api.http import CALLER, CHAIN_ROLES, NODE, OVERSIGHT_ROLES, WHOSE, Caller, Forbidden, error
from node.api.seen_requests import FULL, KEY_OVER_SHARE, REPLAYED, SeenRequests
from node.client.request_signing import (
    HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIME, HEADERS, NONCE_BYTES, SIGNATURE_DOMAIN, request_message,
)
from node.runtime.driver import now_ms
from node.runtime.peers import PEER_PATHS

RULE_ATTRIBUTE = "consort_access_rule"
TIME_DIGITS_MAX = 16  # milliseconds until the year 316,000: more digits is no current time


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may call a route: any authenticated caller (`roles` None) or one
    holding one of `roles`; `signed` False lets an unsigned request through
    (transaction submission: each transaction carries its own signature),
    though a request that is signed is checked all the same. `site`: the
    application whose routes may carry it (MEMBER_SITE or OPERATOR_SITE)."""

    name: str
    roles: frozenset[str] | None = None
    signed: bool = True
    site: str = "member"


MEMBER_SITE, OPERATOR_SITE = "member", "operator"
SUBMISSION = Rule("transactions", signed=False)
AUTHENTICATED = Rule("authenticated")
CHAIN = Rule("chain", CHAIN_ROLES)
OVERSIGHT = Rule("oversight", OVERSIGHT_ROLES)
OPERATOR = Rule("operator", signed=False, site=OPERATOR_SITE)  # whoever reaches the operator site's address


def requires(rule: Rule) -> Callable:
    """Declare the rule of the route(s) a handler serves."""
    def declare(handler: Callable) -> Callable:
        setattr(handler, RULE_ATTRIBUTE, rule)
        return handler
    return declare


def rule_of(handler: Callable) -> Rule | None:
    return getattr(handler, RULE_ATTRIBUTE, None)


def check_routes(app: web.Application, site: str = MEMBER_SITE) -> None:
    """Every route the application serves declares a rule, of `site` (the
    runtime's peer websocket, added later, authenticates peers itself)."""
    for route in app.router.routes():
        rule = rule_of(route.handler)
        if rule is None:
            raise RuntimeError(f"route {route.method} {route.resource.canonical} declares no access rule")
        if rule.site != site:
            raise RuntimeError(f"route {route.method} {route.resource.canonical} is for the {rule.site} site, "
                               f"not the {site} one")


class Refused(Exception):
    """A request the access layer refuses: status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


REMEMBER_REFUSALS = {
    REPLAYED: (401, REPLAYED, "this request was already served: sign each request with a fresh nonce"),
    KEY_OVER_SHARE: (429, KEY_OVER_SHARE, "too many requests from this key in the window; retry later"),
    FULL: (503, FULL, "the node is answering too many requests; retry later"),
}


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    key: bytes
    time_ms: int
    nonce: bytes
    signature: bytes


def parse_headers(headers) -> SignedHeaders | None:
    """The four authentication headers, parsed; None when there are none."""
    values = [headers.get(name) for name in HEADERS]
    if all(value is None for value in values):
        return None
    missing = [name for name, value in zip(HEADERS, values) if value is None]
    if missing:
        raise Refused(401, "bad_request_signature", f"missing header {', '.join(missing)}")
    key, time_text, nonce, signature = (_hex(headers[HEADER_KEY], keys.PUBLIC_KEY_SIZE, HEADER_KEY),
                                        headers[HEADER_TIME], _hex(headers[HEADER_NONCE], NONCE_BYTES, HEADER_NONCE),
                                        _hex(headers[HEADER_SIGNATURE], keys.SIGNATURE_SIZE, HEADER_SIGNATURE))
    if not (0 < len(time_text) <= TIME_DIGITS_MAX and time_text.isascii() and time_text.isdigit()):
        raise Refused(401, "bad_request_signature", f"{HEADER_TIME} is milliseconds since the epoch, in digits")
    return SignedHeaders(key, int(time_text), nonce, signature)


def _hex(text: str, size: int, name: str) -> bytes:
    try:
        value = bytes.fromhex(text) if text.isascii() else b""
    except ValueError:
        value = b""
    if len(value) != size or len(text) != 2 * size:
        raise Refused(401, "bad_request_signature", f"{name} is {size} bytes in hex ({2 * size} digits)")
    return value


def key_institution(state, public_key: bytes) -> str | None:
    """The institution the committed state registers a client key to."""
    return get(state, client_key_key(public_key))


def caller_of_key(state, public_key: bytes) -> Caller | None:
    """Who a client key speaks for now, as the committed state says: its
    institution with that institution's roles; None for a key of no
    institution, or of one without a role. (A long-lived stream asks again
    at each block, so governance's changes reach it too.)"""
    institution_id = key_institution(state, public_key)
    return None if institution_id is None else institution_caller(state, institution_id, public_key)


def institution_caller(state, institution_id: str, public_key: bytes = b"") -> Caller | None:
    """`institution_id` with its roles as the committed state says; None for
    an institution the state does not hold, or one without a role."""
    record = institution(state, institution_id)
    if record is None or not record["roles"]:
        return None
    return Caller(institution_id, tuple(record["roles"]), public_key)


class Authenticator:
    """Checks signed requests against the committed state (`state`: a view
    with `get`) and remembers the ones it accepted."""

    def __init__(self, chain_id: bytes, state, seen: SeenRequests, clock: Callable[[], int] = now_ms) -> None:
        self.chain_id = chain_id
        self.state = state
        self.seen = seen
        self.clock = clock

    def caller(self, signed: SignedHeaders, method: str, path: str, body: bytes) -> Caller:
        """The caller of a signed request; Refused when it may not be served."""
        now = self.clock()
        if not self.seen.fresh(signed.time_ms, now):
            raise Refused(401, "stale_request", f"request time {signed.time_ms} is more than "
                                                f"{self.seen.window_ms} ms from this node's clock ({now})")
        found = caller_of_key(self.state, signed.key)
        if found is None:
            raise Refused(401, "unknown_key", "the key is not a client key of an institution of this chain")
        message = request_message(self.chain_id, method, path, body, signed.time_ms, signed.nonce)
        if not keys.verify(signed.key, SIGNATURE_DOMAIN, message, signed.signature):
            raise Refused(401, "bad_request_signature", "the signature does not cover this request on this chain "
                                                        "(method, path with query, body, time, nonce, chain id)")
        refused = self.seen.admit(signed.key, signed.nonce, signed.time_ms, now)
        if refused is not None:
            raise Refused(*REMEMBER_REFUSALS[refused])
        return found


AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
ACCESS_LOG = web.AppKey("access_log", AccessLog)


async def authenticate(request: web.Request, rule: Rule, signed: SignedHeaders | None) -> Caller | None:
    """The request's caller, None for an unsigned one the rule lets through;
    Refused otherwise."""
    if signed is None:
        if rule.signed:
            raise Refused(401, "unauthenticated", "sign the request with a registered client key "
                                                  f"({', '.join(HEADERS)}; see the README)")
        return None
    body = await request.read()
    return request.app[AUTHENTICATOR].caller(signed, request.method, request.raw_path, body)


def permit(rule: Rule, found: Caller | None) -> None:
    """Refused (403) unless the rule lets the caller in."""
    if found is not None and rule.roles is not None and not rule.roles & set(found.roles):
        raise Refused(403, "forbidden", f"{found.institution} has roles {list(found.roles)}; "
                                        f"this needs one of {sorted(rule.roles)}")


@web.middleware
async def access_control(request: web.Request, handler):
    """Authenticate and apply the route's rule before its handler runs; log
    what it refuses and every read of another party's data."""
    route = request.match_info.route
    if request.match_info.http_exception is not None or route.resource is None \
            or route.resource.canonical in PEER_PATHS:
        return await handler(request)  # 404 and 405 for all; the peer route authenticates peers itself
    rule = rule_of(route.handler)
    if rule is None:  # check_routes keeps this from happening
        return error(500, "internal", "route without an access rule")
    signed = found = None
    try:
        signed = parse_headers(request.headers)
        found = await authenticate(request, rule, signed)
        permit(rule, found)
    except Refused as exc:
        _log(request, exc.status, found, signed, exc.code)
        return error(exc.status, exc.code, str(exc))
    if found is not None:
        request[CALLER] = found
    try:
        response = await handler(request)
    except Forbidden as exc:
        _log(request, 403, found, signed, "forbidden")
        return error(403, "forbidden", str(exc))
    if found is not None and response.status < 400 and reads_another_party(found.institution, request.get(WHOSE)):
        _log(request, response.status, found, signed)
    return response


def _log(request: web.Request, status: int, found: Caller | None, signed: SignedHeaders | None,
         code: str | None = None) -> None:
    request.app[ACCESS_LOG].write(access_entry(
        request.method, request.raw_path, status, found.institution if found else None,
        found.roles if found else (), signed.key if signed else None, code, request.get(WHOSE, ())))


def make_authenticator(node) -> Authenticator:
    limits = node.config.limits
    seen = SeenRequests(limits.request_window_ms, limits.seen_requests_max, limits.seen_requests_per_key_max)
    return Authenticator(node.genesis.chain_id, node.ledger.view, seen)


def install(app: web.Application) -> None:
    """Give `app` (its routes added, the node at app[NODE]) its access
    layer: the authenticator and the access log (closed with the app)."""
    check_routes(app)
    node = app[NODE]
    app[AUTHENTICATOR] = make_authenticator(node)
    app[ACCESS_LOG] = AccessLog(node.config.access_log)

    async def close_log(app: web.Application) -> None:
        app[ACCESS_LOG].close()

    app.on_cleanup.append(close_log)
