"""Feed adapter agent: `feed.callcenter` and `feed.web` -> canonical `interactions`.

Stateless. Each record is mapped with the `feeds` section of the rules in force
(`core.feeds`, the function `simulate` runs) and sent to `interactions` keyed by party_id,
with origin headers (`ls-origin`, `ls-origin-offset`) so the matching agent recognises a
forward repeated after a crash. A record that cannot be mapped goes to `dead-letters`
(original key, bytes and headers, the core's reason code) and gets a REJECTED outcome (its
interaction id null when it could not be read, as for an unreadable interaction).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from agents.handler import AgentHandler
from agents.runtime import Runtime
from core.feeds import CALLCENTER, WEB, FeedError, feed_to_interaction
from core.pipeline import rejected
from ops import metrics
from streaming.codecs import dumps

log = logging.getLogger("leadstream.agents.feeds")


class FeedsHandler(AgentHandler):
    """Maps a feed record to a canonical interaction and forwards it (stateless)."""

    agent = "feeds"

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        self.feed_of = {self.names.feed_callcenter: CALLCENTER, self.names.feed_web: WEB}

    async def handle(self, message: Any, received: float) -> None:
        rules = self.rt.holder.current
        try:
            doc = feed_to_interaction(self.feed_of[message.topic], message.value or b"", rules,
                                      now=time.time())
        except FeedError as err:
            await self.rt.send_outcomes([rejected(err, rules)])
            metrics.INTERACTIONS_HANDLED.inc()  # it never reaches `interactions`
            await self.dead_letter(message, err.reason, err.code)
            return
        await self.rt.forward(self.names.interactions, doc["party_id"], message, dumps(doc))


def register(rt: Runtime) -> Any:
    return FeedsHandler(rt).declare(rt.topics.feed_sources, "leadstream.feeds")
