"""How the CLI reports failures: one clear line on stderr and a non-zero exit status."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from lmbatch._errors import ConfigError, LMBatchError, ValidationError
from lmbatch.cli._terminal import EXIT_BROKEN_PIPE, silence_stdout, wrapped
from lmbatch.cli._wording import cli_words

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "INTERRUPTED",
    "UNEXPECTED_ERROR",
    "USAGE_ERROR",
    "CLIError",
    "error_payload",
    "error_type",
    "print_interrupted",
    "report_error",
    "reporting_errors",
    "say",
]

#: Exit status of a failed command (a provider error, a batch that is not finished...).
EXIT_ERROR = 1
#: Exit status of bad usage or bad input, found before anything was sent.
EXIT_USAGE = 2
#: Exit status of a run whose results were all written but some keys failed (errored,
#: expired, cancelled...); ``--allow-failures`` makes it 0.
EXIT_SOME_FAILED = 3
#: Exit status after Ctrl-C.
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A problem with what was typed or the files named: reported as one line.

    Args:
        message: The line to show (it should name the file and line, or the option).
        exit_code: The process exit status.
    """

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, CLIError):
        return exc.exit_code
    if isinstance(exc, ConfigError | ValidationError):
        return EXIT_USAGE
    return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, CLIError):
        return exc.message
    unexpected = not isinstance(exc, LMBatchError)
    text = f"unexpected {type(exc).__name__}: {exc}" if unexpected else cli_words(str(exc))
    return " ".join(text.split())


def _notes(exc: BaseException) -> list[str]:
    """The notes added to ``exc``, in command-line words."""
    notes = getattr(exc, "__notes__", None) or []
    return [cli_words(str(note)) for note in notes]


#: ``type`` in ``--json`` errors for a bad command line or request file.
USAGE_ERROR = "UsageError"
#: ``type`` in ``--json`` errors for anything lmbatch did not expect (a bug).
UNEXPECTED_ERROR = "UnexpectedError"
#: ``type`` in ``--json`` errors after Ctrl-C.
INTERRUPTED = "Interrupted"


def error_type(exc: BaseException) -> str:
    """The stable ``type`` of an error in ``--json`` output.

    The lmbatch error class name (``ValidationError``, ``RateLimitError``...),
    ``UsageError`` for a bad command line or request file, ``UnexpectedError`` for
    anything else.
    """
    if isinstance(exc, CLIError):
        return USAGE_ERROR
    if isinstance(exc, LMBatchError):
        return type(exc).__name__
    return UNEXPECTED_ERROR


def error_payload(exc: BaseException) -> dict[str, object]:
    """The machine-readable form of an error, as printed with ``--json``."""
    payload: dict[str, object] = {"type": error_type(exc), "message": _one_line(exc)}
    for attribute in ("provider", "status_code", "request_id", "code", "key", "batch_id", "path"):
        value = getattr(exc, attribute, None)
        if value is not None:
            payload[attribute] = value
    notes = _notes(exc)
    if notes:
        payload["notes"] = notes
    return payload


def report_error(exc: BaseException, *, verbose: bool, json_output: bool) -> int:
    """Print ``exc`` as one line (plus its traceback when verbose); return the exit status."""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    say(f"error: {_one_line(exc)}")
    for note in _notes(exc):
        say(f"note: {note}")
    if not verbose and not isinstance(exc, LMBatchError | CLIError):
        say("(run again with --verbose to see the traceback)")
    if json_output:
        print(json.dumps({"error": error_payload(exc)}))
    return _exit_code(exc)


def print_interrupted(batch_id: str | None = None) -> None:
    """Print the ``--json`` error of a command stopped by Ctrl-C."""
    payload: dict[str, object] = {"type": INTERRUPTED, "message": "interrupted (Ctrl-C)"}
    if batch_id is not None:
        payload["batch_id"] = batch_id
    print(json.dumps({"error": payload}))


def say(line: str) -> None:
    """Print one message on stderr, wrapped at word boundaries in a terminal."""
    print(wrapped(line, sys.stderr), file=sys.stderr)


@contextmanager
def reporting_errors(*, verbose: bool = False, json_output: bool = False) -> Iterator[None]:
    """Turn any exception raised inside into one error line and ``typer.Exit``.

    Args:
        verbose: Also print the traceback.
        json_output: Also print ``{"error": {...}}`` on stdout.
    """
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        # Commands that wait handle Ctrl-C themselves (and say how to resume).
        say("interrupted")
        if json_output:
            print_interrupted()
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): nothing more to say, to anyone.
        silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except Exception as exc:
        code = report_error(exc, verbose=verbose, json_output=json_output)
        raise typer.Exit(code) from None
