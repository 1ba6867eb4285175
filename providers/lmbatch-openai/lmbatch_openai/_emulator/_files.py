"""OpenAI files held on disk, and the emulator's options for the OpenAI vendor."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class OpenAIEmulatorOptions:
    """Limits of the emulated OpenAI Files + Batches API.

    Set them as ``EmulatorSettings(openai_max_requests=...)`` or
    ``EmulatorSettings(vendor_options={"openai": {...}})``.

    Attributes:
        max_requests: Lines allowed in one batch input file.
        max_file_bytes: Bytes allowed in one batch input file.
        max_upload_bytes: Bytes allowed in any single upload (413 above it).
        enqueued_token_limit: Input tokens a model may have in unfinished batches (the
            "batch queue limit"); a new batch that would go over it fails with
            ``token_limit_exceeded``, as the vendor fails it. None: no limit.
    """

    max_requests: int = 50_000
    max_file_bytes: int = 200 * 1024 * 1024
    max_upload_bytes: int = 512 * 1024 * 1024
    enqueued_token_limit: int | None = None


@dataclass
class FileRecord:
    """An OpenAI file held on disk."""

    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None
    path: Path

    def to_json(self) -> dict[str, Any]:
        """The vendor ``File`` object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }
