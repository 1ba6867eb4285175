"""``lmbatch retry JOB --failed``: send the keys that failed in a finished job again."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from lmbatch._errors import BatchNotFoundError
from lmbatch._jobs._batches import job_family
from lmbatch._jobs._latest import iter_family_results
from lmbatch._jobs._poll_policy import DEFAULT_TIMEOUT, Waiting
from lmbatch._jobs._recording import replanner
from lmbatch._jobs._resubmit_policy import (
    DEFAULT_RESUBMIT_ROUNDS,
    OutcomePolicy,
    ResubmissionRound,
)
from lmbatch._jobs._resume import find_recorded_job
from lmbatch._jobs._retry import discard_input
from lmbatch._jobs._retry_round import (
    FAILURE_KINDS,
    RetryStart,
    failure_kinds,
    finish_retry,
    start_retry,
)
from lmbatch._jobs._targets import handle_of
from lmbatch._messages import LMInput
from lmbatch._operations import BatchOperations
from lmbatch.cli._batch_commands import hyperparameters_from
from lmbatch.cli._errors import EXIT_INTERRUPTED, CLIError, reporting_errors
from lmbatch.cli._exit_status import AllowFailuresOption, exit_for_failures
from lmbatch.cli._options import (
    AllowPathOption,
    BatchIdArgument,
    FormatOption,
    JsonOption,
    OptionsOption,
    OutputOption,
    ParamOption,
    PollIntervalOption,
    SchemaOption,
    StoreOption,
    VerboseOption,
)
from lmbatch.cli._progress import BatchProgress, stderr_console
from lmbatch.cli._provider_choice import operations_for, store_path
from lmbatch.cli._render import to_json
from lmbatch.cli._request_file import read_request_file
from lmbatch.cli._results_file import ResultsWriter
from lmbatch.cli._run_commands import describe_round
from lmbatch.cli._session import MAX_POLL_INTERVAL, run_with

__all__ = ["retry_command"]

FailedOption = Annotated[
    bool,
    typer.Option(
        "--failed",
        help="Retry every key whose latest outcome failed (errored, expired, cancelled, "
        "missing, invalid_response).",
    ),
]
OnlyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        metavar="KIND[,KIND]",
        help="Retry only failures of these kinds (e.g. --only expired,errored); "
        "implies --failed (repeatable).",
        show_default=False,
    ),
]
RequestsOption = Annotated[
    str | None,
    typer.Option(
        "--requests",
        metavar="FILE",
        help="The job's original request file, for a job whose input is no longer kept "
        "(give the same -P/--schema options as the first run): checked against the job.",
        show_default=False,
    ),
]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="Wait for the retry and write every key's latest outcome (like run); -o implies it.",
    ),
]
DiscardOption = Annotated[
    bool,
    typer.Option(
        "--discard-input",
        help="Delete the input kept for retrying the job's failed keys, and send nothing "
        "(a later retry then needs --requests).",
    ),
]


def _round_words(resubmission: ResubmissionRound) -> str:
    """``round 3: retrying 2 requests (1 expired, 1 errored (http_400)) as job ...``."""
    count = resubmission["requests"]
    why = ", ".join(f"{n} {reason}" for reason, n in resubmission["reasons"].items())
    return (
        f"round {resubmission['round']}: retrying {count} request{'s' if count != 1 else ''}"
        + (f" ({why})" if why else "")
        + f" as job {resubmission['job_id']}"
    )


def retry_command(
    job_id: BatchIdArgument,
    failed: FailedOption = False,
    only: OnlyOption = None,
    wait: WaitOption = False,
    output: OutputOption = None,
    requests_file: RequestsOption = None,
    param: ParamOption = None,
    schema: SchemaOption = None,
    file_format: FormatOption = None,
    allow_path: AllowPathOption = None,
    option: OptionsOption = None,
    store: StoreOption = None,
    poll_interval: PollIntervalOption = 10.0,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            min=0.0,
            help="With --wait: stop waiting after this long (default 48 h; 0: no limit).",
            show_default=False,
        ),
    ] = DEFAULT_TIMEOUT,
    resubmit: Annotated[
        int,
        typer.Option(
            "--resubmit",
            min=0,
            help="With --wait: rounds of resubmission after the retry, as with run.",
        ),
    ] = DEFAULT_RESUBMIT_ROUNDS,
    allow_failures: AllowFailuresOption = False,
    discard: DiscardOption = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Do not draw the progress bar.")
    ] = False,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Send the keys that failed in a finished job again, as a new round of the job.

    Every key whose latest outcome failed (--failed), or only failures of some kinds
    (--only expired,errored), is sent again from the job's kept input, within the job's
    --max-cost budget; nothing else is sent. The round shows in "lmbatch jobs" and
    "lmbatch info", and "lmbatch results JOB" then gives each key its latest outcome
    (still one line per key). A job with no failed key: "nothing to retry".

    Without --wait, prints the round's id and returns ("lmbatch wait JOB -o OUT.jsonl"
    then waits for it and writes every key's latest outcome); with --wait (or -o), waits
    and writes them, exit status as run: 0 when every key is ok, 3 when some still
    failed (--allow-failures: 0).

    lmbatch keeps a job's input while some of its keys failed, and deletes it once none
    did (or with --discard-input). A job without kept input (an older lmbatch) is
    retried with --requests FILE, the original request file.

    Examples:

        lmbatch retry lmbjob_0f3c... --failed

        lmbatch retry batch_6812a0c4e5f8 --only expired -o results.jsonl

        lmbatch retry lmbjob_0f3c... --failed --requests prompts.jsonl -P max_tokens=200
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        if discard:
            if failed or only or wait or output is not None or requests_file is not None:
                raise CLIError("--discard-input sends nothing: give it alone with the job id")
            _discard(job_id, store, json_output)
            return
        if not failed and not only:
            raise CLIError(
                "say which keys to retry: --failed (every failed key) or --only KIND "
                f"(kinds: {', '.join(sorted(FAILURE_KINDS))})"
            )
        try:
            kinds = failure_kinds(only) if only else None
        except ValueError as exc:
            raise CLIError(f"--{exc}") from None
        wait = wait or output is not None
        writer = ResultsWriter(output) if wait else None
        if writer is not None:
            writer.check()  # a retry can take a day: a bad -o is refused before it starts
        requests: Mapping[str, LMInput] | None = None
        if requests_file is not None:
            requests = read_request_file(
                requests_file, file_format.value if file_format else None, allow_path or ()
            ).requests
        hyperparameters = hyperparameters_from(param, schema)
        ops = operations_for(provider=None, options=option, store=store, batch_id=job_id)
        display = BatchProgress(enabled=False if no_progress or not wait else None)
        rounds: list[ResubmissionRound] = []

        def announce(resubmission: ResubmissionRound) -> None:
            # The first round announced is the retry; any later one, a resubmission.
            describe = describe_round if rounds else _round_words
            rounds.append(resubmission)
            display.console.print(describe(resubmission))

        outcomes = OutcomePolicy(on_resubmit=announce)
        started: list[RetryStart] = []

        async def go(ops: BatchOperations) -> None:
            jobs = ops._jobs
            job = find_recorded_job(ops.store, job_id, provider=ops.name)
            if job is None:
                raise BatchNotFoundError(
                    f"the job store at {ops.store.path} knows no job {job_id!r}"
                )
            replan = replanner(jobs, requests, hyperparameters) if requests is not None else None
            start = await start_retry(jobs, job, only=kinds, replan=replan, outcomes=outcomes)
            started.append(start)
            if writer is None:
                return
            waiting = Waiting.of(
                status_check_interval=poll_interval,
                max_status_check_interval=max(poll_interval, MAX_POLL_INTERVAL),
                timeout=timeout or None,
                on_progress=display.update,
            )
            with display:
                await finish_retry(jobs, start, waiting, resubmit, outcomes)
            family = job_family(jobs, start.root)
            await writer.write_stream(iter_family_results(jobs, family))

        try:
            run_with(ops, go)
        except KeyboardInterrupt:
            _interrupted(started, output)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        (start,) = started
        _report(start, rounds, writer, json_output)
        if writer is not None:
            exit_for_failures(writer.summary, allow_failures)


def _report(
    start: RetryStart,
    rounds: list[ResubmissionRound],
    writer: ResultsWriter | None,
    json_output: bool,
) -> None:
    """Say what was retried (and written), on stderr, or as JSON on stdout."""
    job_id = start.root.job_id
    console = stderr_console()
    data: dict[str, Any] = {
        "id": job_id,
        "failed": start.failed,
        "retried": start.round.request_count if start.round is not None else 0,
        "batch_id": start.handle,
        "rounds": rounds,
    }
    if start.round is None:
        why = (
            f"no key of job {job_id} failed"
            if not start.failed
            else f"none of the {start.failed} failed key(s) of job {job_id} is of the kinds "
            "asked for"
        )
        message = f"nothing to retry: {why}"
    else:
        message = ""
    if writer is None:
        if json_output:
            print(to_json(data))
            return
        if start.round is None:
            console.print(message)
            return
        print(start.handle)
        console.print(
            f"wait for it and write every key's latest outcome with: lmbatch wait "
            f"{handle_of(start.root)} -o OUT.jsonl"
        )
        return
    if message:
        console.print(message)
    if writer.path is None:
        sys.stdout.flush()
        console.print(f"{job_id}: {writer.summary.describe()}")
    elif json_output:
        print(to_json({**data, "output": str(writer.path), **writer.summary.as_json()}))
    else:
        console.print(f"{job_id}: wrote {writer.summary.describe()} to {writer.path}")


def _interrupted(started: list[RetryStart], output: Path | None) -> None:
    console = stderr_console()
    if not started or started[0].round is None:
        console.print("interrupted before anything was retried; run the same command again")
        return
    start = started[0]
    out = f" -o {output}" if output is not None else " -o OUT.jsonl"
    console.print(
        f"the retry round {start.handle} is still running at the provider. Wait for it and "
        f"write every key's latest outcome with: lmbatch wait {handle_of(start.root)}{out}"
    )


def _discard(job_id: str, store: str | None, json_output: bool) -> None:
    had = discard_input(job_id, store=store_path(store))
    if json_output:
        print(to_json({"id": job_id, "discarded": had}))
    elif had:
        stderr_console().print(
            f"deleted the input kept for retrying job {job_id}; a later retry needs --requests FILE"
        )
    else:
        stderr_console().print(f"job {job_id} has no kept input")
