"""``lmbatch.batchify``: calls made through the official async SDKs, sent as batch jobs.

Inside ``async with lmbatch.batchify() as batch:``, an ``openai.AsyncOpenAI`` or
``anthropic.AsyncAnthropic`` client built with ``http_client=batch.http_client()`` sends
its requests to this module instead of the network (the SDKs' public ``http_client``
hook: an HTTP client with a transport of ours; no SDK internals are patched):

* ``POST /v1/responses`` and ``POST /v1/chat/completions`` (OpenAI) and
  ``POST /v1/messages`` (Anthropic) are held, grouped by vendor, endpoint, model and
  account, and submitted as lmbatch jobs through the job store (keep the same
  guarantees: one outcome per request, never paying twice, re-runs re-attach);
* each waiting call resumes with the vendor's own answer for its request (the SDK builds
  its usual ``Response``, ``ChatCompletion`` or ``Message`` from it), or with the
  vendor's error, which the SDK raises as its own exception class;
* anything a batch cannot carry (streaming, other endpoints, uploads) is answered with
  an error naming why, or sent live with ``passthrough=True``.

A group is submitted once no new call joined it for ``batch_window_seconds``, when it
reaches ``batch_size``, or at the end of the block. With ``dry_run=True`` nothing is
sent: each group is counted and priced instead (:attr:`Batchify.dry_run_report`), and
its calls fail with an error saying so. Identical request bodies are one
request (answered to every caller). Each request is keyed by a fingerprint of its body,
and a request an earlier job already carries (the same script run again after a crash,
however its calls fall into groups this time) is answered from that job instead of
being sent again (:mod:`lmbatch._batchify_reattach`).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lmbatch._errors import LMBatchError, ValidationError
from lmbatch._keys import strip_job_tag
from lmbatch._outputs import LMOutput

if TYPE_CHECKING:
    from decimal import Decimal

    from lmbatch._estimate import Estimate

__all__ = ["Batchify", "DryRunGroup", "batchify"]

logger = logging.getLogger("lmbatch")

#: Routes a batch can carry: (method, path suffix) → (provider, endpoint).
_ROUTES: dict[str, tuple[str, str]] = {
    "/responses": ("openai", "/v1/responses"),
    "/chat/completions": ("openai", "/v1/chat/completions"),
    "/messages": ("anthropic", "/v1/messages"),
}
#: HTTP status a synthesized error answer gets, by lmbatch error kind.
_STATUS_OF_KIND = {"expired": 408, "cancelled": 409, "missing": 502, "invalid_response": 502}
#: Anthropic error types by HTTP status (what its SDK maps back to exception classes).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_ANTHROPIC_STATUS = {name: status for status, name in _ANTHROPIC_TYPES.items()}
#: The status a dry run answers its calls with: "precondition failed" (the precondition
#: being a real run). The OpenAI SDK raises its base ``APIStatusError`` for it, the
#: Anthropic SDK its ``PreconditionFailedError``; neither suggests the request was wrong
#: (as ``BadRequestError`` would) and neither retries it.
DRY_RUN_STATUS = 412
#: Where the output-token limit sits in each endpoint's request body.
_MAX_TOKENS_FIELDS = ("max_output_tokens", "max_completion_tokens", "max_tokens")
#: Body fields that carry the prompt, by endpoint (what a dry run counts tokens of).
_PROMPT_FIELDS = {
    "/v1/responses": ("instructions", "input"),
    "/v1/chat/completions": ("messages",),
    "/v1/messages": ("system", "messages"),
}


@dataclass(frozen=True)
class _Group:
    """Requests that can share one job: same vendor, endpoint, model, account and host."""

    provider: str
    endpoint: str
    model: str
    base_url: str
    api_key: str


@dataclass(frozen=True)
class DryRunGroup:
    """One job a dry run would have submitted: what it counted and what it would cost.

    Attributes:
        provider: ``"openai"`` or ``"anthropic"``.
        endpoint: The vendor endpoint (``/v1/responses``...).
        model: The model the calls named.
        calls: Calls made (identical calls count once each in ``calls``, once in
            ``estimate.requests``: they would be one request).
        estimate: The cost estimate of the distinct requests (tokens counted offline
            from the prompt text of each body; ``estimate.cost`` is None when the
            model's price is unknown).
    """

    provider: str
    endpoint: str
    model: str
    calls: int
    estimate: Estimate

    @property
    def cost(self) -> Decimal | None:
        """Estimated USD with the batch discount (typical); None when unpriced."""
        return self.estimate.cost


@dataclass
class _Pending:
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any


def _fingerprint(endpoint: str, body: Mapping[str, Any]) -> str:
    text = json.dumps([endpoint, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "bfy-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class Batchify:
    """The batching session of :func:`batchify` (an async context manager).

    Args:
        batch_size: Submit a group once it holds this many distinct requests.
        batch_window_seconds: Submit a group once no call joined it for this long.
        passthrough: Send calls a batch cannot carry live instead of refusing them.
        dry_run: Send nothing: count the calls and estimate their cost per vendor,
            endpoint and model (:attr:`dry_run_report`, :meth:`describe`). Each call
            then raises the SDK's ``APIStatusError`` (or its subclass for status 412,
            message starting ``lmbatch.batchify dry run``) once its group is counted.
        store: Job store (path); default as for :func:`get_batch_operations`.
        status_check_interval: First pause between status checks of a job.
        timeout: Most seconds to wait for one job (default: ``invoke``'s).
        resubmit: Resubmission rounds for transient failures (see ``invoke``).
        options: Further provider options for every job (``timeout``...).
    """

    def __init__(
        self,
        *,
        batch_size: int = 50_000,
        batch_window_seconds: float = 2.0,
        passthrough: bool = False,
        dry_run: bool = False,
        store: Any = None,
        status_check_interval: float = 30.0,
        timeout: float | None = None,
        resubmit: int | bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValidationError(f"batch_size must be at least 1, not {batch_size}")
        if batch_window_seconds < 0:
            raise ValidationError("batch_window_seconds must be >= 0")
        self.batch_size = batch_size
        self.batch_window_seconds = batch_window_seconds
        self.passthrough = passthrough
        self.dry_run = dry_run
        self.store = store
        self.status_check_interval = status_check_interval
        self.timeout = timeout
        self.resubmit = resubmit
        self.options = dict(options or {})
        self._pending: dict[_Group, _Pending] = {}
        self._waiters: dict[tuple[_Group, str], list[asyncio.Future[_Answer]]] = {}
        self._jobs: set[asyncio.Task[None]] = set()
        self._clients: list[Any] = []
        self._open = False
        #: Jobs submitted (or re-attached to) by this session, by group: how many calls
        #: each carried. For reports and tests.
        self.submitted: list[tuple[str, str, str, int]] = []
        #: With ``dry_run=True``: each job that would have been submitted, counted and
        #: priced (filled as groups flush; complete once the block has ended).
        self.dry_run_report: list[DryRunGroup] = []

    async def __aenter__(self) -> Batchify:
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            for group in list(self._pending):
                self._flush(group)
            while self._jobs:
                await asyncio.gather(*list(self._jobs), return_exceptions=True)
        finally:
            self._open = False
            for client in self._clients:
                await client.aclose()

    @property
    def dry_run_cost(self) -> Decimal | None:
        """Estimated USD of every group of a dry run; None when some price is unknown."""
        from decimal import Decimal

        total = Decimal(0)
        for group in self.dry_run_report:
            if group.cost is None:
                return None
            total += group.cost
        return total

    def describe(self) -> str:
        """The dry run's report for people: one line per vendor, endpoint and model."""
        from lmbatch._cost import usd

        lines = []
        for group in self.dry_run_report:
            cost = usd(group.cost) if group.cost is not None else "price unknown"
            lines.append(
                f"{group.provider} {group.endpoint} {group.model}: {group.calls} call"
                f"{'s' if group.calls != 1 else ''}, ~{cost} with the batch discount"
            )
        total = self.dry_run_cost
        lines.append(f"total: ~{usd(total) if total is not None else 'unknown'}")
        return "\n".join(lines)

    def http_client(self, sdk: str = "openai", **client_options: Any) -> Any:
        """An HTTP client for the SDK's ``http_client=`` argument, batching its calls.

        Args:
            sdk: ``"openai"`` or ``"anthropic"``: whose HTTP client class to build (the
                SDK's ``DefaultAsyncHttpxClient``).
            **client_options: Passed to that class (``timeout``...).
        """
        module = importlib.import_module(sdk)
        client_class = module.DefaultAsyncHttpxClient
        http = _http_module(client_class)
        live = http.AsyncHTTPTransport()
        transport = _transport_class(http)(self, live, http)
        client = client_class(transport=transport, **client_options)
        self._clients.append(live)
        return client

    # -- the transport's side ------------------------------------------------------------

    async def handle(self, method: str, url: Any, headers: Any, content: bytes) -> _Answer | None:
        """The answer to one intercepted request; None: send it live (passthrough)."""
        path = str(url.path)
        route = next((r for suffix, r in _ROUTES.items() if path.endswith(suffix)), None)
        if method != "POST" or route is None:
            return self._refuse(
                None,
                f"{method} {path} is not a call a batch API can run (only responses, "
                "chat completions and messages are batched)",
            )
        provider, endpoint = route
        try:
            body = json.loads(content or b"{}")
        except ValueError:
            return self._refuse(provider, "the request body is not JSON")
        if not isinstance(body, dict):
            return self._refuse(provider, "the request body is not a JSON object")
        if body.get("stream"):
            return self._refuse(provider, "streaming calls cannot run in a batch")
        if not self._open:
            return self._refuse(provider, "the batchify block has ended")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._refuse(provider, "the request names no model")
        # The provider's base URL, as its SDK takes it: OpenAI's ends in /v1, Anthropic's
        # is the host (its paths start with /v1).
        suffix = endpoint if provider == "anthropic" else endpoint.removeprefix("/v1")
        base = str(url).split("?", 1)[0].removesuffix(suffix)
        api_key = _credential(provider, headers)
        group = _Group(provider, endpoint, model, base.rstrip("/"), api_key)
        key = _fingerprint(endpoint, body)
        future: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault((group, key), [])
        pending = self._pending.setdefault(group, _Pending())
        # The same body already in a submitted job of this block: wait for its answer
        # rather than send it again (a dry run counts every call in its group instead).
        in_flight = bool(waiting) and key not in pending.bodies and not self.dry_run
        waiting.append(future)
        if in_flight:
            if not pending.bodies:
                self._pending.pop(group, None)
            return await future
        pending.bodies[key] = body
        if len(pending.bodies) >= self.batch_size:
            self._flush(group)
        else:
            if pending.timer is not None:
                pending.timer.cancel()
            pending.timer = asyncio.get_running_loop().call_later(
                self.batch_window_seconds, self._flush, group
            )
        return await future

    def _refuse(self, provider: str | None, why: str) -> _Answer | None:
        if self.passthrough:
            return None
        message = f"lmbatch.batchify: {why}; pass passthrough=True to send such calls live"
        return _error_answer(provider or "openai", 400, "invalid_request_error", message)

    def _flush(self, group: _Group) -> None:
        pending = self._pending.pop(group, None)
        if pending is None or not pending.bodies:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        run = self._count_job if self.dry_run else self._run_job
        task = asyncio.get_running_loop().create_task(run(group, pending.bodies))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _run_job(self, group: _Group, bodies: dict[str, dict[str, Any]]) -> None:
        from lmbatch._batchify_reattach import earlier_jobs, earlier_outcomes, mark_job
        from lmbatch._config import get_batch_operations
        from lmbatch._jobs._poll_policy import DEFAULT_TIMEOUT
        from lmbatch._jobs._recording import REUSE_WINDOW_SECONDS

        calls = sum(len(self._waiters.get((group, key), [])) for key in bodies)
        self.submitted.append((group.provider, group.endpoint, group.model, calls))
        options: dict[str, Any] = {
            **self.options,
            "model": group.model,
            "base_url": group.base_url,
            "keep_raw": True,
        }
        if group.api_key:
            options["api_key"] = group.api_key
        if group.provider == "openai":
            options["endpoint"] = group.endpoint
        timeout = DEFAULT_TIMEOUT if self.timeout is None else self.timeout
        try:
            ops = get_batch_operations(group.provider, store=self.store, **options)
            # The SDK's own body is the request: sent as it is, not re-encoded.
            ops.encode_request = _raw_encoder(group, bodies)  # type: ignore[method-assign]
            async with ops:
                # Requests an earlier job carries (a re-run whose calls fell into other
                # groups, or a body this block sent before) are answered from that job.
                earlier = earlier_jobs(ops._jobs, bodies, within=REUSE_WINDOW_SECONDS)
                carried = set().union(*(keys for _, keys in earlier))

                def invoke(keys: Iterable[str]) -> AsyncIterator[tuple[str, LMOutput]]:
                    # Sorted: the set of calls decides the job (what a re-run finds).
                    requests = {key: "(the SDK's request body)" for key in sorted(keys)}
                    return ops.invoke_iter(
                        requests,
                        None,
                        status_check_interval=self.status_check_interval,
                        timeout=timeout,
                        resubmit=self.resubmit,
                        # Marked as batchify's: a re-run searches it key by key.
                        on_submitted=lambda handle, _: mark_job(ops._jobs, handle),
                    )

                async with asyncio.TaskGroup() as parts:
                    for job, keys in earlier:
                        if job.request_count == len(keys):
                            # All of that job's requests are here: invoke re-attaches to
                            # it by their fingerprint, and can re-spool its input.
                            outcomes = invoke(keys)
                        else:
                            outcomes = earlier_outcomes(
                                ops._jobs,
                                job.job_id,
                                status_check_interval=self.status_check_interval,
                                timeout=timeout,
                                resubmit=self.resubmit,
                            )
                        parts.create_task(self._answer(group, keys, outcomes))
                    fresh = set(bodies) - carried
                    if fresh:
                        parts.create_task(self._answer(group, fresh, invoke(fresh)))
        except LMBatchError as exc:
            self._fail(group, bodies, exc)
        except BaseException as exc:
            # A single failure inside the task group is passed on as itself.
            error = exc.exceptions[0] if isinstance(exc, BaseExceptionGroup) else exc
            for key in bodies:
                for future in self._waiters.pop((group, key), []):
                    if not future.done():
                        future.set_exception(error)
            raise

    async def _answer(
        self, group: _Group, keys: set[str], outcomes: AsyncIterator[tuple[str, LMOutput]]
    ) -> None:
        """Resolve the calls of ``keys`` from a job's outcomes (its other keys are not ours)."""
        left = set(keys)
        try:
            async for key, output in outcomes:
                if key in left:
                    left.discard(key)
                    self._resolve(group, key, _answer_of(group.provider, output))
        except LMBatchError as exc:
            self._fail(group, left, exc)
            return
        # One outcome per call, always: a key the job did not answer is not left hanging.
        answer = _error_answer(
            group.provider, 502, "missing", "lmbatch: the batch gave no outcome for this call"
        )
        for key in left:
            self._resolve(group, key, answer)

    def _fail(self, group: _Group, keys: Iterable[str], exc: LMBatchError) -> None:
        """Answer the calls of ``keys`` still waiting with the error that stopped their job."""
        status = getattr(exc, "status_code", None) or 502
        answer = _error_answer(group.provider, status, "api_error", f"lmbatch: {exc}")
        for key in list(keys):
            self._resolve(group, key, answer)

    async def _count_job(self, group: _Group, bodies: dict[str, dict[str, Any]]) -> None:
        """A dry run's flush: price the group's requests, send nothing, fail its calls."""
        from lmbatch._config import get_batch_operations

        calls = sum(len(self._waiters.get((group, key), [])) for key in bodies)
        options: dict[str, Any] = {"model": group.model, "base_url": group.base_url}
        if group.provider == "openai":
            options["endpoint"] = group.endpoint
        limits = [
            value
            for body in bodies.values()
            for name in _MAX_TOKENS_FIELDS
            if isinstance(value := body.get(name), int) and not isinstance(value, bool)
        ]
        # The largest limit of the group: the upper bound stays an upper bound.
        hyperparameters = {"max_tokens": max(limits)} if limits else None
        prompts = {key: _prompt_text(group.endpoint, body) for key, body in bodies.items()}
        try:
            ops = get_batch_operations(group.provider, store=self.store, **options)
            async with ops:
                estimate = await ops.estimate(prompts, hyperparameters)
        except BaseException as exc:
            for key in bodies:
                for future in self._waiters.pop((group, key), []):
                    if not future.done():
                        future.set_exception(exc)
            raise
        self.dry_run_report.append(
            DryRunGroup(group.provider, group.endpoint, group.model, calls, estimate)
        )
        message = (
            f"lmbatch.batchify dry run: this call was counted ({group.model}, "
            f"{calls} call{'s' if calls != 1 else ''} in its group), not sent"
        )
        answer = _error_answer(group.provider, DRY_RUN_STATUS, "dry_run", message)
        for key in bodies:
            self._resolve(group, key, answer)

    def _resolve(self, group: _Group, key: str, answer: _Answer) -> None:
        for future in self._waiters.pop((group, key), []):
            if not future.done():
                future.set_result(answer)


def _raw_encoder(group: _Group, bodies: dict[str, dict[str, Any]]) -> Any:
    def encode(custom_id: str, messages: Any, params: Any) -> dict[str, Any]:
        # Keys are valid request ids: the id is the key with the job's tag appended.
        body = bodies[strip_job_tag(custom_id)]
        if group.provider == "anthropic":
            return {"custom_id": custom_id, "params": body}
        return {"custom_id": custom_id, "method": "POST", "url": group.endpoint, "body": body}

    return encode


def _prompt_text(endpoint: str, body: Mapping[str, Any]) -> str:
    """The text of a request's prompt fields, for an offline token count.

    Every string under the prompt fields counts except the structural ones (roles,
    part types, ids), so the figure is close for text and a lower bound with images.
    """
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for name, item in value.items():
                if name not in {"role", "type", "id", "call_id", "cache_control"}:
                    walk(item)

    for name in _PROMPT_FIELDS.get(endpoint, ()):
        walk(body.get(name))
    return "\n".join(parts) or " "


def _credential(provider: str, headers: Any) -> str:
    """The API key the SDK client sent (``x-api-key``, or a bearer token)."""
    key = headers.get("x-api-key")
    if key:
        return str(key)
    value = str(headers.get("authorization") or "")
    return value[7:] if value.lower().startswith("bearer ") else ""


def _error_answer(provider: str, status: int, kind: str, message: str) -> _Answer:
    if provider == "anthropic":
        error_type = _ANTHROPIC_TYPES.get(status, "api_error")
        return _Answer(status, {"type": "error", "error": {"type": error_type, "message": message}})
    return _Answer(status, {"error": {"message": message, "type": kind, "code": kind}})


def _answer_of(provider: str, output: LMOutput) -> _Answer:
    """What the vendor would have answered the call live, from its batch outcome."""
    raw = output.raw
    error = output.error
    if error is None and isinstance(raw, dict):
        return _Answer(200, raw)
    if provider == "openai" and isinstance(raw, dict):
        response = raw.get("response")
        if isinstance(response, dict) and isinstance(response.get("status_code"), int):
            return _Answer(response["status_code"], response.get("body") or {})
    if provider == "anthropic" and isinstance(raw, dict) and raw.get("type") == "errored":
        detail: dict[str, Any] = raw["error"] if isinstance(raw.get("error"), dict) else {}
        # {"type": "error", "error": {"type", "message"}}, or the inner object alone.
        inner: dict[str, Any] = detail["error"] if isinstance(detail.get("error"), dict) else detail
        status = _ANTHROPIC_STATUS.get(str(inner.get("type")), 500)
        return _Answer(status, {"type": "error", "error": inner})
    kind = error.kind if error is not None else "invalid_response"
    message = error.message if error is not None else "the batch result could not be read"
    status = (error.status_code if error is not None else None) or _STATUS_OF_KIND.get(kind, 500)
    return _error_answer(provider, status, error.code or kind if error else kind, message)


def _http_module(client_class: type) -> Any:
    """The httpx-like module the SDK's client class comes from (httpx, or a fork)."""
    for base in client_class.__mro__:
        if base.__name__ == "AsyncClient":
            return importlib.import_module(base.__module__.split(".")[0])
    raise ValidationError(f"{client_class!r} is not an httpx AsyncClient")


def _transport_class(http: Any) -> type:
    class _BatchTransport(http.AsyncBaseTransport):  # type: ignore[misc]
        def __init__(self, session: Batchify, live: Any, module: Any) -> None:
            self.session = session
            self.live = live
            self.http = module

        async def handle_async_request(self, request: Any) -> Any:
            content = await request.aread()
            answer = await self.session.handle(
                request.method, request.url, request.headers, content
            )
            if answer is None:
                return await self.live.handle_async_request(request)
            headers = {"content-type": "application/json"}
            if answer.status >= 400:
                headers["x-should-retry"] = "false"  # the batch already ran its retries
            return self.http.Response(
                answer.status,
                headers=headers,
                content=json.dumps(answer.body).encode(),
                request=request,
            )

    return _BatchTransport


def batchify(
    *,
    batch_size: int = 50_000,
    batch_window_seconds: float = 2.0,
    passthrough: bool = False,
    dry_run: bool = False,
    store: Any = None,
    status_check_interval: float = 30.0,
    timeout: float | None = None,
    resubmit: int | bool = True,
    **options: Any,
) -> Batchify:
    """Batch the calls your SDK clients make inside the block (see :class:`Batchify`).

    Example::

        async with lmbatch.batchify() as batch:
            client = openai.AsyncOpenAI(http_client=batch.http_client())
            answers = await asyncio.gather(
                *(client.responses.create(model="gpt-4.1-mini", input=q) for q in questions)
            )
    """
    return Batchify(
        batch_size=batch_size,
        batch_window_seconds=batch_window_seconds,
        passthrough=passthrough,
        dry_run=dry_run,
        store=store,
        status_check_interval=status_check_interval,
        timeout=timeout,
        resubmit=resubmit,
        options=options,
    )
