"""The ``lmbatch`` command: a typer app whose errors are always one clear line."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from lmbatch.cli._batch_commands import (
    cancel_command,
    info_command,
    list_command,
    results_command,
    status_command,
    submit_command,
)
from lmbatch.cli._demo import demo_command
from lmbatch.cli._emulator_command import emulator_command
from lmbatch.cli._errors import EXIT_INTERRUPTED, INTERRUPTED, USAGE_ERROR, say
from lmbatch.cli._estimate_command import estimate_command
from lmbatch.cli._jobs_command import jobs_command
from lmbatch.cli._providers_command import providers_command
from lmbatch.cli._resolve_command import resolve_command
from lmbatch.cli._retry_command import retry_command
from lmbatch.cli._run_commands import resume_command, run_command, wait_command
from lmbatch.cli._terminal import EXIT_BROKEN_PIPE, silence_stdout
from lmbatch.cli._worker_command import worker_command

__all__ = ["app", "run"]

HELP = """\
One command line over the batch APIs of LLM providers (OpenAI, Anthropic, plugins).

Start with "lmbatch demo": it runs a small batch offline against a local emulator.

Examples:

    lmbatch demo

    lmbatch providers

    lmbatch estimate prompts.jsonl --provider openai --model gpt-4.1-mini

    lmbatch run prompts.jsonl -o results.jsonl --provider openai --model gpt-4.1-mini

    ID=$(lmbatch submit prompts.jsonl -p anthropic -m claude-sonnet-4-5)

    lmbatch status $ID

    lmbatch results $ID -o results.jsonl

    lmbatch jobs
"""


def _wants_json(args: Sequence[str] | None) -> bool:
    """Whether ``--json`` is among the options (before any ``--``)."""
    words = list(sys.argv[1:] if args is None else args)
    if "--" in words:
        words = words[: words.index("--")]
    return "--json" in words


def _print_json_error(error_type: str, message: str) -> None:
    print(json.dumps({"error": {"type": error_type, "message": message}}))


class LMBatchGroup(TyperGroup):
    """Reports usage errors as one line (plus where to find help), not a boxed panel.

    With ``--json`` they are also printed on stdout as ``{"error": {"type": "UsageError",
    "message": ...}}``, like every other error.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        json_output = _wants_json(args)
        try:
            result = super().main(
                args=args,
                prog_name=prog_name or "lmbatch",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            # Without standalone mode, typer.Exit(code) comes back as the return value.
            code = result if isinstance(result, int) else 0
        except typer.Abort:
            say("aborted")
            if json_output:
                _print_json_error(INTERRUPTED, "interrupted (Ctrl-C)")
            code = EXIT_INTERRUPTED
        except BrokenPipeError:  # the reader of stdout went away (`| head`)
            silence_stdout()
            code = EXIT_BROKEN_PIPE
        except Exception as exc:
            # Click's usage errors (typer may vendor click, so match them by shape).
            format_message = getattr(exc, "format_message", None)
            exit_code = getattr(exc, "exit_code", None)
            if format_message is None or not isinstance(exit_code, int):
                raise
            code = exit_code
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `lmbatch`: show the help
                print(format_message(), file=sys.stderr)
            else:
                context = getattr(exc, "ctx", None)
                command = context.command_path if context is not None else "lmbatch"
                say(f"error: {format_message()} (see: {command} --help)")
                if json_output:
                    _print_json_error(USAGE_ERROR, " ".join(format_message().split()))
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    name="lmbatch",
    cls=LMBatchGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _print_version(value: bool) -> None:
    if value:
        from lmbatch import __version__

        print(f"lmbatch {__version__}")
        raise typer.Exit()


@app.callback(help=HELP)
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version of lmbatch and exit.",
        ),
    ] = False,
) -> None:
    """Options of ``lmbatch`` itself, before the command name."""


app.command("demo")(demo_command)
app.command("providers")(providers_command)
app.command("estimate")(estimate_command)
app.command("run")(run_command)
app.command("submit")(submit_command)
app.command("wait")(wait_command)
app.command("status")(status_command)
app.command("info")(info_command)
app.command("results")(results_command)
app.command("list")(list_command)
app.command("jobs")(jobs_command)
app.command("cancel")(cancel_command)
app.command("resume")(resume_command)
app.command("retry")(retry_command)
app.command("resolve")(resolve_command)
app.command("emulator")(emulator_command)
app.command("worker")(worker_command)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="lmbatch", standalone_mode=False)
    except SystemExit as exc:  # pragma: no cover - defensive
        return exc.code if isinstance(exc.code, int) else 1
    return result if isinstance(result, int) else 0
