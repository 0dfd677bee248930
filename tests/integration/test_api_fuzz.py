"""Fuzzing the client API: any path segment, query parameter or body on any
route gets an answer below 500 (a 5xx is our bug). Requests are signed (as
the auditor, who may call every route), so each reaches its handler. 400
examples, derandomized, so a run is repeatable; raise EXAMPLES (and drop
derandomize) to search wider. On the code before this branch it found the
HEAD on /v1/export at once."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import HealthCheck, given, settings, strategies as st

from crypto import encoding

EXAMPLES = 400

ROUTES = [
    ("POST", "/v1/tx"), ("POST", "/v1/txs"), ("GET", "/v1/tx/{}"), ("GET", "/v1/blocks/{}"),
    ("GET", "/v1/status"), ("GET", "/v1/export"), ("HEAD", "/v1/export"), ("GET", "/v1/state/proof"),
    ("GET", "/v1/accounts"), ("GET", "/v1/settlement/queue/{}"), ("GET", "/v1/settlement/cycles/{}"),
    ("GET", "/v1/settlement/cycles/{}/{}"), ("GET", "/v1/settlement/finality/{}"),
    ("GET", "/v1/governance/proposals"), ("GET", "/v1/governance/proposals/{}"),
    ("GET", "/v1/governance/validators"), ("GET", "/v1/assets"), ("GET", "/v1/assets/{}"),
    ("GET", "/v1/assets/{}/history"),
]
PARAMETERS = ["wait", "timeout_ms", "wait_ms", "format", "from", "to", "key"]

numbers = st.one_of(st.integers(-2, 2**70).map(str), st.sampled_from(["²", "١", "1_0", "+1", " 7", "0x10", ""]))
segments = st.one_of(numbers, st.text(max_size=70), st.binary(max_size=40).map(bytes.hex),
                     st.sampled_from(["EUR", "A000000000001", "00" * 32]))
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=20), st.binary(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(st.text(max_size=6), children,
                                                                                max_size=5)),
    max_leaves=20)
bodies = st.one_of(
    st.binary(max_size=300),
    values.map(lambda v: encoding.encode(v) if _encodable(v) else b""),
    st.lists(st.binary(max_size=200), max_size=5).map(encoding.encode),
    st.text(max_size=300).map(str.encode),
    st.sampled_from([b'{"txs": []}', b'{"txs": [{}]}', b'{"txs": [1]}', b"[" * 2000, b'{"nonce": ' + b"9" * 5000 + b"}"]),
)


def _encodable(value) -> bool:
    try:
        encoding.encode(value)
    except encoding.EncodingError:
        return False
    return True


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
async def test_no_request_gets_a_5xx(api, data):
    method, template = data.draw(st.sampled_from(ROUTES))
    path = template.format(*(quote(data.draw(segments), safe="") for _ in range(template.count("{}"))))
    names = data.draw(st.lists(st.sampled_from(PARAMETERS), max_size=3, unique=True))
    params = {name: data.draw(numbers if name != "wait_ms" else st.sampled_from(["0", "1", "x", "²"]))
              if name != "wait" else data.draw(st.sampled_from(["commit", "", "x"])) for name in names}
    if "timeout_ms" in params and params["timeout_ms"].isascii() and params["timeout_ms"].isdigit():
        params["timeout_ms"] = str(min(int(params["timeout_ms"]), 50))  # a valid wait: keep it short
    headers = {"Content-Type": data.draw(st.sampled_from(["application/msgpack", "application/json",
                                                          "text/plain"]))}
    body = data.draw(bodies) if method == "POST" else None
    response = await api.request(method, path, params=params, data=body or b"", headers=headers)
    await response.read()
    assert response.status < 500, (method, path, params, body, response.status, await response.text())
