#!/usr/bin/env python3
"""Deterministic generator for the leadstream sample data (stdlib only).

    python data/samples/generate.py

writes, next to this script (byte-identical on every run, any Python >= 3.11):

    feed.callcenter.jsonl  call-centre feed records (CONTRACT §5)
    feed.web.jsonl         web feed records (CONTRACT §5), with 2 malformed lines
    interactions.jsonl     canonical interactions: the mapped feed records plus edge cases
    leads.jsonl            3 pre-existing leads (NEW, CONTACTED, CONVERTED)
    imports.jsonl          lead import records (CONTRACT §6)
    imports.csv            the same import records as CSV

All randomness comes from one seeded `random.Random`; nothing depends on the wall
clock, the locale, the hash seed or the time zone of the machine.
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

SEED = 20260302
HERE = Path(__file__).resolve().parent
DAY0 = (2026, 3, 2)  # first day of activity (a Monday); the data spans ~45 days
SPAN_DAYS = 45

# Feed value -> interaction type, exactly as in the `feeds` section of config/rules.yaml.
CALLCENTER_MAP = {"CALLBACK_REQUESTED": "SURVEY_CALLBACK", "PRODUCT_INQUIRY": "ITEM_INQUIRY"}
WEB_MAP = {
    "ad_click": "WEB_AD_VISIT",
    "offer_view": "WEB_OFFER_VISIT",
    "email_click": "EMAIL_CLICKTHROUGH",
    "collab_session": "WEB_COLLABORATION",
    "event_signup": "EVENT_REGISTRATION",
    "survey_done": "SURVEY_COMPLETION",
}
TYPE_TO_FEED = {t: ("callcenter", v) for v, t in CALLCENTER_MAP.items()}
TYPE_TO_FEED.update({t: ("web", v) for v, t in WEB_MAP.items()})
DEFAULT_SCORES = {
    "SURVEY_CALLBACK": 10,
    "EVENT_REGISTRATION": 3,
    "SURVEY_COMPLETION": 3,
    "WEB_COLLABORATION": 2,
    "ITEM_INQUIRY": 3,
    "WEB_AD_VISIT": 1,
    "WEB_OFFER_VISIT": 1,
    "EMAIL_CLICKTHROUGH": 1,
}
WEB_TYPES = [
    "WEB_AD_VISIT",
    "WEB_OFFER_VISIT",
    "EMAIL_CLICKTHROUGH",
    "WEB_COLLABORATION",
    "EVENT_REGISTRATION",
    "SURVEY_COMPLETION",
]
WEB_WEIGHTS = [5, 5, 4, 2, 1, 1]
ONE_POINT = ["WEB_AD_VISIT", "WEB_OFFER_VISIT", "EMAIL_CLICKTHROUGH"]

# Fixed UTC offsets per country (no tz database: the output must not depend on the machine).
OFFSETS = {
    "US": "-04:00",
    "US-W": "-07:00",
    "CA": "-04:00",
    "GB": "+00:00",
    "DE": "+01:00",
    "FR": "+01:00",
    "JP": "+09:00",
    "IN": "+05:30",
    "BR": "-03:00",
    "AU": "+11:00",
}
CAMPAIGNS = [
    "SPRING-PROMO-26",
    "WEB-Q1-MONITORS",
    "NEWSLETTER-MAR26",
    "PARTNER-WEBINAR",
    "TRADESHOW-LDN",
]

# Parties: (party_id, country, tz key, profile, contacts, attribute profile)
#   hot       crosses the score threshold (20) with the default scores
#   ceo       US, CEO-SUMMIT campaign, crosses with the default scores
#   ceo_only  US, CEO-SUMMIT campaign, 16 points with the default scores: crosses only with
#             a rule set that boosts CEO-SUMMIT (the `ceo-summit` example of CONTRACT §4)
#   warm      at most 19 points in any 30 days: stays pending, never a lead
#   cold      a few low-value web touches
#   spread    activity over ~6 weeks: the early interactions EXPIRE
#   lead_new / lead_contacted / lead_converted  parties with a pre-existing lead (leads.jsonl)
# Attribute profiles: vision = US, Monitors/Laptops/Computers, short timeframe, >= 50,000,
# APPROVED (qualifies under the CONTRACT §4 example); small = same categories, small budget;
# long = long timeframe; printers = Printers; list = several product categories.
PARTIES = [
    ("ORG-1001", "US", "US", "hot", ["CON-5001", "CON-5002"], "vision"),
    ("ORG-1002", "US", "US-W", "ceo", ["CON-5003"], "vision"),
    ("ORG-1003", "US", "US", "ceo_only", ["CON-5004", "CON-5005"], "vision"),
    ("ORG-1004", "GB", "GB", "hot", ["CON-5006"], "printers"),
    ("ORG-1005", "DE", "DE", "hot", ["CON-5007", "CON-5008"], "long"),
    ("ORG-1006", "US", "US-W", "hot", ["CON-5009"], "small"),
    ("ORG-1007", "US", "US", "lead_new", ["CON-5010", "CON-5011"], "vision"),
    ("ORG-1008", "US", "US", "lead_contacted", ["CON-5012"], "printers"),
    ("ORG-1009", "FR", "FR", "warm", ["CON-5013"], "long"),
    ("ORG-1010", "JP", "JP", "warm", ["CON-5014"], "vision"),
    ("ORG-1011", "US", "US-W", "warm", ["CON-5015", "CON-5016"], "vision"),
    ("ORG-1012", "IN", "IN", "cold", ["CON-5017"], "small"),
    ("ORG-1013", "US", "US", "hot", ["CON-5018", "CON-5019"], "list"),
    ("ORG-1014", "BR", "BR", "warm", ["CON-5020"], "printers"),
    ("ORG-1015", "US", "US", "cold", ["CON-5021"], "small"),
    ("PER-2001", "US", "US", "hot", [], "vision"),
    ("PER-2002", "GB", "GB", "warm", [], "small"),
    ("PER-2003", "US", "US-W", "spread", [], "vision"),
    ("PER-2004", "US", "US", "lead_converted", [], "list"),
    ("PER-2005", "DE", "DE", "cold", [], "printers"),
    ("PER-2006", "US", "US", "warm", [], "small"),
    ("PER-2007", "CA", "CA", "hot", [], "long"),
    ("PER-2008", "AU", "AU", "cold", [], "small"),
    ("PER-2009", "US", "US-W", "warm", [], "vision"),
    ("PER-2010", "FR", "FR", "hot", [], "printers"),
]

TIMEFRAMES = ["WITHIN_1_MONTH", "1_3_MONTHS", "3_6_MONTHS", "6_12_MONTHS", "MORE_THAN_1_YEAR"]


def tz(key: str) -> timezone:
    off = OFFSETS[key]
    sign = -1 if off[0] == "-" else 1
    h, m = int(off[1:3]), int(off[4:6])
    return timezone(sign * timedelta(hours=h, minutes=m))


def local_time(rng: random.Random, day: float, tzkey: str) -> datetime:
    """A business-hours moment on day `day` (0 = DAY0) in the party's own offset."""
    d = datetime(*DAY0, tzinfo=tz(tzkey)) + timedelta(days=int(day))
    return d.replace(hour=rng.randint(8, 18), minute=rng.randint(0, 59), second=rng.randint(0, 59))


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def amount(rng: random.Random, low: int, high: int) -> int:
    return rng.randint(low // 500, high // 500) * 500


class Party:
    def __init__(
        self,
        rng: random.Random,
        pid: str,
        country: str,
        tzkey: str,
        profile: str,
        contacts: list[str],
        attrs: str,
    ) -> None:
        self.pid, self.country, self.tzkey, self.profile = pid, country, tzkey, profile
        self.contacts, self.attr_profile = contacts, attrs
        self.campaign = rng.choice(CAMPAIGNS)
        if attrs == "vision":
            self.category: str | list[str] = rng.choice(["Monitors", "Laptops", "Computers"])
            self.timeframes, self.amounts = TIMEFRAMES[:3], (50000, 120000)
            self.budget = ["APPROVED", "APPROVED", "PENDING"]
        elif attrs == "small":
            self.category = rng.choice(["Monitors", "Laptops", "Computers"])
            self.timeframes, self.amounts = TIMEFRAMES[:3], (5000, 45000)
            self.budget = ["APPROVED", "PENDING", "NOT_APPROVED"]
        elif attrs == "long":
            self.category = rng.choice(["Monitors", "Computers"])
            self.timeframes, self.amounts = TIMEFRAMES[3:], (20000, 90000)
            self.budget = ["PENDING", "NOT_APPROVED"]
        elif attrs == "printers":
            self.category = "Printers"
            self.timeframes, self.amounts = TIMEFRAMES[:4], (5000, 60000)
            self.budget = ["APPROVED", "PENDING"]
        else:  # list
            self.category = (
                ["Laptops", "Monitors"] if rng.random() < 0.5 else ["Computers", "Printers"]
            )
            self.timeframes, self.amounts = TIMEFRAMES[:2], (60000, 120000)
            self.budget = ["APPROVED"]

    def attributes(self, rng: random.Random, itype: str, source: str | None) -> dict:
        """CRM enrichment of one interaction (the feeds themselves carry no attributes)."""
        a: dict = {}
        if itype in ("SURVEY_CALLBACK", "SURVEY_COMPLETION"):
            a["product_category"] = self.category
            a["purchase_timeframe"] = rng.choice(self.timeframes)
            a["purchase_amount"] = amount(rng, *self.amounts)
            a["budget_status"] = rng.choice(self.budget)
        elif itype == "ITEM_INQUIRY":
            a["product_category"] = self.category
            if rng.random() < 0.6:
                a["purchase_amount"] = amount(rng, *self.amounts)
        elif itype == "EVENT_REGISTRATION":
            a["event_name"] = "CEO Summit 2026" if source == "CEO-SUMMIT" else "Product Roadshow Q2"
            if rng.random() < 0.5:
                a["product_category"] = self.category
        elif (
            itype in ("WEB_AD_VISIT", "WEB_OFFER_VISIT", "WEB_COLLABORATION") and rng.random() < 0.5
        ):
            a["product_category"] = self.category
        return a

    def source(self, rng: random.Random) -> str | None:
        r = rng.random()
        return self.campaign if r < 0.6 else (None if r < 0.8 else rng.choice(CAMPAIGNS))


def plan(rng: random.Random, p: Party) -> list[tuple[float, str, str | None]]:
    """(day, interaction type, source_code override or None) for one party."""
    ev: list[tuple[float, str, str | None]] = []

    def web(n: int, lo: float, hi: float, kinds=WEB_TYPES, weights=WEB_WEIGHTS) -> None:
        for _ in range(n):
            ev.append((rng.uniform(lo, hi), rng.choices(kinds, weights)[0], None))

    prof = p.profile
    if prof == "hot":
        start = rng.uniform(0, 14)
        span = rng.uniform(20, 28)
        web(rng.randint(7, 12), start, start + span)
        for _ in range(rng.randint(1, 3)):
            ev.append((rng.uniform(start, start + span), "ITEM_INQUIRY", None))
        ev.append((rng.uniform(start, start + span / 2), "SURVEY_CALLBACK", None))
        ev.append((rng.uniform(start + span / 2, start + span), "SURVEY_CALLBACK", None))
    elif prof == "ceo":
        start = rng.uniform(2, 8)
        ev.append((start, "EVENT_REGISTRATION", "CEO-SUMMIT"))
        ev.append((start + rng.uniform(2, 5), "SURVEY_CALLBACK", "CEO-SUMMIT"))
        ev.append((start + rng.uniform(8, 14), "SURVEY_CALLBACK", "CEO-SUMMIT"))
        web(rng.randint(4, 7), start, start + 25)
    elif prof == "ceo_only":
        start = rng.uniform(5, 12)
        ev.append((start, "EVENT_REGISTRATION", "CEO-SUMMIT"))
        ev.append((start + rng.uniform(3, 8), "SURVEY_CALLBACK", "CEO-SUMMIT"))
        web(3, start + 1, start + 20, ONE_POINT, [1, 1, 1])  # 3 + 10 + 3 = 16
    elif prof == "warm":
        start = rng.uniform(0, 20)
        total = 0
        if rng.random() < 0.7:
            ev.append((rng.uniform(start, start + 20), "SURVEY_CALLBACK", None))
            total = 10
        budget = rng.randint(14, 19)  # never reaches 20
        while True:
            t = rng.choices(WEB_TYPES + ["ITEM_INQUIRY"], WEB_WEIGHTS + [2])[0]
            if total + DEFAULT_SCORES[t] > budget:
                break
            total += DEFAULT_SCORES[t]
            ev.append((rng.uniform(start, start + 25), t, None))
    elif prof == "cold":
        web(rng.randint(2, 5), 3, SPAN_DAYS - 1, ONE_POINT + ["WEB_COLLABORATION"], [3, 3, 2, 1])
    elif prof == "spread":
        # 13 points in the first week, then 14 points after day 38: the first four EXPIRE.
        ev += [
            (0.2, "WEB_AD_VISIT", None),
            (2.1, "WEB_OFFER_VISIT", None),
            (4.3, "SURVEY_CALLBACK", None),
            (6.0, "EMAIL_CLICKTHROUGH", None),
            (38.2, "SURVEY_CALLBACK", None),
            (40.1, "SURVEY_COMPLETION", None),
            (42.4, "EMAIL_CLICKTHROUGH", None),
        ]
    elif prof == "lead_new":
        # Lead LEAD-EBS-10001 created 2026-02-24: links until ~2026-03-26, then aggregates.
        web(rng.randint(6, 9), 0, 22)
        ev.append((rng.uniform(3, 20), "SURVEY_CALLBACK", None))
        ev.append((rng.uniform(0, 22), "ITEM_INQUIRY", None))
        web(3, 30, 43, ONE_POINT, [1, 1, 1])
    elif prof == "lead_contacted":
        # Lead LEAD-EBS-10002 created 2026-03-06: everything up to 2026-04-05 links to it.
        web(rng.randint(5, 8), 5, 33)
        ev.append((rng.uniform(10, 30), "ITEM_INQUIRY", None))
        ev.append((rng.uniform(10, 30), "SURVEY_CALLBACK", None))
        web(2, 36, 44, ONE_POINT, [1, 1, 1])
    elif prof == "lead_converted":
        # Lead LEAD-EBS-10003 is CONVERTED (closed): new interest aggregates into a new lead.
        start = rng.uniform(10, 16)
        web(rng.randint(5, 8), start, start + 20)
        ev.append((start + rng.uniform(0, 8), "SURVEY_CALLBACK", None))
        ev.append((start + rng.uniform(10, 20), "SURVEY_CALLBACK", None))
    return [(min(max(d, 0.0), SPAN_DAYS - 0.01), t, s) for d, t, s in ev]


def dump(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(", ", ": "))


def write_lines(name: str, lines: list[str]) -> None:
    (HERE / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8", newline="\n")


def main() -> None:
    rng = random.Random(SEED)
    parties = [Party(rng, *row) for row in PARTIES]

    # ---- the canonical events ------------------------------------------------------------
    events = []  # dicts with internal keys: sort, party, type, feed, value, dt, source, contact
    for p in parties:
        for day, itype, src_override in plan(rng, p):
            dt = local_time(rng, day, p.tzkey)
            source = src_override or p.source(rng)
            contact = (
                rng.choice(p.contacts)
                if p.contacts and TYPE_TO_FEED[itype][0] == "callcenter"
                else None
            )
            feed, value = TYPE_TO_FEED[itype]
            events.append(
                {
                    "party": p,
                    "type": itype,
                    "feed": feed,
                    "value": value,
                    "dt": dt,
                    "source": source,
                    "contact": contact,
                    "country": p.country if rng.random() < 0.93 else None,
                    "attributes": p.attributes(rng, itype, source),
                    "epoch": feed == "web" and rng.random() < 0.5,
                }
            )

    # Feed records that never become interactions (unmapped values: dead letters).
    by_id = {p.pid: p for p in parties}
    unmapped = [
        ("callcenter", "WRONG_NUMBER", "ORG-1009", 6),
        ("callcenter", "WRONG_NUMBER", "PER-2006", 19),
        ("callcenter", "DO_NOT_CALL", "ORG-1015", 31),
        ("web", "page_view", "ORG-1001", 4),
        ("web", "unsubscribe", "PER-2002", 22),
        ("web", "cart_abandoned", "ORG-1013", 35),
    ]
    for feed, value, pid, day in unmapped:
        p = by_id[pid]
        events.append(
            {
                "party": p,
                "type": None,
                "feed": feed,
                "value": value,
                "dt": local_time(rng, day, p.tzkey),
                "source": None,
                "contact": p.contacts[0] if p.contacts and feed == "callcenter" else None,
                "country": p.country,
                "attributes": {},
                "epoch": feed == "web",
            }
        )

    for e in events:
        e["ts"] = e["dt"].timestamp()
    events.sort(key=lambda e: (e["ts"], e["party"].pid, e["feed"], e["value"]))

    # ids in arrival order
    call_no, cc_lines, web_lines, interactions = 700001, [], [], []
    for e in events:
        p = e["party"]
        if e["feed"] == "callcenter":
            rec = {"call_id": str(call_no), "party_id": p.pid}
            call_no += 1
            if e["contact"]:
                rec["contact_id"] = e["contact"]
            rec["outcome"] = e["value"]
            rec["started_at"] = iso(e["dt"])
            if e["country"]:
                rec["country"] = e["country"]
            if e["source"]:
                rec["campaign_code"] = e["source"]
            e["interaction_id"] = "cc-" + rec["call_id"]
            e["occurred_at"] = rec["started_at"]
            cc_lines.append(dump(rec))
        else:
            rec = {
                "event_id": f"{rng.getrandbits(48):012x}",
                "party_id": p.pid,
                "event": e["value"],
            }
            if e["epoch"]:
                rec["ts"] = int(e["ts"])
                # what an adapter makes of epoch seconds: UTC ISO-8601
                e["occurred_at"] = iso(datetime.fromtimestamp(int(e["ts"]), tz=UTC))
            else:
                rec["ts"] = iso(e["dt"])
                e["occurred_at"] = rec["ts"]
            if e["country"]:
                rec["geo_country"] = e["country"]
            if e["source"]:
                rec["utm_campaign"] = e["source"]
            e["interaction_id"] = "web-" + rec["event_id"]
            web_lines.append(dump(rec))
        if e["type"] is None:
            continue
        it = {
            "interaction_id": e["interaction_id"],
            "party_id": p.pid,
            "type": e["type"],
            "occurred_at": e["occurred_at"],
        }
        if e["contact"]:
            it["contact_id"] = e["contact"]
        if e["country"]:
            it["country"] = e["country"]
        if e["source"]:
            it["source_code"] = e["source"]
        if e["attributes"]:
            it["attributes"] = e["attributes"]
        interactions.append((e["ts"], dump(it)))

    # Malformed web lines (dead letters), placed in time order.
    def at(day: int, hour: int, tzkey: str = "US") -> datetime:
        return (datetime(*DAY0, tzinfo=tz(tzkey)) + timedelta(days=day)).replace(hour=hour)

    bad_web = [
        (
            at(9, 11),
            '{"event_id": "5f0c2e9a41b7", "party_id": "ORG-1011", "event": "offer_view", '
            '"ts": 17735',  # truncated: not JSON
        ),
        (
            at(27, 15),
            dump(
                {
                    "event_id": "a93d1c07e2f4",
                    "event": "ad_click",
                    "ts": int(at(27, 15).timestamp()),
                    "geo_country": "US",
                    "utm_campaign": "WEB-Q1-MONITORS",
                }
            ),
        ),
    ]
    web_with_ts = [(json.loads(line)["ts"], line) for line in web_lines]
    web_sorted = [
        (t if isinstance(t, (int, float)) else datetime.fromisoformat(t).timestamp(), line)
        for t, line in web_with_ts
    ]
    web_sorted += [(dt.timestamp(), line) for dt, line in bad_web]
    web_sorted.sort(key=lambda x: x[0])

    # ---- interactions.jsonl extras -------------------------------------------------------
    extras = [
        (
            at(7, 10),
            dump(
                {
                    "interaction_id": "crm-900001",
                    "party_id": "GUEST",
                    "type": "WEB_OFFER_VISIT",
                    "occurred_at": iso(at(7, 10)),
                    "country": "US",
                    "source_code": "WEB-Q1-MONITORS",
                    "attributes": {"product_category": "Monitors"},
                }
            ),
        ),
        (
            at(12, 14),
            dump(
                {
                    "interaction_id": "crm-900002",
                    "party_id": "ORG-1011",
                    "type": "WEBINAR_ATTENDED",
                    "occurred_at": iso(at(12, 14)),
                    "country": "US",
                }
            ),
        ),
        (
            at(29, 9, "FR"),
            dump(
                {
                    "interaction_id": "crm-900003",
                    "party_id": "ORG-1009",
                    "type": "ITEM_INQUIRY",
                    "occurred_at": "2026-03-32T09:15:00+01:00",
                    "country": "FR",
                    "attributes": {"product_category": "Monitors"},
                }
            ),
        ),
        (
            at(33, 16),
            dump(
                {
                    "interaction_id": "crm-900004",
                    "party_id": "GUEST",
                    "type": "SURVEY_CALLBACK",
                    "occurred_at": iso(at(33, 16)),
                    "country": "US",
                }
            ),
        ),
    ]
    interactions += [(dt.timestamp(), line) for dt, line in extras]
    interactions.sort(key=lambda x: x[0])  # stable: equal times keep arrival order
    # A re-delivered interaction: the same record (same interaction_id) right after the original.
    dup_at = next(
        i
        for i, (_, line) in enumerate(interactions)
        if '"party_id": "ORG-1004"' in line and "WEB_OFFER_VISIT" in line
    )
    interactions.insert(dup_at + 1, interactions[dup_at])

    write_lines("feed.callcenter.jsonl", cc_lines)
    write_lines("feed.web.jsonl", [line for _, line in web_sorted])
    write_lines("interactions.jsonl", [line for _, line in interactions])

    # ---- leads.jsonl ---------------------------------------------------------------------
    leads = [
        {
            "lead_id": "LEAD-EBS-10003",
            "party_id": "PER-2004",
            "status": "CONVERTED",
            "created_at": "2026-02-10T15:20:00-05:00",
            "country": "US",
            "source_code": "NEWSLETTER-MAR26",
        },
        {
            "lead_id": "LEAD-EBS-10001",
            "party_id": "ORG-1007",
            "contact_id": "CON-5010",
            "status": "NEW",
            "created_at": "2026-02-24T10:30:00-05:00",
            "country": "US",
            "source_code": "SPRING-PROMO-26",
        },
        {
            "lead_id": "LEAD-EBS-10002",
            "party_id": "ORG-1008",
            "contact_id": "CON-5012",
            "status": "CONTACTED",
            "created_at": "2026-03-06T09:05:00-05:00",
            "country": "US",
            "source_code": "PARTNER-WEBINAR",
        },
    ]
    write_lines("leads.jsonl", [dump(x) for x in leads])

    # ---- imports -------------------------------------------------------------------------
    def imp(
        n: int,
        system,
        osr,
        created,
        *,
        batch=None,
        party=None,
        customer=None,
        contact=None,
        country=None,
        source=None,
        attrs=None,
    ):
        r = {"import_interface_id": f"IMP-{n:05d}"}
        if system is not None:
            r["source_system"] = system
        r["orig_system_reference"] = osr
        if batch:
            r["batch_id"] = batch
        if party:
            r["party_id"] = party
        if customer:
            r["customer"] = {"name": customer[0], "country": customer[1]}
        if contact:
            r["contact_id"] = contact
        if country:
            r["country"] = country
        if source:
            r["source_code"] = source
        r["created_at"] = created
        if attrs:
            r["attributes"] = attrs
        return r

    def at_(pc, tf, amt, bs):
        return {
            "product_category": pc,
            "purchase_timeframe": tf,
            "purchase_amount": amt,
            "budget_status": bs,
        }

    b1, b2, b3 = "TS-LDN-2026-03", "PP-2026-W11", "PL-2026-Q1"
    imports = [
        imp(
            1,
            "PARTNER_PORTAL",
            "PP-88401",
            "2026-03-03T08:40:00+05:30",
            batch=b2,
            party="ORG-1012",
            contact="CON-5017",
            country="IN",
            source="PARTNER-WEBINAR",
            attrs=at_("Laptops", "3_6_MONTHS", 18000, "PENDING"),
        ),
        imp(
            2,
            "TRADESHOW",
            "TS-2026-001",
            "2026-03-04T06:00:00-05:00",
            batch=b1,
            customer=("Vision Operations", "US"),
            country="US",
            source="CEO-SUMMIT",
            attrs=at_("Monitors", "1_3_MONTHS", 75000, "APPROVED"),
        ),
        imp(
            3,
            "TRADESHOW",
            "TS-2026-002",
            "2026-03-04T11:30:00+00:00",
            batch=b1,
            customer=("Acme Displays Ltd", "GB"),
            country="GB",
            source="TRADESHOW-LDN",
            attrs=at_("Monitors", "WITHIN_1_MONTH", 42000, "APPROVED"),
        ),
        imp(
            4,
            "TRADESHOW",
            "TS-2026-003",
            "2026-03-04T14:10:00+01:00",
            batch=b1,
            customer=("Müller Bürotechnik GmbH", "DE"),
            country="DE",
            source="TRADESHOW-LDN",
            attrs=at_("Printers", "3_6_MONTHS", 12500, "PENDING"),
        ),
        imp(
            5,
            "TRADESHOW",
            "TS-2026-004",
            "2026-03-05T09:00:00+00:00",
            batch=b1,
            customer=("Northwind Traders", "GB"),
            country="GB",
            attrs=at_("Computers", "6_12_MONTHS", 30000, "NOT_APPROVED"),
        ),
        # ERROR: no source_system
        imp(
            6,
            None,
            "TS-2026-005",
            "2026-03-05T09:30:00+00:00",
            batch=b1,
            customer=("Contoso Pharmaceuticals", "GB"),
            country="GB",
            source="TRADESHOW-LDN",
        ),
        # DUPLICATE: TS-2026-001 was already imported from TRADESHOW (re-sent in a later batch)
        imp(
            7,
            "TRADESHOW",
            "TS-2026-001",
            "2026-03-09T10:00:00-05:00",
            batch="TS-LDN-2026-03-R",
            customer=("Vision Operations", "US"),
            country="US",
            source="CEO-SUMMIT",
            attrs=at_("Monitors", "1_3_MONTHS", 75000, "APPROVED"),
        ),
        # same OSR, other source system: not a duplicate
        imp(
            8,
            "PURCHASED_LIST",
            "TS-2026-001",
            "2026-03-10T08:00:00-05:00",
            batch=b3,
            customer=("Fabrikam Inc", "US"),
            country="US",
            source="SPRING-PROMO-26",
            attrs=at_("Laptops", "1_3_MONTHS", 64000, "APPROVED"),
        ),
        # DUPLICATE by dedupe: ORG-1007 has open lead LEAD-EBS-10001 (SPRING-PROMO-26, 2026-02-24)
        imp(
            9,
            "PARTNER_PORTAL",
            "PP-88417",
            "2026-03-11T13:45:00-05:00",
            batch=b2,
            party="ORG-1007",
            contact="CON-5011",
            country="US",
            source="SPRING-PROMO-26",
            attrs=at_("Monitors", "1_3_MONTHS", 88000, "APPROVED"),
        ),
        # the same customer as IMP-00003, other case and spacing, other source code:
        # SUCCESS, same party
        imp(
            10,
            "PURCHASED_LIST",
            "PL-55102",
            "2026-03-12T09:20:00+00:00",
            batch=b3,
            customer=("  ACME   displays LTD ", "GB"),
            country="GB",
            source="SPRING-PROMO-26",
            attrs=at_("Monitors", "1_3_MONTHS", 39000, "PENDING"),
        ),
        # the same customer again, same source code as IMP-00003 within 30 days: DUPLICATE by dedupe
        imp(
            11,
            "PURCHASED_LIST",
            "PL-55103",
            "2026-03-12T09:21:00+00:00",
            batch=b3,
            customer=("acme displays ltd", "GB"),
            country="GB",
            source="TRADESHOW-LDN",
        ),
        imp(
            12,
            "PARTNER_PORTAL",
            "PP-88423",
            "2026-03-18T16:05:00+09:00",
            batch=b2,
            customer=("Sakura Denki KK", "JP"),
            country="JP",
            source="PARTNER-WEBINAR",
            attrs=at_("Laptops", "WITHIN_1_MONTH", 96000, "APPROVED"),
        ),
        imp(
            13,
            "TRADESHOW",
            "TS-2026-006",
            "2026-03-20T11:00:00-05:00",
            batch="TS-NYC-2026-03",
            customer=("Tailspin Toys", "US"),
            country="US",
            source="CEO-SUMMIT",
            attrs=at_("Computers", "3_6_MONTHS", 52000, "APPROVED"),
        ),
        imp(
            14,
            "PURCHASED_LIST",
            "PL-55140",
            "2026-03-24T10:10:00-03:00",
            batch=b3,
            customer=("Coho Vineyard Ltda", "BR"),
            country="BR",
            source="NEWSLETTER-MAR26",
            attrs=at_("Printers", "MORE_THAN_1_YEAR", 8000, "NOT_APPROVED"),
        ),
        # ERROR: bad created_at (there is no 31 April)
        imp(
            15,
            "PARTNER_PORTAL",
            "PP-88420",
            "2026-04-31T09:00:00-05:00",
            batch=b2,
            customer=("Litware Systems", "US"),
            country="US",
            source="PARTNER-WEBINAR",
        ),
        imp(
            16,
            "PARTNER_PORTAL",
            "PP-88431",
            "2026-04-02T15:30:00-05:00",
            batch="PP-2026-W14",
            party="PER-2011",
            country="US",
            source="PARTNER-WEBINAR",
            attrs=at_("Monitors", "1_3_MONTHS", 58000, "APPROVED"),
        ),
    ]
    # The list is in created_at order (the bad created_at sits where 2026-03-30 would be).
    write_lines("imports.jsonl", [dump(r) for r in imports])

    cols = [
        "import_interface_id",
        "source_system",
        "orig_system_reference",
        "batch_id",
        "party_id",
        "customer_name",
        "customer_country",
        "contact_id",
        "country",
        "source_code",
        "created_at",
        "attr_product_category",
        "attr_purchase_timeframe",
        "attr_purchase_amount",
        "attr_budget_status",
    ]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in imports:
        row = {k: r.get(k, "") for k in cols}
        if "customer" in r:
            row["customer_name"], row["customer_country"] = (
                r["customer"]["name"],
                r["customer"]["country"],
            )
        for k, v in (r.get("attributes") or {}).items():
            row["attr_" + k] = v
        w.writerow(row)
    (HERE / "imports.csv").write_text(buf.getvalue(), encoding="utf-8", newline="\n")


if __name__ == "__main__":
    main()
