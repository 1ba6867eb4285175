"""Azure OpenAI's batch API for the lmbatch emulator, at the resource endpoint ``/azure``.

Both surfaces: the GA ``/azure/openai/v1/...`` and the classic ``/azure/openai/...`` (which
needs ``?api-version=``; its endpoint is ``/chat/completions``). Keys come as ``api-key``
or ``Authorization: Bearer``. What else differs from OpenAI, as the vendor does it:

* a line's ``model`` is a deployment name: an unknown one (``deployments`` option) fails
  the batch with ``model_not_found``, and so does a file starting with a UTF-8 BOM (with
  the same misleading message the vendor gives);
* batch uploads without ``expires_after`` count towards ``max_files_without_expiry`` (the
  vendor counts the files kept; the emulator counts such uploads);
* a deployment's enqueued tokens (input bytes / 4 of its unfinished batches) above
  ``enqueued_token_limit`` fail the new batch with ``token_limit_exceeded``;
* batches are never expired by the clock (only by a test's ``expire``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmbatch_openai._emulator import OpenAIEmulator, OpenAIEmulatorOptions
from lmbatch_openai._emulator._http import openai_error
from lmbatch_openai._emulator._jobs import InputCheck, OpenAIBatch, batch_error
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

BOM = b"\xef\xbb\xbf"
PREFIX = "/azure/openai"
CLASSIC_ENDPOINTS = frozenset({"/chat/completions", "/responses"})
QUOTA_MESSAGE = (
    "The number of enqueued tokens has surpassed the configured limit of {limit} for "
    "deployment {deployment}. Please try again once some of your in-progress batches "
    "have completed."
)


@dataclass
class AzureEmulatorOptions(OpenAIEmulatorOptions):
    """Limits of the emulated Azure OpenAI batch API (``EmulatorSettings(azure_...=)``).

    Attributes:
        deployments: Deployment names that exist (empty: any name exists).
        enqueued_token_limit: Tokens a deployment may have enqueued (None: no limit).
        max_files_without_expiry: Batch files a resource keeps without ``expires_after``.
    """

    max_requests: int = 100_000
    deployments: tuple[str, ...] = ()
    enqueued_token_limit: int | None = None
    max_files_without_expiry: int = 500


class AzureEmulator(OpenAIEmulator):
    """Azure OpenAI's Files + Batches API, as the emulator serves it."""

    name = "azure"
    title = "Azure OpenAI"
    route_prefix = PREFIX
    base_path = "/azure"  # the resource endpoint; clients add /openai/...
    path_prefixes = ("/azure/",)
    batch_endpoints = frozenset({"/v1/chat/completions", "/v1/responses"} | CLASSIC_ENDPOINTS)
    counts_tokens = False
    options_class = AzureEmulatorOptions
    options: AzureEmulatorOptions
    #: Batch files uploaded without ``expires_after``.
    uploads_without_expiry: int = 0

    def routes(self) -> list[BaseRoute]:
        """The GA routes (``/azure/openai/v1/...``) and the classic ones (``/azure/openai/...``)."""
        return [*self.routes_under(PREFIX + "/v1"), *self.routes_under(PREFIX)]

    def auth_error(self, request: Request) -> Response | None:
        """401 without ``api-key`` or a bearer token; 404 for a classic call without a version."""
        path = request.url.path
        if not path.startswith(PREFIX + "/v1/") and "api-version" not in request.query_params:
            return openai_error(404, "Resource not found (the classic API needs ?api-version=).")
        if not self.state.settings.require_auth or request.headers.get("api-key"):
            return None
        return super().auth_error(request)

    def upload_problem(self, purpose: str, expires_after: int | None) -> str | None:
        """Refuse a batch file past the resource's count of files without an expiry."""
        if purpose != "batch" or expires_after is not None:
            return None
        with self.state.lock:
            if self.uploads_without_expiry >= self.options.max_files_without_expiry:
                return (
                    f"This resource already holds {self.uploads_without_expiry} batch files "
                    "without an expiry; set expires_after on upload to keep up to 10,000."
                )
            self.uploads_without_expiry += 1
        return None

    def reset(self) -> None:
        """Forget every file and batch."""
        super().reset()
        self.uploads_without_expiry = 0

    def input_check(self, path: Path, body: dict[str, Any]) -> InputCheck:
        """OpenAI's checks, then the deployment and the BOM (the quota: ``queue_check``)."""
        check = super().input_check(path, body)
        if check.errors:
            return check
        with path.open("rb") as handle:
            starts_with_bom = handle.read(3) == BOM
        deployment = check.model or ""
        known = self.options.deployments
        if starts_with_bom or (known and deployment not in known):
            # The vendor blames the deployment for a BOM too, hence the odd name.
            shown = ("\ufeff" if starts_with_bom else "") + deployment
            check.errors.append(
                batch_error(
                    "model_not_found",
                    f"The provided model deployment '{shown}' was not found.",
                    1,
                )
            )
        return check

    def enqueued_tokens_of(self, batch: OpenAIBatch) -> int:
        """A batch's enqueued tokens, roughly (4 bytes a token)."""
        return _tokens(batch.input_path)

    def queue_full_message(self, model: str, limit: int) -> str:
        """Azure's words for a deployment over its enqueued-token quota."""
        return QUOTA_MESSAGE.format(limit=limit, deployment=model)

    def respond(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """Classic lines say ``/chat/completions``; they are answered as OpenAI's."""
        return super().respond(url if url.startswith("/v1/") else "/v1" + url, body)


def _tokens(path: Path) -> int:
    """A batch's enqueued tokens, roughly (4 bytes a token)."""
    return path.stat().st_size // 4
