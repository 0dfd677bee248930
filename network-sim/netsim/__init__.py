"""The network simulator: the real `consensus` replicas on a virtual clock.

Seeded, deterministic and free of real sockets, sleeps and wall-clock time:
one seed reproduces a run byte for byte, whatever PYTHONHASHSEED is. It
models per-link latency, loss, duplication, reordering and partitions, node
crashes and restarts, and Byzantine strategies, checks agreement, validity
and liveness after every run, and reports figures as JSON and SVG.
It imports crypto, consensus and contracts, never `node`; within node/ only
the CLI imports it.
"""
