"""Which nodes belong to the chain now, as the committed state says.

The governance contract records each institution's node key and endpoint
(`governance.node_directory`); a validator's key stays listed until its
rotation takes effect. The node admits peer links only from keys listed
there and dials exactly the listed nodes, at
`<scheme>://<endpoint>` (https, or http on a node started --insecure). A
node whose state records no endpoint for a peer (a genesis written before
endpoints existed) dials the URL its config file gives for that
institution, if any.

`refresh` re-reads the directory after each applied block; when it
changed, the caller updates its dialled links and closes the inbound links
of keys no longer listed.
"""

from __future__ import annotations

from contracts.governance import NodeEntry
from node.runtime.config import Peer


class Membership:
    def __init__(self, own_key: bytes, scheme: str, configured: tuple[Peer, ...]) -> None:
        self.own_key = own_key
        self.scheme = scheme
        self.configured = {peer.institution: peer.url for peer in configured}
        self.entries: tuple[NodeEntry, ...] = ()
        self.keys: frozenset[bytes] = frozenset()

    def refresh(self, entries: list[NodeEntry]) -> bool:
        """Take the directory the state now lists; whether it changed."""
        entries = tuple(entries)
        if entries == self.entries:
            return False
        self.entries = entries
        self.keys = frozenset(entry.node_key for entry in entries)
        return True

    def is_member(self, node_key: bytes) -> bool:
        return node_key in self.keys

    def institution_of(self, node_key: bytes) -> str | None:
        return next((entry.institution for entry in self.entries if entry.node_key == node_key), None)

    def peer_urls(self) -> dict[bytes, str]:
        """The URL to dial for every listed node but this one."""
        urls = {}
        for entry in self.entries:
            if entry.node_key == self.own_key:
                continue
            if entry.endpoint is not None:
                urls[entry.node_key] = f"{self.scheme}://{entry.endpoint}"
            elif entry.institution in self.configured:
                urls[entry.node_key] = self.configured[entry.institution]
        return urls
