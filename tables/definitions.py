"""The job's tables. Keys and values are raw bytes (orjson inside), one RocksDB instance per
table partition, each changelogged to ``<TOPIC_PREFIX><APP_ID>-<table>-changelog``.

| table | key | value | written by |
|---|---|---|---|
| parties | party_id | `PartyState.to_bytes()`: header (leads, clocks, progress) | matching |
| party-parts | party id + part | window segments, seen ids (`part_writes()`) | matching |
| leads | lead_id | `{"lead", "offset", "history"}` (deleted: a marker) | processing |
| imported | `osr_key` (source system + OSR) | `{"party_id", "offset"}` (first party) | imports |
| lead-owners | lead_id | `{"party_id", "deleted"}`: whose lead id it is (CONTRACT §10) | owners |
| reports | agent name | `{"o": progress, "c": counts}` (agents/report_state.py) | 3 agents |
| territories | territory id | `{"state", "progress": {sender: [offset, i]}}` | assignment |

All are partitioned like their source topics (keyed by party, OSR, resp. lead id), so every
read is local. No windowed tables: the lookback window is event time, kept in PartyState
and evicted by the core (NOTES-stack on Faust's wall-clock windows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tables.options import RocksOptions

PARTIES = "parties"
PARTY_PARTS = "party-parts"
LEADS = "leads"
IMPORTED = "imported"
LEAD_OWNERS = "lead-owners"
REPORTS = "reports"
TERRITORIES = "territories"


@dataclass(frozen=True, slots=True)
class Tables:
    parties: Any
    party_parts: Any
    leads: Any
    imported: Any
    lead_owners: Any
    territories: Any
    reports: Any = None

    def all(self) -> dict[str, Any]:
        out = {PARTIES: self.parties, PARTY_PARTS: self.party_parts, LEADS: self.leads,
               IMPORTED: self.imported, LEAD_OWNERS: self.lead_owners,
               TERRITORIES: self.territories}
        if self.reports is not None:
            out[REPORTS] = self.reports
        return out


def define_tables(app: Any, partitions: int, options: RocksOptions) -> Tables:
    def table(name: str, help_text: str) -> Any:
        return app.Table(
            name, default=None, key_type=bytes, value_type=bytes, partitions=partitions,
            options=options.as_table_options(), help=help_text,
        )

    return Tables(
        parties=table(PARTIES, "party_id -> PartyState header (leads, clocks, progress)"),
        party_parts=table(PARTY_PARTS, "party part key -> window segment or seen id"),
        leads=table(LEADS, "lead_id -> latest lead snapshot and lead-events offset"),
        imported=table(IMPORTED, "source system + orig_system_reference -> imported lead"),
        lead_owners=table(LEAD_OWNERS, "lead_id -> the party it belongs to (and deleted)"),
        reports=table(REPORTS, "agent -> its Lead Linking Report counts and their progress"),
        territories=table(TERRITORIES, "territory id -> round-robin weights, open leads per "
                          "member, sender progress"),
    )
