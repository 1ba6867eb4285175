"""What recording a cassette stores: the emulator's URLs as the vendor's, no secrets.

The hooks of :func:`lmbatch.testing.cassettes.vcr_config_for`, and where
:class:`~lmbatch.testing.cassettes.CassetteVendor` sends a test's requests in each mode.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from vcr.request import Request

from lmbatch.testing.cassettes import DUMMY_API_KEY, CassetteVendor, vcr_config_for
from lmbatch.testing.emulator import Emulator

ORIGIN = "https://api.vendor.test"


def _recorded_request(config: dict[str, Any], uri: str, headers: dict[str, str]) -> Any:
    return config["before_record_request"](Request("GET", uri, b"", headers))


def test_the_emulated_root_is_dropped_with_the_local_origin() -> None:
    config = vcr_config_for(ORIGIN, emulated_root="/vendor")
    request = _recorded_request(
        config,
        "http://127.0.0.1:4321/vendor/v1/batches?after=b1",
        {"Host": "127.0.0.1:4321", "Authorization": "Bearer k"},
    )
    assert request.uri == ORIGIN + "/v1/batches?after=b1"
    assert request.headers == {"Host": "api.vendor.test"}


def test_a_path_that_only_starts_like_the_root_keeps_it() -> None:
    config = vcr_config_for(ORIGIN, emulated_root="/vendor")
    request = _recorded_request(config, "http://127.0.0.1:4321/vendorx/v1", {})
    assert request.uri == ORIGIN + "/vendorx/v1"


def test_responses_lose_key_headers_and_point_at_the_vendor() -> None:
    config = vcr_config_for(ORIGIN, emulated_root="/vendor", key_headers=["X-Vendor-Key"])
    response = {
        "status": {"code": 302, "message": "Found"},
        "headers": {
            "Location": ["http://127.0.0.1:4321/vendor/upload/file-1"],
            "X-Vendor-Key": ["secret"],
            "Set-Cookie": ["session=1"],
        },
        "body": {"string": b'{"url": "http://localhost:4321/vendor/v1/files/f"}'},
    }
    scrubbed = config["before_record_response"](response)
    assert scrubbed["headers"] == {"Location": [ORIGIN + "/upload/file-1"]}
    assert scrubbed["body"]["string"] == b'{"url": "' + ORIGIN.encode() + b'/v1/files/f"}'
    assert "x-vendor-key" in config["filter_headers"]


class _Settings:
    """Stands for a provider's settings class: it has ``max_retries``."""

    model_fields: ClassVar[dict[str, Any]] = {"max_retries": None}


class _Provider:
    """Stands for a provider class: records the options it was built with."""

    settings_class = _Settings

    def __init__(self, **options: Any) -> None:
        self.options = options


def _vendor(**fields: Any) -> CassetteVendor:
    return CassetteVendor(
        provider=_Provider,  # type: ignore[arg-type]
        origin=ORIGIN,
        base_path="/api/v1",
        emulated_root="/openai-like",
        live_key_variable="LMBATCH_LIVE_VENDOR_TEST_KEY",
        options={"model": "m"},
        **fields,
    )


def test_replay_aims_at_the_vendor_with_a_dummy_key() -> None:
    with _vendor().target("none") as target:
        assert (target.base_url, target.api_key) == (ORIGIN + "/api/v1", DUMMY_API_KEY)
        assert target.emulator is None
        assert not target.live
        assert target.poll_interval == 0


def test_recording_uses_the_live_key_only_from_its_own_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LMBATCH_LIVE_VENDOR_TEST_KEY", "live-key")
    with _vendor().target("once") as target:
        assert (target.base_url, target.api_key, target.live) == (
            ORIGIN + "/api/v1",
            "live-key",
            True,
        )
        assert target.poll_interval == 30


def test_recording_without_a_live_key_runs_an_emulator_for_the_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LMBATCH_LIVE_VENDOR_TEST_KEY", raising=False)
    with _vendor().target("once") as target:
        emulator = target.emulator
        assert isinstance(emulator, Emulator)
        assert target.base_url == emulator.base_url + "/openai-like/api/v1"
        assert not target.live
    with pytest.raises(RuntimeError):
        emulator.port  # noqa: B018 - stopped with the test


def test_operations_take_the_target_and_the_vendor_s_options() -> None:
    with _vendor(base_url_option="endpoint").target("none") as target:
        ops = target.operations(model="other")
    assert ops.options == {
        "endpoint": ORIGIN + "/api/v1",
        "api_key": DUMMY_API_KEY,
        "max_retries": 0,
        "store": ":memory:",
        "model": "other",
    }
