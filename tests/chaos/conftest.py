"""Fixtures for the chaos scenarios: clean-up of everything a scenario starts (also when it
fails), the Python clients' loop thread, and the one-line-per-scenario report
(artifacts/chaos-report.txt, and the end of pytest's output)."""

from __future__ import annotations

import time

import pytest

from tests.chaos.client import log
from tests.chaos.harness import ARTIFACTS_DIR, LoopThread

REPORT_PATH = ARTIFACTS_DIR / "chaos-report.txt"
_report_lines: list[str] = []


def _write_report() -> None:
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text("".join(line + "\n" for line in _report_lines))


@pytest.fixture(scope="session")
def chaos_report():
    """Call with a scenario's report line: printed, and written to artifacts/chaos-report.txt."""
    _report_lines.clear()
    _report_lines.append(f"# chaos run {time.strftime('%Y-%m-%d %H:%M:%S')}")
    _write_report()

    def add(line: str) -> None:
        log(f"REPORT {line}")
        _report_lines.append(line)
        _write_report()

    return add


def pytest_terminal_summary(terminalreporter) -> None:
    if _report_lines:
        terminalreporter.section("chaos report")
        for line in _report_lines:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(also in {REPORT_PATH})")


@pytest.fixture
def loop_thread():
    loop = LoopThread()
    yield loop
    loop.close()


@pytest.fixture
def cleanup(loop_thread):
    """A list of callables run in reverse order after the test, whatever its outcome (each one
    even if an earlier one fails). Depends on loop_thread so the loop is still running then."""
    callables = []
    yield callables
    for function in reversed(callables):
        try:
            function()
        except Exception as error:  # noqa: BLE001 - the rest must still be cleaned up
            log(f"clean-up step {function!r} failed: {error!r}")
