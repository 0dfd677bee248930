"""MPC sessions, as the mpc contract records them (contracts.mpc_state):

    GET /v1/mpc/sessions?start=N&limit=M   the session ids a caller may list
    GET /v1/mpc/sessions/{id}              one session, as the caller may see it

Any authenticated caller. A session's parties (participants, recipients,
opener), auditors and regulators read the whole record and every
participant's input commitments; of a sealed result, only the box
addressed to them. Any other caller reads that the session exists and how
it went (`mpc_state.visible_session`), and lists only the sessions it is a
party to (oversight lists all).
"""

from __future__ import annotations

from aiohttp import web

from contracts import mpc_state
from contracts.executor import to_json_value
from node.api.access import AUTHENTICATED, requires
from node.api.http import NODE, authenticated, int_param, note_whose, scope

PAGE_MAX = 100


@requires(AUTHENTICATED)
async def list_sessions(request: web.Request) -> web.Response:
    node = request.app[NODE]
    start = int_param(request, "start", 1, 2**63)
    limit = int_param(request, "limit", PAGE_MAX, PAGE_MAX)
    found = mpc_state.sessions(node.ledger.view, start, limit, institution=scope(request))
    return web.json_response({"height": node.ledger.tip.height, "sessions": found})


@requires(AUTHENTICATED)
async def one_session(request: web.Request) -> web.Response:
    node = request.app[NODE]
    state = node.ledger.view
    session_id = request.match_info["session"]
    record = mpc_state.session(state, session_id) if len(session_id) == mpc_state.ID_LENGTH else None
    if record is None:
        return web.json_response({"error": {"code": "not_found", "message": "no such session"}}, status=404)
    who = authenticated(request)
    view = mpc_state.visible_session(record, who.institution, who.roles)
    parties = mpc_state.session_parties(record)
    if who.institution in parties or who.sees_all:
        view["commitments"] = {p: c["commitment"] for p, c in mpc_state.commitments(state, record).items()}
    note_whose(request, sorted(parties) if who.sees_all else [who.institution])
    return web.json_response({"height": node.ledger.tip.height, "session": to_json_value(view)})


def routes() -> list[web.RouteDef]:
    return [web.get("/v1/mpc/sessions", list_sessions), web.get("/v1/mpc/sessions/{session}", one_session)]
