"""The orchestration's own settings, apart from what a vendor needs.

:class:`JobOptions` holds what lmbatch's job machinery reads (how many batches are sent
at once, how many may run, what collected outputs keep, how long an interrupted create
is looked for); a provider's settings model (:class:`~lmbatch.ProviderSettings` and its
vendor subclasses) adds the model, prices and the vendor's own options on top. Users set
both the same way: as provider options (``get_batch_operations("openai",
keep_raw=True)``, ``[providers.openai]`` in ``lmbatch.toml``, ``-O keep_raw=true``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["JobOptions", "QueueCap"]

#: A queue limit setting: one number for the provider's model, or numbers by model name
#: (``{"gpt-4o-mini": 2_000_000}``); 0 means no limit (the declared default is ignored).
QueueCap = Annotated[int, Field(ge=0)] | dict[str, Annotated[int, Field(ge=0)]] | None


class JobOptions(BaseModel):
    """How lmbatch runs jobs, whatever the vendor: submission, collection, reconciliation.

    Every provider's settings include these options (its settings model derives from
    this one), so they are set like any provider option.

    Attributes:
        max_concurrent_submissions: How many batches of one job are submitted at once.
        max_batches_in_flight: Most batches of one job running at the same time (None:
            no cap); further batches are submitted as earlier ones end.
        in_flight_check_interval: Seconds between status checks while a job waits for
            room under ``max_batches_in_flight``.
        keep_raw: Keep each successful answer's vendor payload in ``LMOutput.raw``.
            Off by default: results are read faster and take far less memory without
            it. Failures always keep theirs, for diagnosis.
        create_settle_seconds: After a create call was interrupted (the process died,
            the connection dropped...), how long lmbatch keeps looking for the batch it
            may have made before concluding it made none: a vendor can still be making a
            batch whose request arrived just before the client went away. Counted from
            the call's last sign of life, by the vendor's clock.
        wake_check_interval: Seconds between looks in the job store for webhook wakes
            while waiting for a batch (a cheap read, no vendor call): when the vendor's
            webhook reached ``lmbatch webhook serve`` (or the app of
            :mod:`lmbatch.webhooks`) on this store, the batch is polled at once. None
            (the default): no looks, waiting only polls. Set it with a slow
            ``status_check_interval`` where the vendor sends batch webhooks; a lost
            webhook then costs only latency.
        queue_limit_tokens: Input tokens the vendor lets wait in its batch queue (in
            unfinished batches) for the model; overrides the provider's declared
            default. A number (for the model in use) or numbers by model name; 0: no
            limit. Chunks wait, unsent, until there is room (see docs: queue limits).
        queue_limit_requests: The same, counted in requests (Anthropic counts these).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrent_submissions: int = Field(default=4, ge=1)
    max_batches_in_flight: int | None = Field(default=None, ge=1)
    in_flight_check_interval: float = Field(default=30.0, ge=0)
    keep_raw: bool = False
    create_settle_seconds: float = Field(default=120.0, ge=0)
    wake_check_interval: float | None = Field(default=None, gt=0)
    queue_limit_tokens: QueueCap = None
    queue_limit_requests: QueueCap = None
