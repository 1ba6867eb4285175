"""Provider settings: the validated options of a provider."""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict

from lmbatch._errors import ConfigError

__all__ = ["ProviderSettings", "validate_settings"]


class ProviderSettings(BaseModel):
    """Base class of every provider's settings model.

    Unknown options are refused, so a typo in a config file is an error, not a silent
    default. Secrets are typed :class:`pydantic.SecretStr`: they never show in reprs and
    are never read from config files.

    Attributes:
        model: The model every request of a batch uses.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None


def validate_settings(
    settings_class: type[ProviderSettings], provider: str, options: dict[str, Any]
) -> ProviderSettings:
    """Build ``settings_class`` from ``options``; raise :class:`ConfigError` naming the option."""
    try:
        return settings_class(**options)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors():
            option = ".".join(str(part) for part in error["loc"]) or "?"
            if error["type"] == "extra_forbidden":
                known = ", ".join(sorted(settings_class.model_fields))
                problems.append(f"unknown option {option!r} (known options: {known})")
            else:
                problems.append(f"option {option!r}: {error['msg']}")
        raise ConfigError(f"provider {provider!r}: " + "; ".join(problems)) from None
