"""The hostile suite's report: one row per attack case (its limit, the reaction observed, how fast,
and what the control client saw meanwhile), printed at the end of pytest's output and written to
artifacts/hostile-report.md."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPORT_PATH = Path(__file__).resolve().parents[2] / "artifacts" / "hostile-report.md"


@dataclass
class Row:
    test: str
    case: str
    limit: str
    observed: str
    timing: str
    control: str = ""
    rss: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    current_test: str = ""

    def add(self, case: str, limit: str, observed: str, timing: str) -> None:
        self.rows.append(Row(self.current_test, case, limit, observed, timing))
        self.write()

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.write()

    def set_control(self, test: str, text: str, rss: str) -> None:
        for row in self.rows:
            if row.test == test and not row.control:
                row.control, row.rss = text, rss
        self.write()

    def lines(self) -> list[str]:
        lines = [
            f"# Hostile-client run {time.strftime('%Y-%m-%d %H:%M:%S')}",
            "",
            "| case | limit | observed reaction | timing | control client meanwhile | daphne RSS after |",
            "|---|---|---|---|---|---|",
        ]
        lines += [f"| {r.case} | {r.limit} | {r.observed} | {r.timing} | {r.control} | {r.rss} |" for r in self.rows]
        if self.notes:
            lines += ["", *[f"- {note}" for note in self.notes]]
        return lines

    def write(self) -> None:
        REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
        REPORT_PATH.write_text("\n".join(self.lines()) + "\n")


_report = Report()


@pytest.fixture(scope="session")
def hostile_report() -> Report:
    return _report


def pytest_terminal_summary(terminalreporter) -> None:
    if _report.rows:
        terminalreporter.section("hostile-client report")
        for line in _report.lines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(also in {REPORT_PATH})")
