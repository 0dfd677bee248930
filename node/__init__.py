"""The Consort node runtime: storage, ledger, peer links, client API, CLI.

This is the only package that performs I/O. It drives the pure consensus
replica from one task and applies committed blocks to LevelDB.
"""
