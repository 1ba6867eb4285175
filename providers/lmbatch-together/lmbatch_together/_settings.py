"""Options of the ``together`` provider."""

from __future__ import annotations

from lmbatch_openai import OpenAICompatibleSettings

__all__ = ["TogetherSettings"]


class TogetherSettings(OpenAICompatibleSettings):
    """Options of the ``together`` provider.

    Attributes:
        model: Model every request of a batch uses (also sent as the batch's ``model_id``).
        api_key: API key; defaults to ``$TOGETHER_API_KEY``. Never read from config files.
        base_url: API root, as the ``together`` SDK means it (without ``/v1``); defaults
            to ``$TOGETHER_BASE_URL``, else ``https://api.together.ai``. Config files may
            only set it when trusted (``LMBATCH_TRUST_CONFIG=1``).
        endpoint: ``/v1/chat/completions``, the only endpoint lmbatch encodes for Together.
        completion_window: Not sent (Together takes 24 h, best effort).
        metadata: Not used by Together (its jobs carry none).
        output_expires_after: Not used by Together.
        priority: The job's ``priority`` (the vendor's scheduling hint); not sent when
            unset.
    """

    priority: int | None = None
