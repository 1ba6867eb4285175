"""``lmbatch demo``: the whole flow, offline, against the local emulator.

It starts the emulator in this process, sends a small bundled prompt set through the
real OpenAI provider over HTTP, shows the progress bar and a results table, and says
how to run the same against the live API. No key, no network.
"""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from lmbatch._config import LMBatchConfig, get_batch_operations
from lmbatch._errors import UnknownProviderError
from lmbatch._operations import BatchOperations
from lmbatch._outputs import LMOutput
from lmbatch._status import BatchInfo
from lmbatch.cli._errors import CLIError, reporting_errors
from lmbatch.cli._options import JsonOption, VerboseOption
from lmbatch.cli._progress import BatchProgress, stderr_console
from lmbatch.cli._render import result_record, results_table, stdout_console, to_json
from lmbatch.cli._request_file import RequestFile, read_request_file
from lmbatch.cli._session import run_with, wait_until_done

if TYPE_CHECKING:
    from lmbatch.testing.emulator import Emulator

__all__ = ["DEMO_MODEL", "demo_command", "demo_prompts_path"]

DEMO_MODEL = "gpt-4.1-mini"
#: Seconds between status checks in the demo (the emulator moves on every check).
DEMO_POLL_INTERVAL = 0.4
INSTALL_HINT = "pip install lmbatch-openai 'lmbatch[emulator]'"


def demo_prompts_path() -> Path:
    """The bundled demo prompts (JSONL)."""
    return Path(str(resources.files("lmbatch.cli").joinpath("demo_prompts.jsonl")))


def _start_emulator() -> Emulator:
    try:
        from lmbatch.testing.emulator import Emulator, EmulatorSettings
    except ImportError as exc:
        raise CLIError(
            f"the demo needs the emulator ({exc.name} is missing): {INSTALL_HINT}"
        ) from None
    # Each status check moves the batch one step: validating, in_progress, finalizing...
    return Emulator(EmulatorSettings(mode="polls", polls_per_step=2))


def _openai_operations(base_url: str, store: Path) -> BatchOperations:
    try:
        return get_batch_operations(
            "openai",
            config=LMBatchConfig(),  # the user's config files must not change the demo
            store=store,
            model=DEMO_MODEL,
            base_url=base_url,
            api_key="demo",
        )
    except UnknownProviderError:
        raise CLIError(f"the demo needs the OpenAI provider: {INSTALL_HINT}") from None


def _next_steps(console: Console) -> None:
    console.print(
        "\n[bold]That was the real OpenAI provider, talking HTTP to a local emulator.[/bold]\n"
        "The emulator answers with 'echo: <prompt>'; the 'rate-limited' request was scripted "
        "to fail, to show that one failure never hides the other results.\n\n"
        "[bold]Run the same prompts against the live OpenAI Batch API[/bold] "
        "(half the price of live calls; batches finish within 24 h):\n\n"
        "  pip install lmbatch-openai\n"
        "  export OPENAI_API_KEY=sk-...\n"
        f"  lmbatch demo --save-prompts prompts.jsonl\n"
        f"  lmbatch run prompts.jsonl -o results.jsonl --provider openai --model {DEMO_MODEL}\n",
        soft_wrap=True,
    )


def demo_command(
    save_prompts: Annotated[
        Path | None,
        typer.Option(
            "--save-prompts",
            metavar="PATH",
            help="Write the bundled prompts to PATH (to run them yourself) and exit.",
            dir_okay=False,
        ),
    ] = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Do not draw the progress bar.")
    ] = False,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Try lmbatch offline: a small batch through the OpenAI provider and a local emulator.

    Starts the batch-API emulator in this process (127.0.0.1, a free port), submits six
    bundled prompts with the real OpenAI provider over HTTP, shows the progress bar while
    the batch moves through validating, in_progress and finalizing, then prints the
    results. Needs no API key and no network.

    Examples:

        lmbatch demo

        lmbatch demo --json

        lmbatch demo --save-prompts prompts.jsonl
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        prompts_file = demo_prompts_path()
        if save_prompts is not None:
            save_prompts.write_text(prompts_file.read_text(encoding="utf-8"), encoding="utf-8")
            stderr_console().print(f"wrote the demo prompts to {save_prompts}")
            return
        prompts = read_request_file(str(prompts_file), "jsonl")
        prompts.name = "the demo prompts"
        batch_id, info, results = _run_demo(prompts, progress=not no_progress)
        records = [result_record(key, results[key]) for key in prompts.requests]
        if json_output:
            print(to_json({"id": batch_id, "status": info["status"].value, "results": records}))
            return
        stdout_console().print(results_table(records))
        _next_steps(stdout_console())


def _run_demo(
    prompts: RequestFile, *, progress: bool
) -> tuple[str, BatchInfo, dict[str, LMOutput]]:
    console = stderr_console()
    emulator = _start_emulator()
    with tempfile.TemporaryDirectory(prefix="lmbatch-demo-") as tmp, emulator as emu:
        ops = _openai_operations(emu.openai_base_url, Path(tmp) / "jobs.sqlite3")
        console.print(f"emulator listening on {emu.base_url} (stops when the demo ends)")
        display = BatchProgress(console, enabled=None if progress else False)

        async def demo(ops: BatchOperations) -> tuple[str, BatchInfo, dict[str, LMOutput]]:
            batch_id = await ops.create(prompts.requests)
            console.print(
                f"submitted {len(prompts.requests)} requests to openai ({ops.model}): {batch_id}"
            )
            with display:
                info = await wait_until_done(
                    ops,
                    batch_id,
                    interval=DEMO_POLL_INTERVAL,
                    max_interval=DEMO_POLL_INTERVAL,
                    timeout=120,
                    on_progress=display.update,
                )
            return batch_id, info, await ops.retrieve(batch_id)

        return run_with(ops, demo)
