"""lmbatch's pytest plugin gives any project's tests the shared fixtures, and leaves
other projects' cassettes alone.

Each test writes a small project into a temporary directory (its own rootdir, none of
this repository's conftest files) and runs pytest on it, as a third-party provider's
test suite would run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

pytestmark = pytest.mark.slow

# Two recorded calls in lmbatch's readable format; the test below makes only the first.
LMBATCH_CASSETTE = """\
interactions:
- request:
    body: {string: null}
    headers: {}
    method: GET
    uri: https://api.vendor.test/v1/first
  response:
    status: {code: 200, message: OK}
    headers: {Content-Type: [application/json]}
    body: {json: {ok: true}}
- request:
    body: {string: null}
    headers: {}
    method: GET
    uri: https://api.vendor.test/v1/second
  response:
    status: {code: 200, message: OK}
    headers: {Content-Type: [application/json]}
    body: {json: {ok: true}}
version: 1
"""
# The same in vcrpy's own format, for a project that does not use lmbatch's cassettes.
PLAIN_CASSETTE = LMBATCH_CASSETTE.replace(
    "body: {json: {ok: true}}", "body: {string: '{}'}"
).replace("body: {string: null}", "body: null")

CASSETTE_TEST = """\
import urllib.request

import pytest


@pytest.mark.vcr
def test_reads_the_first_call_only():
    with urllib.request.urlopen("https://api.vendor.test/v1/first") as answer:
        assert answer.status == 200
"""


def _project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    # A rootdir of its own: this repository's settings and conftest files stay out.
    (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return root


def _run(root: Path, *args: str, **env: str) -> tuple[dict[str, str], str]:
    """Run pytest in ``root`` (with ``args``): each test's outcome
    (passed/failed/skipped/error) by name, and the output."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LMBATCH_")}
    environment.update(env)
    report = root / "report.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}", *args],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert report.is_file(), output
    found: dict[str, str] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        outcomes = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        # A teardown error is reported after the call: the last word wins.
        word = {"failure": "failed", "error": "error", "skipped": "skipped"}
        found[case.attrib["name"]] = word[outcomes[-1]] if outcomes else "passed"
    return found, output


def _outcomes(root: Path, *args: str, **env: str) -> dict[str, str]:
    return _run(root, *args, **env)[0]


def test_a_third_party_project_gets_the_emulator_and_proxy_fixtures(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "tests/test_fixtures.py": """\
                def test_emulator(emulator, emulator_server):
                    assert emulator is emulator_server
                    assert emulator.base_url.startswith("http://127.0.0.1:")
                    assert emulator.calls == []


                def test_hostile_proxy(hostile_proxy):
                    proxy = hostile_proxy(None)
                    assert proxy.base_url.startswith("http://127.0.0.1:")
                    assert proxy.calls == []
                """,
        },
    )
    assert _outcomes(root) == {"test_emulator": "passed", "test_hostile_proxy": "passed"}


def test_an_unplayed_lmbatch_cassette_interaction_fails_the_test(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "tests/conftest.py": """\
                from pathlib import Path

                import pytest

                from lmbatch.testing.cassettes import vcr_config_for


                @pytest.fixture
                def vcr_config():
                    return vcr_config_for("https://api.vendor.test")


                @pytest.fixture(scope="module")
                def vcr_cassette_dir():
                    return str(Path(__file__).parent / "cassettes")
                """,
            "tests/test_calls.py": CASSETTE_TEST,
            "tests/cassettes/test_reads_the_first_call_only.yaml": LMBATCH_CASSETTE,
        },
    )
    outcomes, output = _run(root)
    # vcrpy alone passes it; the plugin's check fails it at teardown.
    assert outcomes == {"test_reads_the_first_call_only": "error"}
    assert "was not fully played" in output
    assert "GET https://api.vendor.test/v1/second" in output


def test_a_cassette_vendor_records_against_the_emulator_and_replays_offline(
    tmp_path: Path,
) -> None:
    root = _project(
        tmp_path,
        {
            "recorded/conftest.py": """\
                from pathlib import Path

                import pytest
                from lmbatch_openai import OpenAIBatchOperations

                from lmbatch.testing.cassettes import CassetteVendor

                VENDOR = CassetteVendor(
                    provider=OpenAIBatchOperations,
                    origin="https://api.openai.com",
                    base_path="/v1",
                    options={"model": "gpt-4.1-mini"},
                )


                @pytest.fixture
                def cassette_vendor():
                    return VENDOR


                @pytest.fixture
                def vcr_config():
                    return VENDOR.vcr_config()


                @pytest.fixture(scope="module")
                def vcr_cassette_dir():
                    return str(Path(__file__).parent / "cassettes")
                """,
            "recorded/test_invoke.py": """\
                import pytest


                @pytest.mark.vcr
                @pytest.mark.asyncio
                async def test_invoke(cassette_target):
                    async with cassette_target.operations() as ops:
                        results = await ops.invoke(
                            {"q": "Hello"}, status_check_interval=cassette_target.poll_interval
                        )
                    assert results["q"].text == "echo: Hello"
                    assert (cassette_target.emulator is None) == (
                        cassette_target.base_url == "https://api.openai.com/v1"
                    )
                """,
            "unset/test_no_vendor.py": """\
                def test_needs_a_vendor(cassette_target):
                    pass
                """,
        },
    )
    outcomes, output = _run(root, "--record-mode=once")
    assert outcomes == {"test_invoke": "passed", "test_needs_a_vendor": "error"}, output
    assert "cassette_vendor" in output
    cassette = (root / "recorded" / "cassettes" / "test_invoke.yaml").read_text()
    assert "https://api.openai.com/v1/batches" in cassette
    assert "127.0.0.1" not in cassette
    # Replay (the default): no emulator, the vendor's URL, every call from the cassette.
    assert _outcomes(root, "recorded") == {"test_invoke": "passed"}
    # Re-recording replaces the cassette (new batch ids), not appends to it.
    assert _outcomes(root, "recorded", "--record-mode=rewrite") == {"test_invoke": "passed"}
    rewritten = (root / "recorded" / "cassettes" / "test_invoke.yaml").read_text()
    assert rewritten != cassette
    assert rewritten.count("- request:") == cassette.count("- request:")


def test_a_cassette_suite_subclass_records_and_replays_the_common_operations(
    tmp_path: Path,
) -> None:
    root = _project(
        tmp_path,
        {
            "tests/test_cassettes.py": """\
                import pytest
                from lmbatch_openai import OpenAIBatchOperations

                from lmbatch.testing.cassette_suite import CassetteSuite
                from lmbatch.testing.cassettes import CassetteVendor

                pytestmark = pytest.mark.asyncio


                class TestOpenAICassettes(CassetteSuite):
                    vendor = CassetteVendor(
                        provider=OpenAIBatchOperations,
                        origin="https://api.openai.com",
                        base_path="/v1",
                        options={"model": "gpt-4.1-mini"},
                    )
                    batch_id_prefix = "batch_"
                    list_page_size = 2
                    invoke_variants = {"a": {}, "b": {"completion_window": "24h"}}

                    async def test_extra(self, cassette_target):
                        async with cassette_target.operations() as ops:
                            assert (await ops.create({"k": "Hi"})).startswith("batch_")
                """,
        },
    )
    expected = {
        name: "passed"
        for name in (
            "test_create",
            "test_status",
            "test_retrieve_outcomes",
            "test_cancel",
            "test_list_across_pages",
            "test_invoke[a]",
            "test_invoke[b]",
            "test_extra",
        )
    }
    outcomes, output = _run(root, "--record-mode=once")
    # Only the tests that apply: no test_cancel_is_unsupported, no test_list_in_one_page.
    assert outcomes == expected, output
    # Named after the test alone (not the class), beside the test module.
    cassettes = {path.name for path in (root / "tests" / "cassettes").iterdir()}
    assert cassettes == {f"{name}.yaml" for name in expected}
    listed = (root / "tests" / "cassettes" / "test_list_across_pages.yaml").read_text()
    assert "limit=2" in listed
    assert "127.0.0.1" not in listed
    # Replay (the default): offline, every call from the cassettes.
    assert _outcomes(root) == expected


def test_other_projects_cassettes_are_left_alone(tmp_path: Path) -> None:
    # No vcr_config from lmbatch: vcrpy's own serializer reads the cassette, and the
    # unplayed second call is not lmbatch's business.
    root = _project(
        tmp_path,
        {
            "tests/test_calls.py": CASSETTE_TEST,
            "tests/cassettes/test_calls/test_reads_the_first_call_only.yaml": PLAIN_CASSETTE,
        },
    )
    assert _outcomes(root) == {"test_reads_the_first_call_only": "passed"}


def test_openapi_mock_skips_without_prism_unless_it_is_required(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "tests/test_mock.py": """\
                from pathlib import Path


                def test_mock(openapi_mock):
                    openapi_mock(Path(__file__).parent / "spec.yaml")
                """,
        },
    )
    no_prism = {"PATH": os.path.dirname(sys.executable)}
    assert _outcomes(root, **no_prism) == {"test_mock": "skipped"}
    assert _outcomes(root, **no_prism, LMBATCH_REQUIRE_MOCK_SERVER="1") == {"test_mock": "failed"}


def test_the_plugin_imports_nothing_heavy() -> None:
    # pytest imports it in every run where lmbatch is installed.
    code = (
        "import json, sys\n"
        "import pytest\n"
        "before = set(sys.modules)\n"
        "import lmbatch.testing.pytest_plugin\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    heavy = {"pydantic", "yaml", "vcr", "starlette", "uvicorn", "sqlite3", "orjson", "pluggy"}
    assert not loaded & heavy, loaded & heavy
    assert "lmbatch" in loaded
