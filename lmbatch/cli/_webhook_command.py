"""``lmbatch webhook serve``: take the vendors' batch webhooks and wake waiting batches."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from lmbatch.cli._errors import CLIError, reporting_errors
from lmbatch.cli._options import StoreOption, VerboseOption
from lmbatch.cli._progress import stderr_console

__all__ = ["secret_env", "webhook_app"]

webhook_app = typer.Typer(
    help="Take vendors' batch webhooks, so waiting batches are checked when they end.",
    no_args_is_help=True,
)


def secret_env(spec: str) -> tuple[str, str]:
    """``--secret-env PROVIDER=VARIABLE`` as ``(provider, variable)``."""
    provider, equals, variable = (part.strip() for part in spec.partition("="))
    if not equals or not provider or not variable:
        raise CLIError(
            f"--secret-env {spec!r}: expected PROVIDER=VARIABLE, e.g. "
            "--secret-env openai=MY_OPENAI_WEBHOOK_SECRET"
        )
    return provider, variable


@webhook_app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Interface to bind; keep the loopback default behind a reverse proxy.",
        ),
    ] = "127.0.0.1",
    providers: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            "-p",
            help="Take webhooks for this provider (repeatable; default: each installed one "
            "whose secret is set).",
            show_default=False,
        ),
    ] = None,
    secret_envs: Annotated[
        list[str] | None,
        typer.Option(
            "--secret-env",
            metavar="PROVIDER=VAR",
            help="Read a provider's signing secret from another environment variable "
            "(repeatable; default: OPENAI_WEBHOOK_SECRET, GEMINI_WEBHOOK_SECRET).",
            show_default=False,
        ),
    ] = None,
    store: StoreOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Serve the webhook endpoint until Ctrl-C: POST /openai, POST /gemini...

    Each signed batch event wakes its batch in the job store; waits with the provider
    option wake_check_interval (e.g. -O wake_check_interval=5) then check the batch at
    once instead of at their next poll. Unsigned, forged, stale and replayed deliveries
    are refused.

    Examples:

        OPENAI_WEBHOOK_SECRET=whsec_... lmbatch webhook serve --port 8080

        lmbatch webhook serve -p gemini --secret-env gemini=HOOK_SECRET
    """
    with reporting_errors(verbose=verbose):
        from lmbatch import webhooks

        envs = dict(secret_env(spec) for spec in secret_envs or [])
        asgi = webhooks.app(store, providers=providers or None, secret_envs=envs)
        try:
            import uvicorn
        except ImportError:
            raise CLIError(
                "serving webhooks needs uvicorn: pip install 'lmbatch[webhooks]'"
            ) from None
        routes = ", ".join(f"POST http://{host}:{port}/{name}" for name in asgi.state.providers)
        stderr_console().print(f"webhooks: {routes} (Ctrl-C stops it)")
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.run(asgi, host=host, port=port, log_level="warning", proxy_headers=True)
