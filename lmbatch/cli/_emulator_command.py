"""``lmbatch emulator``: serve the local batch-API emulator in the foreground."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import Annotated

import typer

from lmbatch.cli._errors import CLIError, reporting_errors
from lmbatch.cli._options import VerboseOption
from lmbatch.cli._progress import stderr_console

__all__ = ["emulator_command"]


class LifecycleMode(StrEnum):
    """How emulated batches move through their lifecycle."""

    POLLS = "polls"
    TIME = "time"
    MANUAL = "manual"


def emulator_command(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8089,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; keep the loopback default.")
    ] = "127.0.0.1",
    mode: Annotated[
        LifecycleMode,
        typer.Option(
            "--mode",
            help="polls: batches advance as they are polled; time: every --seconds-per-step; "
            "manual: never (tests drive them).",
        ),
    ] = LifecycleMode.POLLS,
    seconds_per_step: Annotated[
        float, typer.Option("--seconds-per-step", min=0.001, help="Step length in time mode.")
    ] = 1.0,
    verbose: VerboseOption = False,
) -> None:
    """Serve the local OpenAI Batch + Anthropic Message Batches emulator until Ctrl-C.

    Point a provider at it to try lmbatch offline, with any API key.

    Examples:

        lmbatch emulator --port 8089

        lmbatch run prompts.jsonl -o out.jsonl -p openai -m gpt-4.1-mini \\
            -O base_url=http://127.0.0.1:8089/v1 -O api_key=test
    """
    with reporting_errors(verbose=verbose):
        try:
            from lmbatch.testing.emulator import EmulatorSettings, serve
        except ImportError as exc:
            raise CLIError(
                f"the emulator needs the 'emulator' extra ({exc.name} is missing): "
                "pip install 'lmbatch[emulator]'"
            ) from None
        settings = EmulatorSettings(mode=mode.value, seconds_per_step=seconds_per_step)
        stderr_console().print(
            f"emulator: OpenAI base_url http://{host}:{port}/v1, "
            f"Anthropic base_url http://{host}:{port} (Ctrl-C stops it)"
        )
        with contextlib.suppress(KeyboardInterrupt):
            serve(host=host, port=port, settings=settings)
