"""The pure lead diff of `rules diff` (offline/lead_diff.py): table tests."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offline.lead_diff import (
    COMPARED_FIELDS,
    IGNORED_FIELDS,
    compared_fields,
    diff_lead,
    diff_leads,
    render,
    summarize,
)


def lead(lead_id: str = "L1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {f: None for f in COMPARED_FIELDS}
    base.update({"lead_id": lead_id, "party_id": "P1", "status": "NEW", "qualified": False,
                 "interaction_score": 20, "interaction_ids": ["i1", "i2"], "attributes": {},
                 "origin": "INTERACTION", "processing": [{"engine": "qualification",
                                                         "rules_version": "aaa", "at": "t1"}],
                 "rules_version": "aaa", "updated_at": "t1"})
    base.update(fields)
    return base


CASES: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]] = [
    ("same lead", lead(), lead(), None),
    ("only audit churn differs", lead(),
     lead(processing=[{"engine": "qualification", "rules_version": "bbb", "at": "t9"}],
          rules_version="bbb", updated_at="t9"), None),
    ("qualified and rating", lead(), lead(qualified=True, rating="A"),
     {"qualified": [False, True], "rating": [None, "A"]}),
    ("channel and owner", lead(channel="DIRECT", owner="REP-ANN"),
     lead(channel="INDIRECT_A", owner=None),
     {"channel": ["DIRECT", "INDIRECT_A"], "owner": ["REP-ANN", None]}),
    ("score and ids", lead(), lead(interaction_score=23, interaction_ids=["i1", "i2", "i3"]),
     {"interaction_score": [20, 23], "interaction_ids": [["i1", "i2"], ["i1", "i2", "i3"]]}),
    ("attributes compared whole", lead(attributes={"a": 1, "b": 2}),
     lead(attributes={"a": 1, "b": 3}),
     {"attributes": [{"a": 1, "b": 2}, {"a": 1, "b": 3}]}),
    ("a field added later is compared", lead(), lead(new_field="x"), {"new_field": [None, "x"]}),
    ("0 and null differ", lead(interaction_score=0), lead(interaction_score=None),
     {"interaction_score": [0, None]}),
]


@pytest.mark.parametrize(("name", "before", "after", "fields"), CASES, ids=[c[0] for c in CASES])
def test_changed(name: str, before: dict[str, Any], after: dict[str, Any],
                 fields: dict[str, Any] | None) -> None:
    got = diff_lead(before, after)
    if fields is None:
        assert got is None
    else:
        assert got == {"lead_id": "L1", "change": "CHANGED", "fields": fields}


def test_added_and_removed_list_every_compared_field() -> None:
    new = lead("L9", qualified=True, rating="B")
    added = diff_lead(None, new)
    assert added is not None and added["change"] == "ADDED" and added["lead_id"] == "L9"
    assert list(added["fields"]) == list(COMPARED_FIELDS)
    assert added["fields"]["rating"] == [None, "B"] and added["fields"]["party_id"] == [None, "P1"]
    assert not IGNORED_FIELDS & set(added["fields"])
    removed = diff_lead(new, None)
    assert removed is not None and removed["change"] == "REMOVED"
    assert removed["fields"]["qualified"] == [True, None]
    assert diff_lead(None, None) is None


def test_diff_leads_sorted_by_id_and_only_differences() -> None:
    before = {"L3": lead("L3"), "L1": lead("L1"), "L2": lead("L2")}
    after = {"L2": lead("L2", rating="C"), "L1": lead("L1"), "L0": lead("L0")}
    got = diff_leads(before, after)
    assert [(d["lead_id"], d["change"]) for d in got] == [
        ("L0", "ADDED"), ("L2", "CHANGED"), ("L3", "REMOVED")]
    assert diff_leads({}, {}) == []


def test_compared_fields_never_include_ignored_or_id() -> None:
    names = compared_fields(lead(), {"lead_id": "x", "zeta": 1, "processing": []})
    assert names[: len(COMPARED_FIELDS)] == list(COMPARED_FIELDS) and names[-1] == "zeta"
    assert "lead_id" not in names and not IGNORED_FIELDS & set(names)


def test_summary_counts_and_transitions() -> None:
    before = {"L1": lead("L1"), "L2": lead("L2", qualified=True, rating="B", channel="DIRECT"),
              "L3": lead("L3", owner="REP-ANN")}
    after = {"L1": lead("L1", qualified=True, rating="A"),
             "L2": lead("L2", qualified=True, rating="A", channel="DIRECT"),
             "L4": lead("L4", owner="REP-BOB")}
    lines = diff_leads(before, after)
    s = summarize(before, after, lines, {"interactions": 10, "leads_created": 3},
                  {"interactions": 10, "leads_created": 4})
    assert (s.added, s.removed, s.changed) == (1, 1, 2)
    assert s.transitions["qualified"] == Counter({("no", "yes"): 1})
    assert s.transitions["rating"] == Counter({("none", "A"): 1, ("B", "A"): 1})
    assert s.transitions["channel"] == Counter()
    assert s.totals["rating"] == (Counter({"none": 2, "B": 1}), Counter({"A": 2, "none": 1}))
    assert s.totals["owner"][0]["REP-ANN"] == 1 and s.totals["owner"][1]["REP-BOB"] == 1
    text = render(s)
    lines_out = text.splitlines()
    assert lines_out[0] == "leads: 3 -> 3   added 1, removed 1, changed 2"
    assert "rating    A 0->2, B 1->0, none 2->1   changed on 2 lead(s): B->A 1, none->A 1" in text
    assert "qualified no 2->1, yes 1->2   changed on 1 lead(s): no->yes 1" in text
    assert lines_out[-1] == "report totals: interactions 10, leads_created 3->4"
    doc = s.to_json()
    assert doc["leads"] == {"before": 3, "after": 3, "added": 1, "removed": 1, "changed": 2}
    assert doc["decisions"]["rating"]["changed"] == [
        {"from": "B", "to": "A", "leads": 1}, {"from": "none", "to": "A", "leads": 1}]
    assert doc["fields_changed"] == {"qualified": 1, "rating": 2}


def test_render_stays_short_with_many_transitions() -> None:
    before = {f"L{i}": lead(f"L{i}", channel=f"C{i}") for i in range(10)}
    after = {f"L{i}": lead(f"L{i}", channel=f"D{i}") for i in range(10)}
    text = render(summarize(before, after, diff_leads(before, after)))
    channel = next(x for x in text.splitlines() if x.strip().startswith("channel"))
    assert "+6 more" in channel and len(text.splitlines()) <= 7

_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from("ABC"),
                    st.lists(st.sampled_from("xyz"), max_size=3))
_lead = st.fixed_dictionaries({f: _values for f in ("qualified", "rating", "channel", "owner",
                                                    "interaction_score", "interaction_ids")})
_leads = st.dictionaries(st.sampled_from([f"L{i}" for i in range(6)]), _lead, max_size=6)


@given(_leads, _leads, st.integers(0, 99))
def test_diff_replays_before_into_after(before: dict[str, Any], after: dict[str, Any],
                                        version: int) -> None:
    """Applying the diff to `before` gives `after` on every compared field; audit fields
    never make a line."""
    b = {k: {**v, "lead_id": k, "rules_version": "base", "updated_at": "t0"}
         for k, v in before.items()}
    a = {k: {**v, "lead_id": k, "rules_version": f"v{version}", "updated_at": f"t{version}",
             "processing": [version]} for k, v in after.items()}
    lines = diff_leads(b, a)
    rebuilt = {k: {f: v.get(f) for f in COMPARED_FIELDS} for k, v in b.items()}
    for line in lines:
        if line["change"] == "REMOVED":
            assert line["lead_id"] not in a
            del rebuilt[line["lead_id"]]
            continue
        target = rebuilt.setdefault(line["lead_id"], dict.fromkeys(COMPARED_FIELDS))
        for name, (old, new) in line["fields"].items():
            assert target[name] == old
            target[name] = new
    assert rebuilt == {k: {f: v.get(f) for f in COMPARED_FIELDS} for k, v in a.items()}
    assert len(lines) == len({x["lead_id"] for x in lines})
