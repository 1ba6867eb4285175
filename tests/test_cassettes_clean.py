"""No cassette may carry anything that looks like a credential."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Each provider (and example plugin) keeps its cassettes beside its tests; found, not listed.
CASSETTE_DIRS = ("cassettes", "providers/*/tests/cassettes", "docs/examples/*/tests/cassettes")

# Shapes of real credentials, and of headers that would carry one.
SECRET_PATTERNS = {
    "OpenAI key": re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    "Anthropic key": re.compile(r"sk-ant-[A-Za-z0-9_-]{10,}"),
    "Google API key": re.compile(r"AIza[0-9A-Za-z_-]{35}"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "bearer token": re.compile(r"(?i)bearer\s+(?!<|REDACTED|test\b|DUMMY)[A-Za-z0-9._~+/=-]{8,}"),
    "auth header": re.compile(
        r"(?im)^\s*-?\s*['\"]?(?:authorization|x-api-key|api-key|cookie|set-cookie|"
        r"openai-organization|openai-project|anthropic-organization-id)['\"]?\s*:"
    ),
    "organization id": re.compile(r"\borg-[A-Za-z0-9]{20,}"),
}


def _cassette_files() -> list[Path]:
    directories = [path for pattern in CASSETTE_DIRS for path in ROOT.glob(pattern)]
    return sorted(
        path
        for directory in directories
        if directory.is_dir()
        for path in directory.rglob("*")
        if path.is_file() and path.name != "README.md"
    )


def test_every_provider_cassette_is_scanned() -> None:
    """Cassettes beside any provider's tests are found (none slips past the scan)."""
    scanned = set(_cassette_files())
    recorded = {path for path in ROOT.glob("providers/*/tests/cassettes/*.yaml")}
    assert recorded
    assert recorded <= scanned


def test_patterns_catch_known_shapes() -> None:
    """The scanner itself works: each pattern finds a made-up secret of its kind."""
    samples = {
        "OpenAI key": "sk-proj-" + "a1B2" * 10,
        "Anthropic key": "sk-ant-api03-" + "x" * 30,
        "Google API key": "AIza" + "b" * 35,
        "AWS access key": "AKIA" + "ABCDEFGHIJKLMNOP",
        "bearer token": "Authorization: Bearer abcdefgh12345678",
        "auth header": "      authorization:\n      - x",
        "organization id": "org-" + "Z" * 24,
    }
    for name, sample in samples.items():
        assert SECRET_PATTERNS[name].search(sample), name


@pytest.mark.parametrize("path", _cassette_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_cassette_has_no_secrets(path: Path) -> None:
    """Every recorded file is free of anything that looks like a key."""
    text = path.read_text("utf-8", errors="replace")
    found = {name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)}
    assert not found, f"{path} looks like it contains: {sorted(found)}"
