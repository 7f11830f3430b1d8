"""The feed mapping lives in the pure core (`core.feeds`); this name is kept for callers."""

from core.feeds import (
    CALLCENTER,
    FEEDS,
    WEB,
    FeedError,
    callcenter_to_interaction,
    feed_to_interaction,
    web_to_interaction,
)

__all__ = [
    "CALLCENTER", "FEEDS", "WEB", "FeedError", "callcenter_to_interaction", "feed_to_interaction",
    "web_to_interaction",
]
