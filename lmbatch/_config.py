"""Configuration: which provider, which model, which options, which store.

Resolution order, first match wins: explicit arguments; environment variables
(``LMBATCH_PROVIDER``, ``LMBATCH_<PROVIDER>_MODEL``, ``LMBATCH_STORE``; ``LMBATCH_MODEL``
only for the provider ``LMBATCH_PROVIDER`` names); ``lmbatch.toml`` in the
working directory (or the file named by ``LMBATCH_CONFIG``), whose keys sit at top level;
``[tool.lmbatch]`` in ``pyproject.toml``. Example ``lmbatch.toml``::

    provider = "openai"
    store = "~/.cache/my-project/lmbatch.sqlite3"

    [providers.openai]
    model = "gpt-4.1-mini"

    [providers.anthropic]
    model = "claude-sonnet-4-5"

A provider table may carry ``type``: it then names an *instance* of that provider
under a name of your own, so several configurations of one provider (two
OpenAI-compatible servers, two accounts) sit side by side and ``provider = "..."``
picks one::

    provider = "nebius"

    [providers.nebius]
    type = "openai-compatible"
    model = "meta-llama/Llama-3.3-70B-Instruct"

API keys are never read from config files, only from environment variables or an
explicit argument. Nor may a config file say where requests (and so the API key) go:
options marked :class:`~lmbatch.EndpointOption` (``base_url``...) are refused in a config
file unless ``LMBATCH_TRUST_CONFIG=1``, because a file in a cloned repository could
otherwise send your key anywhere. The environment and arguments set them freely.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from lmbatch._connections import TRUST_CONFIG_ENV, trusts_config_files
from lmbatch._errors import ConfigError
from lmbatch._plugins import registry
from lmbatch._settings import ProviderSettings, validate_settings
from lmbatch._store_contract import Store
from lmbatch._store_location import STORE_ENV, store_location

if TYPE_CHECKING:
    from lmbatch._operations import BatchOperations

__all__ = [
    "TRUST_CONFIG_ENV",
    "LMBatchConfig",
    "get_batch_operations",
    "load_config",
    "resolve_store",
]

#: Key of a provider table naming the provider it configures an instance of.
TYPE_KEY = "type"

#: Set to 1 to let config files set endpoint options such as ``base_url``.


@dataclass(frozen=True)
class LMBatchConfig:
    """What a config file says.

    Attributes:
        provider: Selected provider name, or None.
        store: Job store path, or None.
        providers: Options per provider name.
        source: The file read, or None when there was none.
    """

    provider: str | None = None
    store: str | None = None
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: Path | None = None


def load_config(directory: str | os.PathLike[str] | None = None) -> LMBatchConfig:
    """Read ``lmbatch.toml`` (or ``$LMBATCH_CONFIG``), else ``[tool.lmbatch]`` of pyproject."""
    base = Path(directory) if directory is not None else Path.cwd()
    explicit = os.environ.get("LMBATCH_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"LMBATCH_CONFIG names {path}, which is not a file")
        return _parse(path, _read_toml(path))
    own = base / "lmbatch.toml"
    if own.is_file():
        return _parse(own, _read_toml(own))
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        section = _read_toml(pyproject).get("tool", {}).get("lmbatch")
        if isinstance(section, dict):
            return _parse(pyproject, section, prefix="tool.lmbatch.")
    return LMBatchConfig()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _parse(path: Path, data: dict[str, Any], prefix: str = "") -> LMBatchConfig:
    known = {"provider", "store", "providers"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(prefix + u for u in unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    provider = data.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise ConfigError(f"{path}: {prefix}provider must be a string")
    store = data.get("store")
    if store is not None:
        if not isinstance(store, str):
            raise ConfigError(f"{path}: {prefix}store must be a string")
        store = store_location(store, f"{path}: {prefix}store")
        if store != ":memory:":
            store_path = Path(store).expanduser()
            store = str(store_path if store_path.is_absolute() else path.parent / store_path)
    providers = data.get("providers", {})
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise ConfigError(
            f"{path}: {prefix}providers must be tables, e.g. [{prefix}providers.openai]"
        )
    return LMBatchConfig(provider=provider, store=store, providers=providers, source=path)


def get_batch_operations(
    provider: str | None = None,
    *,
    store: Store | str | os.PathLike[str] | None = None,
    config: LMBatchConfig | None = None,
    **options: Any,
) -> BatchOperations:
    """The configured provider, ready to use.

    Args:
        provider: Provider name; defaults to ``$LMBATCH_PROVIDER``, then the config file.
        store: Job store: a path, a ``postgresql://`` URL, or an open store (a
            :class:`JobStore`...); defaults to ``$LMBATCH_STORE``, the config file's
            ``store``, then the user data directory.
        config: Use this configuration instead of reading files.
        **options: Provider options (``model``, ``api_key``...), overriding config.

    Raises:
        ConfigError: No provider selected, or an option is unknown or invalid, or a
            config file sets where requests go (``base_url``) without
            ``LMBATCH_TRUST_CONFIG=1``.
        UnknownProviderError: The provider is not installed.
    """
    config = config if config is not None else load_config()
    name = provider or os.environ.get("LMBATCH_PROVIDER") or config.provider
    if not name:
        raise ConfigError(
            "no provider selected: pass provider=... (e.g. get_batch_operations('openai')), "
            'set LMBATCH_PROVIDER, or put provider = "..." in lmbatch.toml'
        )
    operations_class = provider_class(name, config)
    settings = configured_settings(name, config, **options)
    chosen_store = store if isinstance(store, Store) else resolve_store(store, config=config)
    return operations_class(settings, store=chosen_store)


def resolve_store(
    explicit: str | os.PathLike[str] | None = None,
    *,
    source: str = "store",
    config: LMBatchConfig | None = None,
) -> str:
    """Where the job store is: the one rule of every entry point.

    ``explicit`` (an argument, ``--store``), else ``$LMBATCH_STORE``, else the config
    file's ``store``, else ``jobs.sqlite3`` in the user data directory.
    :func:`get_batch_operations`, a :class:`BatchOperations` made directly,
    :func:`lmbatch.resume`, :func:`lmbatch.resolve` and the CLI all ask this function, so
    they all find the same store.

    Args:
        explicit: The store given by the caller, or None.
        source: How the caller gave it, for error messages (``"store"``, ``"--store"``).
        config: The configuration in effect; read from the files (only when needed)
            when not given.

    Raises:
        ConfigError: The chosen value is a URL of no backend (see
            :func:`lmbatch._store_location.store_location`), or the config file is invalid.
    """
    if explicit:
        return store_location(explicit, source)
    from_env = os.environ.get(STORE_ENV)
    if from_env:
        return store_location(from_env, STORE_ENV)
    configured = (config if config is not None else load_config()).store
    if configured:
        return configured  # checked (and made absolute) when the file was read
    from lmbatch._store import default_store_path

    return str(default_store_path())


def configured_settings(name: str, config: LMBatchConfig, **options: Any) -> ProviderSettings:
    """Provider ``name``'s settings from ``options`` over the environment and ``config``."""
    operations_class = provider_class(name, config)
    file_options = dict(config.providers.get(name, {}))
    file_options.pop(TYPE_KEY, None)
    _refuse_secrets(operations_class, file_options, config.source)
    _check_endpoints(operations_class, file_options, options, config.source)
    merged: dict[str, Any] = file_options
    env_model = model_from_environment(name)
    if env_model:
        merged["model"] = env_model
    merged.update(options)
    return validate_settings(operations_class.settings_class, name, merged)


def provider_class(name: str, config: LMBatchConfig) -> type[BatchOperations]:
    """The provider class ``name`` selects: its table's ``type``, else the provider ``name``.

    Raises:
        ConfigError: ``type`` is not a string, or renames an installed provider.
        UnknownProviderError: No installed provider has that name.
    """
    table = config.providers.get(name, {})
    if TYPE_KEY not in table:
        return registry.get(name)
    kind = table[TYPE_KEY]
    where = f"{config.source}: " if config.source is not None else ""
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"{where}providers.{name}.type must name a provider")
    if kind != name and name in {entry.name for entry in registry.entries()}:
        raise ConfigError(
            f"{where}[providers.{name}] sets type = {kind!r}, but {name!r} is an installed "
            "provider of its own: give this configuration another name"
        )
    return registry.get(kind)


def model_env_var(name: str) -> str:
    """``LMBATCH_<PROVIDER>_MODEL``: the environment variable of one provider's model."""
    return f"LMBATCH_{name.upper().replace('-', '_')}_MODEL"


def model_from_environment(name: str) -> str | None:
    """Provider ``name``'s model from the environment, if it names one.

    ``LMBATCH_<PROVIDER>_MODEL`` first. ``LMBATCH_MODEL`` only when ``LMBATCH_PROVIDER``
    names this provider too: a model is a model of one vendor, and a global model
    sent to whichever provider a command picks would send ``gpt-4.1-mini`` to Anthropic.
    """
    own = os.environ.get(model_env_var(name))
    if own:
        return own
    global_model = os.environ.get("LMBATCH_MODEL")
    if global_model and os.environ.get("LMBATCH_PROVIDER") == name:
        return global_model
    return None


def _refuse_secrets(
    operations_class: type[BatchOperations], options: dict[str, Any], source: Path | None
) -> None:
    fields = operations_class.settings_class.model_fields
    for option in options:
        info = fields.get(option)
        if info is not None and info.annotation is not None and _is_secret(info.annotation):
            raise ConfigError(
                f"{source}: option {option!r} of provider {operations_class.name!r} is a secret; "
                "secrets are never read from config files, set it in the environment"
            )


def _check_endpoints(
    operations_class: type[BatchOperations],
    file_options: dict[str, Any],
    options: dict[str, Any],
    source: Path | None,
) -> None:
    """Refuse a config file's endpoint options unless the user trusts config files.

    A config file sits in the working directory, perhaps of a repository just cloned;
    the API key comes from the user's environment (or code). Letting the file choose the
    host would let whoever wrote it receive the key. An option also given as an argument
    is not taken from the file anyway; one whose environment variable is set takes the
    environment's value (environment beats files), so the file's is dropped.
    """
    if source is None:  # an LMBatchConfig built in code, not read from a file
        return
    markers = operations_class.settings_class.endpoint_options()
    for option in [name for name in file_options if name in markers]:
        if option in options:
            continue
        env_var = markers[option].env_var
        if env_var and os.environ.get(env_var):
            del file_options[option]
            continue
        if trusts_config_files():
            continue
        how = f"set {env_var} in the environment, " if env_var else ""
        raise ConfigError(
            f"{source}: option {option!r} of provider {operations_class.name!r} decides "
            "where requests and your API key are sent, so lmbatch does not take it from a "
            "config file unless you trust it (a file in a cloned repository could send "
            f"your key anywhere). To use it: {how}pass it ({option}=... in code, "
            f"-O {option}=... on the command line), or trust config files with "
            f"{TRUST_CONFIG_ENV}=1"
        )


def config_file_naming_store(store: object = None) -> Path | None:
    """The config file whose ``store`` is in effect, when no argument or env var names one.

    Args:
        store: The store given explicitly (argument, ``--store``), if any.
    """
    if store or os.environ.get(STORE_ENV):
        return None
    config = load_config()
    return config.source if config.store else None


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return SecretStr in getattr(annotation, "__args__", ())
