"""Kept for callers: the rules holder lives below the agents, in `rules.holder`."""

from rules.holder import Listener, RulesHolder

__all__ = ["Listener", "RulesHolder"]
