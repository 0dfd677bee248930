"""Everything in Consort that performs I/O, in rooms:

    runtime/   the node process: driver, peer links, admission, block applier, storage, config
    api/       HTTP handlers only
    audit/     the auditor: export format, verify, prove, history (needs only the genesis file)
    client/    the HTTP client of the CLI, the demo and the bench
    cli/       the `consort` command, one module per command group
    devtools/  local cluster launcher, offline chain builder, demo story

Arrows: api, cli and devtools may import runtime; runtime imports none of
them, nor audit, client or netsim; audit never imports runtime; within
node/, only cli imports netsim (tests/unit/test_architecture.py checks this).
"""
