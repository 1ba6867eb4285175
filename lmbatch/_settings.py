"""Provider settings: the validated options of a provider."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import pydantic
from pydantic import ConfigDict, Field, SecretStr

from lmbatch._cost import PriceOverride
from lmbatch._errors import ConfigError
from lmbatch._jobs._options import JobOptions

__all__ = [
    "ConnectionOption",
    "EndpointOption",
    "ProviderSettings",
    "derive_settings",
    "normalise_connection_value",
    "validate_settings",
]


@dataclass(frozen=True)
class ConnectionOption:
    """Marks a non-secret settings field that says which endpoint or account a job uses.

    The job store records the value every such option had when a job was created (the
    option, else ``env_var``, else ``default``), and later commands on that job (``lmbatch
    status ID``, :func:`lmbatch.resume`) use the recorded values unless given explicitly.
    Put it in the field's annotation::

        organization: Annotated[str | None, ConnectionOption(env_var="ECHO_ORG")] = None

    Options with ``identity=True`` make the job's *endpoint identity*: batch ids are
    unique per (provider, endpoint identity), so two servers that hand out the same ids
    never collide in one store. Mark as identity what scopes the vendor's batch ids (the
    base URL, a deployment or resource name), not what only selects an account whose ids
    come from one shared space. Never mark a secret: secrets are never recorded.

    Attributes:
        env_var: The environment variable that sets the same thing, if any.
        default: The value in effect when neither the option nor ``env_var`` is set
            (e.g. the vendor's API base URL), so that leaving it unset and giving the
            default name one endpoint.
        identity: Part of the endpoint identity (see above).
    """

    env_var: str | None = None
    default: str | None = None
    identity: bool = False


@dataclass(frozen=True)
class EndpointOption(ConnectionOption):
    """Marks a settings field that decides where requests, and the credentials, go.

    Put it in the field's annotation::

        base_url: Annotated[str | None, EndpointOption(env_var="ECHO_BASE_URL")] = None

    A config file may not set such an option unless the user trusts config files
    (``LMBATCH_TRUST_CONFIG=1``): a file in a cloned repository could otherwise send the
    API key from the environment to any host. Arguments (code, CLI ``-O``) and the
    environment set it freely.

    An endpoint option is a :class:`ConnectionOption` that is part of the endpoint
    identity by default.

    Attributes:
        env_var: The environment variable that sets the same thing, if any. When it is
            set, it wins over a config file's value.
        default: The vendor's own value (e.g. its API base URL), used when none is set.
        identity: Part of the endpoint identity (default True).
    """

    identity: bool = True


class ProviderSettings(JobOptions):
    """Base class of every provider's settings model.

    Unknown options are refused, so a typo in a config file is an error, not a silent
    default. Secrets are typed :class:`pydantic.SecretStr`: they never show in reprs and
    are never read from config files. The options of lmbatch's job machinery
    (``max_concurrent_submissions``, ``max_batches_in_flight``, ``keep_raw``...) come
    from :class:`~lmbatch.JobOptions`; this model adds the model, prices and, in each
    provider's subclass, the vendor's own options.

    Attributes:
        model: The model every request of a batch uses.
        prices: Your own list prices by model name (USD per million tokens), for models
            the price library lacks or prices you negotiated; they win over the library.
            In config: ``[providers.openai.prices."my-finetune"] input = ..., output = ...``
        allow_unknown_model: Submit a model name the maintained model list (the price
            library's) does not know, e.g. a fine-tune or a model newer than the list.
            Off by default: a misspelt model is refused before anything is sent, with a
            did-you-mean. A model given a price under ``prices`` is known.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    allow_unknown_model: bool = False

    @classmethod
    def endpoint_options(cls) -> dict[str, EndpointOption]:
        """The options marked with :class:`EndpointOption`, by name."""
        found: dict[str, EndpointOption] = {}
        for name, info in cls.model_fields.items():
            for item in info.metadata:
                if isinstance(item, EndpointOption):
                    found[name] = item
        return found

    @classmethod
    def connection_options(cls) -> dict[str, ConnectionOption]:
        """The options marked :class:`ConnectionOption` (endpoint options too), by name.

        Secret fields are never connection options, whatever their marks say.
        """
        found: dict[str, ConnectionOption] = {}
        for name, info in cls.model_fields.items():
            if _is_secret_annotation(info.annotation):
                continue
            for item in info.metadata:
                if isinstance(item, ConnectionOption):
                    found[name] = item
        return found

    def connection_values(self) -> dict[str, Any]:
        """The connection options in effect: each option, else its variable, else default.

        What the job store records with every job; options with no value are left out.
        """
        values: dict[str, Any] = {}
        for name, marker in self.connection_options().items():
            value = getattr(self, name)
            if value is None and marker.env_var:
                value = os.environ.get(marker.env_var) or None
            if value is None:
                value = marker.default
            if value is not None:
                values[name] = value
        return values

    @classmethod
    def endpoint_identity(cls, values: dict[str, Any]) -> str:
        """The endpoint identity of connection ``values`` (see :class:`ConnectionOption`).

        Made of the identity options' normalised values; one equal to its default (or
        unset) is left out, so the vendor's default endpoint is ``""`` however it was
        named (and so are jobs recorded before lmbatch recorded endpoints).
        """
        parts = []
        for name, marker in cls.connection_options().items():
            if not marker.identity:
                continue
            value = normalise_connection_value(values.get(name))
            if value is None or value == normalise_connection_value(marker.default):
                continue
            parts.append(f"{name}={value}")
        return ", ".join(parts)


def normalise_connection_value(value: Any) -> str | None:
    """A connection option's value in the form compared across runs.

    URLs lose what does not change where requests go: letter case of scheme and host,
    the scheme's default port, and trailing slashes. Other values are stripped text.
    """
    if value is None:
        return None
    text = str(value).strip()
    if "://" not in text:
        return text or None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text.rstrip("/")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    if parts.username or parts.password:
        host = f"{parts.username or ''}@{host}"  # never the password
    return urlunsplit((scheme, host, parts.path.rstrip("/"), parts.query, ""))


def _is_secret_annotation(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def derive_settings(
    base: type[ProviderSettings], name: str, module: str, fields: dict[str, tuple[Any, Any]]
) -> type[ProviderSettings]:
    """A subclass of ``base`` named ``name`` whose ``fields`` are redeclared.

    ``fields`` maps a field name to ``(annotation, default)``. Used to give a provider
    that only *declares* its endpoint (``default_base_url``, ``base_url_env``...) the
    settings class that says so, where the job store reads it.
    """
    derived = pydantic.create_model(  # type: ignore[call-overload]
        name, __base__=base, __module__=module, __doc__=base.__doc__, **fields
    )
    return cast(type[ProviderSettings], derived)


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
