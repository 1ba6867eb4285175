"""``lmbatch worker``: drive the jobs handed to workers (``submit --detach``) to the end."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lmbatch.cli._errors import reporting_errors
from lmbatch.cli._options import (
    OptionsOption,
    ProviderOption,
    StoreOption,
    VerboseOption,
)
from lmbatch.cli._render import to_json

__all__ = ["worker_command"]


def worker_command(
    store: StoreOption = None,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-c", min=1, help="Most jobs driven at the same time."),
    ] = 4,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval",
            metavar="SECONDS",
            min=0.0,
            help="Seconds between status checks of a running job (and looks at the queue).",
        ),
    ] = 30.0,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            metavar="SECONDS",
            min=0.1,
            help="How long a job stays this worker's without a heartbeat; a killed "
            "worker's jobs are taken over by others after this.",
        ),
    ] = 60.0,
    once: Annotated[
        bool,
        typer.Option("--once", help="Exit once no open job is left in the queue (cron, CI)."),
    ] = False,
    job: Annotated[
        list[str] | None,
        typer.Option("--job", metavar="ID", help="Only this job (repeatable)."),
    ] = None,
    provider: ProviderOption = None,
    option: OptionsOption = None,
    trust_store_endpoints: Annotated[
        bool,
        typer.Option(
            "--trust-store-endpoints",
            help="Send requests (and this machine's API keys) to the server each job was "
            "recorded with, even when it is not the vendor's own endpoint and not given "
            "with -O. Off: such jobs are refused, since whoever can write to the store "
            "could otherwise choose where the keys go.",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Log one JSON object a line (on stderr).")
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Run a worker: submit, poll, collect and resubmit the jobs handed to workers.

    Jobs recorded with "lmbatch submit --detach" wait in the job store until a worker
    takes them. Run workers on as many machines as you like against one PostgreSQL
    store (LMBATCH_STORE=postgresql://...): each vendor call is made by exactly one of
    them, and the jobs of a worker that dies are taken over once its lease expires.
    Finished results are kept in the store: "lmbatch results JOB" reads them anywhere.
    API keys come from this machine's environment. SIGTERM or Ctrl-C stops it cleanly:
    create calls in progress finish, its jobs go back to the queue, exit status 0.

    Examples:

        lmbatch worker --store postgresql://lmbatch@db.internal/lmbatch

        lmbatch worker --once --poll-interval 60

        lmbatch worker --provider openai --concurrency 8 --json
    """
    from lmbatch._worker import WorkerEvent, WorkerOptions, run
    from lmbatch.cli._generation import parse_assignments

    with reporting_errors(verbose=verbose, json_output=json_output):
        provider_options = parse_assignments(option, "--option")
        options = WorkerOptions(
            store=store,
            concurrency=concurrency,
            poll_interval=poll_interval,
            lease_seconds=lease,
            once=once,
            job_ids=tuple(job) if job else None,
            provider=provider,
            provider_options=provider_options,
            trust_store_endpoints=trust_store_endpoints,
        )

        def log(event: WorkerEvent) -> None:
            line = to_json(event.as_json()) if json_output else event.as_text()
            print(line, file=sys.stderr, flush=True)

        run(options, on_event=log)
