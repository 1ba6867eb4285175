"""``lmbatch resolve``: say which batch, if any, an interrupted create made."""

from __future__ import annotations

from typing import Annotated

import typer

from lmbatch._jobs._resolution import resolve
from lmbatch.cli._errors import CLIError, reporting_errors
from lmbatch.cli._options import BatchIdArgument, JsonOption, StoreOption, VerboseOption
from lmbatch.cli._progress import stderr_console
from lmbatch.cli._provider_choice import store_path
from lmbatch.cli._render import to_json

__all__ = ["resolve_command"]


def resolve_command(
    job_id: BatchIdArgument,
    chunk: Annotated[
        int,
        typer.Option("--chunk", min=0, help="The chunk the error names.", show_default=False),
    ],
    adopt: Annotated[
        str | None,
        typer.Option(
            "--adopt",
            metavar="BATCH_ID",
            help="Take this vendor batch as the chunk's batch.",
            show_default=False,
        ),
    ] = None,
    not_created: Annotated[
        bool,
        typer.Option("--not-created", help="The create made no batch: send the chunk again."),
    ] = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Settle which batch, if any, the interrupted create of a job's chunk made.

    lmbatch never guesses: when it cannot prove it, it stops with an error that prints
    these commands. Only the job store changes; continue with "lmbatch resume JOB_ID".
    An adopted batch's results are still checked against the chunk's requests before
    any is used.

    Examples:

        lmbatch resolve lmbjob_0f3c... --chunk 0 --adopt msgbatch_01...

        lmbatch resolve lmbjob_0f3c... --chunk 1 --not-created
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        if (adopt is None) == (not not_created):
            raise CLIError("give either --adopt BATCH_ID or --not-created")
        said = resolve(
            job_id, chunk=chunk, adopt=adopt, not_created=not_created, store=store_path(store)
        )
        if json_output:
            print(
                to_json(
                    {
                        "id": job_id,
                        "chunk": chunk,
                        "adopted": adopt,
                        "not_created": not_created,
                        "message": said,
                    }
                )
            )
        else:
            stderr_console().print(said)
