"""Options of the ``groq`` provider."""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from lmbatch_openai import OpenAISettings
from pydantic import field_validator

from lmbatch.provider import ConnectionOption, EndpointOption, MissingCredentialsError

__all__ = ["API_KEY_ENV", "BASE_URL_ENV", "DEFAULT_BASE_URL", "GroqSettings", "window_seconds"]

API_KEY_ENV = "GROQ_API_KEY"
BASE_URL_ENV = "GROQ_BASE_URL"
#: Groq's OpenAI-compatible API root (what the OpenAI SDK takes as ``base_url``).
DEFAULT_BASE_URL = "https://api.groq.com/openai/v1"
_WINDOW = re.compile(r"(\d+)([hd])")


def window_seconds(window: str) -> int | None:
    """Seconds of a ``completion_window`` such as ``"24h"`` or ``"7d"`` (None: not one)."""
    found = _WINDOW.fullmatch(window)
    if found is None:
        return None
    return int(found[1]) * (3600 if found[2] == "h" else 86400)


class GroqSettings(OpenAISettings):
    """Options of the ``groq`` provider.

    Attributes:
        model: Model every request of a batch uses, e.g. ``"llama-3.1-8b-instant"``.
        api_key: API key; defaults to ``$GROQ_API_KEY``. Never read from config files.
        base_url: Groq's OpenAI-compatible API root; defaults to ``$GROQ_BASE_URL``, else
            ``https://api.groq.com/openai/v1``. Config files may only set it when trusted
            (``LMBATCH_TRUST_CONFIG=1``).
        organization: Not used by Groq.
        project: Not used by Groq.
        endpoint: ``/v1/chat/completions``, the only endpoint Groq batches.
        completion_window: How long Groq may take: ``"24h"`` (default) up to ``"7d"``
            (hours or days, e.g. ``"36h"``, ``"3d"``).
        output_expires_after: Not used by Groq.
    """

    base_url: Annotated[
        str | None, EndpointOption(env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL)
    ] = None
    organization: Annotated[str | None, ConnectionOption()] = None
    project: Annotated[str | None, ConnectionOption()] = None
    endpoint: Annotated[Literal["/v1/chat/completions"], ConnectionOption()] = (
        "/v1/chat/completions"
    )
    completion_window: str = "24h"  # type: ignore[assignment]
    output_expires_after: None = None

    @field_validator("completion_window")
    @classmethod
    def _window_in_range(cls, value: str) -> str:
        seconds = window_seconds(value)
        if seconds is None or not 86400 <= seconds <= 7 * 86400:
            raise ValueError("Groq takes a completion window from '24h' to '7d'")
        return value

    def resolved_api_key(self) -> str:
        """The API key: the option, else ``$GROQ_API_KEY``.

        Raises:
            MissingCredentialsError: Neither is set.
        """
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        from_env = os.environ.get(API_KEY_ENV)
        if from_env:
            return from_env
        raise MissingCredentialsError(
            f"the groq provider needs an API key: set {API_KEY_ENV} in the environment",
            env_var=API_KEY_ENV,
        )

    def resolved_base_url(self) -> str:
        """The base URL: the option, else ``$GROQ_BASE_URL``, else Groq's."""
        return self.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
