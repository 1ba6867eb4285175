"""Configuration resolution: arguments, environment, lmbatch.toml, pyproject.toml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest

import lmbatch
from lmbatch import ConfigError, EndpointOption, UnknownProviderError
from lmbatch.testing import FakeBatchOperations, FakeSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LMBATCH_PROVIDER", "LMBATCH_MODEL", "LMBATCH_CONFIG", "LMBATCH_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_no_provider_anywhere_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no provider selected"):
        lmbatch.get_batch_operations(store=":memory:")


def test_lmbatch_toml_selects_provider_and_options(tmp_path: Path) -> None:
    (tmp_path / "lmbatch.toml").write_text(
        'provider = "fake"\nstore = "jobs.sqlite3"\n'
        '[providers.fake]\nmodel = "from-file"\npolls_until_done = 3\n'
    )
    ops = lmbatch.get_batch_operations()
    assert isinstance(ops, FakeBatchOperations)
    assert ops.model == "from-file"
    assert ops.fake_settings.polls_until_done == 3
    assert ops.store.path == str(tmp_path / "jobs.sqlite3")


def test_pyproject_tool_section_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.lmbatch]\nprovider = "fake"\n'
        '[tool.lmbatch.providers.fake]\nmodel = "pp"\n'
    )
    ops = lmbatch.get_batch_operations(store=":memory:")
    assert ops.model == "pp"


def test_lmbatch_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.lmbatch]\nprovider = "nope"\n')
    (tmp_path / "lmbatch.toml").write_text('provider = "fake"\n')
    assert lmbatch.get_batch_operations(store=":memory:").name == "fake"


def test_env_beats_files_and_arguments_beat_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lmbatch.toml").write_text('provider = "nope"\n[providers.fake]\nmodel = "file"\n')
    monkeypatch.setenv("LMBATCH_PROVIDER", "fake")
    monkeypatch.setenv("LMBATCH_MODEL", "env")
    assert lmbatch.get_batch_operations(store=":memory:").model == "env"
    assert lmbatch.get_batch_operations(store=":memory:", model="arg").model == "arg"


def test_lmbatch_config_names_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('provider = "fake"\n[providers.fake]\nmodel = "elsewhere"\n')
    monkeypatch.setenv("LMBATCH_CONFIG", str(other))
    assert lmbatch.get_batch_operations(store=":memory:").model == "elsewhere"
    monkeypatch.setenv("LMBATCH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        lmbatch.get_batch_operations(store=":memory:")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"modle": "x"}, "unknown option 'modle'"),
        ({"polls_until_done": "many"}, "option 'polls_until_done'"),
    ],
)
def test_unknown_or_mistyped_option_names_it(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        lmbatch.get_batch_operations("fake", store=":memory:", **options)


def test_unknown_option_in_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "lmbatch.toml").write_text('provider = "fake"\n[providers.fake]\ntemprature = 1\n')
    with pytest.raises(ConfigError, match="temprature"):
        lmbatch.get_batch_operations(store=":memory:")


def test_unknown_top_level_setting_and_bad_toml(tmp_path: Path) -> None:
    (tmp_path / "lmbatch.toml").write_text('provder = "fake"\n')
    with pytest.raises(ConfigError, match="provder"):
        lmbatch.get_batch_operations(store=":memory:")
    (tmp_path / "lmbatch.toml").write_text("provider = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        lmbatch.get_batch_operations(store=":memory:")


def test_unknown_provider_from_config(tmp_path: Path) -> None:
    (tmp_path / "lmbatch.toml").write_text('provider = "nosuchvendor"\n')
    with pytest.raises(UnknownProviderError, match="nosuchvendor"):
        lmbatch.get_batch_operations(store=":memory:")


async def test_switching_vendor_is_a_one_line_config_change(tmp_path: Path) -> None:
    """The same code runs on another provider when only the config's provider line changes."""

    class StrictFake(FakeBatchOperations):
        name = "strictfake"

    from lmbatch._plugins import registry
    from tests.core.test_registry import _plugin

    registry.register_plugin(_plugin(StrictFake), "strict-plugin")
    try:
        body = '[providers.fake]\nmodel = "m1"\n[providers.strictfake]\nmodel = "m2"\n'

        async def user_code() -> tuple[str, str | None]:
            ops = lmbatch.get_batch_operations(store=":memory:")
            results = await ops.invoke({"q": "hello"}, status_check_interval=0)
            return ops.name, results["q"].text

        (tmp_path / "lmbatch.toml").write_text('provider = "fake"\n' + body)
        first = await user_code()
        (tmp_path / "lmbatch.toml").write_text('provider = "strictfake"\n' + body)
        second = await user_code()
    finally:
        registry.unregister_plugin("strict-plugin")
    assert first == ("fake", "echo: hello")
    assert second == ("strictfake", "echo: hello")


# -- endpoint options: a config file may not choose where requests go -------------------


class GatewaySettings(FakeSettings):
    """Fake settings with two options that decide where requests go."""

    gateway: Annotated[str | None, EndpointOption(env_var="GATEWAYFAKE_URL")] = None
    region_host: Annotated[str | None, EndpointOption()] = None


class GatewayFake(FakeBatchOperations):
    name = "gatewayfake"
    settings_class = GatewaySettings


@pytest.fixture
def gateway_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from lmbatch._plugins import registry
    from tests.core.test_registry import _plugin

    for name in ("LMBATCH_TRUST_CONFIG", "GATEWAYFAKE_URL"):
        monkeypatch.delenv(name, raising=False)
    registry.register_plugin(_plugin(GatewayFake), "gateway-plugin")
    yield
    registry.unregister_plugin("gateway-plugin")


def _gateway_settings(**options: object) -> GatewaySettings:
    settings = lmbatch.get_batch_operations("gatewayfake", store=":memory:", **options).settings
    assert isinstance(settings, GatewaySettings)
    return settings


@pytest.mark.usefixtures("gateway_provider")
@pytest.mark.parametrize("option", ["gateway", "region_host"])
def test_any_endpoint_marked_option_in_a_config_file_is_refused(
    tmp_path: Path, option: str
) -> None:
    (tmp_path / "lmbatch.toml").write_text(
        f'[providers.gatewayfake]\nmodel = "m"\n{option} = "https://elsewhere.example"\n'
    )
    with pytest.raises(ConfigError) as caught:
        _gateway_settings()
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'lmbatch.toml'}: option {option!r}")
    assert "LMBATCH_TRUST_CONFIG=1" in message
    assert f"-O {option}=..." in message


@pytest.mark.usefixtures("gateway_provider")
@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_trusting_config_files_lets_them_set_endpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    (tmp_path / "lmbatch.toml").write_text('[providers.gatewayfake]\ngateway = "https://gw"\n')
    monkeypatch.setenv("LMBATCH_TRUST_CONFIG", value)
    assert _gateway_settings().gateway == "https://gw"
    monkeypatch.setenv("LMBATCH_TRUST_CONFIG", "0")
    with pytest.raises(ConfigError, match="gateway"):
        _gateway_settings()


@pytest.mark.usefixtures("gateway_provider")
def test_an_endpoint_from_arguments_or_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lmbatch.toml").write_text(
        '[providers.gatewayfake]\nmodel = "from-file"\ngateway = "https://file"\n'
    )
    settings = _gateway_settings(gateway="https://argument")
    assert (settings.gateway, settings.model) == ("https://argument", "from-file")
    monkeypatch.setenv("GATEWAYFAKE_URL", "https://environment")
    # The environment beats files: the file's value is dropped, the provider reads the
    # variable itself.
    settings = _gateway_settings()
    assert (settings.gateway, settings.model) == (None, "from-file")


@pytest.mark.usefixtures("gateway_provider")
def test_a_config_built_in_code_may_set_endpoints() -> None:
    config = lmbatch.LMBatchConfig(providers={"gatewayfake": {"gateway": "https://code"}})
    ops = lmbatch.get_batch_operations("gatewayfake", store=":memory:", config=config)
    assert isinstance(ops.settings, GatewaySettings)
    assert ops.settings.gateway == "https://code"


def test_first_party_providers_mark_their_base_url() -> None:
    from lmbatch_anthropic import AnthropicSettings
    from lmbatch_openai import OpenAISettings

    assert OpenAISettings.endpoint_options() == {
        "base_url": EndpointOption("OPENAI_BASE_URL", default="https://api.openai.com/v1")
    }
    assert AnthropicSettings.endpoint_options() == {
        "base_url": EndpointOption("ANTHROPIC_BASE_URL", default="https://api.anthropic.com")
    }


# -- a store URL is not a file name (issue 15 item 6) ------------------------------------

# A URL of no store backend (postgresql:// URLs open a PostgreSQL store: issue 18).
STORE_URL = "s3://ann:s3cret@db.example/jobs"


def _no_url_folder(tmp_path: Path) -> None:
    assert not (tmp_path / "s3:").exists()


def test_a_store_url_in_the_environment_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMBATCH_STORE", STORE_URL)
    with pytest.raises(ConfigError, match="LMBATCH_STORE") as caught:
        lmbatch.get_batch_operations("fake").store  # noqa: B018
    assert "s3://ann:***@db.example/jobs" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    _no_url_folder(tmp_path)
    # Operations built directly read the variable too.
    with pytest.raises(ConfigError, match="LMBATCH_STORE"):
        FakeBatchOperations().store  # noqa: B018
    _no_url_folder(tmp_path)


def test_a_store_url_in_the_config_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "lmbatch.toml").write_text(f'provider = "fake"\nstore = "{STORE_URL}"\n')
    with pytest.raises(ConfigError) as caught:
        lmbatch.get_batch_operations()
    assert f"{tmp_path / 'lmbatch.toml'}: store" in str(caught.value)
    _no_url_folder(tmp_path)


@pytest.mark.parametrize("url", [STORE_URL, "sqlite:///jobs.sqlite3", "s3://bucket/jobs"])
def test_a_store_url_argument_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="store"):
        lmbatch.get_batch_operations("fake", store=url).store  # noqa: B018
    with pytest.raises(ConfigError, match="a URL of no store backend"):
        lmbatch.JobStore(url)
    _no_url_folder(tmp_path)


def test_the_sqlite_job_store_refuses_a_postgresql_url_saying_how_to_open_it() -> None:
    with pytest.raises(ConfigError, match=r"open_store\(url\)"):
        lmbatch.JobStore("postgresql://ann@db.example/jobs")


async def test_resume_refuses_a_store_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LMBATCH_STORE", STORE_URL)
    with pytest.raises(ConfigError, match="LMBATCH_STORE"):
        await lmbatch.resume("lmbjob_x")
    _no_url_folder(tmp_path)


def test_a_file_url_names_a_local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stores" / "jobs.sqlite3"
    monkeypatch.setenv("LMBATCH_STORE", path.as_uri())
    assert lmbatch.get_batch_operations("fake").store.path == str(path)
    assert lmbatch.JobStore(path.as_uri()).path == str(path)
    assert path.is_file()


async def test_every_entry_point_finds_the_store_the_config_file_names(tmp_path: Path) -> None:
    # One rule picks the store: get_batch_operations, operations made directly, resume,
    # resolve and the CLI all find the lmbatch.toml's store (relative to the file).
    from lmbatch.cli._provider_choice import operations_for, store_path
    from lmbatch.testing import default_backend

    (tmp_path / "lmbatch.toml").write_text(
        'provider = "fake"\nstore = "state/jobs.sqlite3"\n[providers.fake]\nmodel = "m"\n'
    )
    expected = str(tmp_path / "state" / "jobs.sqlite3")
    ops = lmbatch.get_batch_operations()
    assert ops.store.path == expected
    assert FakeBatchOperations(model="m").store.path == expected
    assert store_path(None) == expected
    assert operations_for(provider=None).store.path == expected
    default_backend.reset()
    job_id = await ops.create({"a": "hello", "b": "world"})
    await ops.aclose()
    results = await lmbatch.resume(job_id, status_check_interval=0, resubmit=0)
    assert sorted(results) == ["a", "b"]
    with pytest.raises(lmbatch.LMBatchError, match="nothing to resolve"):
        lmbatch.resolve(job_id, chunk=0, not_created=True)


def test_the_global_model_applies_only_to_the_provider_named_the_same_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # LMBATCH_MODEL=gpt-4.1-mini LMBATCH_PROVIDER=openai must not send gpt-4.1-mini to
    # another provider picked explicitly.
    monkeypatch.setenv("LMBATCH_PROVIDER", "openai")
    monkeypatch.setenv("LMBATCH_MODEL", "gpt-4.1-mini")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    assert lmbatch.get_batch_operations(store=":memory:").model == "gpt-4.1-mini"
    assert lmbatch.get_batch_operations("anthropic", store=":memory:").model is None
    monkeypatch.setenv("LMBATCH_ANTHROPIC_MODEL", "claude-sonnet-4-5")
    assert lmbatch.get_batch_operations("anthropic", store=":memory:").model == (
        "claude-sonnet-4-5"
    )
    monkeypatch.setenv("LMBATCH_OPENAI_MODEL", "gpt-4.1")
    assert lmbatch.get_batch_operations(store=":memory:").model == "gpt-4.1"  # the specific wins


async def test_a_misspelt_model_is_refused_before_anything_is_sent_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    store = tmp_path / "jobs.sqlite3"
    # Nothing listens there: a refusal must come before any call.
    options = {"base_url": "http://127.0.0.1:9/v1", "max_retries": 0, "store": store}
    ops = lmbatch.get_batch_operations("openai", model="gpt-4.1-mni", **options)
    with pytest.raises(lmbatch.ValidationError, match=r"did you mean 'gpt-4\.1-mini'"):
        await ops.create({"a": "Hi"})
    assert ops.store.list_jobs() == []
    dated = lmbatch.get_batch_operations("openai", model="gpt-4.1-mini-2025-04-14", **options)
    dated.check_ready()  # a dated alias is a known model
    tuned = lmbatch.get_batch_operations(
        "openai", model="ft:gpt-4.1-mini:acme::x1", allow_unknown_model=True, **options
    )
    tuned.check_ready()
    priced = lmbatch.get_batch_operations(
        "openai", model="my-own", prices={"my-own": {"input": 1, "output": 2}}, **options
    )
    priced.check_ready()  # a model given a price is known
    for each in (ops, dated, tuned, priced):
        await each.aclose()


def test_a_provider_table_with_a_type_is_a_named_instance_of_that_provider(
    tmp_path: Path,
) -> None:
    """``[providers.<name>] type = "..."``: several configurations of one provider."""
    (tmp_path / "lmbatch.toml").write_text(
        'provider = "slow"\n'
        '[providers.slow]\ntype = "fake"\nmodel = "m-slow"\npolls_until_done = 7\n'
        '[providers.quick]\ntype = "fake"\nmodel = "m-quick"\npolls_until_done = 1\n'
    )
    slow = lmbatch.get_batch_operations(store=":memory:")
    quick = lmbatch.get_batch_operations("quick", store=":memory:")
    assert isinstance(slow, FakeBatchOperations)
    assert isinstance(quick, FakeBatchOperations)
    assert (slow.model, slow.fake_settings.polls_until_done) == ("m-slow", 7)
    assert (quick.model, quick.fake_settings.polls_until_done) == ("m-quick", 1)


def test_a_named_instance_takes_its_model_from_its_own_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lmbatch.toml").write_text('[providers.mine]\ntype = "fake"\nmodel = "file"\n')
    monkeypatch.setenv("LMBATCH_MINE_MODEL", "env")
    assert lmbatch.get_batch_operations("mine", store=":memory:").model == "env"


@pytest.mark.parametrize(
    ("table", "error", "message"),
    [
        ('[providers.mine]\ntype = "nosuchvendor"\n', UnknownProviderError, "nosuchvendor"),
        ("[providers.mine]\ntype = 3\n", ConfigError, "providers.mine.type"),
        # An installed provider's name cannot be taken over by another provider.
        ('[providers.fake]\ntype = "other"\n', ConfigError, "another name"),
    ],
)
def test_a_bad_type_is_refused_naming_it(
    tmp_path: Path, table: str, error: type[Exception], message: str
) -> None:
    (tmp_path / "lmbatch.toml").write_text('provider = "mine"\n' + table)
    name = "fake" if "providers.fake" in table else "mine"
    with pytest.raises(error, match=message):
        lmbatch.get_batch_operations(name, store=":memory:")


@pytest.mark.usefixtures("gateway_provider")
def test_a_named_instance_may_not_set_its_endpoint_from_an_untrusted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The base-URL guard holds for instances: a cloned repository's file cannot pick a host."""
    (tmp_path / "lmbatch.toml").write_text(
        '[providers.mine]\ntype = "gatewayfake"\ngateway = "https://elsewhere.example"\n'
    )
    with pytest.raises(ConfigError, match="gateway"):
        lmbatch.get_batch_operations("mine", store=":memory:")
    monkeypatch.setenv("LMBATCH_TRUST_CONFIG", "1")
    ops = lmbatch.get_batch_operations("mine", store=":memory:")
    assert isinstance(ops.settings, GatewaySettings)
    assert ops.settings.gateway == "https://elsewhere.example"
