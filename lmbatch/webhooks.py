"""Webhooks instead of polling: the endpoint a vendor calls when a batch ends.

OpenAI (``batch.completed``, ``batch.failed``, ``batch.expired``, ``batch.cancelled``)
and Gemini (``batch.succeeded``, ``batch.failed``, ``batch.expired``) call a URL of yours
when a batch ends, signed the `Standard Webhooks <https://www.standardwebhooks.com/>`_
way. :func:`app` is an ASGI app that takes those calls: it checks the signature (with the
secret from the provider's environment variable, ``OPENAI_WEBHOOK_SECRET`` or
``GEMINI_WEBHOOK_SECRET``), refuses unsigned (400), forged or stale (401: more than
300 s from this machine's clock) and replayed (400: a ``webhook-id`` seen before)
deliveries, and records a *wake* for the batch in the job store. Whoever waits on the
batch (``invoke``, ``lmbatch wait``, a worker) with the provider option
``wake_check_interval`` set reads the store between polls and polls the vendor at once.
Events of other kinds are acknowledged (200) and ignored.

Each provider has its own path, its name: ``POST /openai``, ``POST /gemini``. Serve it
with ``lmbatch webhook serve --port 8080``, or mount it in your own server::

    from starlette.applications import Starlette
    from starlette.routing import Mount

    import lmbatch.webhooks

    server = Starlette(routes=[Mount("/lmbatch-hooks", app=lmbatch.webhooks.app())])

Needs ``pip install 'lmbatch[webhooks]'``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lmbatch._errors import ConfigError, LMBatchError, StoreError
from lmbatch._store_contract import Store, open_store
from lmbatch._wakes import SIGNATURE_HEADERS, WEBHOOK_TOLERANCE, WebhookSignatureError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from lmbatch._operations import BatchOperations

__all__ = ["WebhookReceiver", "app", "serve", "webhook_providers"]

logger = logging.getLogger("lmbatch")

#: Largest delivery body taken, in bytes (batch events are a few hundred bytes).
MAX_BODY = 1 << 20


def webhook_providers() -> dict[str, type[BatchOperations]]:
    """Every installed provider that can be woken by webhooks, by name."""
    from lmbatch._plugins import registry

    found: dict[str, type[BatchOperations]] = {}
    for entry in registry.entries():
        cls = entry.operations_class
        if entry.status == "ok" and cls is not None and cls.webhook_secret_env is not None:
            found[entry.name] = cls
    return found


@dataclass(frozen=True)
class Outcome:
    """What the endpoint answers one delivery: an HTTP status and a short reason."""

    status: int
    reason: str
    batch_id: str | None = None


class WebhookReceiver:
    """Checks webhook deliveries and records wakes: the app's logic, without HTTP.

    Args:
        store: The job store to record wakes in (the one the waiting processes use).
        secrets: The signing secret of each provider served, by provider name.
        tolerance: Seconds a delivery's timestamp may be off this machine's clock.

    Raises:
        ConfigError: A provider is not installed, or cannot be woken by webhooks.
    """

    def __init__(
        self, store: Store, secrets: Mapping[str, str], *, tolerance: int = WEBHOOK_TOLERANCE
    ) -> None:
        known = webhook_providers()
        unknown = sorted(set(secrets) - set(known))
        if unknown:
            raise ConfigError(
                f"cannot take webhooks for {', '.join(unknown)}: providers that take them "
                f"are {', '.join(sorted(known)) or 'none installed'}"
            )
        self.store = store
        self.secrets = dict(secrets)
        self.classes = {name: known[name] for name in secrets}
        self.tolerance = tolerance

    def receive(self, provider: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """Check one delivery and record its wake (blocking: store and signature).

        Args:
            provider: The provider the delivery was sent for (the path it came to).
            body: The body as received.
            headers: Its headers, names in lower case.
        """
        cls = self.classes.get(provider)
        if cls is None:
            return Outcome(404, f"no webhooks are taken for {provider!r} here")
        missing = [name for name in SIGNATURE_HEADERS if not headers.get(name)]
        if missing:
            return Outcome(400, f"unsigned delivery: no {', '.join(missing)} header")
        try:
            cls.verify_webhook(body, headers, self.secrets[provider], tolerance=self.tolerance)
        except WebhookSignatureError as exc:
            return Outcome(401, str(exc))
        try:
            event = json.loads(body)
        except ValueError:
            return Outcome(400, "the delivery's body is not JSON")
        found = cls.parse_webhook_event(event) if isinstance(event, dict) else None
        if found is None:
            kind = event.get("type") if isinstance(event, dict) else None
            return Outcome(200, f"ignored: not a batch event ({kind!r})")
        held = self.store.find_batches(found.batch_id, provider=provider)
        # The batch's endpoint as its job recorded it; a batch this store does not hold
        # (yet) is woken on the vendor's default endpoint, where webhooks come from.
        endpoints = sorted({job.endpoint for job, _ in held}) or [""]
        wakes = [(endpoint, found.batch_id, found.event_type) for endpoint in endpoints]
        if not self.store.record_webhook(provider, headers["webhook-id"], wakes):
            return Outcome(400, "replayed delivery: its webhook-id was received before")
        logger.info("webhook %s: %s %s", provider, found.event_type, found.batch_id)
        return Outcome(200, f"woke {found.batch_id} ({found.event_type})", found.batch_id)


def secrets_from_environment(
    providers: Sequence[str] | None = None, secret_envs: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The signing secret of each provider, read from its environment variable.

    Args:
        providers: The providers to serve; None: each installed one whose secret is set.
        secret_envs: Another variable to read for some providers (``{"openai": "VAR"}``).

    Raises:
        ConfigError: A provider named has no secret set, or none at all is set.
    """
    known = webhook_providers()
    envs = {name: cls.webhook_secret_env or "" for name, cls in known.items()}
    envs.update(secret_envs or {})
    names = list(providers) if providers is not None else sorted(known)
    unknown = sorted((set(names) | set(secret_envs or {})) - set(known))
    if unknown:
        raise ConfigError(
            f"cannot take webhooks for {', '.join(unknown)}: providers that take them are "
            f"{', '.join(sorted(known)) or 'none installed'}"
        )
    secrets = {name: os.environ.get(envs[name], "") for name in names}
    if providers is not None:
        unset = [f"{envs[name]} ({name})" for name in names if not secrets[name]]
        if unset:
            raise ConfigError(f"no webhook signing secret: set {', '.join(unset)}")
    secrets = {name: secret for name, secret in secrets.items() if secret}
    if not secrets:
        wanted = ", ".join(f"{envs[name]} ({name})" for name in names) or "none installed"
        raise ConfigError(f"no webhook signing secret is set; set one of: {wanted}")
    return secrets


def app(
    store: Store | str | os.PathLike[str] | None = None,
    *,
    providers: Sequence[str] | None = None,
    secrets: Mapping[str, str] | None = None,
    secret_envs: Mapping[str, str] | None = None,
) -> Starlette:
    """The webhook endpoint as an ASGI app (Starlette), to serve or mount.

    Routes: ``POST /<provider>`` per provider served (``/openai``, ``/gemini``), and
    ``GET /`` (which providers are served; for health checks).

    Args:
        store: The job store wakes are recorded in: an open store, a path or a
            ``postgresql://`` URL; default: where every lmbatch command looks
            (``LMBATCH_STORE``, the config file, the user data directory).
        providers: The providers to take webhooks for; default: each installed one
            whose secret is set.
        secrets: Signing secrets by provider name, instead of the environment.
        secret_envs: Environment variables to read secrets from instead of the
            providers' own (``{"openai": "MY_OPENAI_HOOK_SECRET"}``).

    Raises:
        ConfigError: starlette is missing, a provider cannot take webhooks, or no secret
            is set.
        StoreError: The store cannot be opened.
    """
    try:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route
    except ImportError as exc:
        raise ConfigError(
            "the webhook endpoint needs starlette: pip install 'lmbatch[webhooks]'"
        ) from exc
    if secrets is None:
        secrets = secrets_from_environment(providers, secret_envs)
    elif providers is not None:
        secrets = {name: secrets[name] for name in providers if name in secrets}
    if not isinstance(store, Store):
        from lmbatch._config import resolve_store

        store = open_store(resolve_store(store))
    receiver = WebhookReceiver(store, secrets)

    async def deliver(request: Request) -> Response:
        provider = str(request.path_params["provider"])
        body = bytearray()
        async for piece in request.stream():
            body += piece
            if len(body) > MAX_BODY:
                return JSONResponse({"error": "delivery too large"}, status_code=413)
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            outcome = await asyncio.to_thread(receiver.receive, provider, bytes(body), headers)
        except StoreError as exc:
            # 5xx: the vendor delivers again later, when the store may be back.
            logger.error("webhook %s: the job store failed: %s", provider, exc)
            return JSONResponse({"error": "the job store is unavailable"}, status_code=503)
        except LMBatchError as exc:
            logger.error("webhook %s: %s", provider, exc)
            return JSONResponse({"error": "cannot check this delivery"}, status_code=500)
        if outcome.status >= 400:
            logger.warning("webhook %s refused (%d): %s", provider, outcome.status, outcome.reason)
            return JSONResponse({"error": outcome.reason}, status_code=outcome.status)
        return JSONResponse({"ok": outcome.reason})

    async def health(request: Request) -> Response:
        return JSONResponse({"providers": sorted(receiver.classes)})

    served = Starlette(
        routes=[
            Route("/", health, methods=["GET"]),
            Route("/{provider}", deliver, methods=["POST"]),
        ]
    )
    served.state.providers = sorted(receiver.classes)
    served.state.store = store
    return served


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    store: Store | str | os.PathLike[str] | None = None,
    providers: Sequence[str] | None = None,
    secret_envs: Mapping[str, str] | None = None,
    **uvicorn_options: Any,
) -> None:
    """Serve :func:`app` with uvicorn, in the foreground, until interrupted.

    Behind a reverse proxy that terminates TLS, keep the default ``host`` and let the
    proxy forward to it (see the Webhooks docs page).

    Raises:
        ConfigError: See :func:`app`; uvicorn is missing.
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigError(
            "serving webhooks needs uvicorn: pip install 'lmbatch[webhooks]'"
        ) from exc
    asgi = app(store, providers=providers, secret_envs=secret_envs)
    uvicorn.run(asgi, host=host, port=port, **uvicorn_options)
