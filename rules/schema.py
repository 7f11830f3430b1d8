"""Pydantic schema of the rules config (CONTRACT §4): structure and value types.

Cross-references (unknown type codes, duplicate ids, conditions) are checked by
`rules.semantics`, which walks the raw document so every error gets its exact path.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictBool, StrictInt, StrictStr


def _number(v: Any) -> int | float:
    """Scores and thresholds: ints stay ints (so sums print as written), floats allowed."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError("must be a number")
    return v


Number = Annotated[int | float, PlainValidator(_number)]
ConditionsSpec = dict[str, Any] | list[dict[str, Any]]


class _Model(BaseModel):
    # Strict (CONTRACT §4): a key the schema does not know is an error, never dropped.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSetStatus(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class Profiles(_Model):
    interaction_score_threshold: Number = 20
    lead_interaction_lookback_days: Annotated[StrictInt, Field(ge=0)] = 30
    default_interaction_score: Number | None = None
    guest_party_ids: list[StrictStr] = Field(default_factory=list)
    match_b2b_lead_contact: StrictBool = False
    default_lead_status: StrictStr = "NEW"
    dedupe_window_days: Annotated[StrictInt, Field(ge=0)] = 30
    dedupe_attributes: list[StrictStr] = Field(default_factory=lambda: ["source_code"])
    # an occurred_at further ahead of the wall clock is REJECTED (CONTRACT §2)
    max_future_skew_hours: Annotated[Number, Field(ge=0)] = 24


class LeadStatus(_Model):
    code: StrictStr
    open: StrictBool
    won: StrictBool = False  # reaching it counts as converted (CONTRACT §12)


class InteractionType(_Model):
    code: StrictStr
    name: StrictStr | None = None
    default_score: Number
    enabled: StrictBool = True


class _RuleSetBase(_Model):
    id: Annotated[str, Field(min_length=1)]
    name: StrictStr | None = None
    status: RuleSetStatus
    start_date: date | None = None
    end_date: date | None = None
    precedence: StrictInt = 1
    guard: ConditionsSpec = Field(default_factory=dict)


class InteractionRuleSet(_RuleSetBase):
    scores: Literal["default"] | dict[StrictStr, Number]


class ProcessingRule(_Model):
    id: Annotated[str, Field(min_length=1)]
    name: StrictStr | None = None
    when: ConditionsSpec = Field(default_factory=dict)
    then: StrictBool | StrictStr


class ProcessingRuleSet(_RuleSetBase):
    rules: list[ProcessingRule]


class ProcessingDefaults(_Model):
    qualified: StrictBool = False
    rating: StrictStr | None = None
    channel: StrictStr | None = None


class Processing(_Model):
    ratings: list[StrictStr] = Field(default_factory=lambda: ["A", "B", "C", "D"])
    channels: list[StrictStr] = Field(default_factory=list)
    defaults: ProcessingDefaults = Field(default_factory=ProcessingDefaults)
    qualification: list[ProcessingRuleSet] = Field(default_factory=list)
    rating: list[ProcessingRuleSet] = Field(default_factory=list)
    channel_selection: list[ProcessingRuleSet] = Field(default_factory=list)
    # attribute -> the values it may take (CONTRACT §4)
    attribute_codes: dict[StrictStr, list[StrictStr]] = Field(default_factory=dict)
    # process and assign leads registered from outside like imports (CONTRACT §4)
    process_external_leads: StrictBool = False


class TerritoryMember(_Model):
    resource: Annotated[StrictStr, Field(min_length=1)]
    weight: Annotated[StrictInt, Field(gt=0)] = 1
    capacity: Annotated[StrictInt, Field(ge=1)] | None = None


class Territory(_Model):
    id: Annotated[StrictStr, Field(min_length=1)]
    name: StrictStr | None = None
    precedence: StrictInt = 1
    guard: ConditionsSpec = Field(default_factory=dict)
    members: list[TerritoryMember] = Field(min_length=1)


class Assignment(_Model):
    """Territory assignment (CONTRACT §11)."""

    territories: list[Territory] = Field(default_factory=list)
    fallback: StrictStr | None = None


class RulesConfig(_Model):
    profiles: Profiles = Field(default_factory=Profiles)
    lead_statuses: list[LeadStatus] = Field(min_length=1)
    interaction_types: list[InteractionType] = Field(min_length=1)
    interaction_rule_sets: list[InteractionRuleSet] = Field(default_factory=list)
    feeds: dict[StrictStr, dict[StrictStr, StrictStr]] = Field(default_factory=dict)
    processing: Processing = Field(default_factory=Processing)
    assignment: Assignment = Field(default_factory=Assignment)
