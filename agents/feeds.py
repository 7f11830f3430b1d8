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

from agents.runtime import Runtime
from core.feeds import CALLCENTER, WEB, FeedError, feed_to_interaction
from core.pipeline import rejected
from ops import metrics
from streaming.codecs import dumps

log = logging.getLogger("leadstream.agents.feeds")

AGENT = "feeds"


def register(rt: Runtime) -> Any:
    names = rt.topics.names
    feed_of = {names.feed_callcenter: CALLCENTER, names.feed_web: WEB}

    async def handle(message: Any, received: float) -> None:
        rules = rt.holder.current
        try:
            doc = feed_to_interaction(feed_of[message.topic], message.value or b"", rules,
                                      now=time.time())
        except FeedError as err:
            await rt.send_outcomes([rejected(err, rules)])
            metrics.INTERACTIONS_HANDLED.inc()  # it never reaches `interactions`
            await rt.dead_letter(message, err.reason, err.code, AGENT)
            return
        await rt.forward(names.interactions, doc["party_id"], message, dumps(doc))

    @rt.app.agent(rt.topics.feed_sources, name="leadstream.feeds", concurrency=1)
    async def feeds(stream: Any) -> None:
        await rt.consume(stream, handle, AGENT)

    return feeds
