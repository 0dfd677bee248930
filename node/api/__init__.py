"""The HTTP layer only: routes and handlers for transactions, queries,
blocks, export and state proofs (`app.make_app` assembles them).

Handlers call the runtime (`Node` and its `Ledger`) and format JSON; they
hold no consensus or storage logic. Must not import node.cli,
node.devtools or netsim.
"""
