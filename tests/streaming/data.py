"""Deterministic synthetic inputs for the streaming tests (bigger than the bundled samples).

`interactions(...)` gives many parties with bursts that cross the threshold, slow parties
that stay pending, gaps beyond the lookback (EXPIRED), late arrivals, repeats (DUPLICATE),
guests, disabled or unknown types and malformed lines (REJECTED), in a globally
event-time-ordered stream with some local disorder.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
TYPES = ["SURVEY_CALLBACK", "EVENT_REGISTRATION", "SURVEY_COMPLETION", "WEB_COLLABORATION",
         "ITEM_INQUIRY", "WEB_AD_VISIT", "WEB_OFFER_VISIT", "EMAIL_CLICKTHROUGH"]
WEIGHTS = [1, 3, 3, 3, 3, 8, 8, 8]
CATEGORIES = ["Monitors", "Laptops", "Computers", "Printers", "Phones"]
TIMEFRAMES = ["WITHIN_1_MONTH", "1_3_MONTHS", "3_6_MONTHS", "6_12_MONTHS", "MORE_THAN_1_YEAR"]
SOURCES = ["CEO-SUMMIT", "SPRING-PROMO-26", "PARTNER-WEBINAR", "TRADESHOW-LDN", None]


def _party_events(rng: random.Random, party: str, n: int) -> list[tuple[float, dict[str, Any]]]:
    country = rng.choice(["US", "US", "GB", "DE"])
    contacts = [f"{party}-C{i}" for i in range(rng.randint(0, 2))]
    t = T0 + timedelta(hours=rng.uniform(0, 240))
    out = []
    for i in range(n):
        gap_h = rng.choice([0.5, 2, 8, 24, 48, 24 * 9]) * rng.uniform(0.5, 1.5)
        if rng.random() < 0.04:
            gap_h = 24 * rng.uniform(31, 45)  # beyond the lookback
        t += timedelta(hours=gap_h)
        attrs: dict[str, Any] = {
            "product_category": rng.choice(CATEGORIES),
            "purchase_timeframe": rng.choice(TIMEFRAMES),
            "purchase_amount": rng.choice([5000, 20000, 49000, 50000, 75000, 120000]),
            "budget_status": rng.choice(["APPROVED", "PENDING", "NOT_APPROVED"]),
        }
        rec: dict[str, Any] = {
            "interaction_id": f"{party}-i{i:04d}",
            "party_id": party,
            "type": rng.choices(TYPES, WEIGHTS)[0],
            "occurred_at": t.isoformat(),
            "country": country,
            "attributes": attrs,
        }
        src = rng.choice(SOURCES)
        if src:
            rec["source_code"] = src
        if contacts:
            rec["contact_id"] = rng.choice(contacts)
        out.append((t.timestamp(), rec))
    return out


def interactions(parties: int = 40, per_party: int = 30, seed: int = 7) -> list[bytes]:
    """Interaction lines (JSON bytes; a few malformed), in arrival order."""
    rng = random.Random(seed)
    events: list[tuple[float, dict[str, Any]]] = []
    for p in range(parties):
        events += _party_events(rng, f"SP-{p:03d}", per_party)
    events.sort(key=lambda e: e[0] + rng.uniform(-36, 36) * 3600)  # local disorder
    lines: list[bytes] = []
    for i, (_, rec) in enumerate(events):
        lines.append(json.dumps(rec).encode())
        if rng.random() < 0.02:  # a repeat, a little later
            lines.append(json.dumps(rec).encode())
        if i % 97 == 5:
            g = dict(rec, interaction_id=f"guest-{i}", party_id="GUEST")
            lines.append(json.dumps(g).encode())
        if i % 131 == 7:
            lines.append(json.dumps(dict(rec, interaction_id=f"bad-type-{i}",
                                         type="WEBINAR_ATTENDED")).encode())
        if i % 149 == 11:
            lines.append(json.dumps(dict(rec, interaction_id=f"bad-ts-{i}",
                                         occurred_at="2026-02-30T10:00:00Z")).encode())
        if i % 211 == 13:
            lines.append(b'{"interaction_id": "trunc' + str(i).encode())
    return lines
