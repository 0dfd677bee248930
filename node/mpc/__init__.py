"""Runs this institution's side of the MPC sessions the chain opens: its
input comes from a local file (never another node, never the chain), its
messages go over MPC peer links of their own (mutual TLS, like the
consensus links, but lossless: a full queue fails the session instead of
dropping a message), and the attested result goes back on chain.

Imports crypto (the protocols), contracts (the session records, the
attestation bytes) and node.runtime (the node it runs in); never node.api,
node.cli or node.devtools. node.runtime does not import it: the command
line attaches it to the node (`attach`), which calls it after each block.
"""
