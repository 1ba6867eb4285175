"""``lmbatch emulator``: serve the local batch-API emulator in the foreground."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lmbatch.cli._errors import CLIError, reporting_errors
from lmbatch.cli._options import VerboseOption
from lmbatch.cli._progress import stderr_console

if TYPE_CHECKING:
    from lmbatch.testing.emulator import EndpointFault

__all__ = ["emulator_command", "endpoint_fault", "key_fault"]


class LifecycleMode(StrEnum):
    """How emulated batches move through their lifecycle."""

    POLLS = "polls"
    TIME = "time"
    MANUAL = "manual"


def endpoint_fault(spec: str) -> EndpointFault:
    """``--fault OPERATION=STATUS[,nth=N][,provider=P][,after-effect]`` as an EndpointFault."""
    from lmbatch.testing.emulator import EndpointFault

    head, *words = [word.strip() for word in spec.split(",")]
    operation, equals, status_text = head.partition("=")
    if not equals or not operation:
        raise CLIError(
            f"--fault {spec!r}: expected OPERATION=STATUS[,nth=N][,provider=NAME]"
            "[,after-effect], e.g. --fault create=500"
        )
    if not status_text.strip().isdigit():
        raise CLIError(f"--fault {spec!r}: the status must be a number, e.g. 500 or 429")
    options: dict[str, Any] = {}
    for word in words:
        name, _, value = word.partition("=")
        if name == "nth" and value.isdigit():
            options["nth"] = int(value)
        elif name == "nth":
            raise CLIError(f"--fault {spec!r}: nth must be a number (1: the first call)")
        elif name == "provider":
            options["provider"] = value  # EndpointFault checks it is a served vendor
        elif word in ("after-effect", "after_effect"):
            options["after_effect"] = True
        else:
            raise CLIError(
                f"--fault {spec!r}: unknown word {word!r} (known: nth=N, provider=P, after-effect)"
            )
    try:
        return EndpointFault(operation.strip(), int(status_text), **options)
    except ValueError as exc:
        raise CLIError(f"--fault {spec!r}: {exc}") from None


def key_fault(spec: str) -> tuple[str, str]:
    """``--key-fault CUSTOM_ID=FAULTS`` as ``(custom_id, faults)``, the faults checked."""
    from lmbatch.testing.emulator import parse_fault_spec

    custom_id, equals, faults = spec.partition("=")
    if not equals or not custom_id or not faults:
        raise CLIError(
            f"--key-fault {spec!r}: expected CUSTOM_ID=FAULTS, e.g. --key-fault q1=error=429 "
            "(faults: error=STATUS, expire, malformed, omit, duplicate, comma-separated)"
        )
    try:
        parse_fault_spec(faults)
    except ValueError as exc:
        raise CLIError(f"--key-fault {spec!r}: {exc}") from None
    return custom_id, faults


FaultOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fault",
        metavar="OP=STATUS[,...]",
        help="Fail calls of one API operation with an HTTP error (repeatable): "
        "OPERATION=STATUS, then optionally nth=N (only the nth call), "
        "provider=NAME (one emulated vendor, e.g. openai), after-effect (do the work, then "
        "fail: a create that succeeded but looked failed). Operations are each vendor's, "
        "e.g. upload, create, retrieve, list, cancel, content, results, delete.",
        show_default=False,
    ),
]
KeyFaultOption = Annotated[
    list[str] | None,
    typer.Option(
        "--key-fault",
        metavar="ID=FAULTS",
        help="Script the fate of one request by its custom_id (repeatable), as the "
        "[[lmbatch:...]] directive in a prompt does: error=STATUS, expire, malformed, "
        "omit, duplicate (comma-separated), e.g. --key-fault q1=error=429.",
        show_default=False,
    ),
]


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
    polls_per_step: Annotated[
        int, typer.Option("--polls-per-step", min=1, help="Status checks per step in polls mode.")
    ] = 1,
    progress_steps: Annotated[
        int,
        typer.Option(
            "--progress-steps",
            min=1,
            help="Steps a batch spends running, its counts growing at each (so progress "
            "bars move); 1: counted when it ends.",
        ),
    ] = 1,
    fault: FaultOption = None,
    key_faults: KeyFaultOption = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept calls without an API key.")
    ] = False,
    enqueued_token_limit: Annotated[
        int | None,
        typer.Option(
            "--enqueued-token-limit",
            min=1,
            metavar="TOKENS",
            help="Cap each model's input tokens in unfinished batches, as the vendors' batch "
            "queue limits do: a batch over it fails with token_limit_exceeded (vendors "
            "of the OpenAI protocol).",
            show_default=False,
        ),
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Serve the local batch-API emulator (every installed vendor) until Ctrl-C.

    Point a provider at it to try lmbatch offline, with any API key. Faults can be
    scripted from the command line (--fault, --key-fault) or in a prompt
    ([[lmbatch:error=429]], [[lmbatch:expire]]...).

    Examples:

        lmbatch emulator --port 8089

        lmbatch emulator --fault create=500,nth=1 --key-fault q1=error=429

        lmbatch run prompts.jsonl -o out.jsonl -p openai -m gpt-4.1-mini \\
            -O base_url=http://127.0.0.1:8089/v1 -O api_key=test
    """
    with reporting_errors(verbose=verbose):
        try:
            from lmbatch.testing import emulator
        except ImportError as exc:
            raise CLIError(
                f"the emulator needs the 'emulator' extra ({exc.name} is missing): "
                "pip install 'lmbatch[emulator]'"
            ) from None
        endpoint_faults = [endpoint_fault(spec) for spec in fault or []]
        by_key = dict(key_fault(spec) for spec in key_faults or [])
        vendors = emulator.installed_vendors()
        capped = {
            vendor.name: {"enqueued_token_limit": enqueued_token_limit}
            for vendor in vendors
            if enqueued_token_limit is not None
            and "enqueued_token_limit" in getattr(vendor.options_class, "__dataclass_fields__", {})
        }
        settings = emulator.EmulatorSettings(
            mode=mode.value,
            seconds_per_step=seconds_per_step,
            polls_per_step=polls_per_step,
            progress_steps=progress_steps,
            require_auth=not no_auth,
            endpoint_faults=endpoint_faults,
            key_faults=by_key,
            vendor_options=capped,
        )
        urls = ", ".join(
            f"{vendor.title or vendor.name} base_url http://{host}:{port}{vendor.base_path}"
            for vendor in vendors
        )
        console = stderr_console()
        console.print(
            f"emulator: {urls or 'no vendor installed (pip install lmbatch-openai...)'} "
            "(Ctrl-C stops it)"
        )
        if fault:
            console.print(f"faults: {', '.join(fault)}")
        if key_faults:
            console.print(f"request faults: {', '.join(key_faults)}")
        if capped:
            console.print(
                f"enqueued-token limit {enqueued_token_limit:,} per model: {', '.join(capped)}"
            )
        with contextlib.suppress(KeyboardInterrupt):
            emulator.serve(host=host, port=port, settings=settings)
