"""The measured UI report: `make report`.

Builds the site against a freshly started local backend (daphne with DEBUG off, a throwaway
SQLite database, as the browser tests run it), serves it on a free port, and measures it:

1. Lighthouse 12 (``npx --yes lighthouse@12``; 13 needs Node 22) on the landing page and the room
   page, with the mobile preset and ``--preset=desktop``: a table of the four category scores, the
   HTML and JSON reports in artifacts/report/, and for every score under the target (95) the audits
   that cost it points (id, title), so a developer knows what to fix.
2. axe-core (from the PyPI package axe-playwright-python) in headless Chromium, light and dark:
   the room page as a first visit reads it, then writes (the name picker), while two people chat,
   and the landing page. Every violation with its impact and the selectors of the elements. Zero is the target.
3. The gzipped sizes (gzip -9) of the built chat JS and CSS against their budgets
   (scripts/bundle_budget.py); a bundle over budget is reported, and the rest still measured.

Exit status: 0 when every score meets the target, axe finds nothing and every bundle is within
its budget; 1 when something misses
(the last line says what); 2 when a tool is missing (the line says how to install it).

    python -m scripts.ui_report                    # everything (~2 min)
    python -m scripts.ui_report --skip-lighthouse  # axe and sizes only (~20 s)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scripts.bundle_budget import measure_bundles
from scripts.loopback import LoopbackSystem, loopback_system
from scripts.processes import CHROMIUM_ARGS, ServerFailed, find_chromium
from scripts.site import SiteBuildError, build_site

REPO_DIR = Path(__file__).resolve().parent.parent

TARGET_SCORE = 95
REPORT_DIR = REPO_DIR / "artifacts" / "report"
LIGHTHOUSE = "lighthouse@12"  # 13 needs Node 22
LIGHTHOUSE_TIMEOUT_SECS = 180
LIGHTHOUSE_FETCH_TIMEOUT_SECS = 300
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
PRESETS = ("mobile", "desktop")
CHROME_FLAGS = "--headless=new --no-sandbox --disable-background-networking"
NODE_INSTALL_HINT = (
    "Lighthouse runs through npx, which comes with Node.js 18.20+: `sudo apt-get install nodejs npm` "
    "(macOS: `brew install node`)."
)
MAX_AUDITS_LISTED = 12


class ToolMissing(RuntimeError):
    """A tool the report needs is not installed; the message says how to install it."""


def progress(message: str) -> None:
    print(f"[report] {message}", file=sys.stderr, flush=True)


class Output:
    """What the report prints, also kept for artifacts/report/summary.txt."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

    def save(self, path: Path) -> None:
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")


# --- Tools ---------------------------------------------------------------------------------------


def chromium_path() -> str:
    """CHROMIUM_PATH, else Debian's chromium (as the browser tests choose it)."""
    try:
        return find_chromium()
    except FileNotFoundError as error:
        raise ToolMissing(f"The report needs Chromium: {error}") from None


def lighthouse_command() -> tuple[list[str], str]:
    """The command that runs Lighthouse 12 and its version, fetched through npx the first time."""
    npx = shutil.which("npx")
    if npx is None or shutil.which("node") is None:
        raise ToolMissing(f"Node.js/npx not found. {NODE_INSTALL_HINT}")
    command = [npx, "--yes", LIGHTHOUSE]
    progress(f"getting {LIGHTHOUSE} through npx (the first run downloads it, ~20 s)")
    try:
        result = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=LIGHTHOUSE_FETCH_TIMEOUT_SECS
        )
    except subprocess.TimeoutExpired:
        raise ToolMissing(
            f"`npx --yes {LIGHTHOUSE} --version` did not finish in {LIGHTHOUSE_FETCH_TIMEOUT_SECS} s: "
            "is the npm registry reachable?"
        ) from None
    if result.returncode != 0:
        raise ToolMissing(
            f"`npx --yes {LIGHTHOUSE} --version` failed (exit {result.returncode}):\n"
            f"{result.stderr.strip()[-2000:]}\n{NODE_INSTALL_HINT}"
        )
    return command, result.stdout.strip().splitlines()[-1]


# --- The system under test ----------------------------------------------------------------------


def build_even_over_budget(backend_url: str, public_dir: Path, base_url: str) -> None:
    """build_site, except that a bundle over its weight budget (which fails the build after Hugo
    wrote the site) is measured all the same: size_section reports the budget. Anything else stops."""
    try:
        build_site(backend_url, public_dir, base_url)
    except SiteBuildError:
        if not (public_dir / "index.html").is_file() or not any(
            size.over_budget for size in measure_bundles(public_dir)
        ):
            raise
        progress("a bundle is over its weight budget (reported below); measuring the site all the same")


# --- Sizes ---------------------------------------------------------------------------------------


def size_section(out: Output, public_dir: Path) -> list[str]:
    """The built chat scripts and stylesheets, gzipped, against their budgets; the ones over."""
    sizes = measure_bundles(public_dir)
    out("Built chat assets (gzip -9, budgets from scripts/bundle_budget.py):")
    for size in sizes:
        out(f"  {size.describe()}")
    out()
    return [f"weight budget: {size.describe()}" for size in sizes if size.over_budget]


# --- Lighthouse ----------------------------------------------------------------------------------


@dataclass
class LighthouseRun:
    page: str
    preset: str
    scores: dict[str, int | None]  # 0-100, None when Lighthouse could not score the category
    failing: dict[str, list[str]]  # category under 100 -> lines naming the audits that cost points
    html_path: Path


def score_of(value: float | None) -> int | None:
    return None if value is None else round(value * 100)


def audits_costing_points(report: dict, category: str) -> list[str]:
    """The category's audits that did not pass, weighted ones first: "id: title (display value)"."""
    missed = []
    for ref in report["categories"][category]["auditRefs"]:
        audit = report["audits"].get(ref["id"], {})
        score, mode = audit.get("score"), audit.get("scoreDisplayMode")
        if score is None or mode not in ("binary", "numeric", "metricSavings"):
            continue
        passed = score >= 0.9 if mode == "numeric" else score >= 1
        if not passed:
            shown = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
            weight = ref.get("weight", 0)
            missed.append((-weight, f"{ref['id']}: {audit.get('title', '')}{shown}{'' if weight else ' [diagnostic]'}"))
    return [line for _, line in sorted(missed)]


def run_lighthouse(
    command: Sequence[str], url: str, page: str, preset: str, chrome: str, report_dir: Path
) -> LighthouseRun:
    base = report_dir / f"lighthouse-{page}-{preset}"
    for stale in report_dir.glob(f"{base.name}.report.*"):
        stale.unlink()
    arguments = [
        *command,
        url,
        "--output=json",
        "--output=html",
        f"--output-path={base}",
        f"--chrome-flags={CHROME_FLAGS}",
        "--quiet",
    ]
    if preset == "desktop":
        arguments.append("--preset=desktop")
    started = time.monotonic()
    try:
        result = subprocess.run(
            arguments,
            env={**os.environ, "CHROME_PATH": chrome},
            capture_output=True,
            text=True,
            timeout=LIGHTHOUSE_TIMEOUT_SECS,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Lighthouse did not finish {page} ({preset}) in {LIGHTHOUSE_TIMEOUT_SECS} s") from None
    json_path, html_path = base.with_name(f"{base.name}.report.json"), base.with_name(f"{base.name}.report.html")
    if result.returncode != 0 or not json_path.is_file():
        raise RuntimeError(
            f"Lighthouse failed on {url} ({preset}, exit {result.returncode}):\n{result.stderr.strip()[-3000:]}"
        )
    report = json.loads(json_path.read_text(encoding="utf-8"))
    if report.get("runtimeError"):
        raise RuntimeError(f"Lighthouse could not measure {url} ({preset}): {report['runtimeError']}")
    scores = {category: score_of(report["categories"][category]["score"]) for category in CATEGORIES}
    # Every category short of 100 (the target is 95): what cost the points is worth knowing either way.
    failing = {
        category: audits_costing_points(report, category)
        for category, score in scores.items()
        if score is None or score < 100
    }
    progress(
        f"  {page} ({preset}) done in {time.monotonic() - started:.0f} s: "
        + ", ".join(f"{category} {score}" for category, score in scores.items())
    )
    return LighthouseRun(page, preset, scores, failing, html_path)


def lighthouse_section(
    out: Output, site: LoopbackSystem, command: Sequence[str], version: str, chrome: str, report_dir: Path
) -> list[str]:
    """Runs Lighthouse on each page and preset, prints the table and what missed; the problems."""
    pages = {"landing": site.site_url, "room": site.room_url("lobby")}
    runs = []
    total = len(pages) * len(PRESETS)
    for index, (preset, (page, url)) in enumerate(((p, item) for item in pages.items() for p in PRESETS), 1):
        progress(f"Lighthouse {index}/{total}: {page} ({preset}) {url} (~20 s)")
        runs.append(run_lighthouse(command, url, page, preset, chrome, report_dir))

    out(f"Lighthouse {version} (target: every score >= {TARGET_SCORE}; `*` misses it)")
    header = f"  {'page':<9}{'preset':<9}" + "".join(f"{category:>16}" for category in CATEGORIES)
    out(header)
    out("  " + "-" * (len(header) - 2))
    problems = []
    for run in runs:
        cells = []
        for category in CATEGORIES:
            score = run.scores[category]
            missed = score is None or score < TARGET_SCORE
            cells.append(f"{('n/a' if score is None else str(score)) + ('*' if missed else ' '):>16}")
            if missed:
                problems.append(f"Lighthouse {run.page}/{run.preset} {category} {score}")
        out(f"  {run.page:<9}{run.preset:<9}" + "".join(cells))
    out(f"  reports: {report_dir}/lighthouse-{{landing,room}}-{{mobile,desktop}}.report.{{html,json}}")
    for run in runs:
        for category, audits in run.failing.items():
            score = run.scores[category]
            verdict = "MISSES THE TARGET" if score is None or score < TARGET_SCORE else "meets the target"
            out(
                f"  {run.page}/{run.preset} {category} {score} ({verdict}); audits that cost points "
                f"(see {run.html_path.name}):"
            )
            for line in audits[:MAX_AUDITS_LISTED] or ["(none listed: open the HTML report)"]:
                out(f"    - {line}")
            if len(audits) > MAX_AUDITS_LISTED:
                out(f"    ... and {len(audits) - MAX_AUDITS_LISTED} more")
    out()
    return problems


# --- axe-core ------------------------------------------------------------------------------------


def axe_section(out: Output, site: LoopbackSystem, chrome: str, report_dir: Path) -> list[str]:
    """axe on the landing page and the room page's two states, light and dark; the problems."""
    from playwright.sync_api import expect, sync_playwright

    from tests.e2e.support import visitor_pages
    from tests.e2e.ui_checks import (
        COLOR_SCHEMES,
        TWO_PEOPLE_CHAT,
        axe_version,
        describe_violations,
        enter_people,
        play,
        run_axe,
        set_color_scheme,
    )

    results: dict[str, list[dict]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chrome, headless=True, args=CHROMIUM_ARGS)
        try:
            with visitor_pages(browser) as open_page:
                progress("axe: setting up the pages (reading, a first visit writing, two people chatting)")
                landing = open_page(site.site_url)
                reading = open_page(site.room_url("axe-reading"))
                expect(reading.locator(".bc-empty")).to_be_visible()
                first_visit = open_page(site.room_url("axe-first-visit"))
                first_visit.locator("form.bc-composer textarea").fill("Hello")
                expect(first_visit.locator("form.bc-name")).to_be_visible()
                people = enter_people(open_page, site.room_url("axe-chatting"), ["Ann", "Bob"])
                play(people, TWO_PEOPLE_CHAT)
                expect(people["Ann"].locator(".bc-presence__people li")).to_have_count(2)
                states = {
                    "landing page": landing,
                    "room, reading": reading,
                    "room, name picker": first_visit,
                    "room, two people chatting": people["Ann"],
                }
                for label, page in states.items():
                    for scheme in COLOR_SCHEMES:
                        set_color_scheme(page, scheme)
                        progress(f"axe: {label}, {scheme}")
                        results[f"{label}, {scheme}"] = run_axe(page)
        finally:
            browser.close()

    (report_dir / "axe.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    out(f"axe-core ({axe_version()}; target: no violations)")
    problems = []
    for where, violations in results.items():
        out(f"  {where}: {len(violations) or 'no'} violation{'' if len(violations) == 1 else 's'}")
        if violations:
            problems.append(f"axe {where}: {', '.join(violation['id'] for violation in violations)}")
            out("    " + describe_violations(violations).replace("\n", "\n    "))
    out(f"  details: {report_dir / 'axe.json'}")
    out()
    return problems


# --- Main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Lighthouse scores, axe-core violations and asset sizes of the site.")
    parser.add_argument("--skip-lighthouse", action="store_true", help="no Lighthouse runs (axe and sizes only)")
    parser.add_argument("--skip-axe", action="store_true", help="no axe-core checks")
    parser.add_argument("--output", type=Path, default=REPORT_DIR, help=f"where the reports go (default {REPORT_DIR})")
    arguments = parser.parse_args(argv)
    report_dir = arguments.output.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)

    try:
        chrome = chromium_path()
        if not arguments.skip_axe:
            from tests.e2e.ui_checks import AxeMissing, axe_source

            try:
                axe_source()
            except AxeMissing as error:
                raise ToolMissing(str(error)) from None
        lighthouse = None if arguments.skip_lighthouse else lighthouse_command()
    except ToolMissing as error:
        print(f"make report: {error}", file=sys.stderr)
        return 2

    out = Output()
    problems: list[str] = []
    started = time.monotonic()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="backchannel-report-") as work_dir,
            loopback_system(
                Path(work_dir), log_path=lambda port: report_dir / "daphne.log", build=build_even_over_budget
            ) as site,
        ):
            out(f"UI report for {site.site_url} (a fresh local backend, DEBUG off)")
            out()
            problems += size_section(out, site.public_dir)
            if lighthouse is not None:
                command, version = lighthouse
                problems += lighthouse_section(out, site, command, version, chrome, report_dir)
            if not arguments.skip_axe:
                problems += axe_section(out, site, chrome, report_dir)
    except (ServerFailed, SiteBuildError, RuntimeError) as error:
        print(f"make report: could not measure the site: {error}", file=sys.stderr)
        return 2

    if problems:
        out(
            f"FAILED: {len(problems)} missed the target "
            f"(Lighthouse >= {TARGET_SCORE}, no axe violations, bundles within budget):"
        )
        for problem in problems:
            out(f"  - {problem}")
    else:
        out(
            f"OK: every Lighthouse score >= {TARGET_SCORE}, no axe violations, bundles within budget "
            f"({time.monotonic() - started:.0f} s)"
        )
    out.save(report_dir / "summary.txt")
    print(f"(this summary: {report_dir / 'summary.txt'})", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
