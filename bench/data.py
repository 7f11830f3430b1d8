"""Deterministic benchmark data: N canonical interactions (CONTRACT §5) over P parties.

    python -m bench.data --n 200000 --parties 50000 > /tmp/interactions.jsonl

or from Python: ``for key, value in records(n, parties): ...`` (bytes, key = party_id).

Shape, after data/samples/generate.py:
- type mix weighted like data/samples/interactions.jsonl (web touches most common, one
  survey callback in seven; mean default score ~2.7);
- parties drawn with a skew (index = P * u**skew, default 3): the top 1% of parties get ~21%
  of the interactions and create leads and links, the long tail stays pending or expires; the
  busiest party (PER-0000000) gets P**(-1/skew) of them (2.7% with 50k parties), a big account
  whose state holds thousands of seen ids. skew=1 is uniform;
- occurred_at strictly increasing over `days` (default 60) from `start`, in the party's own
  UTC offset (ISO-8601), so the stream is in event-time order;
- contact_id on call-centre types for organisation parties, country on ~93%, a source code on
  ~80%, and the CRM attributes of the samples (product_category, purchase_timeframe,
  purchase_amount, budget_status).
Every value comes from one seeded `random.Random`; the same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson

from rules.loader import load_rules_file

SEED = 20261101
START = datetime(2026, 3, 2, tzinfo=UTC)
#: each type's default score in config/rules.yaml: the rules the bench's worker runs
#: (RULES_PATH unset), so the peers (bench/peers.py) score as it does
DEFAULT_SCORES = dict(load_rules_file(Path(__file__).resolve().parents[1] / "config"
                                      / "rules.yaml").type_scores)
# Counts in data/samples/interactions.jsonl.
TYPE_WEIGHTS = {
    "WEB_AD_VISIT": 51,
    "WEB_OFFER_VISIT": 49,
    "EMAIL_CLICKTHROUGH": 34,
    "SURVEY_CALLBACK": 32,
    "ITEM_INQUIRY": 25,
    "EVENT_REGISTRATION": 15,
    "WEB_COLLABORATION": 13,
    "SURVEY_COMPLETION": 8,
}
CALLCENTER = {"SURVEY_CALLBACK", "ITEM_INQUIRY"}
COUNTRIES = [("US", -4), ("US", -7), ("GB", 0), ("DE", 1), ("FR", 1), ("JP", 9), ("IN", 5.5),
             ("BR", -3), ("CA", -4), ("AU", 11)]
COUNTRY_WEIGHTS = [30, 12, 12, 9, 7, 7, 6, 6, 6, 5]
CAMPAIGNS = ["SPRING-PROMO-26", "WEB-Q1-MONITORS", "NEWSLETTER-MAR26", "PARTNER-WEBINAR",
             "TRADESHOW-LDN", "CEO-SUMMIT"]
CATEGORIES = ["Monitors", "Laptops", "Computers", "Printers"]
TIMEFRAMES = ["WITHIN_1_MONTH", "1_3_MONTHS", "3_6_MONTHS", "6_12_MONTHS", "MORE_THAN_1_YEAR"]
BUDGETS = ["APPROVED", "PENDING", "NOT_APPROVED"]


class _Party:
    __slots__ = ("pid", "country", "tz", "contacts", "campaign", "category", "amount")

    def __init__(self, idx: int, seed: int) -> None:
        r = random.Random(seed * 1_000_003 + idx)  # a party's profile depends on it alone
        org = idx % 3 != 0
        self.pid = f"{'ORG' if org else 'PER'}-{idx:07d}"
        country, offset = r.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
        self.country = country
        self.tz = timezone(timedelta(hours=offset))
        self.contacts = [f"CON-{idx:07d}-{c}" for c in range(r.randint(1, 3))] if org else []
        self.campaign = r.choice(CAMPAIGNS)
        self.category: str | list[str] = (
            r.sample(CATEGORIES, 2) if r.random() < 0.1 else r.choice(CATEGORIES))
        self.amount = r.choice([(5000, 45000), (20000, 90000), (50000, 120000)])


def _attributes(r: random.Random, p: _Party, itype: str, source: str | None) -> dict:
    a: dict = {}
    if itype in ("SURVEY_CALLBACK", "SURVEY_COMPLETION"):
        a["product_category"] = p.category
        a["purchase_timeframe"] = r.choice(TIMEFRAMES)
        a["purchase_amount"] = r.randint(p.amount[0] // 500, p.amount[1] // 500) * 500
        a["budget_status"] = r.choice(BUDGETS)
    elif itype == "ITEM_INQUIRY":
        a["product_category"] = p.category
        if r.random() < 0.6:
            a["purchase_amount"] = r.randint(p.amount[0] // 500, p.amount[1] // 500) * 500
    elif itype == "EVENT_REGISTRATION":
        a["event_name"] = "CEO Summit 2026" if source == "CEO-SUMMIT" else "Product Roadshow Q2"
    elif itype in ("WEB_AD_VISIT", "WEB_OFFER_VISIT", "WEB_COLLABORATION") and r.random() < 0.5:
        a["product_category"] = p.category
    return a


def interactions(n: int = 200_000, parties: int = 50_000, *, seed: int = SEED,
                 days: float = 60.0, start: datetime = START,
                 id_prefix: str = "bench-", skew: float = 3.0) -> Iterator[dict]:
    """N interaction dicts in event-time order (deterministic for equal arguments)."""
    r = random.Random(seed)
    types, weights = list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values())
    step = days * 86400.0 / max(n, 1)
    cache: dict[int, _Party] = {}
    base = start.timestamp()
    for i in range(n):
        idx = min(int(parties * r.random() ** skew), parties - 1)
        p = cache.get(idx)
        if p is None:
            p = cache[idx] = _Party(idx, seed)
        itype = r.choices(types, weights)[0]
        u = r.random()
        source = p.campaign if u < 0.6 else (None if u < 0.8 else r.choice(CAMPAIGNS))
        ts = base + i * step + r.random() * step * 0.999  # strictly increasing
        when = datetime.fromtimestamp(int(ts), tz=p.tz)
        rec: dict = {
            "interaction_id": f"{id_prefix}{i:09d}",
            "party_id": p.pid,
            "type": itype,
            "occurred_at": when.isoformat(timespec="seconds"),
        }
        if p.contacts and itype in CALLCENTER:
            rec["contact_id"] = r.choice(p.contacts)
        if r.random() < 0.93:
            rec["country"] = p.country
        if source is not None:
            rec["source_code"] = source
        attrs = _attributes(r, p, itype, source)
        if attrs:
            rec["attributes"] = attrs
        yield rec


def records(n: int = 200_000, parties: int = 50_000, **kw) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) bytes for Kafka: key = party_id, value = the JSON record."""
    for rec in interactions(n, parties, **kw):
        yield rec["party_id"].encode(), orjson.dumps(rec)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--parties", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--days", type=float, default=60.0)
    ap.add_argument("--skew", type=float, default=3.0, help="party index = P * u**skew")
    args = ap.parse_args(argv)
    out = sys.stdout.buffer
    for _, value in records(args.n, args.parties, seed=args.seed, days=args.days,
                            skew=args.skew):
        out.write(value + b"\n")


if __name__ == "__main__":
    main()
