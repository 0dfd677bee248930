"""The event stream's subscribers and how each applied block reaches them.

The driver calls `EventHub.on_block(height)` on the consensus task after
every applied block (Node.block_listeners). It must never block or await
there: it puts the height into each subscriber's bounded queue with
put_nowait, and a subscriber whose queue is full is marked `behind`
instead; its stream then sends `resync` (with the height to resume from)
and ends. So a slow reader costs at most `queue_max` heights of memory
and never slows consensus. Each stream reads the blocks themselves from
LevelDB; a few recently decoded blocks are kept (`BLOCK_CACHE_MAX`) so the
streams that follow the tip decode each block once between them.

The number of streams is capped, in all and per institution (429
`too_many_subscriptions` for one institution over its share, 503 `busy`
when all are taken), like the receipt waiters.

Must not read the store or know the events' shape (event_feed does).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from node.api.event_feed import BlockFacts

BLOCK_CACHE_MAX = 16


class SubscriptionRefused(Exception):
    """No room for another stream: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Subscription:
    """One stream's queue of applied heights, at most `queue_max` waiting."""

    def __init__(self, owner: str, queue_max: int) -> None:
        self.owner = owner
        self.heights: asyncio.Queue[int] = asyncio.Queue(queue_max)
        self.behind = False  # the queue overflowed: the stream sends resync and ends

    def announce(self, height: int) -> None:
        """Queue `height` without waiting; a full queue marks the stream behind."""
        if self.behind:
            return
        try:
            self.heights.put_nowait(height)
        except asyncio.QueueFull:
            self.behind = True


class EventHub:
    def __init__(self, subscribers_max: int, per_caller_max: int, queue_max: int) -> None:
        assert 0 < per_caller_max <= subscribers_max and queue_max > 0
        self.subscribers_max = subscribers_max
        self.per_caller_max = per_caller_max
        self.queue_max = queue_max
        self.subscriptions: dict[Subscription, None] = {}  # in order of subscription
        self.by_owner: dict[str, int] = {}                 # owners with a stream: at most subscribers_max
        self.blocks: OrderedDict[int, BlockFacts] = OrderedDict()

    def subscribe(self, owner: str) -> Subscription:
        """A new stream for `owner` (a caller, as http.caller names it);
        SubscriptionRefused when there is no room for it."""
        if len(self.subscriptions) >= self.subscribers_max:
            raise SubscriptionRefused(503, "busy", f"this node serves at most {self.subscribers_max} event "
                                                   "streams at once; retry later")
        if self.by_owner.get(owner, 0) >= self.per_caller_max:
            raise SubscriptionRefused(429, "too_many_subscriptions", f"at most {self.per_caller_max} event streams "
                                                                     "per institution; close one first")
        subscription = Subscription(owner, self.queue_max)
        self.subscriptions[subscription] = None
        self.by_owner[owner] = self.by_owner.get(owner, 0) + 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription not in self.subscriptions:
            return
        del self.subscriptions[subscription]
        left = self.by_owner.pop(subscription.owner) - 1
        if left:
            self.by_owner[subscription.owner] = left

    def on_block(self, height: int) -> None:
        """A block was applied (called on the consensus task: no waiting)."""
        for subscription in self.subscriptions:
            subscription.announce(height)

    def cached(self, height: int) -> BlockFacts | None:
        return self.blocks.get(height)

    def keep(self, facts: BlockFacts) -> None:
        """Remember a decoded block, forgetting the oldest beyond BLOCK_CACHE_MAX."""
        self.blocks[facts.height] = facts
        self.blocks.move_to_end(facts.height)
        while len(self.blocks) > BLOCK_CACHE_MAX:
            self.blocks.popitem(last=False)
