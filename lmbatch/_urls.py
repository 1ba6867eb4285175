"""Which host a vendor-given link may be fetched from: credentials never leave the API.

Some vendors answer with links to follow (Anthropic's ``results_url``). A provider's
client sends the API key with every call, so following a link blindly would hand the key
to whatever host the link names, and would bypass a gateway or emulator configured as
the base URL. Providers pass every such link through :func:`download_url` first.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import SplitResult, urljoin, urlsplit

from lmbatch._errors import UntrustedURLError

__all__ = ["download_url"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def download_url(
    url: str,
    *,
    base_url: str,
    vendor_base_urls: Iterable[str] = (),
    provider: str | None = None,
) -> str:
    """The URL to fetch a vendor-given link from, on the configured base URL.

    Args:
        url: The link as the vendor gave it (absolute, or relative to ``base_url``).
        base_url: The API root the provider's client is configured with.
        vendor_base_urls: The vendor's documented API roots (e.g.
            ``https://api.anthropic.com``). A link on one of them is read through
            ``base_url`` instead (its path below the vendor root, put under
            ``base_url``), so a gateway or emulator base URL is honoured.
        provider: Provider name, for the error.

    Returns:
        ``url`` itself when it is on ``base_url``'s origin (same scheme, host and port);
        the rewritten URL when it is on a vendor root.

    Raises:
        UntrustedURLError: The link names any other host (or another scheme or port of
            the same host, e.g. plain http for an https API); nothing was sent there.
    """
    base = urlsplit(base_url)
    # A relative link is the base URL's own; a scheme-relative one ("//host/...") is not.
    target = urlsplit(urljoin(base_url.rstrip("/") + "/", url))
    target_origin = _origin(target)
    if target_origin is not None and target_origin == _origin(base):
        return target.geturl()
    for vendor_url in vendor_base_urls:
        vendor = urlsplit(vendor_url)
        if target_origin is not None and target_origin == _origin(vendor):
            root = vendor.path.rstrip("/")
            path = target.path
            if root and (path == root or path.startswith(root + "/")):
                path = path[len(root) :]
            rewritten = base_url.rstrip("/") + path
            return f"{rewritten}?{target.query}" if target.query else rewritten
    host = _host(target) or url
    raise UntrustedURLError(
        f"the vendor gave a download link on {host}, which is not the configured API "
        f"({_host(base) or base_url}); it was not followed, so no credentials were sent "
        "there. If that host is a gateway you use, make it the provider's base_url",
        host=host,
        provider=provider,
    )


def _origin(parts: SplitResult) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL; None for anything else."""
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        return None
    return scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def _host(parts: SplitResult) -> str:
    """``host`` or ``host:port`` as written in the URL (without any user info)."""
    return parts.netloc.rpartition("@")[2]
