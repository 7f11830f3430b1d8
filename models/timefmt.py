"""Event-time parsing. Times are kept as the original string plus epoch seconds.

Messages name the field, never the value (records carry personal data)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_EPOCH = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")  # ASCII digits only: "²".isdigit() is True


class BadTimestamp(ValueError):
    pass


def parse_ts(value: object, field: str = "occurred_at") -> tuple[str, float, date]:
    """ISO-8601 with an offset -> (original string, epoch seconds, calendar date in its offset)."""
    if not isinstance(value, str) or not value:
        raise BadTimestamp(f"{field}: must be an ISO-8601 timestamp with offset")
    if len(value) > 64:
        raise BadTimestamp(f"{field}: not an ISO-8601 timestamp")
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise BadTimestamp(f"{field}: not an ISO-8601 timestamp") from None
    if dt.tzinfo is None:  # fromisoformat gives a fixed-offset `timezone` or none
        raise BadTimestamp(f"{field}: timestamp has no UTC offset")
    try:
        return value, dt.timestamp(), dt.date()
    except (OverflowError, ValueError, OSError):
        raise BadTimestamp(f"{field}: timestamp out of range") from None


def parse_epoch_or_iso(value: object, field: str = "ts") -> tuple[str, float, date]:
    """Web feed `ts`: epoch seconds (number or numeric string) or ISO-8601 with offset."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            dt = datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise BadTimestamp(f"{field}: epoch seconds out of range") from None
        iso = dt.isoformat()
        return iso, dt.timestamp(), dt.date()
    if isinstance(value, str) and _EPOCH.fullmatch(value.strip()):
        return parse_epoch_or_iso(float(value), field)
    if isinstance(value, bool) or not isinstance(value, str):
        raise BadTimestamp(f"{field}: must be epoch seconds or an ISO-8601 timestamp")
    return parse_ts(value, field)


def day_of(iso: str) -> date:
    """Calendar date of an already validated timestamp, in its own offset."""
    return parse_ts(iso)[2]
