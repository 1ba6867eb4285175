"""Vendor-given links are only followed on the configured API (credentials stay home)."""

from __future__ import annotations

import pytest

from lmbatch import ProviderError, UntrustedURLError
from lmbatch._urls import download_url

VENDOR = ("https://api.vendor.example",)
RESULTS = "/v1/messages/batches/b1/results"


@pytest.mark.parametrize(
    ("base_url", "link"),
    [
        ("https://api.vendor.example", f"https://api.vendor.example{RESULTS}"),
        ("https://api.vendor.example/", f"https://API.vendor.example:443{RESULTS}?sig=1"),
        ("http://127.0.0.1:8089", f"http://127.0.0.1:8089{RESULTS}"),
        ("https://gateway.example/anthropic", f"https://gateway.example/other{RESULTS}"),
    ],
)
def test_a_link_on_the_base_url_origin_is_followed_as_given(base_url: str, link: str) -> None:
    assert download_url(link, base_url=base_url, vendor_base_urls=VENDOR) == link


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:8089", f"http://127.0.0.1:8089{RESULTS}?sig=1"),
        ("https://gateway.example/anthropic/", f"https://gateway.example/anthropic{RESULTS}?sig=1"),
    ],
)
def test_a_link_on_the_vendor_host_is_read_through_the_configured_base_url(
    base_url: str, expected: str
) -> None:
    link = f"https://api.vendor.example{RESULTS}?sig=1"
    assert download_url(link, base_url=base_url, vendor_base_urls=VENDOR) == expected


def test_the_vendor_root_path_is_replaced_by_the_base_url() -> None:
    link = "https://api.vendor.example/v1/files/f1/content"
    rewritten = download_url(
        link, base_url="http://127.0.0.1:9/v1", vendor_base_urls=("https://api.vendor.example/v1",)
    )
    assert rewritten == "http://127.0.0.1:9/v1/files/f1/content"


def test_a_relative_link_is_on_the_base_url() -> None:
    assert (
        download_url(RESULTS, base_url="http://127.0.0.1:8089") == f"http://127.0.0.1:8089{RESULTS}"
    )


@pytest.mark.parametrize(
    ("link", "host"),
    [
        (f"https://attacker.example{RESULTS}", "attacker.example"),
        (f"https://api.vendor.example:8443{RESULTS}", "api.vendor.example:8443"),
        (f"http://api.vendor.example{RESULTS}", "api.vendor.example"),  # no https downgrade
        (f"https://api.vendor.example@attacker.example{RESULTS}", "attacker.example"),
        (f"//attacker.example{RESULTS}", "attacker.example"),
        ("file:///etc/passwd", "file:///etc/passwd"),
        (f"http://127.0.0.1:1{RESULTS}", "127.0.0.1:1"),
    ],
)
def test_a_link_anywhere_else_is_a_typed_error_naming_the_host(link: str, host: str) -> None:
    with pytest.raises(UntrustedURLError) as caught:
        download_url(link, base_url="https://api.vendor.example", vendor_base_urls=VENDOR)
    assert caught.value.host == host
    assert host in str(caught.value)
    assert isinstance(caught.value, ProviderError)
    assert not caught.value.is_transient
