"""Batch operations (as Gemini sends them) become lmbatch's BatchInfo."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lmbatch_gemini._status import (
    batch_info,
    batch_status,
    display_name,
    parse_timestamp,
    stamp_of,
)

from lmbatch.provider import CHUNK_METADATA_KEY, JOB_ID_METADATA_KEY, BatchStatus

DATA = Path(__file__).resolve().parent / "data"
JOB = "lmbjob_0123456789abcdef0123456789abcdef"


def envelope(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


def operation(state: str | None = None, **fields: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"createTime": "2025-12-03T10:15:30Z"}
    if state is not None:
        metadata["state"] = state
    metadata.update(fields.pop("metadata", {}))
    return {"name": "batches/x", "metadata": metadata, **fields}


def test_a_pending_inline_envelope() -> None:
    info = batch_info(envelope("inline_pending.json"))
    assert info["id"] == "batches/123456abcdef"
    assert info["provider"] == "gemini"
    assert info["status"] is BatchStatus.IN_PROGRESS
    assert info["provider_status"] == "BATCH_STATE_PENDING"
    assert info["model"] == "gemini-2.5-flash"
    assert info["request_counts"] == {
        "total": 3,
        "succeeded": 0,
        "errored": 0,
        "processing": 3,
        "expired": 0,
        "cancelled": 0,
    }
    # Nanoseconds are read (to the microsecond), and the 48 h expiry follows creation.
    assert info["created_at"] == datetime(2025, 12, 3, 10, 15, 30, 123456, tzinfo=UTC)
    assert info["expires_at"] == info["created_at"] + timedelta(hours=48)
    assert info["metadata"] == {JOB_ID_METADATA_KEY: JOB, CHUNK_METADATA_KEY: "0"}
    assert info["errors"] == []


def test_a_succeeded_inline_envelope_with_string_counts() -> None:
    info = batch_info(envelope("inline_succeeded.json"))
    assert info["status"] is BatchStatus.FINISHED
    assert info["request_counts"]["total"] == 3
    assert info["request_counts"]["succeeded"] == 2
    assert info["request_counts"]["errored"] == 1
    assert info["request_counts"]["processing"] == 0
    assert info["ended_at"] == datetime(2025, 12, 3, 10, 42, 7, 500000, tzinfo=UTC)


def test_a_file_envelope_in_the_sdk_spelling() -> None:
    info = batch_info(envelope("file_succeeded.json"))
    assert info["status"] is BatchStatus.FINISHED
    assert info["provider_status"] == "JOB_STATE_SUCCEEDED"
    assert info["request_counts"]["succeeded"] == 4
    assert info["metadata"] == {}  # not made by lmbatch: no stamp


@pytest.mark.parametrize("prefix", ["BATCH_STATE_", "JOB_STATE_"])
@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("PENDING", BatchStatus.IN_PROGRESS),
        ("QUEUED", BatchStatus.IN_PROGRESS),
        ("RUNNING", BatchStatus.IN_PROGRESS),
        ("CANCELLING", BatchStatus.CANCELING),
        ("SUCCEEDED", BatchStatus.FINISHED),
        ("FAILED", BatchStatus.FAILED),
        ("CANCELLED", BatchStatus.CANCELLED),
        ("EXPIRED", BatchStatus.EXPIRED),
        ("SOMETHING_NEW", BatchStatus.UNKNOWN),
    ],
)
def test_states_in_both_spellings(prefix: str, word: str, status: BatchStatus) -> None:
    assert batch_status(operation(prefix + word)) is status


def test_an_operation_without_a_state_reads_done_error_and_response() -> None:
    assert batch_status(operation()) is BatchStatus.UNKNOWN
    assert batch_status(operation(done=True, response={})) is BatchStatus.FINISHED
    failed = operation(done=True, error={"code": 13, "message": "boom"})
    assert batch_status(failed) is BatchStatus.FAILED
    cancelled = operation(done=True, error={"code": 1, "message": "cancelled"})
    assert batch_status(cancelled) is BatchStatus.CANCELLED
    assert batch_info(operation(done=True, response={}))["provider_status"] == "DONE"


def test_a_failed_batch_says_why() -> None:
    failed = operation(
        "BATCH_STATE_FAILED",
        done=True,
        error={"code": 3, "message": "Input file is not valid JSONL."},
        metadata={"batchStats": {"requestCount": "2"}},
    )
    info = batch_info(failed)
    assert info["status"] is BatchStatus.FAILED
    assert info["errors"] == [
        {
            "code": "INVALID_ARGUMENT",
            "message": "Input file is not valid JSONL.",
            "line": None,
            "param": None,
            "transient": False,
        }
    ]
    quota = batch_info(operation("BATCH_STATE_FAILED", done=True, error={"code": 8}))
    assert quota["errors"][0]["code"] == "RESOURCE_EXHAUSTED"
    assert quota["errors"][0]["transient"] is True
    # No result will come for them: nothing is promised as a result line.
    assert info["request_counts"]["errored"] == 0


@pytest.mark.parametrize(
    ("state", "field"), [("BATCH_STATE_EXPIRED", "expired"), ("BATCH_STATE_CANCELLED", "cancelled")]
)
def test_requests_not_run_count_as_expired_or_cancelled(state: str, field: str) -> None:
    info = batch_info(
        operation(
            state,
            done=True,
            metadata={"batchStats": {"requestCount": "5", "successfulRequestCount": "2"}},
        )
    )
    assert info["request_counts"][field] == 3  # type: ignore[literal-required]
    assert info["request_counts"]["succeeded"] == 2
    assert info["request_counts"]["processing"] == 0


def test_counts_as_numbers_or_junk_are_read_safely() -> None:
    info = batch_info(
        operation(
            "BATCH_STATE_RUNNING",
            metadata={
                "batchStats": {
                    "requestCount": 4,
                    "successfulRequestCount": "x",
                    "failedRequestCount": True,
                }
            },
        )
    )
    assert info["request_counts"]["total"] == 4
    assert info["request_counts"]["succeeded"] == 0
    assert info["request_counts"]["processing"] == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-03T10:15:30Z", datetime(2025, 12, 3, 10, 15, 30, tzinfo=UTC)),
        ("2025-12-03T10:15:30.123456789Z", datetime(2025, 12, 3, 10, 15, 30, 123456, tzinfo=UTC)),
        ("2025-12-03T10:15:30.1+00:00", datetime(2025, 12, 3, 10, 15, 30, 100000, tzinfo=UTC)),
        ("nonsense", None),
        (None, None),
    ],
)
def test_timestamps(text: Any, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_the_display_name_stamp_round_trips() -> None:
    name = display_name("nightly eval", JOB, 12)
    assert name.startswith("nightly eval ")
    assert stamp_of(name) == {JOB_ID_METADATA_KEY: JOB, CHUNK_METADATA_KEY: "12"}
    assert stamp_of(display_name("", JOB, 0))[CHUNK_METADATA_KEY] == "0"
    assert stamp_of("someone else's batch") == {}
    assert stamp_of(None) == {}
