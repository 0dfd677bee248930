"""The network simulator: the real `consensus` replicas on a virtual clock.

A run is seeded, deterministic and free of real sockets, sleeps and
wall-clock time (only a sweep's pool of workers uses processes or the
network): one seed reproduces a run byte for byte, whatever
PYTHONHASHSEED is. It
models per-link latency, loss, duplication, reordering and partitions, node
crashes and restarts, Byzantine strategies, and nodes placed in regions
with per-node bandwidth; checks agreement, validity and liveness after
every run, and that every message kept the real node's wire limits
(`limits`), reports figures as JSON and SVG, and sweeps grids of settings
over many seeds on local processes or a Dask cluster.
It imports crypto, consensus and contracts, never `node`; within node/ only
the CLI imports it.
"""
