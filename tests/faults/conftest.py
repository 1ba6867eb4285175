"""Fault-injection suite: report what was injected and checked."""

from __future__ import annotations

import pytest

from tests.faults._harness import LEDGER


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LEDGER.keys_checked:
        terminalreporter.write_line(
            f"fault injection: faults injected={LEDGER.faults_injected}, "
            f"keys checked={LEDGER.keys_checked}, duplicates found={LEDGER.duplicates_found}"
        )
    for vendor, figures in sorted(LEDGER.kill_loop.items()):
        terminalreporter.write_line(
            f"kill -9 loop ({vendor}): "
            + ", ".join(f"{name}={count}" for name, count in sorted(figures.items()))
        )
