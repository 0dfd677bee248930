"""The network simulator: the real `consensus` replicas on a virtual clock.

A run is seeded, deterministic and free of real sockets, sleeps and
wall-clock time (only a sweep's pool of workers uses processes or the
network): one seed reproduces a run byte for byte, whatever
PYTHONHASHSEED is. It
models per-link latency, loss, duplication, reordering and partitions, node
crashes and restarts (one between a write and its sync loses the write),
clock skew, Byzantine strategies and Twins, in named scenarios or random
schedules a seed draws, and nodes placed in regions with per-node
bandwidth; checks agreement and validity on every commit, liveness after
every run, and that every message kept the real node's wire limits
(`limits`); searches seeds for violations and shrinks what it finds
(search, shrink); reports figures as JSON and SVG, and sweeps grids of
settings over many seeds on local processes or a Dask cluster.
It imports crypto, consensus and contracts, never `node`; within node/ only
the CLI imports it.
"""
