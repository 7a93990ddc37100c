"""Pure pieces of the audit and incidents pages: the audit query form, entry rows, the
incident timeline's order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.api.console.audit import AuditQuery, details_text, entry_row, parse_query, parse_time
from hub.api.console.incidents import timeline_items


def test_an_empty_query_filters_nothing() -> None:
    parsed = parse_query({})
    assert parsed.problems == {} and parsed.after is None
    assert parsed.where is not None and parsed.where.actor is None
    assert not parsed.query.filtered


def test_a_full_query() -> None:
    parsed = parse_query(
        {
            "actor": " dana ",
            "action": "member.update",
            "resource_type": "user",
            "resource_id": "01ab",
            "outcome": "denied",
            "from": "2026-01-31T14:05",
            "to": "2026-02-01T00:00:00+01:00",
            "cursor": "40",
        }
    )
    assert parsed.problems == {}
    where = parsed.where
    assert where is not None
    assert (where.actor, where.action, where.resource_type, where.resource_id) == (
        "dana",
        "member.update",
        "user",
        "01ab",
    )
    assert where.outcome == "denied"
    assert where.since == datetime(2026, 1, 31, 14, 5, tzinfo=UTC)
    assert where.until == datetime(2026, 1, 31, 23, 0, tzinfo=UTC)
    assert parsed.after == 40
    # The next page keeps the filters and replaces the cursor.
    assert parsed.query.params("41") == {
        "actor": "dana",
        "action": "member.update",
        "resource_type": "user",
        "resource_id": "01ab",
        "outcome": "denied",
        "from": "2026-01-31T14:05",
        "to": "2026-02-01T00:00:00+01:00",
        "cursor": "41",
    }


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"actor": "x" * 129}, "actor", "at most 128 characters"),
        ({"outcome": "maybe"}, "outcome", "one of success, failure, denied, unknown"),
        ({"from": "yesterday"}, "from", "a date and time"),
        ({"to": "2026-13-01T00:00"}, "to", "a date and time"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to", "must not be before From"),
        ({"cursor": "-1"}, "cursor", "not a page"),
        ({"cursor": "9" * 20}, "cursor", "not a page"),
    ],
)
def test_bad_fields_are_named_and_kept(params: dict[str, str], field: str, message: str) -> None:
    parsed = parse_query(params)
    assert parsed.where is None
    assert message in parsed.problems[field]
    for name, value in params.items():
        assert parsed.query.value(name) == value


def test_times() -> None:
    assert parse_time("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    assert parse_time("2026-01-31T14:05:09Z") == datetime(2026, 1, 31, 14, 5, 9, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("")


def test_entry_rows_hold_text() -> None:
    row = entry_row(
        {
            "seq": 3,
            "ts": "2026-01-01T00:00:00Z",
            "actor": "hub",
            "actor_type": "system",
            "action": "incident.review",
            "resource_type": "incident",
            "resource_id": None,
            "outcome": "failure",
            "details": {"comment": "<img src=x onerror=alert(1)>", "a": "é"},
            "leaf_hash": "ab",
        }
    )
    assert row.details == '{"a": "é", "comment": "<img src=x onerror=alert(1)>"}'
    assert row.resource_id == "" and row.abnormal
    assert details_text([1, None]) == "[1, null]"
    assert AuditQuery(actor="a").filtered


def test_the_timeline_is_in_time_order() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    items = timeline_items(
        {
            "run": [
                {"ts": t.replace(second=1), "type": "RunStarted", "step": None},
                {"ts": t.replace(second=5), "type": "RunCompleted", "step": None},
            ],
            "alarm_journal": [
                {
                    "ts": "2026-01-01T00:00:03Z",
                    "action": "raise",
                    "from": "normal",
                    "to": "active-unacknowledged",
                    "value": 9.5,
                    "limit": 8.0,
                    "actor": "hub",
                    "comment": "",
                },
                {"ts": None, "action": "odd", "from": "a", "to": "b"},
            ],
            "telemetry": None,
        }
    )
    assert [(i.source, i.what) for i in items] == [
        ("run", "RunStarted"),
        ("alarm", "raise"),
        ("run", "RunCompleted"),
        ("alarm", "odd"),
    ]
    assert items[1].detail == "normal → active-unacknowledged, value 9.5 (limit 8.0), by hub"
