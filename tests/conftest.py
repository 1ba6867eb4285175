"""Settings for this repository's test suite.

Fixtures any provider's tests can use (emulator, hostile proxy, OpenAPI mock server,
cassette checks) live in the lmbatch pytest plugin, :mod:`lmbatch.testing.pytest_plugin`;
what is here belongs to this repository (its PostgreSQL test server, its validation
setting).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import lmbatch._unchecked

if TYPE_CHECKING:
    from tests.postgres_server import PostgresServer

# Decoders build their outputs without validation (see `build_unchecked`); in the tests
# every such output is validated, so a decoder that hands over a wrong value fails here
# rather than giving users a malformed LMOutput.
lmbatch._unchecked.validate_unchecked = True


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (see ``tests/postgres_server.py``).

    Skipped when no server binaries are installed, unless ``LMBATCH_REQUIRE_POSTGRES=1``
    (CI), where their absence fails the tests instead.
    """
    import os

    from tests.postgres_server import REQUIRE_ENV, PostgresServer, find_bin_dir

    required = os.environ.get(REQUIRE_ENV) == "1"
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if required:
            pytest.fail(f"PostgreSQL server binaries are required ({REQUIRE_ENV}=1) but missing")
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if required:
            pytest.fail(f"psycopg is required ({REQUIRE_ENV}=1) but not installed")
        pytest.skip("psycopg is not installed (pip install 'lmbatch[postgresql]')")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database on the test server (one per test)."""
    name = f"lmbatch_test_{next(_databases)}"
    postgres_server.admin(f"CREATE DATABASE {name}")
    return postgres_server.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The location of a new, empty job store, once per backend: a SQLite file, then a
    fresh database on the test PostgreSQL server. Open it with ``open_store``."""
    if request.param == "sqlite":
        return str(tmp_path / "jobs.sqlite3")
    return str(request.getfixturevalue("postgres_url"))
