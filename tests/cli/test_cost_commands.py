"""Cost on the command line: estimate, run --dry-run, --max-cost, the cost column, info."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from lmbatch.testing import default_backend
from lmbatch.testing.emulator import Emulator, EmulatorSettings, EndpointFault
from tests.cli.conftest import Invoke


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text(
        "".join(
            json.dumps({"key": f"q{i}", "input": f"What is {i} times {i}? Answer briefly."}) + "\n"
            for i in range(20)
        )
    )
    return path


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
def test_estimate_works_offline_without_an_api_key(
    lmbatch: Invoke, questions: Path, provider: str, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    outcome = lmbatch("estimate", str(questions), "-p", provider, "-m", model)
    assert outcome.exit_code == 0, outcome.stderr
    assert f"20 requests to {provider} ({model})" in outcome.stdout
    assert "the batch saves $" in outcome.stdout
    data = lmbatch(
        "estimate", str(questions), "-p", provider, "-m", model, "-P", "max_tokens=50", "--json"
    ).json()
    assert data["requests"] == 20
    assert data["output_tokens_upper"] == 1000
    assert data["batch_discount"] == 0.5
    assert data["list_cost"] == pytest.approx(2 * data["cost"])
    assert data["saved"] == pytest.approx(data["cost"])
    assert data["cost"] <= data["cost_upper"]


def test_estimate_of_a_model_without_price_says_what_to_do(
    lmbatch: Invoke, questions: Path
) -> None:
    outcome = lmbatch("estimate", str(questions), "-p", "fake")
    assert outcome.exit_code == 0, outcome.stderr
    assert "cost: unknown" in outcome.stdout
    assert '[providers.fake.prices."fake-model"]' in outcome.stdout


def test_run_dry_run_prints_the_estimate_and_sends_nothing(
    lmbatch: Invoke, questions: Path, tmp_path: Path
) -> None:
    (tmp_path / "lmbatch.toml").write_text(
        '[providers.fake.prices."fake-model"]\ninput = 1.0\noutput = 4.0\n'
    )
    out = tmp_path / "out.jsonl"
    outcome = lmbatch("run", str(questions), "-p", "fake", "-o", str(out), "--dry-run")
    assert outcome.exit_code == 0, outcome.stderr
    assert "20 requests to fake" in outcome.stdout
    assert "batch saves" in outcome.stdout
    assert "dry run: nothing was sent" in outcome.stderr
    assert default_backend.calls["submit"] == 0
    assert not out.exists()


def test_max_cost_refuses_a_run_before_any_upload(
    lmbatch: Invoke, questions: Path, tmp_path: Path
) -> None:
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        outcome = lmbatch(
            "run",
            str(questions),
            "-p",
            "openai",
            "-m",
            "gpt-4.1-mini",
            "-O",
            f"base_url={emulator.openai_base_url}",
            "-O",
            "api_key=test",
            "-P",
            "max_tokens=1000",
            "--max-cost",
            "0.001",
            "-o",
            str(tmp_path / "out.jsonl"),
        )
        assert outcome.exit_code != 0
        assert "more than max_cost $0.0010" in outcome.stderr
        assert "nothing was sent" in outcome.stderr
        assert emulator.calls == []


@pytest.mark.parametrize("value", ["-5", "lots", "nan"])
def test_bad_max_cost_is_one_clear_line(lmbatch: Invoke, questions: Path, value: str) -> None:
    outcome = lmbatch(
        "submit", str(questions), "-p", "fake", "-P", "max_tokens=5", f"--max-cost={value}"
    )
    assert outcome.exit_code != 0
    assert len(outcome.error_lines) == 1
    assert "max_cost must be a" in outcome.stderr
    assert default_backend.calls["submit"] == 0


def test_results_cost_column_sums_to_what_info_shows(
    lmbatch: Invoke, questions: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        common = ["-O", f"base_url={emulator.openai_base_url}", "-O", "api_key=test"]
        outcome = lmbatch(
            "run",
            str(questions),
            "-p",
            "openai",
            "-m",
            "gpt-4.1-mini",
            *common,
            "-P",
            "max_tokens=100",
            "--max-cost",
            "1",
            "--poll-interval",
            "0",
            "-o",
            str(out),
            "--json",
        )
        assert outcome.exit_code == 0, outcome.stderr
        batch_id = outcome.json()["id"]
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert all(isinstance(record["cost"], float) for record in records)
        column = sum(Decimal(str(record["cost"])) for record in records)
        info = lmbatch("info", batch_id, *common, "--json").json()
        total = Decimal(str(info["cost"]["total"]))
        assert abs(total - column) < Decimal("0.000001")  # floats in JSON: equal to the cent
        assert round(total, 2) == round(column, 2)
        assert Decimal(info["budget"]["max_cost"]) == 1
        shown = lmbatch("info", batch_id, *common).stdout
        assert "cost" in shown
        assert "max cost" in shown
        # The local job list shows the same total, from the store alone.
        (job,) = lmbatch("jobs", "--json").json()
        assert Decimal(job["cost"]) == total
        assert f"${total}" in lmbatch("jobs").stdout


def test_dry_run_with_max_cost_says_whether_it_fits(lmbatch: Invoke, questions: Path) -> None:
    args = ["run", str(questions), "-p", "openai", "-m", "gpt-4.1-mini", "--dry-run"]
    fits = lmbatch(*args, "-P", "max_tokens=10", "--max-cost", "1")
    assert fits.exit_code == 0, fits.stderr
    assert "within --max-cost 1" in fits.stderr
    over = lmbatch(*args, "-P", "max_tokens=10000", "--max-cost", "0.0001")
    assert over.exit_code != 0
    assert "more than max_cost" in over.stderr
    assert default_backend.calls["submit"] == 0


# ------------------------------------------------------------- --count-with-vendor


@pytest.fixture(scope="module")
def counting_emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        yield emulator


def _vendor(emulator: Emulator, provider: str) -> list[str]:
    base_url = emulator.openai_base_url if provider == "openai" else emulator.anthropic_base_url
    return ["-O", f"base_url={base_url}", "-O", "max_retries=0"]


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
def test_estimate_counts_with_the_vendor_only_when_asked(
    lmbatch: Invoke,
    questions: Path,
    counting_emulator: Emulator,
    provider: str,
    model: str,
) -> None:
    counting_emulator.reset()
    common = ["estimate", str(questions), "-p", provider, "-m", model]
    common += [*_vendor(counting_emulator, provider), "-O", "api_key=test"]
    offline = lmbatch(*common, "--json")
    assert offline.exit_code == 0, offline.stderr
    assert offline.json()["input_method"] != "vendor"
    assert counting_emulator.calls == []
    counted = lmbatch(*common, "--count-with-vendor", "--json")
    assert counted.exit_code == 0, counted.stderr
    assert counted.json()["input_method"] == "vendor"
    assert [call.operation for call in counting_emulator.calls] == ["count_tokens"] * 20
    shown = lmbatch(*common, "--count-with-vendor")
    assert "counted with vendor" in shown.stdout


def test_run_dry_run_counts_with_the_vendor_and_submits_nothing(
    lmbatch: Invoke, questions: Path, counting_emulator: Emulator, tmp_path: Path
) -> None:
    counting_emulator.reset()
    out = tmp_path / "out.jsonl"
    outcome = lmbatch(
        "run",
        str(questions),
        "-p",
        "anthropic",
        "-m",
        "claude-sonnet-4-5",
        *_vendor(counting_emulator, "anthropic"),
        "-O",
        "api_key=test",
        "-o",
        str(out),
        "--dry-run",
        "--count-with-vendor",
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert "counted with vendor" in outcome.stdout
    assert "dry run: nothing was sent" in outcome.stderr
    assert {call.operation for call in counting_emulator.calls} == {"count_tokens"}
    assert counting_emulator.create_calls == 0
    assert not out.exists()


def test_count_with_vendor_without_a_key_says_so_before_any_call(
    lmbatch: Invoke,
    questions: Path,
    counting_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counting_emulator.reset()
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    outcome = lmbatch(
        "estimate",
        str(questions),
        "-p",
        "anthropic",
        "-m",
        "claude-sonnet-4-5",
        *_vendor(counting_emulator, "anthropic"),
        "--count-with-vendor",
    )
    assert outcome.exit_code != 0
    assert "ANTHROPIC_API_KEY" in outcome.stderr
    assert counting_emulator.calls == []


def test_count_with_vendor_falls_back_when_the_endpoint_fails(
    lmbatch: Invoke, questions: Path, counting_emulator: Emulator
) -> None:
    counting_emulator.reset()
    counting_emulator.faults.add(EndpointFault("count_tokens", 503))
    outcome = lmbatch(
        "estimate",
        str(questions),
        "-p",
        "openai",
        "-m",
        "gpt-4.1-mini",
        *_vendor(counting_emulator, "openai"),
        "-O",
        "api_key=test",
        "--count-with-vendor",
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert "token-count endpoint failed" in outcome.stdout
    assert "counted offline instead" in outcome.stdout
    assert "counted with vendor" not in outcome.stdout


def test_count_with_vendor_needs_dry_run_on_run(lmbatch: Invoke, questions: Path) -> None:
    outcome = lmbatch("run", str(questions), "-p", "fake", "--count-with-vendor")
    assert outcome.exit_code != 0
    assert "--dry-run" in outcome.stderr
    assert default_backend.calls["submit"] == 0
