"""A Together batch job (upper-case status, a progress percentage, ISO times) as BatchInfo."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from lmbatch_together._status import job_info

from lmbatch.provider import BatchStatus, empty_counts


def job(**overrides: Any) -> dict[str, Any]:
    """A job as ``GET /v1/batches/{id}`` returns it (the SDK's ``BatchJob`` fields)."""
    return {
        "id": "9b8a4c9e-5a0e-4b7e-9a53-0d1f3c2b1a00",
        "user_id": "user-1",
        "input_file_id": "file-6f1c",
        "file_size_bytes": 1234,
        "status": "IN_PROGRESS",
        "job_deadline": "2026-11-21T10:00:00Z",
        "created_at": "2026-11-20T10:00:00Z",
        "endpoint": "/v1/chat/completions",
        "progress": 37.5,
        "model_id": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "output_file_id": None,
        "error_file_id": None,
        "error": None,
        "completed_at": None,
        **overrides,
    }


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("VALIDATING", BatchStatus.IN_PROGRESS),
        ("IN_PROGRESS", BatchStatus.IN_PROGRESS),
        ("COMPLETED", BatchStatus.FINISHED),
        ("FAILED", BatchStatus.FAILED),
        ("EXPIRED", BatchStatus.EXPIRED),
        ("CANCELLED", BatchStatus.CANCELLED),
        ("completed", BatchStatus.FINISHED),  # the same word in another case
        ("SOMETHING_NEW", BatchStatus.UNKNOWN),
    ],
)
def test_upper_case_status_words_map_to_lmbatch_statuses(word: str, expected: BatchStatus) -> None:
    info = job_info(job(status=word))
    assert info["status"] is expected
    assert info["provider_status"] == word


def test_progress_is_kept_and_never_read_as_request_counts() -> None:
    """Together reports a percentage, not counts: the total stays unknown (zero)."""
    info = job_info(job(status="IN_PROGRESS", progress=37.5))
    assert info["request_counts"] == empty_counts()
    assert info["raw"]["progress"] == 37.5


def test_iso_times_the_deadline_and_the_model_id_are_read() -> None:
    info = job_info(job(status="COMPLETED", completed_at="2026-11-20T12:30:00+00:00"))
    assert info["created_at"] == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert info["expires_at"] == datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert info["ended_at"] == datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    assert info["model"] == "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def test_a_failed_job_carries_its_error_text() -> None:
    info = job_info(job(status="FAILED", error="Line 3: custom_id must be 1 to 64 characters."))
    assert info["status"] is BatchStatus.FAILED
    assert [e["message"] for e in info["errors"]] == [
        "Line 3: custom_id must be 1 to 64 characters."
    ]
