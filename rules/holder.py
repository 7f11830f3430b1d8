"""The rules in force in one worker, swapped atomically between two events.

Agents read `holder.current` once at the start of each event and use that object for the
whole event, so a reload can never split one decision across two configs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rules.compiled import Rules

log = logging.getLogger(__name__)
Listener = Callable[[Rules, Rules], None]


class RulesHolder:
    def __init__(self, rules: Rules) -> None:
        self._rules = rules
        self._listeners: list[Listener] = []

    @property
    def current(self) -> Rules:
        return self._rules

    @property
    def version(self) -> str:
        return self._rules.version

    def on_swap(self, listener: Listener) -> None:
        """Call `listener(old, new)` after each swap (metrics, logs)."""
        self._listeners.append(listener)

    def swap(self, rules: Rules) -> bool:
        """Put `rules` in force; False (and nothing changes) when that version is in force."""
        old = self._rules
        if rules.version == old.version:
            return False
        self._rules = rules  # one reference assignment: atomic for readers on the event loop
        log.info("rules %s in force (was %s), from %s", rules.version, old.version, rules.source)
        for listener in self._listeners:
            listener(old, rules)
        return True
