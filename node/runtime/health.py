"""Whether a node is ready to do its part (the operator site's /readyz).

A node is ready when both hold:

- it is linked both ways (Node.connected_peers) to enough validators that,
  with itself, they make a quorum: n - f - 1 others for a validator, n - f
  for a node that only follows the chain. With fewer, a validator cannot
  commit a block and a follower hears of none;
- it is not behind: its height is at most BEHIND_BLOCKS_MAX below the
  height the consensus core knows the chain reaches (consensus.catchup: a
  height f+1 validators report in their STATUS, so one lying peer cannot
  mark every node behind, or one a certificate proves).

It reads the driver's state on the event loop, as the consensus task does,
and changes nothing; liveness (/healthz) needs nothing from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from node.runtime.driver import Node

BEHIND_BLOCKS_MAX = 3  # ready while at most this many blocks below the chain's known height


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str | None             # why not, in words; None when ready
    height: int                    # this node's
    chain_height: int              # the height the chain is known to reach (at least this node's)
    validator_peers: int           # validators linked both ways
    validator_peers_needed: int

    def to_json(self) -> dict:
        return asdict(self)


def readiness(node: Node) -> Readiness:
    replica = node.replica
    config = replica.config
    validators = set(config.validators) - {replica.signer.public_key}
    linked = len(node.connected_peers() & validators)
    needed = config.quorum - 1 if config.is_validator else config.quorum
    height = node.ledger.tip.height
    chain_height = max(height, replica.catchup.certified_target, replica.catchup.reported_target())
    reasons = []
    if linked < needed:
        reasons.append(f"{linked} validators linked both ways, {needed} needed for a quorum")
    if chain_height - height > BEHIND_BLOCKS_MAX:
        reasons.append(f"at height {height}, behind the chain's {chain_height} by more than "
                       f"{BEHIND_BLOCKS_MAX} blocks")
    return Readiness(not reasons, "; ".join(reasons) or None, height, chain_height, linked, needed)
