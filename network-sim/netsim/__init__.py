"""The network simulator: the real `consensus` replicas on a virtual clock.

Seeded, deterministic and free of real sockets, sleeps and wall-clock time:
one seed reproduces a run byte for byte, whatever PYTHONHASHSEED is. It
models per-link latency, loss, duplication, reordering and partitions, node
crashes and restarts (one between a write and its sync loses the write),
clock skew, Byzantine strategies and Twins, in named scenarios or random
schedules a seed draws; checks agreement and validity on every commit and
liveness after every run; searches seeds for violations and shrinks what
it finds (search, shrink); and reports figures as JSON and SVG.
It imports crypto, consensus and contracts, never `node`; within node/ only
the CLI imports it.
"""
