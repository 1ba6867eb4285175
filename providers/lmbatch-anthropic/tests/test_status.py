"""Status: a MessageBatch object becomes a BatchInfo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from lmbatch_anthropic._status import batch_info, parse_timestamp

from lmbatch import BatchStatus


def batch(**overrides: Any) -> dict[str, Any]:
    counts = {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 0}
    counts.update(overrides.pop("counts", {}))
    return {
        "id": "msgbatch_01abc",
        "type": "message_batch",
        "processing_status": "ended",
        "request_counts": counts,
        "created_at": "2025-01-12T05:59:14.154311+00:00",
        "expires_at": "2025-01-13T05:59:14.154311+00:00",
        "ended_at": "2025-01-12T06:10:00Z",
        "cancel_initiated_at": None,
        "archived_at": None,
        "results_url": "https://api.anthropic.com/v1/messages/batches/msgbatch_01abc/results",
        **overrides,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            batch(processing_status="in_progress", ended_at=None, results_url=None),
            BatchStatus.IN_PROGRESS,
            id="in_progress",
        ),
        pytest.param(
            batch(processing_status="canceling", cancel_initiated_at="2025-01-12T06:00:00Z"),
            BatchStatus.CANCELING,
            id="canceling",
        ),
        pytest.param(batch(), BatchStatus.FINISHED, id="ended"),
        pytest.param(
            batch(cancel_initiated_at="2025-01-12T06:00:00Z", counts={"canceled": 2}),
            BatchStatus.CANCELLED,
            id="ended-cancelled",
        ),
        pytest.param(batch(counts={"expired": 1}), BatchStatus.EXPIRED, id="ended-expired"),
        pytest.param(
            batch(cancel_initiated_at="2025-01-12T06:00:00Z", counts={"expired": 1}),
            BatchStatus.CANCELLED,
            id="cancel-wins-over-expired",
        ),
        pytest.param(batch(processing_status="paused"), BatchStatus.UNKNOWN, id="unknown"),
    ],
)
def test_status_mapping(raw: dict[str, Any], expected: BatchStatus) -> None:
    info = batch_info(raw, "anthropic")
    assert info["status"] is expected
    assert info["provider_status"] == raw["processing_status"]


def test_info_fields() -> None:
    info = batch_info(batch(counts={"canceled": 2, "expired": 1, "processing": 4}), "anthropic")
    assert info["id"] == "msgbatch_01abc"
    assert info["provider"] == "anthropic"
    assert info["request_counts"] == {
        "total": 11,
        "succeeded": 3,
        "errored": 1,
        "processing": 4,
        "expired": 1,
        "cancelled": 2,
    }
    assert info["created_at"] == datetime(2025, 1, 12, 5, 59, 14, 154311, tzinfo=UTC)
    assert info["ended_at"] == datetime(2025, 1, 12, 6, 10, tzinfo=UTC)
    assert info["expires_at"] is not None
    assert info["raw"]["results_url"].endswith("/results")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-12T05:59:14Z", datetime(2025, 1, 12, 5, 59, 14, tzinfo=UTC)),
        ("2025-01-12T05:59:14+00:00", datetime(2025, 1, 12, 5, 59, 14, tzinfo=UTC)),
        ("2025-01-12T05:59:14.1Z", datetime(2025, 1, 12, 5, 59, 14, 100000, tzinfo=UTC)),
        ("2025-01-12T05:59:14.154311+00:00", datetime(2025, 1, 12, 5, 59, 14, 154311, tzinfo=UTC)),
        ("2025-01-12T05:59:14.123456789Z", datetime(2025, 1, 12, 5, 59, 14, 123456, tzinfo=UTC)),
        ("2025-01-12 05:59:14z", datetime(2025, 1, 12, 5, 59, 14, tzinfo=UTC)),
        (
            "2025-01-12T07:59:14.5+02:00",
            datetime(2025, 1, 12, 7, 59, 14, 500000, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2025-01-12T05:59:14", datetime(2025, 1, 12, 5, 59, 14, tzinfo=UTC)),
    ],
)
def test_timestamps_are_aware(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed is not None
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("value", [None, "", "yesterday", 12345])
def test_unreadable_timestamps_are_none(value: Any) -> None:
    assert parse_timestamp(value) is None
