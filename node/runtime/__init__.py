"""The node process: the driver (the one task that calls the replica), peer
links in and out, admission of client transactions, the block applier over
LevelDB storage, and the node's configuration.

Must not import node.api, node.cli, node.devtools, node.audit, node.client
or netsim: the HTTP routes come in from the caller (`server.serve`).
"""
