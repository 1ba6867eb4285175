"""The Gemini vendor of the emulator: batch mode, the Files API's uploads and downloads.

Served under ``/gemini`` (the API root a client is given: ``emulator.gemini_base_url``):

==============================================  ==============  ==============================
route                                           operation       what
==============================================  ==============  ==============================
``POST /{v}/models/{model}:batchGenerateContent``  ``create``   inline or file batch
``POST /{v}/models/{model}:countTokens``        ``count_tokens``  the prompt's tokens
``GET /{v}/batches``                            ``list``        newest first, ``pageToken``
``GET /{v}/batches/{id}``                       ``retrieve``    the operation (a poll)
``POST /{v}/batches/{id}:cancel``               ``cancel``
``DELETE /{v}/batches/{id}``                    ``delete``
``POST /upload/{v}/files``                      ``upload``      resumable: start, then chunks
``GET /{v}/files/{id}``, ``DELETE``             ``retrieve_file``, ``delete_file``
``GET /download/{v}/files/{id}:download``       ``results``     a responses file (both forms)
``GET /{v}/files/{id}:download``
==============================================  ==============  ==============================

``{v}`` is ``v1`` or ``v1beta``. The key is ``x-goog-api-key`` (or ``?key=``); errors are
Google's envelope ``{"error": {"code", "message", "status"}}``. Requests are checked as
the real API checks them: unknown fields of a ``GenerateContentRequest`` (or of its
``generationConfig``) refuse the whole create call with a 400, as Google's JSON parser
does; a create body over 20 MB is refused.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lmbatch.testing.emulator import EmulatorState, EmulatorVendor, KeyFault, faults_in_text
from lmbatch_gemini._emulator._jobs import BatchRequest, GeminiBatch, rfc3339
from lmbatch_gemini._emulator._responder import input_tokens

__all__ = ["OPERATIONS", "GeminiEmulator", "GeminiEmulatorOptions"]

OPERATIONS = frozenset(
    {
        "create",
        "count_tokens",
        "retrieve",
        "list",
        "cancel",
        "delete",
        "upload",
        "retrieve_file",
        "delete_file",
        "results",
    }
)
"""Operation names of the Gemini vendor, as `EndpointFault.operation` names them."""

#: The emulated API root on the emulator's host.
ROOT = "/gemini"
_VERSIONS = ("v1", "v1beta")
_STATUS_WORDS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_REQUEST_FIELDS = {
    "model",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
    "labels",
    "serviceTier",
    "store",
    "continuationToken",
}
_GENERATION_FIELDS = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
    "audioTranscriptionConfig",
}
_ALPHABET = string.ascii_lowercase + string.digits


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _both(names: set[str]) -> set[str]:
    return names | {_snake(name) for name in names}


_ANY_REQUEST_FIELD = _both(_REQUEST_FIELDS)
_ANY_GENERATION_FIELD = _both(_GENERATION_FIELDS)


@dataclass
class GeminiEmulatorOptions:
    """How the emulated Gemini API behaves.

    Set them as ``EmulatorSettings(gemini_state_prefix="JOB_STATE_")`` or
    ``EmulatorSettings(vendor_options={"gemini": {"state_prefix": "JOB_STATE_"}})``.

    Attributes:
        max_inline_bytes: Bytes allowed in a create body with inline requests.
        max_file_bytes: Bytes allowed in one uploaded file.
        state_prefix: How states are spelled: ``"BATCH_STATE_"`` (the REST API) or
            ``"JOB_STATE_"`` (the google-genai SDK's words).
        results_in: Where inline results and the responses file are named: under the
            operation's ``"response"``, its ``"metadata"`` (``metadata.output``) or
            ``"both"`` (as seen from the real API).
        download_paths: The download URL forms served: ``"download"``
            (``/download/{v}/files/{id}:download``) and ``"api"``
            (``/{v}/files/{id}:download``, the SDK's).
    """

    max_inline_bytes: int = 20_000_000
    max_file_bytes: int = 2 * 1024**3
    state_prefix: str = "BATCH_STATE_"
    results_in: str = "both"
    download_paths: frozenset[str] = field(default_factory=lambda: frozenset({"download", "api"}))


@dataclass
class _File:
    name: str
    path: Path
    size: int
    mime_type: str
    display_name: str
    created_at: float
    generated: bool  # a responses file (downloadable), not an upload

    def to_json(self, root: str, version: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(self.size),
            "createTime": rfc3339(self.created_at),
            "updateTime": rfc3339(self.created_at),
            "expirationTime": rfc3339(self.created_at + 48 * 3600),
            "uri": f"{root}/{version}/{self.name}",
            "state": "ACTIVE",
            "source": "GENERATED" if self.generated else "UPLOADED",
        }


@dataclass
class _Upload:
    path: Path
    size: int
    mime_type: str
    display_name: str
    received: int = 0


def _id(length: int = 12) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class GeminiEmulator(EmulatorVendor[GeminiEmulatorOptions]):
    """The Gemini Developer API's batch mode, as the emulator serves it.

    Its records: ``batches`` and ``files`` (``emulator.state.gemini_batches``...). A test
    control besides the host's (``advance``, ``finish``, ``expire``): :meth:`fail`.

    Args:
        state: The emulator state this instance serves (settings, clock, faults, storage).
        options: Its behaviour (``EmulatorSettings(vendor_options={"gemini": {...}})``).
    """

    name = "gemini"
    title = "Gemini"
    # Gemini's paths (/v1/batches, /v1/files/...) are OpenAI's too: on the emulator's one
    # host its API root is /gemini (the provider's base_url; the version is added to it).
    base_path = ROOT
    path_prefixes = (ROOT + "/",)
    operations = OPERATIONS
    options_class = GeminiEmulatorOptions

    def __init__(self, state: EmulatorState, options: GeminiEmulatorOptions) -> None:
        super().__init__(state, options)
        self.batches: dict[str, GeminiBatch] = {}
        self.files: dict[str, _File] = {}
        self.uploads: dict[str, _Upload] = {}

    # ------------------------------------------------------------------ the vendor

    def error_response(self, status: int, message: str | None = None) -> Response:
        """Google's error envelope."""
        word = _STATUS_WORDS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        body = {"error": {"code": status, "message": message or word.lower(), "status": word}}
        headers = {"retry-after": "0"} if status == 429 else {}
        return JSONResponse(body, status_code=status, headers=headers)

    def fault_response(self, status: int) -> Response:
        """What a scripted failure answers (429: quota exhausted)."""
        if status == 429:
            return self.error_response(429, "Resource has been exhausted (e.g. check quota).")
        return self.error_response(status)

    def auth_error(self, request: Request) -> Response | None:
        """403 without a key (when required), as Google answers unregistered callers."""
        if not self.state.settings.require_auth:
            return None
        if request.headers.get("x-goog-api-key", "").strip() or request.query_params.get("key"):
            return None
        return self.error_response(
            403,
            "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use API Key or other form of API consumer identity to call "
            "this API.",
        )

    def jobs(self) -> Iterable[GeminiBatch]:
        """Every batch."""
        return list(self.batches.values())

    def reset(self) -> None:
        """Forget every batch, file and upload."""
        with self.state.lock:
            self.batches.clear()
            self.files.clear()
            self.uploads.clear()

    def fail(self, batch_id: str, code: int = 13, message: str = "Batch failed.") -> None:
        """End a batch as FAILED with this operation error (a gRPC code) and no results."""
        with self.state.lock:
            self.batches[batch_id].fail(code, message)

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes."""
        return [
            Route(ROOT + "/{version}/models/{model}", self.model_call, methods=["POST"]),
            Route(ROOT + "/{version}/batches", self.list, methods=["GET"]),
            Route(ROOT + "/{version}/batches/{batch}", self.retrieve, methods=["GET"]),
            Route(ROOT + "/{version}/batches/{batch}", self.cancel, methods=["POST"]),
            Route(ROOT + "/{version}/batches/{batch}", self.delete, methods=["DELETE"]),
            Route(ROOT + "/upload/{version}/files", self.upload, methods=["POST"]),
            Route(ROOT + "/{version}/files/{file}", self.file_get, methods=["GET"]),
            Route(ROOT + "/{version}/files/{file}", self.file_delete, methods=["DELETE"]),
            Route(ROOT + "/download/{version}/files/{file}", self.download, methods=["GET"]),
        ]

    # ------------------------------------------------------------------ helpers

    def _version(self, request: Request) -> str | None:
        version = str(request.path_params["version"])
        return version if version in _VERSIONS else None

    def _not_found(self, request: Request) -> Response:
        return self.error_response(404, f"Unknown request URL: {request.url.path}")

    def _root(self, request: Request) -> str:
        return str(request.base_url).rstrip("/") + ROOT

    # ------------------------------------------------------------------ batches

    async def model_call(self, request: Request) -> Response:
        """``models/{model}:batchGenerateContent`` or ``:countTokens``."""
        version = self._version(request)
        model, _, method = str(request.path_params["model"]).partition(":")
        if version is None or method not in ("batchGenerateContent", "countTokens"):
            return self._not_found(request)
        if method == "countTokens":
            return await self._count_tokens(request)
        self.state.count_create_call()

        async def action() -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                return self.error_response(400, "Invalid JSON payload received.")
            batch = body.get("batch") if isinstance(body, dict) else None
            if not isinstance(batch, dict):
                return self.error_response(400, "batch: field required")
            config = batch.get("inputConfig") or batch.get("input_config")
            if not isinstance(config, dict):
                return self.error_response(400, "batch.input_config: field required")
            inline = config.get("requests")
            file_name = config.get("fileName") or config.get("file_name")
            if (inline is None) == (file_name is None):
                return self.error_response(
                    400, "batch.input_config: exactly one of requests or file_name is required"
                )
            if inline is not None and len(raw) > self.options.max_inline_bytes:
                return self.error_response(
                    400,
                    f"Request payload size exceeds the limit: {self.options.max_inline_bytes} "
                    "bytes.",
                )
            if inline is not None:
                requests = self._inline_requests(inline)
            else:
                requests = self._file_requests(str(file_name))
            if isinstance(requests, Response):
                return requests
            await self.state.slow_create()
            created = self._new_batch(
                f"models/{model}",
                str(batch.get("displayName") or batch.get("display_name") or ""),
                requests,
                None if inline is not None else str(file_name),
            )
            await self.state.slow_create()
            with self.state.lock:
                return JSONResponse(created.to_json())

        return await self.guarded(request, "create", action)

    def _check_request(self, index: int, value: Any) -> Response | str | None:
        """A whole-call refusal (unknown fields), a per-request problem, or None."""
        if not isinstance(value, dict):
            return "request: must be a GenerateContentRequest object"
        unknown = sorted(set(value) - _ANY_REQUEST_FIELD)
        if unknown:
            return self.error_response(
                400,
                f'Invalid JSON payload received. Unknown name "{unknown[0]}" at '
                f"'batch.input_config.requests.requests[{index}].request': Cannot find field.",
            )
        config = value.get("generationConfig") or value.get("generation_config") or {}
        bad = sorted(set(config) - _ANY_GENERATION_FIELD) if isinstance(config, dict) else []
        if bad:
            return self.error_response(
                400,
                f'Invalid JSON payload received. Unknown name "{bad[0]}" at '
                f"'batch.input_config.requests.requests[{index}].request.generation_config': "
                "Cannot find field.",
            )
        contents = value.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        return None

    def _inline_requests(self, inline: Any) -> list[BatchRequest] | Response:
        items = inline.get("requests") if isinstance(inline, dict) else None
        if not isinstance(items, list) or not items:
            return self.error_response(400, "batch.input_config.requests: at least one request")
        requests: list[BatchRequest] = []
        for index, item in enumerate(items):
            item = item if isinstance(item, dict) else {}
            body = item.get("request")
            problem = self._check_request(index, body)
            if isinstance(problem, Response):
                return problem
            metadata = item.get("metadata")
            key = metadata.get("key") if isinstance(metadata, dict) else None
            requests.append(self._request(key, body, problem))
        return requests

    def _file_requests(self, file_name: str) -> list[BatchRequest] | Response:
        with self.state.lock:
            file = self.files.get(file_name)
        if file is None or file.generated:
            return self.error_response(404, f"File {file_name} not found.")
        requests: list[BatchRequest] = []
        with file.path.open("rb") as handle:
            for index, raw in enumerate(handle):
                if not raw.strip():
                    continue
                try:
                    line = json.loads(raw)
                except ValueError:
                    line = None
                if not isinstance(line, dict):
                    requests.append(self._request(None, {}, "the line is not a JSON object"))
                    continue
                problem = self._check_request(index, line.get("request"))
                if isinstance(problem, Response):
                    return problem
                key = line.get("key")
                requests.append(
                    self._request(
                        key if isinstance(key, str) else None, line.get("request"), problem
                    )
                )
        if not requests:
            return self.error_response(400, f"File {file_name} holds no requests.")
        return requests

    @staticmethod
    def _request(key: Any, body: Any, problem: str | None) -> BatchRequest:
        body = body if isinstance(body, dict) else {}
        text = json.dumps(body)
        fault = faults_in_text(text) if "[[lmbatch:" in text else KeyFault()
        return BatchRequest(key if isinstance(key, str) else None, body, fault, problem)

    def _new_batch(
        self, model: str, display: str, requests: list[BatchRequest], input_file: str | None
    ) -> GeminiBatch:
        batch_id = self.state.batch_id("batches/", lambda: "batches/" + _id())
        batch = GeminiBatch(
            id=batch_id,
            model=model,
            display_name=display,
            requests=requests,
            faults=self.state.faults,
            cancel_fraction=self.state.settings.cancel_finished_fraction,
            output_path=self.state.new_path(".responses.jsonl") if input_file else None,
            input_file=input_file,
            clock=self.state.now,
            run=self.state.run_progress(),
            state_prefix=self.options.state_prefix,
            results_in=self.options.results_in,
            on_output=self._register_output,
        )
        with self.state.lock:
            self.batches[batch_id] = batch
            self.state.count_submissions(r.key for r in batch.counted if r.key is not None)
        return batch

    def _register_output(self, batch: GeminiBatch) -> None:
        assert batch.output_path is not None
        self.files[batch.output_file] = _File(
            name=batch.output_file,
            path=batch.output_path,
            size=batch.output_path.stat().st_size,
            mime_type="application/jsonl",
            display_name=batch.output_file,
            created_at=self.state.now(),
            generated=True,
        )

    async def _count_tokens(self, request: Request) -> Response:
        async def action() -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                return self.error_response(400, "Invalid JSON payload received.")
            inner = body.get("generateContentRequest") if isinstance(body, dict) else None
            if not isinstance(inner, dict):
                inner = body if isinstance(body, dict) else {}
            return JSONResponse({"totalTokens": input_tokens(inner)})

        return await self.guarded(request, "count_tokens", action)

    def _batch(self, request: Request) -> tuple[GeminiBatch | None, str]:
        name = "batches/" + str(request.path_params["batch"]).partition(":")[0]
        with self.state.lock:
            return self.batches.get(name), name

    async def retrieve(self, request: Request) -> Response:
        """``GET /{v}/batches/{id}``: one poll."""
        if self._version(request) is None or ":" in str(request.path_params["batch"]):
            return self._not_found(request)

        async def action() -> Response:
            batch, name = self._batch(request)
            if batch is None:
                return self.error_response(404, f"Batch {name} not found.")
            self.state.polled(batch)
            with self.state.lock:
                return JSONResponse(batch.to_json())

        return await self.guarded(request, "retrieve", action)

    async def list(self, request: Request) -> Response:
        """``GET /{v}/batches?pageSize&pageToken``, newest first."""
        if self._version(request) is None:
            return self._not_found(request)

        async def action() -> Response:
            try:
                size = int(request.query_params.get("pageSize") or 50)
                start = int(request.query_params.get("pageToken") or 0)
            except ValueError:
                return self.error_response(400, "Invalid pageSize or pageToken.")
            with self.state.lock:
                ordered = sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True)
                page = [b.to_json() for b in ordered[start : start + max(1, size)]]
                more = start + max(1, size) < len(ordered)
            body: dict[str, Any] = {"operations": page}
            if more:
                body["nextPageToken"] = str(start + max(1, size))
            return JSONResponse(body)

        return await self.guarded(request, "list", action)

    async def cancel(self, request: Request) -> Response:
        """``POST /{v}/batches/{id}:cancel``."""
        if self._version(request) is None or not str(request.path_params["batch"]).endswith(
            ":cancel"
        ):
            return self._not_found(request)

        async def action() -> Response:
            batch, name = self._batch(request)
            if batch is None:
                return self.error_response(404, f"Batch {name} not found.")
            with self.state.lock:
                batch.cancel()
            return JSONResponse({})

        return await self.guarded(request, "cancel", action)

    async def delete(self, request: Request) -> Response:
        """``DELETE /{v}/batches/{id}`` (a running batch is not cancelled by it)."""
        if self._version(request) is None:
            return self._not_found(request)

        async def action() -> Response:
            batch, name = self._batch(request)
            if batch is None:
                return self.error_response(404, f"Batch {name} not found.")
            with self.state.lock:
                self.batches.pop(name, None)
            return JSONResponse({})

        return await self.guarded(request, "delete", action)

    # ------------------------------------------------------------------ files

    async def upload(self, request: Request) -> Response:
        """``POST /upload/{v}/files``: a resumable upload's start, or one of its chunks."""
        if self._version(request) is None:
            return self._not_found(request)

        async def action() -> Response:
            upload_id = request.query_params.get("upload_id")
            if upload_id is None:
                return await self._start_upload(request)
            return await self._upload_chunk(request, upload_id)

        return await self.guarded(request, "upload", action)

    async def _start_upload(self, request: Request) -> Response:
        headers = request.headers
        if headers.get("x-goog-upload-protocol") != "resumable" or (
            headers.get("x-goog-upload-command") != "start"
        ):
            return self.error_response(400, "Only resumable uploads are emulated.")
        try:
            size = int(headers.get("x-goog-upload-header-content-length", ""))
        except ValueError:
            return self.error_response(400, "X-Goog-Upload-Header-Content-Length is required.")
        if size > self.options.max_file_bytes:
            return self.error_response(400, f"File too large: {size} bytes.")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return self.error_response(400, "Invalid JSON payload received.")
        file = body.get("file") if isinstance(body, dict) else None
        display = file.get("displayName", "") if isinstance(file, dict) else ""
        upload_id = _id(24)
        with self.state.lock:
            self.uploads[upload_id] = _Upload(
                path=self.state.new_path(".upload"),
                size=size,
                mime_type=headers.get("x-goog-upload-header-content-type", "application/jsonl"),
                display_name=str(display),
            )
        # Google's own host, as the real API names it: clients read it through their root.
        version = str(request.path_params["version"])
        url = (
            f"https://generativelanguage.googleapis.com/upload/{version}/files"
            f"?upload_id={upload_id}&upload_protocol=resumable"
        )
        return Response(
            status_code=200,
            headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"},
        )

    async def _upload_chunk(self, request: Request, upload_id: str) -> Response:
        with self.state.lock:
            upload = self.uploads.get(upload_id)
        if upload is None:
            return self.error_response(404, "Unknown upload session.")
        command = {c.strip() for c in request.headers.get("x-goog-upload-command", "").split(",")}
        try:
            offset = int(request.headers.get("x-goog-upload-offset", ""))
        except ValueError:
            return self.error_response(400, "X-Goog-Upload-Offset is required.")
        if "upload" not in command or offset > upload.received:
            return self.error_response(400, "Bad upload command or offset.")
        data = await request.body()
        with upload.path.open("r+b" if upload.path.exists() else "wb") as handle:
            handle.seek(offset)
            handle.write(data)
            handle.truncate()
        upload.received = offset + len(data)
        if "finalize" not in command:
            return Response(status_code=200, headers={"x-goog-upload-status": "active"})
        if upload.received != upload.size:
            return self.error_response(
                400, f"Upload size mismatch: {upload.received} of {upload.size} bytes."
            )
        name = f"files/{_id()}"
        file = _File(
            name=name,
            path=upload.path,
            size=upload.size,
            mime_type=upload.mime_type,
            display_name=upload.display_name,
            created_at=self.state.now(),
            generated=False,
        )
        with self.state.lock:
            self.files[name] = file
            self.uploads.pop(upload_id, None)
        root = self._root(request)
        body = {"file": file.to_json(root, str(request.path_params["version"]))}
        return JSONResponse(body, headers={"x-goog-upload-status": "final"})

    def _file(self, request: Request) -> tuple[_File | None, str, str]:
        raw = str(request.path_params["file"])
        file_id, _, method = raw.partition(":")
        name = f"files/{file_id}"
        with self.state.lock:
            return self.files.get(name), name, method

    async def file_get(self, request: Request) -> Response:
        """``GET /{v}/files/{id}`` (metadata) or ``/{v}/files/{id}:download`` (the SDK's)."""
        if self._version(request) is None:
            return self._not_found(request)
        if str(request.path_params["file"]).endswith(":download"):
            if "api" not in self.options.download_paths:
                return self._not_found(request)
            return await self._download(request)

        async def action() -> Response:
            file, name, _ = self._file(request)
            if file is None:
                return self.error_response(404, f"File {name} not found.")
            version = str(request.path_params["version"])
            return JSONResponse(file.to_json(self._root(request), version))

        return await self.guarded(request, "retrieve_file", action)

    async def file_delete(self, request: Request) -> Response:
        """``DELETE /{v}/files/{id}``."""
        if self._version(request) is None:
            return self._not_found(request)

        async def action() -> Response:
            file, name, _ = self._file(request)
            if file is None:
                return self.error_response(404, f"File {name} not found.")
            with self.state.lock:
                self.files.pop(name, None)
            return JSONResponse({})

        return await self.guarded(request, "delete_file", action)

    async def download(self, request: Request) -> Response:
        """``GET /download/{v}/files/{id}:download?alt=media``."""
        if (
            self._version(request) is None
            or "download" not in self.options.download_paths
            or not str(request.path_params["file"]).endswith(":download")
        ):
            return self._not_found(request)
        return await self._download(request)

    async def _download(self, request: Request) -> Response:
        async def action() -> Response:
            file, name, _ = self._file(request)
            if file is None:
                return self.error_response(404, f"File {name} not found.")
            if not file.generated:
                return self.error_response(
                    400, "Only generated files can be downloaded, not uploaded ones."
                )
            if request.query_params.get("alt") != "media":
                return JSONResponse(
                    file.to_json(self._root(request), str(request.path_params["version"]))
                )
            return FileResponse(file.path, media_type="application/jsonl")

        return await self.guarded(request, "results", action)
