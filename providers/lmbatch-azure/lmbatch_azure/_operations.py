"""``AzureBatchOperations``: lmbatch's contract on Azure OpenAI global batch deployments.

Azure speaks OpenAI's Files + Batches protocol, so this is a subclass of
:class:`~lmbatch_openai.OpenAICompatibleBatchOperations` with Azure's declarations and
differences:

* the API lives at ``{endpoint}/openai/v1/`` (GA) or ``{endpoint}/openai/...?api-version=``
  (classic, where the batch endpoint is ``/chat/completions``); the key goes in an
  ``api-key`` header, or an Entra ID token (``azure-identity``) as a bearer token;
* every line's ``model`` is the deployment name, the same on every line;
* uploads set ``expires_after`` (500 batch files per resource without it, 10,000 with);
  a file starting with a UTF-8 BOM is never sent (Azure fails it as "deployment not
  found");
* batches are not expired at 24 h (``expires_at`` is ignored: only the caller's timeout
  bounds a wait);
* the per-deployment enqueued-token quota: a create refused for it is a
  :class:`RateLimitError`; a batch failed for it (``token_limit_exceeded``) is transient,
  so ``invoke`` resubmits its requests.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lmbatch_openai import OpenAICompatibleBatchOperations

from lmbatch.provider import (
    BatchInfo,
    BatchPage,
    Hyperparameters,
    Message,
    MissingCredentialsError,
    PreparedBatch,
    ProviderError,
    ProviderLimits,
    ProviderSettings,
    RateLimitError,
    is_definite_refusal,
)
from lmbatch_azure._settings import AzureSettings, entra_available

if TYPE_CHECKING:
    import openai

__all__ = ["AzureBatchOperations"]

logger = logging.getLogger("lmbatch.azure")

BOM = b"\xef\xbb\xbf"
#: Error codes of the per-deployment enqueued-token quota.
QUOTA_CODES = frozenset({"token_limit_exceeded"})
#: The Entra ID scope of Azure OpenAI.
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


class AzureBatchOperations(OpenAICompatibleBatchOperations):
    """Batches on Azure OpenAI global batch deployments (provider name ``azure``).

    Example::

        ops = lmbatch.get_batch_operations(
            "azure", model="gpt-4.1-mini", deployment="gpt-4-1-mini-batch"
        )

    Options are those of :class:`~lmbatch_azure.AzureSettings`.
    """

    name = "azure"
    settings_class: ClassVar[type[ProviderSettings]] = AzureSettings
    api_key_env: ClassVar[tuple[str, ...]] = ("AZURE_OPENAI_API_KEY",)
    limits = ProviderLimits(max_requests_per_batch=100_000, max_bytes_per_batch=200 * 1024 * 1024)
    #: Global batch costs half of Global Standard, which is OpenAI's list price.
    batch_discount: ClassVar[float] = 0.5
    checks_model_names: ClassVar[bool] = True
    #: Azure does not expire batches after 24 h: waits are bounded by the caller only.
    completion_window: ClassVar[float | None] = None

    @classmethod
    def settings_overrides(cls) -> dict[str, tuple[Any, Any]]:
        # ``endpoint`` is the resource here; the batch endpoint is ``batch_endpoint``.
        fields = super().settings_overrides()
        fields.pop("endpoint", None)
        return fields

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.settings, AzureSettings)
        self.azure: AzureSettings = self.settings
        if not self.azure.base_url:
            self.azure.resource_endpoint()  # no endpoint: refused now, before any work

    # ------------------------------------------------------------ client, key, URL

    def api_key(self) -> str:
        """The key (option, else ``$AZURE_OPENAI_API_KEY``); ``""`` to use an Entra token.

        Raises:
            MissingCredentialsError: No key, and ``azure-identity`` is not installed.
        """
        try:
            return super().api_key()
        except MissingCredentialsError as exc:
            if entra_available():
                return ""
            raise MissingCredentialsError(
                f"{exc}, or install azure-identity (pip install 'lmbatch-azure[entra]') to "
                "use a Microsoft Entra ID token",
                env_vars=self.api_key_env,
            ) from None

    def base_url(self) -> str:
        """``base_url``, else the resource's GA (``/openai/v1/``) or classic API root."""
        return self.azure.api_base_url()

    def _client(self) -> openai.AsyncOpenAI:
        if self._client_instance is None:
            import openai

            key = self.api_key()
            settings = self.azure
            common: dict[str, Any] = {
                "max_retries": settings.max_retries,
                "timeout": settings.timeout,
            }
            if settings.api_version and not settings.base_url:
                # The classic API, as the SDK's Azure client speaks it: an api-key header
                # (or an Entra ID bearer token) and ?api-version= on every call.
                self._client_instance = openai.AsyncAzureOpenAI(
                    azure_endpoint=settings.resource_endpoint(),
                    api_version=settings.api_version,
                    api_key=key or None,
                    azure_ad_token_provider=None if key else _entra_token(),
                    **common,
                )
            else:
                # The GA API takes the key (or an Entra ID token) as a bearer token.
                self._client_instance = openai.AsyncOpenAI(
                    api_key=key or _entra_token(), base_url=self.base_url(), **common
                )
        return self._client_instance

    # ------------------------------------------------------------------ encoding

    @property
    def endpoint(self) -> str:
        """The endpoint new batches use (OpenAI's name for it)."""
        return self.azure.batch_endpoint

    def _wire_endpoint(self) -> str:
        """The endpoint as this API surface names it (no ``/v1`` on the classic API)."""
        classic = self.azure.api_version and not self.azure.base_url
        return self.endpoint.removeprefix("/v1") if classic else self.endpoint

    def batch_context(self, params: Hyperparameters) -> dict[str, Any]:
        return {"endpoint": self._wire_endpoint()}  # the create call's endpoint too

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        line = super().encode_request(custom_id, messages, params)
        line["url"] = self._wire_endpoint()
        line["body"]["model"] = self.azure.deployment or self.azure.model
        return line

    # ---------------------------------------------------------------- submission

    def upload_options(self) -> dict[str, Any]:
        """An expiry on every upload: the resource then keeps 10,000 files, not 500."""
        seconds = self.azure.input_file_expires_after
        return {"expires_after": {"anchor": "created_at", "seconds": seconds}}

    async def submit_batch(self, batch: PreparedBatch) -> str:
        with _bom_free(batch.path) as path:
            try:
                return await super().submit_batch(replace(batch, path=path))
            except ProviderError as exc:
                raise self._quota(exc) from exc

    def _quota(self, error: ProviderError) -> ProviderError:
        """A create refused for the deployment's enqueued-token quota: try again later."""
        if error.code not in QUOTA_CODES or not is_definite_refusal(error):
            return error
        return RateLimitError(
            f"{error} (the deployment's enqueued-token quota is full: submit again once "
            "some of its batches have finished, or raise the quota)",
            provider=self.name,
            status_code=error.status_code,
            request_id=error.request_id,
            code=error.code,
        )

    # ------------------------------------------------------------ reading, no 24 h

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        info = await super().fetch_batch(batch_id)
        info["expires_at"] = None  # set 24 h on, but late batches keep running
        return info

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        page = await super().list_batches_page(cursor)
        for info in page.batches:
            info["expires_at"] = None
        return page


@contextmanager
def _bom_free(path: Path) -> Iterator[Path]:
    """``path``, or a copy without its leading UTF-8 BOM (Azure refuses such files)."""
    with path.open("rb") as handle:
        if handle.read(len(BOM)) != BOM:
            yield path
            return
        logger.warning("the batch input file started with a UTF-8 BOM; it was not sent")
        with tempfile.TemporaryDirectory() as directory:
            copy = Path(directory) / path.name
            with copy.open("wb") as out:
                shutil.copyfileobj(handle, out)
            yield copy


def _entra_token() -> Any:
    """An async provider of Entra ID bearer tokens (``azure-identity``)."""
    from azure.identity.aio import (  # type: ignore[import-not-found,unused-ignore]
        DefaultAzureCredential,
        get_bearer_token_provider,
    )

    return get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)
