"""Errors shown by the CLI name its flags and commands, not Python (issue 15 item 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmbatch import ProviderRequestError
from lmbatch.testing import default_backend
from tests.cli.conftest import Invoke, Outcome

PYTHON_WORDS = ("get_batch_operations", "model=", "api_key=...", "lmbatch.resume(", "store=...")


def assert_speaks_cli(outcome: Outcome, *fragments: str) -> None:
    assert outcome.exit_code != 0
    shown = [outcome.stderr]
    if outcome.stdout.strip():
        error = outcome.json()["error"]
        shown.append("\n".join([error["message"], *error.get("notes", [])]))
    for text in shown:
        for fragment in fragments:
            assert fragment in text, text
        for python in PYTHON_WORDS:
            assert python not in text.replace("-O api_key=...", ""), text


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_no_provider_names_the_flag(lmbatch: Invoke, prompts: Path, json_flag: tuple[str]) -> None:
    outcome = lmbatch("submit", str(prompts), *json_flag)
    assert_speaks_cli(outcome, "no provider selected: pass -p/--provider, set LMBATCH_PROVIDER")


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_missing_key_and_model_name_the_flags(
    lmbatch: Invoke,
    prompts: Path,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    model: str,
    json_flag: tuple[str],
) -> None:
    pytest.importorskip(f"lmbatch_{provider}")
    env_var = f"{provider.upper()}_API_KEY"
    monkeypatch.delenv(env_var, raising=False)
    no_key = lmbatch("submit", str(prompts), "-p", provider, "-m", model, *json_flag)
    assert_speaks_cli(no_key, env_var, "(or pass -O api_key=...)")
    monkeypatch.setenv(env_var, "test")
    no_model = lmbatch("submit", str(prompts), "-p", provider, *json_flag)
    assert_speaks_cli(no_model, f"the {provider} provider needs a model: pass -m/--model")


def test_hyperparameter_errors_name_the_param_flag(
    lmbatch: Invoke, prompts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("lmbatch_anthropic")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    outcome = lmbatch(
        "submit", str(prompts), "-p", "anthropic", "-m", "claude-sonnet-4-5", "-P", "seed=1"
    )
    assert_speaks_cli(outcome, "-P seed: Anthropic has no sampling seed")


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_the_resume_note_gives_the_command(
    lmbatch: Invoke, prompts: Path, json_flag: tuple[str]
) -> None:
    default_backend.fail_next(
        "submit", ProviderRequestError("quota", provider="fake", status_code=400)
    )
    failed = lmbatch(
        "submit", str(prompts), "-p", "fake", "-O", "max_requests_per_batch=1", *json_flag
    )
    assert_speaks_cli(failed, "lmbatch resume lmbjob_", "(or running the same command again)")


def test_results_of_a_job_never_submitted_gives_the_resume_command(
    lmbatch: Invoke, prompts: Path
) -> None:
    default_backend.fail_next(
        "submit", ProviderRequestError("quota", provider="fake", status_code=400)
    )
    options = ("-O", "max_requests_per_batch=1", "-O", "max_concurrent_submissions=1")
    failed = lmbatch("submit", str(prompts), "-p", "fake", *options, "--json")
    job_id = json.loads(failed.stdout)["error"]["notes"][0].split(":")[0].split()[-1]
    assert job_id.startswith("lmbjob_")
    outcome = lmbatch("results", job_id, "-p", "fake")
    assert_speaks_cli(outcome, f"lmbatch resume {job_id}")


def test_a_damaged_store_names_the_store_flag(
    lmbatch: Invoke, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "damaged.sqlite3"
    store.write_bytes(b"not a database at all\n" * 100)
    monkeypatch.setenv("LMBATCH_STORE", str(store))
    assert_speaks_cli(lmbatch("submit", str(prompts), "-p", "fake"), "LMBATCH_STORE or --store")


@pytest.mark.parametrize(
    ("python", "cli"),
    [
        (
            "pass it (base_url=... in code, -O base_url=... on the command line), or trust",
            "pass it (-O base_url=... on the command line), or trust",
        ),
        (
            "read them later with retrieve('b1') (command line: lmbatch results b1), "
            "or run the same invoke again",
            "read them later with lmbatch results b1, or run the same command again",
        ),
        (
            "Run the same invoke() (or `lmbatch run`) again with the original requests",
            "Run the same command again with the original requests",
        ),
        (
            "cancel('b2') it, then retrieve('j1') what finished",
            "lmbatch cancel b2 it, then lmbatch results j1 what finished",
        ),
        (
            "Running the same call again (or lmbatch.resume('j1'))",
            "Running the same call again (or lmbatch resume j1)",
        ),
        ("pass reuse=False to submit anyway", "pass --fresh to submit anyway"),
        ("set the provider's `model` option", "set -m/--model"),
        ("hyperparameters['seed']: no seed", "-P seed: no seed"),
        (
            "choose another store with LMBATCH_STORE or store=...",
            "choose another store with LMBATCH_STORE or --store",
        ),
    ],
)
def test_core_advice_in_command_line_words(python: str, cli: str) -> None:
    # The phrasings core errors use (see lmbatch/_config.py, _downloads.py, _spool.py,
    # _operations.py, _submission.py), as the CLI shows them.
    from lmbatch.cli._wording import cli_words

    assert cli_words(python) == cli
    assert cli_words(cli) == cli  # translating twice changes nothing
