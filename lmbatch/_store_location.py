"""Store locations: a value (path or URL) checked to name a store backend.

The store is a local SQLite file, or a PostgreSQL database named by a
``postgresql://`` (or ``postgres://``) URL. Any other URL used to be taken as a relative
path (a folder named ``scheme:`` appeared), so several machines each kept a store of
their own and each submitted the same job again. Every store value (an argument,
``$LMBATCH_STORE``, the config file's ``store``, :class:`~lmbatch.JobStore`'s path) goes
through :func:`store_location`, which refuses any other ``scheme://`` value, naming
where it came from. ``file://`` URLs name a local file and are turned into its path.
Which value is in effect is decided in one place, :func:`lmbatch._config.resolve_store`.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import url2pathname

from lmbatch._errors import ConfigError

__all__ = ["STORE_ENV", "store_location"]

#: The environment variable naming the job store.
STORE_ENV = "LMBATCH_STORE"
# Two letters at least, so a Windows drive ("C://...") is never taken for a scheme.
_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")


def _shown(url: str) -> str:
    """``url`` with any password replaced by ``***``: messages never carry secrets."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def store_location(value: str | os.PathLike[str], source: str) -> str:
    """``value`` as a store file path (``":memory:"`` stays as it is).

    Args:
        value: A path, ``":memory:"``, a ``file://`` URL, or a ``postgresql://`` URL
            (returned as it is).
        source: Where the value came from, for the error message (``"LMBATCH_STORE"``,
            ``"lmbatch.toml: store"``, ``"--store"``...).

    Raises:
        ConfigError: ``value`` is a URL other than ``file://`` and ``postgresql://``
            (or a ``file://`` URL of another host).
    """
    text = os.fspath(value)
    match = _URL_RE.match(text)
    if match is None:
        return text
    if match.group(1).lower() in ("postgresql", "postgres"):
        return text
    if match.group(1).lower() == "file":
        parts = urlsplit(text)
        if parts.netloc in ("", "localhost"):
            return url2pathname(unquote(parts.path))
    raise ConfigError(
        f"{source} is {_shown(text)!r}, a URL of no store backend: give a file path for "
        "a SQLite store (a file:// URL works too), or a postgresql://user@host/db URL for "
        "a PostgreSQL store shared by several machines"
    )
