"""The weight budget (scripts/bundle_budget.py): the build prints the gzipped size of the chat's
first-paint script (main), of its on-demand chunk (write), of all its scripts together and of the
widget's stylesheet, and fails, naming the file, when one is over its limit."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from scripts import bundle_budget
from scripts.bundle_budget import (
    ALL_JS_BUDGET_GZIP_BYTES,
    CSS_BUDGET_GZIP_BYTES,
    FIRST_PAINT_JS_BUDGET_GZIP_BYTES,
    BudgetExceeded,
    check_budget,
    gzip_size,
    measure_bundles,
)
from scripts.site import REPO_ROOT, SiteBuildError, build_site
from tests.site.support import baked_subresources, main_script, parse_page

BACKEND_URL = "ws://127.0.0.1:8000"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(BACKEND_URL, tmp_path_factory.mktemp("site"))


def test_the_budgets_are_the_ones_the_theme_readme_promises() -> None:
    readme = (REPO_ROOT / "themes/backchannel/README.md").read_text()
    weight = readme.split("## Weight", 1)[1].split("\n## ", 1)[0]
    budgets = {}
    for line in weight.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and (budget := re.match(r"([\d,]+) B", cells[3])):
            budgets[cells[0]] = int(budget[1].replace(",", ""))
    assert budgets == {
        "`backchannel/js/main.<hash>.js`": FIRST_PAINT_JS_BUDGET_GZIP_BYTES,
        "all scripts together": ALL_JS_BUDGET_GZIP_BYTES,
        "`backchannel/css/backchannel.<hash>.css`": CSS_BUDGET_GZIP_BYTES,
    }
    # The whole of the on-demand chunks and the stylesheet: the product's promise.
    assert (ALL_JS_BUDGET_GZIP_BYTES, CSS_BUDGET_GZIP_BYTES) == (30 * 1024, 8 * 1024)


@pytest.mark.hugo
def test_the_built_site_is_within_budget_and_measured(site: Path) -> None:
    sizes = {Path(size.path).name.split(".")[0]: size for size in measure_bundles(site)}
    assert set(sizes) == {"main", "write", "conversation", "backchannel", "all scripts together"}, sizes
    together = sizes.pop("all scripts together")
    scripts = [sizes[name] for name in ("main", "write", "conversation")]
    assert together.gzip_bytes == sum(size.gzip_bytes for size in scripts)
    assert together.raw_bytes == sum(size.raw_bytes for size in scripts)
    assert not together.over_budget, together.describe()
    for size in sizes.values():
        assert not size.over_budget, size.describe()
        assert size.gzip_bytes == gzip_size((site / size.path).read_bytes())
        assert 0 < size.gzip_bytes < size.raw_bytes
    assert sizes["main"].budget_gzip_bytes == FIRST_PAINT_JS_BUDGET_GZIP_BYTES
    on_demand = (sizes["write"], sizes["conversation"], together)
    assert [size.budget_gzip_bytes for size in on_demand] == [ALL_JS_BUDGET_GZIP_BYTES] * 3


@pytest.mark.hugo
def test_what_is_measured_is_what_a_page_with_a_chat_loads(site: Path) -> None:
    """main: the one script the page loads; the stylesheet, write and conversation: what that script loads."""
    sizes = {size.path for size in measure_bundles(site)}
    page = parse_page(site / "about" / "index.html")
    script = main_script(page)
    assert script.lstrip("/") in sizes
    assert {url.lstrip("/") for url in baked_subresources(site / script.lstrip("/"))} <= sizes


def test_an_over_budget_file_fails_the_check_naming_it(tmp_path: Path) -> None:
    (tmp_path / "backchannel/js").mkdir(parents=True)
    (tmp_path / "backchannel/css").mkdir(parents=True)
    # Random bytes do not compress: 15 KiB stays 15 KiB gzipped, over main's 14.
    (tmp_path / "backchannel/js/main.min.js").write_bytes(os.urandom(15 * 1024))
    (tmp_path / "backchannel/css/backchannel.min.css").write_text("a{color:red}")
    sizes = measure_bundles(tmp_path)
    with pytest.raises(BudgetExceeded) as raised:
        check_budget(sizes)
    message = str(raised.value)
    assert "backchannel/js/main.min.js" in message and "OVER BUDGET by" in message
    assert "backchannel.min.css" not in message
    assert "all scripts together" not in message


def test_chunks_over_the_total_fail_the_check_as_all_scripts_together(tmp_path: Path) -> None:
    """Each chunk alone may be small; together they stay under 30 KiB."""
    (tmp_path / "backchannel/js").mkdir(parents=True)
    (tmp_path / "backchannel/js/main.min.js").write_bytes(os.urandom(13 * 1024))
    (tmp_path / "backchannel/js/write.min.js").write_bytes(os.urandom(18 * 1024))
    with pytest.raises(BudgetExceeded) as raised:
        check_budget(measure_bundles(tmp_path))
    over = [line for line in str(raised.value).splitlines() if "OVER BUDGET" in line]
    assert len(over) == 1 and "all scripts together" in over[0], over


@pytest.mark.hugo
def test_the_build_fails_when_the_chat_bundle_is_over_budget(tmp_path: Path, monkeypatch, capsys) -> None:
    budgets = [("js", "backchannel/js", "main.*js", 4 * 1024), *bundle_budget.BUDGETS[1:]]
    assert bundle_budget.BUDGETS[0][2] == "main.*js"
    monkeypatch.setattr(bundle_budget, "BUDGETS", budgets)
    with pytest.raises(SiteBuildError, match=r"(?s)over the weight budget.*js +backchannel/js/main\.min\.js"):
        build_site(BACKEND_URL, tmp_path / "public")
    printed = capsys.readouterr().err
    assert "css  backchannel/css/backchannel.min.css" in printed and "B gzipped of 8,192" in printed
