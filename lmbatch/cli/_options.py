"""Command-line options shared by several commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AllowPathOption",
    "AllowUnknownModelOption",
    "BatchIdArgument",
    "FormatChoice",
    "FormatOption",
    "JsonOption",
    "ModelOption",
    "OptionsOption",
    "OutputOption",
    "ParamOption",
    "PollIntervalOption",
    "ProviderOption",
    "SchemaOption",
    "StoreOption",
    "VerboseOption",
    "with_unknown_model",
]


class FormatChoice(StrEnum):
    """Formats of a requests file."""

    JSONL = "jsonl"
    CSV = "csv"


JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show the full traceback when something fails.")
]
ProviderOption = Annotated[
    str | None,
    typer.Option(
        "--provider",
        "-p",
        help="Provider name (default: $LMBATCH_PROVIDER, then the config file; for a "
        "batch id, the provider recorded in the job store).",
        show_default=False,
    ),
]
AllowUnknownModelOption = Annotated[
    bool,
    typer.Option(
        "--allow-unknown-model",
        help="Submit a model name the model list does not know (a fine-tune, a model "
        "newer than the list); by default it is refused, with a did-you-mean.",
    ),
]


def with_unknown_model(options: list[str] | None, allow: bool) -> list[str] | None:
    """``-O`` options, plus ``allow_unknown_model=true`` when ``--allow-unknown-model``."""
    return [*(options or []), "allow_unknown_model=true"] if allow else options


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model name (default: $LMBATCH_<PROVIDER>_MODEL, then the config file's "
        "[providers.NAME] model; $LMBATCH_MODEL only with $LMBATCH_PROVIDER).",
        show_default=False,
    ),
]
OptionsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-O",
        metavar="KEY=VALUE",
        help="A provider option, e.g. -O base_url=http://127.0.0.1:8089/v1 (repeatable).",
        show_default=False,
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="PATH",
        help="Job store file (default: $LMBATCH_STORE, the config file, the user data dir).",
        show_default=False,
    ),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-P",
        metavar="KEY=VALUE",
        help="A hyperparameter, e.g. -P temperature=0 -P max_tokens=200; values are read "
        "as JSON when they parse, else as text (repeatable).",
        show_default=False,
    ),
]
SchemaOption = Annotated[
    str | None,
    typer.Option(
        "--schema",
        metavar="SCHEMA",
        help="Structured output: module:Model (a pydantic model) or a JSON schema file.",
        show_default=False,
    ),
]
AllowPathOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-path",
        metavar="DIR",
        help="Also read attachment paths of FILE from DIR (repeatable). By default they "
        "must lie in FILE's folder (the working directory for stdin).",
        show_default=False,
        file_okay=False,
    ),
]
FormatOption = Annotated[
    FormatChoice | None,
    typer.Option("--format", help="Format of FILE (default: from its suffix).", show_default=False),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="OUT.jsonl",
        help="Write results here, one JSON line per key (default: stdout).",
        show_default=False,
        dir_okay=False,
    ),
]
PollIntervalOption = Annotated[
    float,
    typer.Option(
        "--poll-interval",
        metavar="SECONDS",
        min=0.0,
        help="Seconds between the first status checks; later checks back off to 5 min.",
    ),
]
BatchIdArgument = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="A batch id or an lmbatch job id, as printed by submit.",
        show_default=False,
    ),
]
FileArgument = Annotated[
    str,
    typer.Argument(
        metavar="FILE",
        help='Requests: JSONL ({"key": ..., "input": ...} per line) or CSV with key and '
        "prompt columns; - reads JSONL from stdin.",
        show_default=False,
    ),
]
