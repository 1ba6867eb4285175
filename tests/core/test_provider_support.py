"""What core does for providers: keys, base URLs, vendor errors, the JSONL shell, transience."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import SecretStr

from lmbatch.provider import (
    AuthenticationError,
    BatchInfo,
    BatchNotFoundError,
    BatchOperations,
    BatchStatus,
    EndpointOption,
    Hyperparameters,
    LMError,
    LMOutput,
    Message,
    MissingCredentialsError,
    PreparedBatch,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    ProviderSettings,
    RateLimitError,
    ResultRecord,
    SubmissionUncertainError,
    create_failure,
    create_uncertain,
    empty_counts,
    error_for_status,
    is_definite_refusal,
    is_transient_status,
)


class LineSettings(ProviderSettings):
    """Settings of the test vendor."""

    model: str | None = "m"
    api_key: SecretStr | None = None
    base_url: str | None = None


class LineOperations(BatchOperations):
    """A vendor whose results are JSON lines held in memory."""

    name = "lines"
    settings_class = LineSettings
    api_key_env = ("LINES_API_KEY", "LINES_OTHER_KEY")
    default_base_url = "https://api.lines.example/v1"
    base_url_env = "LINES_BASE_URL"

    lines: list[str | bytes]  # set by each test

    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        return {"custom_id": custom_id}

    async def submit_batch(self, batch: PreparedBatch) -> str:
        raise NotImplementedError

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        raise NotImplementedError

    async def iter_result_lines(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[str | bytes]:
        for line in self.lines:
            yield line

    def decode_record(self, record: dict[str, Any], context: dict[str, Any]) -> ResultRecord:
        return ResultRecord(record.get("custom_id"), LMOutput(finish_details=dict(context)))


@pytest.fixture(autouse=True)
def _no_ambient_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LINES_API_KEY", "LINES_OTHER_KEY", "LINES_BASE_URL", "ACME_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


# -- API key and base URL -------------------------------------------------------------


def test_the_key_option_wins_then_the_variables_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINES_OTHER_KEY", "second")
    assert LineOperations(store=":memory:").api_key() == "second"
    monkeypatch.setenv("LINES_API_KEY", "first")
    assert LineOperations(store=":memory:").api_key() == "first"
    assert LineOperations(api_key="given", store=":memory:").api_key() == "given"


def test_a_missing_key_names_every_variable_and_is_refused_before_the_model() -> None:
    ops = LineOperations(model=None, store=":memory:")  # building it needs no key
    with pytest.raises(MissingCredentialsError) as caught:
        ops.check_ready()
    assert caught.value.env_var == "LINES_API_KEY"
    assert caught.value.env_vars == ("LINES_API_KEY", "LINES_OTHER_KEY")
    assert "LINES_API_KEY or LINES_OTHER_KEY" in str(caught.value)
    assert "api_key=..." in str(caught.value)


def test_a_provider_that_declares_no_key_needs_none() -> None:
    class Keyless(LineOperations):
        api_key_env = ()

    Keyless(store=":memory:").check_ready()  # the model is set: nothing missing


def test_one_key_variable_may_be_given_bare() -> None:
    class Bare(LineOperations):
        api_key_env = "BARE_KEY"  # type: ignore[assignment]

    assert Bare.api_key_env == ("BARE_KEY",)


def test_base_url_option_then_variable_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LineOperations(store=":memory:").base_url() == "https://api.lines.example/v1"
    monkeypatch.setenv("LINES_BASE_URL", "http://127.0.0.1:1/v1")
    assert LineOperations(store=":memory:").base_url() == "http://127.0.0.1:1/v1"
    given = LineOperations(base_url="http://127.0.0.1:2/v1", store=":memory:")
    assert given.base_url() == "http://127.0.0.1:2/v1"


def test_declared_base_url_derives_the_settings_the_store_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class AcmeBatchOperations(LineOperations):
        name = "acme"
        default_base_url = "https://api.acme.example/v1"
        base_url_env = "ACME_BASE_URL"

    settings_class = AcmeBatchOperations.settings_class
    assert settings_class.__name__ == "AcmeSettings"
    assert issubclass(settings_class, LineSettings)
    marker = settings_class.endpoint_options()["base_url"]
    assert (marker.env_var, marker.default) == ("ACME_BASE_URL", "https://api.acme.example/v1")
    ops = AcmeBatchOperations(store=":memory:")
    assert ops.connection["base_url"] == "https://api.acme.example/v1"
    assert ops.endpoint_identity == ""  # the vendor's default endpoint
    monkeypatch.setenv("ACME_BASE_URL", "http://127.0.0.1:3/v1")
    ops = AcmeBatchOperations(store=":memory:")
    assert ops.base_url() == ops.connection["base_url"] == "http://127.0.0.1:3/v1"
    assert ops.endpoint_identity == "base_url=http://127.0.0.1:3/v1"


def test_settings_that_already_agree_are_kept() -> None:
    class AgreeingSettings(ProviderSettings):
        base_url: Annotated[
            str | None, EndpointOption(env_var="AGREE_BASE_URL", default="https://agree.example")
        ] = None

    class Agreeing(LineOperations):
        settings_class = AgreeingSettings
        default_base_url = "https://agree.example"
        base_url_env = "AGREE_BASE_URL"

    assert Agreeing.settings_class is AgreeingSettings


def test_a_class_that_declares_no_base_url_takes_its_settings_marker() -> None:
    class MarkedSettings(ProviderSettings):
        base_url: Annotated[
            str | None, EndpointOption(env_var="MARKED_BASE_URL", default="https://marked.example")
        ] = None

    class Marked(BatchOperations):
        name = "marked"
        settings_class = MarkedSettings

        def encode_request(self, *args: Any) -> dict[str, Any]:
            return {}

        async def submit_batch(self, batch: PreparedBatch) -> str:
            return ""

        async def fetch_batch(self, batch_id: str) -> BatchInfo:
            raise NotImplementedError

        async def iter_result_records(
            self, info: BatchInfo, context: dict[str, Any]
        ) -> AsyncIterator[ResultRecord]:
            yield ResultRecord(None, LMOutput())

    assert Marked.settings_class is MarkedSettings
    assert (Marked.base_url_env, Marked.default_base_url) == (
        "MARKED_BASE_URL",
        "https://marked.example",
    )
    assert Marked(store=":memory:").base_url() == "https://marked.example"


def test_a_provider_must_read_results_one_way_or_the_other() -> None:
    class NoResults(BatchOperations):
        name = "noresults"

        def encode_request(self, *args: Any) -> dict[str, Any]:
            return {}

        async def submit_batch(self, batch: PreparedBatch) -> str:
            return ""

        async def fetch_batch(self, batch_id: str) -> BatchInfo:
            raise NotImplementedError

    with pytest.raises(TypeError, match="iter_result_lines and decode_record"):
        NoResults(store=":memory:")


# -- the JSONL shell --------------------------------------------------------------------


def _info() -> BatchInfo:
    return BatchInfo(
        id="b",
        provider="lines",
        status=BatchStatus.FINISHED,
        provider_status="done",
        created_at=None,
        request_counts=empty_counts(0),
        model=None,
        metadata={},
        errors=[],
        raw={},
    )


async def test_result_lines_are_parsed_and_broken_ones_flagged() -> None:
    ops = LineOperations(store=":memory:")
    ops.lines = [
        '{"custom_id": "a"}\n',
        b'{"custom_id": "b"}',
        "   \n",  # blank: skipped
        '{"custom_id": "c", "resp',  # cut short: the id is recovered
        "[1, 2]",  # JSON, not an object
        b'{"custom_id": "d", "text": "\xff"}',  # not UTF-8: the id is recovered
    ]
    records = [record async for record in ops.iter_result_records(_info(), {"k": 1})]
    assert [record.custom_id for record in records] == ["a", "b", "c", None, "d"]
    assert records[0].output.ok
    assert records[0].output.finish_details == {"k": 1}  # decode_record got the context
    for record in records[2:]:
        error = record.output.error
        assert error is not None
        assert error.kind == "invalid_response"
        assert error.code == "malformed_line"
        assert error.provider == "lines"


async def test_result_context_is_read_once_per_batch() -> None:
    class WithContext(LineOperations):
        def result_context(self, info: BatchInfo, context: dict[str, Any]) -> dict[str, Any]:
            return {**context, "batch": info["id"]}

    ops = WithContext(store=":memory:")
    ops.lines = ['{"custom_id": "a"}']
    (record,) = [record async for record in ops.iter_result_records(_info(), {})]
    assert record.output.finish_details == {"batch": "b"}


# -- vendor errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected", "transient"),
    [
        (None, ProviderConnectionError, True),
        (400, ProviderRequestError, False),
        (401, AuthenticationError, False),
        (403, AuthenticationError, False),
        (404, BatchNotFoundError, False),
        (408, ProviderRequestError, True),
        (409, ProviderRequestError, True),
        (413, ProviderRequestError, False),
        (429, RateLimitError, True),
        (500, ProviderServerError, True),
        (529, ProviderServerError, True),
    ],
)
def test_error_for_status(
    status: int | None, expected: type[ProviderError], transient: bool
) -> None:
    error = error_for_status(status, "boom", provider="lines", request_id="req_1", code="c")
    assert type(error) is expected
    assert error.is_transient is transient
    assert (error.provider, error.status_code, error.code) == ("lines", status, "c")
    assert error.request_id == ("req_1" if status is not None else None)
    assert str(error).startswith("boom")


def test_a_404_of_a_call_naming_no_batch_names_the_base_url() -> None:
    error = error_for_status(
        404,
        "lines: upload failed: Not Found",
        provider="lines",
        base_url="http://127.0.0.1:1/wrong",
        base_url_env="LINES_BASE_URL",
    )
    assert type(error) is ProviderRequestError
    assert "not found at base URL http://127.0.0.1:1/wrong" in str(error)
    assert "LINES_BASE_URL" in str(error)


def _batch(tmp_path: Path) -> PreparedBatch:
    path = tmp_path / "chunk.jsonl"
    path.write_text("{}\n")
    return PreparedBatch(job_id="lmbjob_1", chunk_index=3, path=path, request_count=1, byte_size=3)


@pytest.mark.parametrize("status", [400, 404, 429])
def test_a_create_answered_4xx_is_a_refusal(tmp_path: Path, status: int) -> None:
    error = error_for_status(status, "no", provider="lines")
    assert is_definite_refusal(error)
    assert create_failure(_batch(tmp_path), error, provider="lines") is error


@pytest.mark.parametrize("status", [None, 500, 503])
def test_a_create_that_failed_otherwise_is_uncertain(tmp_path: Path, status: int | None) -> None:
    cause = error_for_status(status, "lost", provider="lines", request_id="req_9", code="x")
    assert not is_definite_refusal(cause)
    error = create_failure(_batch(tmp_path), cause, provider="lines", details={"file_id": "f1"})
    assert isinstance(error, SubmissionUncertainError)
    assert error.details == {"job_id": "lmbjob_1", "chunk": "3", "file_id": "f1"}
    assert (error.provider, error.status_code, error.code) == ("lines", status, "x")
    assert error.request_id == cause.request_id
    assert "chunk 3 of job lmbjob_1" in str(error)
    assert "file_id=f1" in str(error)


def test_an_uncertain_create_is_never_a_refusal(tmp_path: Path) -> None:
    error = create_uncertain(_batch(tmp_path), "answered without a batch id", provider="lines")
    assert not is_definite_refusal(error)
    assert create_failure(_batch(tmp_path), error, provider="lines") is error
    assert "answered without a batch id" in str(error)


# -- transient failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [(None, False), (400, False), (404, False), (408, True), (409, True), (429, True), (500, True)],
)
def test_transient_statuses(status: int | None, expected: bool) -> None:
    assert is_transient_status(status) is expected
    assert LMOutput.failure("errored", status_code=status).error.transient is expected  # type: ignore[union-attr]
    assert LMError(kind="errored", status_code=status).transient is expected


def test_the_decoder_decides_transience_over_the_status() -> None:
    assert LMOutput.failure("errored", code="busy", transient=True).error.transient  # type: ignore[union-attr]
    assert not LMOutput.failure("errored", status_code=503, transient=False).error.transient  # type: ignore[union-attr]


def test_outputs_stored_before_the_flag_existed_still_load() -> None:
    old = (
        '{"outputs": [], "token_usage": null, "finish_details": {}, "raw": null, '
        '"error": {"kind": "errored", "code": "c", "message": "m", "status_code": 429, '
        '"provider": "openai"}}'
    )
    output = LMOutput.model_validate_json(old)
    assert output.error is not None
    assert output.error.transient  # what its status says
    assert LMOutput.model_validate_json(output.model_dump_json()) == output
