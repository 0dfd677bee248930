"""The deterministic ledger state machine.

`Executor.execute(state view, block context, transactions)` returns the
write-set and one receipt per transaction. Contracts are built-in modules
that declare their transaction types, argument schemas and allowed roles.
Integers in minor units only; no floats, clock, randomness or unordered
iteration; nothing here imports asyncio, aiohttp, plyvel, time, random, os,
`consensus` or `node`. `interface` is what a contract declares, `registry`
which contracts exist; contracts import the interface, never the registry
or the executor.
"""
