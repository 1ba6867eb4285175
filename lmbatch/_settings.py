"""Provider settings: the validated options of a provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from lmbatch._errors import ConfigError

__all__ = ["EndpointOption", "ProviderSettings", "validate_settings"]


@dataclass(frozen=True)
class EndpointOption:
    """Marks a settings field that decides where requests, and the credentials, go.

    Put it in the field's annotation::

        base_url: Annotated[str | None, EndpointOption(env_var="ECHO_BASE_URL")] = None

    A config file may not set such an option unless the user trusts config files
    (``LMBATCH_TRUST_CONFIG=1``): a file in a cloned repository could otherwise send the
    API key from the environment to any host. Arguments (code, CLI ``-O``) and the
    environment set it freely.

    Attributes:
        env_var: The environment variable that sets the same thing, if any. When it is
            set, it wins over a config file's value.
    """

    env_var: str | None = None


class ProviderSettings(BaseModel):
    """Base class of every provider's settings model.

    Unknown options are refused, so a typo in a config file is an error, not a silent
    default. Secrets are typed :class:`pydantic.SecretStr`: they never show in reprs and
    are never read from config files.

    Attributes:
        model: The model every request of a batch uses.
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
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    max_concurrent_submissions: int = Field(default=4, ge=1)
    max_batches_in_flight: int | None = Field(default=None, ge=1)
    in_flight_check_interval: float = Field(default=30.0, ge=0)
    keep_raw: bool = False
    create_settle_seconds: float = Field(default=120.0, ge=0)

    @classmethod
    def endpoint_options(cls) -> dict[str, EndpointOption]:
        """The options marked with :class:`EndpointOption`, by name."""
        found: dict[str, EndpointOption] = {}
        for name, info in cls.model_fields.items():
            for item in info.metadata:
                if isinstance(item, EndpointOption):
                    found[name] = item
        return found


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
