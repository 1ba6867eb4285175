"""``lmbatch estimate``: what a file of requests would cost, offline unless asked."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from lmbatch._errors import MissingCredentialsError
from lmbatch._estimate import Estimate
from lmbatch._operations import BatchOperations
from lmbatch.cli._batch_commands import hyperparameters_from
from lmbatch.cli._errors import reporting_errors
from lmbatch.cli._options import (
    FileArgument,
    FormatOption,
    JsonOption,
    ModelOption,
    OptionsOption,
    ParamOption,
    ProviderOption,
    SchemaOption,
    StoreOption,
    VerboseOption,
)
from lmbatch.cli._progress import stderr_console
from lmbatch.cli._provider_choice import operations_for
from lmbatch.cli._render import to_json
from lmbatch.cli._request_file import RequestFile, read_request_file

__all__ = [
    "CountWithVendorOption",
    "MaxCostOption",
    "TypicalOutputOption",
    "dry_run",
    "estimate_command",
    "offline_operations",
    "print_estimate",
]

#: Stands in for an API key when a provider insists on one at construction time: an
#: estimate never talks to the vendor.
_PLACEHOLDER_KEY = "estimate-only-no-calls-are-made"

TypicalOutputOption = Annotated[
    int | None,
    typer.Option(
        "--typical-output-tokens",
        min=0,
        metavar="N",
        help="Output tokens a request typically produces, for the typical figure "
        "(default 250, at most max_tokens).",
        show_default=False,
    ),
]
CountWithVendorOption = Annotated[
    bool,
    typer.Option(
        "--count-with-vendor",
        help="Count input tokens with the vendor's token-count endpoint (network calls, "
        "needs the API key; 8 at a time, on a sample of 200 requests at most, the rest "
        "extrapolated). Falls back to the offline count, with a warning, if it fails.",
    ),
]
MaxCostOption = Annotated[
    str | None,
    typer.Option(
        "--max-cost",
        metavar="USD",
        help="Budget in US dollars: refuse (before anything is sent) unless the upper-bound "
        "estimate fits; resubmission rounds count against it too. Needs max_tokens "
        "(-P max_tokens=N) on providers without a default.",
        show_default=False,
    ),
]


def offline_operations(
    *,
    provider: str | None,
    model: str | None,
    options: list[str] | None,
    store: str | None,
) -> BatchOperations:
    """The provider for an estimate: no API key is needed, since nothing is sent."""
    try:
        return operations_for(provider=provider, model=model, options=options, store=store)
    except MissingCredentialsError:
        placeholder = [*(options or []), f"api_key={_PLACEHOLDER_KEY}"]
        return operations_for(provider=provider, model=model, options=placeholder, store=store)


def estimate_with(
    requests: RequestFile,
    hyperparameters: dict[str, Any],
    *,
    provider: str | None,
    model: str | None,
    options: list[str] | None,
    store: str | None,
    typical_output: int | None = None,
    count_with_vendor: bool = False,
) -> tuple[BatchOperations, Estimate]:
    """The provider and its estimate of ``requests``.

    Offline unless ``count_with_vendor``: then the provider is built with the real
    credentials (a missing key is an error, before any call) and the vendor counts.
    """
    if count_with_vendor:
        ops = operations_for(provider=provider, model=model, options=options, store=store)
    else:
        ops = offline_operations(provider=provider, model=model, options=options, store=store)

    async def estimate() -> Estimate:
        async with ops:
            return await ops.estimate(
                requests.requests,
                hyperparameters,
                typical_output_tokens=typical_output,
                count_tokens="vendor" if count_with_vendor else "offline",
            )

    return ops, asyncio.run(estimate())


def print_estimate(estimate: Estimate, json_output: bool, *, dry_run: bool = False) -> None:
    """Print an estimate: JSON on stdout, or a few lines for people on stdout."""
    if json_output:
        data: dict[str, Any] = estimate.as_dict()
        if dry_run:
            data["dry_run"] = True
        print(to_json(data))
        return
    print(estimate.describe())
    if dry_run:
        stderr_console().print("dry run: nothing was sent")


def dry_run(
    requests: RequestFile,
    hyperparameters: dict[str, Any],
    *,
    provider: str | None,
    model: str | None,
    options: list[str] | None,
    store: str | None,
    max_cost: str | None,
    json_output: bool,
    count_with_vendor: bool = False,
) -> None:
    """``run --dry-run``: print the estimate, check ``--max-cost``, send no batch."""
    from lmbatch._estimate import check_budget, parse_max_cost

    ops, estimate = estimate_with(
        requests,
        hyperparameters,
        provider=provider,
        model=model,
        options=options,
        store=store,
        count_with_vendor=count_with_vendor,
    )
    print_estimate(estimate, json_output, dry_run=True)
    budget = parse_max_cost(max_cost)
    if budget is not None:
        from lmbatch._hyperparameters import Hyperparameters

        params = Hyperparameters.from_mapping(hyperparameters)
        check_budget(ops, requests.requests, params, budget)  # raises when over budget
        if not json_output:
            stderr_console().print(f"within --max-cost {max_cost}: a real run would be sent")


def estimate_command(
    file: FileArgument,
    provider: ProviderOption = None,
    model: ModelOption = None,
    option: OptionsOption = None,
    param: ParamOption = None,
    schema: SchemaOption = None,
    file_format: FormatOption = None,
    store: StoreOption = None,
    typical_output: TypicalOutputOption = None,
    count_with_vendor: CountWithVendorOption = False,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Estimate what a file of requests would cost; nothing is sent, no API key needed.

    Prints the requests, input tokens (counted with tiktoken for OpenAI models when it is
    installed, else approximated; with --count-with-vendor, by the vendor's token-count
    endpoint, which needs the API key), output tokens (typical, and the upper bound from
    max_tokens), and the cost in USD with and without the provider's batch discount.
    Prices come from the genai-prices library (pip install 'lmbatch[cost]') or from
    [providers.NAME.prices."MODEL"] in lmbatch.toml.

    Examples:

        lmbatch estimate prompts.jsonl -p openai -m gpt-4.1-mini -P max_tokens=300

        lmbatch estimate questions.csv -p anthropic -m claude-sonnet-4-5 --json

        lmbatch estimate prompts.jsonl -p anthropic -m claude-sonnet-4-5 --count-with-vendor
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        requests = read_request_file(file, file_format.value if file_format else None)
        hyperparameters = hyperparameters_from(param, schema)
        _, estimate = estimate_with(
            requests,
            hyperparameters,
            provider=provider,
            model=model,
            options=option,
            store=store,
            typical_output=typical_output,
            count_with_vendor=count_with_vendor,
        )
        print_estimate(estimate, json_output)
