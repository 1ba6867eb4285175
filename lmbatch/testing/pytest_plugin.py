"""lmbatch's pytest plugin: fixtures for provider tests and for code that uses lmbatch.

pytest loads it in every run where lmbatch is installed (entry point ``lmbatch`` in group
``pytest11``; ``-p no:lmbatch`` turns it off), so a third-party provider's tests get the
same fixtures as the first-party ones. Importing it is cheap: the emulator, the proxy,
VCR and YAML are imported only by the fixtures that use them.

Fixtures (any of them can be overridden by a ``conftest.py`` fixture of the same name):

* ``emulator_settings`` (module scope): the :class:`~lmbatch.testing.emulator.EmulatorSettings`
  of ``emulator_server``; ``mode="polls"`` unless a conftest overrides it.
* ``emulator_server`` (module scope): one running
  :class:`~lmbatch.testing.emulator.Emulator` per test module (starting one takes a moment).
* ``emulator``: the module's emulator, emptied before and after the test.
* ``hostile_proxy``: starts :class:`~lmbatch.testing.proxy.HostileProxy` instances, all
  stopped when the test ends.
* ``openapi_mock`` (session scope): starts a spec-driven mock server (Prism) for an
  OpenAPI file and returns its URL; see :func:`find_prism`.

* ``cassette_target``: where a cassette test sends its requests (a
  :class:`~lmbatch.testing.cassettes.CassetteTarget`: the vendor's URL in replay, the
  emulator or the live API when recording), built from the ``cassette_vendor`` fixture
  a provider's ``conftest.py`` defines (a
  :class:`~lmbatch.testing.cassettes.CassetteVendor`).

And, for tests marked ``@pytest.mark.vcr`` whose ``vcr_config`` comes from
:func:`lmbatch.testing.cassettes.vcr_config_for` (other cassette tests are left alone):

* the ``lmbatch_body`` matcher and ``lmbatch_yaml`` serializer are registered;
* a replayed test that leaves interactions of its cassette unplayed fails;
* every job's request ids end with
  :data:`~lmbatch.testing.cassettes.CASSETTE_JOB_TAG`, so recorded bodies match on replay.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from lmbatch.testing.cassettes import CassetteTarget, CassetteVendor
    from lmbatch.testing.emulator import Emulator, EmulatorSettings
    from lmbatch.testing.proxy import HostileProxy

__all__ = [
    "REQUIRE_MOCK_SERVER_ENV",
    "cassette_fully_played",
    "cassette_target",
    "cassette_vendor",
    "emulator",
    "emulator_server",
    "emulator_settings",
    "find_prism",
    "hostile_proxy",
    "openapi_mock",
    "pinned_job_tag",
]

#: Set to ``1`` (as CI does) and a missing mock server fails the tests that need it
#: instead of skipping them.
REQUIRE_MOCK_SERVER_ENV = "LMBATCH_REQUIRE_MOCK_SERVER"
#: Seconds a mock server gets to start listening.
_MOCK_START_TIMEOUT = 60.0


# -------------------------------------------------------------------------- emulator


@pytest.fixture(scope="module")
def emulator_settings() -> EmulatorSettings:
    """How ``emulator_server`` behaves: batches advance one step per status check.

    Override it in a ``conftest.py`` (module scope or wider) to change the pace or add
    faults for a directory of tests.
    """
    from lmbatch.testing.emulator import EmulatorSettings

    return EmulatorSettings(mode="polls")


@pytest.fixture(scope="module")
def emulator_server(emulator_settings: EmulatorSettings) -> Iterator[Emulator]:
    """One emulator per test module, started with ``emulator_settings``."""
    from lmbatch.testing.emulator import Emulator

    with Emulator(emulator_settings) as running:
        yield running


@pytest.fixture
def emulator(emulator_server: Emulator) -> Iterator[Emulator]:
    """The module's emulator, emptied before the test: no files, batches or faults."""
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


# ---------------------------------------------------------------------- hostile proxy


@pytest.fixture
def hostile_proxy() -> Iterator[Callable[[str | None], HostileProxy]]:
    """Start :class:`~lmbatch.testing.proxy.HostileProxy` instances for one test.

    Call it with the upstream's base URL (e.g. ``emulator.base_url``), or with None for a
    recording "foreign host" that forwards nothing. Every proxy started is stopped when
    the test ends. Example::

        async def test_x(hostile_proxy):
            async with Emulator() as emulator:
                proxy = hostile_proxy(emulator.base_url)
                proxy.on("GET", "/v1/batches/*").rewrite({"status": "mystery"})
                ops = get_batch_operations("openai", base_url=proxy.openai_base_url, ...)
    """
    from lmbatch.testing.proxy import HostileProxy

    started: list[HostileProxy] = []

    def start(upstream: str | None = None) -> HostileProxy:
        proxy = HostileProxy(upstream)
        proxy.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


# ------------------------------------------------------------------ OpenAPI mock server


def find_prism(root: Path) -> str | None:
    """The Prism executable: ``$LMBATCH_PRISM``, ``<root>/.tools/`` (where
    ``scripts/install-mock-server.sh`` puts it), or ``prism`` on the PATH; None if absent.
    """
    candidates = [
        os.environ.get("LMBATCH_PRISM"),
        str(root / ".tools" / "prism" / "node_modules" / ".bin" / "prism"),
        str(root / ".tools" / "node_modules" / ".bin" / "prism"),
        str(root / ".tools" / "bin" / "prism"),
        shutil.which("prism"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when the mock server is required (CI)."""
    if os.environ.get(REQUIRE_MOCK_SERVER_ENV) == "1":
        pytest.fail(f"{REQUIRE_MOCK_SERVER_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a mock server's process group (this plugin started it: its own session)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def openapi_mock(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Path], str]]:
    """Start a Prism mock server for an OpenAPI file; returns its ``http://127.0.0.1:PORT``.

    Prism answers any request that breaks the spec with a 4xx (422), so a provider call
    that does not conform fails the test. One server per spec file for the session; all
    are stopped at its end. Without Prism (see :func:`find_prism`, looked up from the
    rootdir) or the spec file, the test is skipped, or fails when
    ``LMBATCH_REQUIRE_MOCK_SERVER=1``. Example::

        @pytest.fixture(scope="module")
        def prism_url(openapi_mock):
            return openapi_mock(SPECS / "openai-batch-files.subset.yaml")
    """
    running: dict[Path, tuple[subprocess.Popen[bytes], str]] = {}

    def start(spec: Path) -> str:
        spec = Path(spec).resolve()
        if spec in running:
            return running[spec][1]
        executable = find_prism(pytestconfig.rootpath)
        if executable is None:
            _unavailable("Prism is not installed: run scripts/install-mock-server.sh")
        if not spec.is_file():
            _unavailable(f"the OpenAPI spec is missing: {spec}")
        port = _free_port()
        log_path = tmp_path_factory.mktemp("prism") / "prism.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [executable, "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        deadline = time.monotonic() + _MOCK_START_TIMEOUT
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                _stop(process)
                pytest.fail(f"Prism did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        running[spec] = (process, url)
        return url

    try:
        yield start
    finally:
        for process, _ in running.values():
            _stop(process)


# -------------------------------------------------------------------------- cassettes


@pytest.fixture
def cassette_vendor() -> CassetteVendor:
    """The provider's cassette set-up: a ``conftest.py`` beside the cassette tests defines it.

    Raises:
        pytest.UsageError: No ``conftest.py`` overrides it.
    """
    raise pytest.UsageError(
        "cassette_target needs a `cassette_vendor` fixture returning a "
        "lmbatch.testing.cassettes.CassetteVendor (define it in the tests' conftest.py)"
    )


@pytest.fixture
def cassette_target(
    cassette_vendor: CassetteVendor, request: pytest.FixtureRequest
) -> Iterator[CassetteTarget]:
    """Where a cassette test sends its requests, by pytest-recording's ``--record-mode``.

    Replay (``none``, the default): the vendor's URL with a dummy key, answered by the
    cassette. Recording: a fresh emulator (stopped after the test), or the live API when
    the vendor's ``live_key_variable`` is set.
    """
    record_mode = str(request.getfixturevalue("record_mode"))  # pytest-recording's
    with cassette_vendor.target(record_mode) as target:
        yield target


@pytest.hookimpl(optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """pytest-recording hook: register lmbatch's matcher and serializer on each VCR.

    They are new names (``lmbatch_body``, ``lmbatch_yaml``), used only by a ``vcr_config``
    built with :func:`~lmbatch.testing.cassettes.vcr_config_for`.
    """
    from lmbatch.testing.cassettes import register_with

    register_with(vcr)


def _lmbatch_cassette_test(request: pytest.FixtureRequest) -> bool:
    """Whether the test is marked ``vcr`` and its ``vcr_config`` is lmbatch's."""
    if request.node.get_closest_marker("vcr") is None:
        return False
    from lmbatch.testing.cassettes import uses_lmbatch_cassettes

    config = request.getfixturevalue("vcr_config")
    return isinstance(config, dict) and uses_lmbatch_cassettes(config)


@pytest.fixture(autouse=True)
def cassette_fully_played(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a replayed lmbatch cassette test whose cassette still has interactions nobody
    asked for (vcrpy would pass it silently)."""
    if not _lmbatch_cassette_test(request):
        yield
        return
    # Requested here, so the cassette is still loaded when this fixture checks it.
    cassette = request.getfixturevalue("vcr")
    record_mode = request.getfixturevalue("record_mode")
    yield
    if record_mode != "none" or cassette is None or cassette.all_played:
        return
    unplayed = [
        f"{req.method} {req.uri}"
        for index, (req, _) in enumerate(cassette.data)
        if not cassette.play_counts[index]
    ]
    pytest.fail(
        f"cassette {cassette._path} was not fully played; unplayed: {unplayed[:5]}",
        pytrace=False,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> None:
    """Before pytest-recording loads an lmbatch cassette for ``--record-mode=rewrite``,
    delete it, so the test records it anew.

    pytest-recording deletes ``<name>.<serializer>`` (``.lmbatch_yaml``), not the
    ``.yaml`` file lmbatch's config names, then records as ``new_episodes``: without this,
    a rewrite would replay the old cassette and append to it.
    """
    if fixturedef.argname != "vcr" or request.getfixturevalue("record_mode") != "rewrite":
        return
    if not _lmbatch_cassette_test(request):
        return
    from lmbatch.testing.cassettes import CASSETTE_SUFFIX

    directory = Path(str(request.getfixturevalue("vcr_cassette_dir")))
    name = str(request.getfixturevalue("default_cassette_name"))
    path = directory / (name if name.endswith(CASSETTE_SUFFIX) else name + CASSETTE_SUFFIX)
    path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def pinned_job_tag(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In lmbatch cassette tests, every job's request ids end with ``CASSETTE_JOB_TAG``."""
    if not _lmbatch_cassette_test(request):
        return
    from lmbatch.testing.cassettes import CASSETTE_JOB_TAG

    monkeypatch.setattr("lmbatch._jobs._recording.new_job_tag", lambda limits: CASSETTE_JOB_TAG)
