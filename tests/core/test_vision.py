"""The Oracle "Vision Enterprises" scenario (config/examples/vision-enterprises.yaml), in full.

Expected values come from `oracle`, written from the scenario text alone (not from the engine).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from core.processing import apply_lead_event, run_engines
from models.records import Lead, LeadEvent, LeadEventKind
from rules.loader import load_rules_file

CONFIG = Path(__file__).resolve().parents[2] / "config" / "examples" / "vision-enterprises.yaml"
RULES = load_rules_file(CONFIG)
AT = "2026-05-04T12:00:00+02:00"

TIMEFRAMES = ["WITHIN_1_MONTH", "1_3_MONTHS", "3_6_MONTHS", "6_12_MONTHS", "MORE_THAN_1_YEAR"]
BUDGETS = ["APPROVED", "PENDING", "NOT_APPROVED"]
AMOUNTS = [49999, 50000, 50001]
# (country, product_category): in and out of the guards
PLACES: list[tuple[str | None, Any]] = [
    ("US", "Monitors"),
    ("US", "Laptops"),
    ("US", "Computers"),
    ("GB", "Monitors"),
    ("US", "Printers"),
    ("US", ["Printers", "Laptops"]),
    ("US", ["Printers", "Scanners"]),
    (None, "Monitors"),
    ("US", None),
]


def oracle(country: str | None, product: Any, timeframe: str, budget: str,
           amount: float) -> tuple[bool, str | None, str | None]:
    """Qualified, rating, channel as the scenario describes them.

    Qualification (Country = US and Product Category in Monitors, Laptops, Computers):
    rule 1: timeframe within 1 month, 1-3 months or 3-6 months and amount >= 50,000;
    rule 2: timeframe more than 1 year and amount < 50,000. Anything else: not qualified.
    Rating (qualified leads only): A within 1 month + approved, B 1-3 months + approved,
    C 3-6 months + approved, D 3-6 months + pending; otherwise no rating.
    Channel (Country = US): Direct if qualified and amount > 50,000; Indirect A if qualified,
    amount < 50,000 and rating A; Indirect B if qualified, amount < 50,000 and rating not A
    (a missing rating is not compared: no channel). Otherwise no channel.
    """
    products = product if isinstance(product, list) else [product]
    in_guard = country == "US" and any(p in ("Monitors", "Laptops", "Computers") for p in products)
    rule1 = timeframe in ("WITHIN_1_MONTH", "1_3_MONTHS", "3_6_MONTHS") and amount >= 50000
    rule2 = timeframe == "MORE_THAN_1_YEAR" and amount < 50000
    qualified = in_guard and (rule1 or rule2)

    rating = None
    if qualified:
        rating = {
            ("WITHIN_1_MONTH", "APPROVED"): "A",
            ("1_3_MONTHS", "APPROVED"): "B",
            ("3_6_MONTHS", "APPROVED"): "C",
            ("3_6_MONTHS", "PENDING"): "D",
        }.get((timeframe, budget))

    channel = None
    if country == "US" and qualified:
        if amount > 50000:
            channel = "DIRECT"
        elif amount < 50000 and rating == "A":
            channel = "INDIRECT_A"
        elif amount < 50000 and rating is not None and rating != "A":
            channel = "INDIRECT_B"
    return qualified, rating, channel


def vision_lead(country: str | None, product: Any, timeframe: str, budget: str,
                amount: Any) -> Lead:
    attrs: dict[str, Any] = {
        "purchase_timeframe": timeframe, "budget_status": budget, "purchase_amount": amount,
    }
    if product is not None:
        attrs["product_category"] = product
    return Lead(lead_id="V1", party_id="P-VISION", status="NEW",
                created_at="2026-05-04T09:00:00+02:00", created_ts=0.0, country=country,
                attributes=attrs)


MATRIX = list(itertools.product(PLACES, TIMEFRAMES, BUDGETS, AMOUNTS))


@pytest.mark.parametrize(
    ("place", "timeframe", "budget", "amount"), MATRIX,
    ids=[f"{p[0]}-{p[1]}-{t}-{b}-{a}" for p, t, b, a in MATRIX],
)
def test_vision_matrix(place: tuple[str | None, Any], timeframe: str, budget: str,
                       amount: int) -> None:
    country, product = place
    given = vision_lead(country, product, timeframe, budget, amount)
    out = run_engines(given, RULES, AT)
    assert (out.qualified, out.rating, out.channel) == oracle(country, product, timeframe,
                                                             budget, amount)
    # every engine that ran left one audit entry with this config's version
    engines = [p["engine"] for p in out.processing]
    expected_engines = ["qualification", "rating", "channel_selection"] if out.qualified else [
        "qualification", "channel_selection"]
    assert engines == expected_engines
    assert all(p["rules_version"] == RULES.version and p["at"] == AT for p in out.processing)
    by_engine = {p["engine"]: p for p in out.processing}
    assert by_engine["qualification"]["rule_set_id"] == (
        "vision-qualification" if out.qualified else None)


@pytest.mark.parametrize("amount", [50000, "50000", 50000.0])
@pytest.mark.parametrize("timeframe", ["WITHIN_1_MONTH", "1_3_MONTHS", "3_6_MONTHS"])
def test_exactly_50000_qualifies_but_stays_unrouted(timeframe: str, amount: Any) -> None:
    out = run_engines(vision_lead("US", "Laptops", timeframe, "APPROVED", amount), RULES, AT)
    assert out.qualified is True
    assert out.rating in ("A", "B", "C")
    assert out.channel is None
    chan = out.processing[-1]
    assert chan["engine"] == "channel_selection"
    assert (chan["rule_set_id"], chan["rule_id"], chan["result"]) == (None, None, None)


# Hand-checked rows (independent of the oracle) so that a slip in the oracle shows up too.
@pytest.mark.parametrize(
    ("country", "product", "timeframe", "budget", "amount", "expected", "rules_fired"),
    [
        ("US", "Monitors", "WITHIN_1_MONTH", "APPROVED", 50001, (True, "A", "DIRECT"),
         ["q1", "rating-a", "direct"]),
        ("US", "Laptops", "1_3_MONTHS", "APPROVED", 75000, (True, "B", "DIRECT"),
         ["q1", "rating-b", "direct"]),
        ("US", "Computers", "3_6_MONTHS", "PENDING", 60000, (True, "D", "DIRECT"),
         ["q1", "rating-d", "direct"]),
        ("US", "Computers", "3_6_MONTHS", "NOT_APPROVED", 60000, (True, None, "DIRECT"),
         ["q1", None, "direct"]),
        ("US", "Monitors", "MORE_THAN_1_YEAR", "APPROVED", 49999, (True, None, None),
         ["q2", None, None]),
        ("US", "Monitors", "6_12_MONTHS", "APPROVED", 90000, (False, None, None), [None, None]),
        ("US", "Monitors", "WITHIN_1_MONTH", "APPROVED", 49999, (False, None, None), [None, None]),
        ("GB", "Monitors", "WITHIN_1_MONTH", "APPROVED", 90000, (False, None, None), [None, None]),
        ("US", "Printers", "WITHIN_1_MONTH", "APPROVED", 90000, (False, None, None), [None, None]),
        ("US", ["Printers", "Monitors"], "WITHIN_1_MONTH", "APPROVED", 90000,
         (True, "A", "DIRECT"), ["q1", "rating-a", "direct"]),
    ],
)
def test_vision_hand_checked(country: str, product: Any, timeframe: str, budget: str,
                             amount: int, expected: tuple[Any, ...],
                             rules_fired: list[str | None]) -> None:
    out = run_engines(vision_lead(country, product, timeframe, budget, amount), RULES, AT)
    assert (out.qualified, out.rating, out.channel) == expected
    assert oracle(country, product, timeframe, budget, amount) == expected
    assert [p["rule_id"] for p in out.processing] == rules_fired


@pytest.mark.parametrize(
    ("qualified", "rating", "amount", "channel", "rule"),
    [
        (True, "A", 49999, "INDIRECT_A", "indirect-a"),
        (True, "B", 49999, "INDIRECT_B", "indirect-b"),
        (True, "D", 10, "INDIRECT_B", "indirect-b"),
        (True, "A", 50001, "DIRECT", "direct"),
        (True, "A", 50000, None, None),
    ],
)
def test_vision_channel_rules_for_leads_already_qualified_and_rated(
    qualified: bool, rating: str, amount: int, channel: str | None, rule: str | None
) -> None:
    """The scenario's own qualification never yields rating A (or any rating) below 50,000, so
    INDIRECT_A / INDIRECT_B are reached only by leads that arrive qualified and rated."""
    given = vision_lead("US", "Monitors", "MORE_THAN_1_YEAR", "APPROVED", amount)
    given.qualified, given.rating = qualified, rating
    out = run_engines(given, RULES, AT)
    assert out.channel == channel
    assert [p["engine"] for p in out.processing] == ["channel_selection"]
    assert out.processing[0]["rule_id"] == rule


def test_vision_created_event_and_link_without_reevaluation() -> None:
    given = vision_lead("US", "Monitors", "1_3_MONTHS", "APPROVED", 50001)
    created = apply_lead_event(None, LeadEvent(LeadEventKind.CREATED, "V1", "P-VISION", AT,
                                               RULES.version, lead=given), RULES)
    assert (created.qualified, created.rating, created.channel) == (True, "B", "DIRECT")
    # no Vision set refers to interaction_score: a link changes only the score
    linked = apply_lead_event(created, LeadEvent(LeadEventKind.LINKED, "V1", "P-VISION", AT,
                                                 RULES.version, interaction_id="i-7", score=3),
                              RULES)
    assert linked.processing == created.processing
    assert linked.interaction_score == created.interaction_score + 3
