"""The production site, as `make site-production` (scripts/site.py --production) builds it for
GitHub Pages from config.toml's own values: CNAME and .nojekyll, https everywhere, the backend over
wss and never a ws:// URL, SRI and the CSP; which base URLs get a CNAME; and the refusal of config
values unfit to deploy. Only the standard library parses the output (html.parser)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from scripts import site as site_support
from scripts.site import (
    BACKEND_URL_ENV,
    ProductionConfigError,
    ProductionSite,
    build_production_site,
    build_site,
)
from tests.site.support import (
    Page,
    chats,
    check_widget_subresources,
    copy_site_source,
    csp_directives,
    local_file,
    parse_page,
    read_config,
    sri_sha384,
    subresources,
)

pytestmark = pytest.mark.hugo

CONFIG = read_config()
PRODUCTION_BASE_URL = CONFIG["baseURL"]
PRODUCTION_BACKEND_URL = CONFIG["params"]["backchannel"]["backend_url"]
SITE_HOST = urlsplit(PRODUCTION_BASE_URL).hostname
BACKEND_HOST = urlsplit(PRODUCTION_BACKEND_URL).netloc
# The pages and the address each one is canonical at, English at the root and Japanese under /ja/
# (the 404 pages have none: one is served for any missing address).
CANONICAL_PATHS = {
    "index.html": "/", "room/index.html": "/room/", "about/index.html": "/about/",
    "ja/index.html": "/ja/", "ja/room/index.html": "/ja/room/", "ja/about/index.html": "/ja/about/",
}  # fmt: skip
NOT_FOUND_PAGES = {"404.html", "ja/404.html"}
# Attributes that hold a URL the browser may fetch or follow.
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "poster", "cite", "data")
# XML namespace names are identifiers that happen to start with http://; nothing fetches them.
XML_NAMESPACE = re.compile(r"http://www\.w3\.org/[\w/.#-]*")


def set_config_value(source: Path, key: str, value: str) -> None:
    """Set the one `key = "..."` line of ``source``'s config.toml to ``value``."""
    config_path = source / "config.toml"
    text, replaced = re.subn(
        rf'^(\s*{re.escape(key)}\s*=\s*)".*"$', lambda match: f'{match[1]}"{value}"',
        config_path.read_text(encoding="utf-8"), flags=re.MULTILINE,
    )  # fmt: skip
    assert replaced == 1, f"expected one {key} line in {config_path}"
    config_path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> ProductionSite:
    """The repository's own production build, run with a local build's overrides left in the
    environment (as a developer's shell may hold them): none of them may reach the site. Hugo
    itself lets HUGO_BASEURL and HUGO_ENVIRONMENT beat its --baseURL and --environment flags."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(BACKEND_URL_ENV, "ws://localhost:8000")
        monkeypatch.setenv("HUGOyPARAMSyBACKCHANNELyBACKEND_URL", "ws://localhost:8000")
        monkeypatch.setenv("HUGO_BASEURL", "http://localhost:1313/")
        monkeypatch.setenv("HUGO_ENVIRONMENT", "development")
        return build_production_site(tmp_path_factory.mktemp("production"))


@pytest.fixture(scope="module")
def pages(production: ProductionSite) -> dict[str, Page]:
    site = production.destination
    return {str(path.relative_to(site)): parse_page(path) for path in sorted(site.rglob("*.html"))}


def test_the_build_used_config_toml_s_own_values(production: ProductionSite, pages: dict[str, Page]) -> None:
    assert (production.base_url, production.backend_url) == (PRODUCTION_BASE_URL, PRODUCTION_BACKEND_URL)
    assert PRODUCTION_BASE_URL.startswith("https://") and PRODUCTION_BACKEND_URL.startswith("wss://")
    assert set(CANONICAL_PATHS) | NOT_FOUND_PAGES == set(pages)


def test_cname_holds_the_custom_domain_on_one_line(production: ProductionSite) -> None:
    assert not SITE_HOST.endswith(".github.io"), "config.toml's baseURL is meant to be a custom domain"
    assert (production.destination / "CNAME").read_text(encoding="utf-8") == f"{SITE_HOST}\n"
    assert production.cname_host == SITE_HOST


def test_nojekyll_is_written_and_empty(production: ProductionSite) -> None:
    """Without it GitHub Pages runs Jekyll over the site, which drops `_*` and `.*` files."""
    assert (production.destination / ".nojekyll").read_bytes() == b""


def test_every_page_is_canonical_at_its_https_address_on_the_custom_domain(pages: dict[str, Page]) -> None:
    for name, path in CANONICAL_PATHS.items():
        canonical = [link.attrs["href"] for link in pages[name].find_all("link", rel="canonical")]
        assert canonical == [f"https://{SITE_HOST}{path}"], name
    for name in NOT_FOUND_PAGES:
        assert not pages[name].find_all("link", rel="canonical"), name


def test_every_absolute_url_in_the_pages_is_https(pages: dict[str, Page]) -> None:
    absolute_urls = []
    for name, page in pages.items():
        for element in page.elements:
            for attribute in URL_ATTRIBUTES:
                url = (element.attrs.get(attribute) or "").strip()
                if urlsplit(url).scheme or url.startswith("//"):
                    absolute_urls.append((name, url))
    assert absolute_urls, "expected the canonical links at least"
    for name, url in absolute_urls:
        assert urlsplit(url).scheme in ("https", "mailto", "data"), f"{name}: {url}"


def test_no_page_names_an_http_url(production: ProductionSite) -> None:
    """Not in an attribute, not in the text, not in the CSP: an https page may load nothing over
    http, and a link to http://<the site> would leave https for a redirect."""
    for path in sorted(production.destination.rglob("*.html")):
        html = XML_NAMESPACE.sub("", path.read_text(encoding="utf-8"))
        assert "http://" not in html, path.name
        assert f"//{SITE_HOST}" not in html.replace(f"https://{SITE_HOST}", ""), path.name


def test_no_file_in_the_output_holds_a_ws_url(production: ProductionSite) -> None:
    """Not the HTML, not the bundle, not the CSS, nothing: every socket URL is wss://."""
    files = [path for path in production.destination.rglob("*") if path.is_file()]
    assert any(path.suffix == ".js" for path in files)
    for path in files:
        assert b"ws://" not in path.read_bytes().lower(), path.relative_to(production.destination)


@pytest.mark.parametrize("page_name", ["room/index.html", "about/index.html"])
def test_the_bundle_carries_the_wss_backend(production: ProductionSite, pages: dict[str, Page], page_name: str) -> None:
    scripts = pages[page_name].find_all("script")
    assert len(scripts) == 1
    bundle = local_file(production.destination, scripts[0].attrs["src"]).read_text(encoding="utf-8")
    assert f'"{PRODUCTION_BACKEND_URL}"' in bundle


def test_every_script_and_stylesheet_carries_a_matching_integrity(
    production: ProductionSite, pages: dict[str, Page]
) -> None:
    for name, page in pages.items():
        assert "link" in {element.tag for element, _ in subresources(page)}, name
        for element, url in subresources(page):
            assert element.attrs.get("integrity") == sri_sha384(local_file(production.destination, url)), (
                f"{name}: {url}"
            )


@pytest.mark.parametrize("page_name", ["room/index.html", "about/index.html", "ja/about/index.html"])
def test_what_the_chat_script_loads_carries_a_matching_integrity(
    production: ProductionSite, pages: dict[str, Page], page_name: str
) -> None:
    """The minified main.js names the widget's stylesheet and write chunk with their integrity;
    the element names its strings file with its own."""
    check_widget_subresources(production.destination, pages[page_name])


def test_the_csp_connects_to_self_and_the_backend_over_tls_only(pages: dict[str, Page]) -> None:
    for name, page in pages.items():
        directives = csp_directives(page)
        assert directives["connect-src"] == ["'self'", f"wss://{BACKEND_HOST}", f"https://{BACKEND_HOST}"], name
        assert directives["default-src"] == ["'self'"], name
        assert directives["script-src"] == ["'self'"], name


# --- Which base URLs get a CNAME ------------------------------------------------------------


def test_a_github_io_site_gets_no_cname(tmp_path: Path) -> None:
    """A *.github.io site must not have a CNAME: GitHub Pages would take it for a custom domain."""
    source = copy_site_source(tmp_path)
    set_config_value(source, "baseURL", "https://someone.github.io/backchannel/")
    built = build_production_site(tmp_path / "public", source=source)
    assert built.cname_host is None
    assert not (built.destination / "CNAME").exists()
    assert (built.destination / ".nojekyll").is_file()
    canonical = parse_page(built.destination / "room" / "index.html").find_all("link", rel="canonical")
    assert canonical[0].attrs["href"] == "https://someone.github.io/backchannel/room/"
    # A project site is served under its path: everything the widget loads and links is too.
    about = parse_page(built.destination / "about" / "index.html")
    baked = check_widget_subresources(built.destination, about, base_path="/backchannel/")
    assert all(url.startswith("/backchannel/backchannel/") for url in baked), baked
    [chat] = chats(about)
    assert (chat.attrs["page"], chat.attrs["home"]) == ("/backchannel/about/", "/backchannel/")


@pytest.mark.parametrize(
    ("base_url", "expected_cname"),
    [
        ("https://WWW.Example.ORG/", "www.example.org\n"),
        ("https://chat.example.org/docs/", "chat.example.org\n"),
        # The local and test builds are production builds too: no CNAME for any of them.
        ("http://127.0.0.1:8080/", None),
        ("https://127.0.0.1:8443/", None),
        ("https://localhost/", None),
        ("https://[::1]/", None),
        # Not something GitHub Pages serves as a custom domain.
        ("http://chat.example.org/", None),
        ("https://chat.example.org:8443/", None),
        ("https://someone.github.io/", None),
        ("https://SOMEONE.GitHub.IO/", None),
    ],
)
def test_the_theme_writes_a_cname_only_for_an_https_custom_domain(
    tmp_path: Path, base_url: str, expected_cname: str | None
) -> None:
    site = build_site("wss://backend.example.org", tmp_path / "public", base_url)
    cname_path = site / "CNAME"
    assert (cname_path.read_text(encoding="utf-8") if cname_path.exists() else None) == expected_cname
    assert (site / ".nojekyll").is_file()


# --- Config values unfit to deploy ----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected_message"),
    [
        ("baseURL", "http://chat.example.org/", r"config\.toml: baseURL must be an https:// URL"),
        ("baseURL", "/", r"config\.toml: baseURL must be an https:// URL"),
        ("backend_url", "ws://backchannel-example.herokuapp.com",
         r"config\.toml: \[params\.backchannel\] backend_url must be a wss:// URL"),
        ("backend_url", "https://backchannel-example.herokuapp.com",
         r"config\.toml: \[params\.backchannel\] backend_url must be a wss:// URL"),
    ],
)  # fmt: skip
def test_production_refuses_config_values_unfit_to_deploy(
    tmp_path: Path, key: str, value: str, expected_message: str
) -> None:
    source = copy_site_source(tmp_path)
    set_config_value(source, key, value)
    with pytest.raises(ProductionConfigError, match=expected_message) as refusal:
        build_production_site(tmp_path / "public", source=source)
    assert repr(value) in str(refusal.value), "the message shows the value found"
    assert not (tmp_path / "public").exists(), "nothing is built from a refused config"


def test_the_command_line_refuses_an_http_base_url_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = copy_site_source(tmp_path)
    set_config_value(source, "baseURL", "http://chat.example.org/")
    exit_status = site_support.main(
        ["--production", "--source", str(source), "--destination", str(tmp_path / "public")]
    )
    assert exit_status == 1
    assert "config.toml: baseURL must be an https:// URL" in capsys.readouterr().err


def test_the_command_line_reports_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = copy_site_source(tmp_path)
    set_config_value(source, "baseURL", "https://chat.example.org/")
    destination = tmp_path / "public"
    exit_status = site_support.main(["--production", "--source", str(source), "--destination", str(destination)])
    assert exit_status == 0
    report = capsys.readouterr().out
    assert f"Production site in {destination}" in report
    assert re.search(r"CNAME\s+chat\.example\.org$", report, flags=re.MULTILINE), report
    assert re.search(rf"backend_url\s+{re.escape(PRODUCTION_BACKEND_URL)}$", report, flags=re.MULTILINE), report


def test_the_command_line_takes_no_overrides_with_production(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        site_support.main(["--production", "--backend-url", "ws://localhost:8000"])
    assert exit_info.value.code == 2
    assert "drop --backend-url/--base-url" in capsys.readouterr().err
