"""The auditor: everything a regulator runs with only the genesis file.
The chain auditor (`auditor`), the export-file format (`export`), verifying
a file or a node's stream and state proofs (`verify`), and an asset's
history with inclusion proofs (`history`).

Imports crypto, consensus's certificate checks and contracts; must never
import node.runtime (nor api, cli, devtools): an auditor trusts no node code
that touches a node's own storage.
"""
