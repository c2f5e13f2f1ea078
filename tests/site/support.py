"""What the site tests share: the built HTML read with html.parser (standard library only), the
site's config, SRI and CSP helpers, the chat widget's contract (the <backchannel-chat> element,
its strings file and the files main.js loads), a copy of the site's source to build variants of,
and small host sites written on the fly."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from scripts.site import REPO_ROOT, SiteBuildError, find_hugo

COMPONENT_DIR = REPO_ROOT / "themes" / "backchannel"
SITE_THEME_DIR = REPO_ROOT / "themes" / "backchannel-site"
CHAT_ELEMENT = "backchannel-chat"
BUILD_TIMEOUT_S = 120


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""


@dataclass
class Page:
    """What the tests need from one HTML file."""

    path: Path
    elements: list[Element] = field(default_factory=list)
    text: str = ""

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            element
            for element in self.elements
            if element.tag == tag
            and all(element.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items())
        ]

    def with_class(self, class_name: str) -> list[Element]:
        return [e for e in self.elements if class_name in (e.attrs.get("class") or "").split()]


class _PageParser(HTMLParser):
    # Elements whose text the tests read; the text of the others is only collected page-wide.
    TEXT_TAGS = {"script", "style", "a", "h1", "h2", "title", "backchannel-chat"}

    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.open_text_elements: list[Element] = []
        self.text_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.page.elements.append(element)
        if tag in self.TEXT_TAGS:
            self.open_text_elements.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open_text_elements) - 1, -1, -1):
            if self.open_text_elements[index].tag == tag:
                del self.open_text_elements[index:]
                break

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)
        for element in self.open_text_elements:
            element.text += data

    def close(self) -> None:
        super().close()
        self.page.text = " ".join(" ".join(self.text_parts).split())


def parse_page(path: Path) -> Page:
    page = Page(path)
    parser = _PageParser(page)
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return page


def read_config(source: Path = REPO_ROOT) -> dict:
    return tomllib.loads((source / "config.toml").read_text(encoding="utf-8"))


def local_file(site: Path, url: str, base_path: str = "/") -> Path:
    """The built file behind a root-relative or absolute URL of the site, served at
    ``base_path`` (a baseURL's path, e.g. "/backchannel/" for a GitHub project site)."""
    path = urlsplit(url).path
    assert path.startswith(base_path), f"expected a path under {base_path}, got {url}"
    return site / path[len(base_path) :]


def sri_sha384(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def subresources(page: Page) -> list[tuple[Element, str]]:
    """The page's scripts and stylesheets, each with its URL (``src`` or ``href``)."""
    scripts = [(element, element.attrs["src"]) for element in page.find_all("script")]
    links = page.find_all("link")
    stylesheets = [(element, element.attrs["href"]) for element in links if element.attrs.get("rel") == "stylesheet"]
    return scripts + stylesheets


def csp_directives(page: Page) -> dict[str, list[str]]:
    metas = [m for m in page.find_all("meta") if (m.attrs.get("http-equiv") or "").lower() == "content-security-policy"]
    assert len(metas) == 1, f"{page.path}: expected one CSP meta tag"
    directives = {}
    for directive in (metas[0].attrs["content"] or "").split(";"):
        name, *sources = directive.split()
        directives[name] = sources
    return directives


def copy_site_source(destination: Path) -> Path:
    source = destination / "source"
    source.mkdir()
    shutil.copy(REPO_ROOT / "config.toml", source)
    shutil.copytree(REPO_ROOT / "site", source / "site")
    shutil.copytree(REPO_ROOT / "themes", source / "themes")
    return source


def read_i18n(theme: Path, language: str) -> dict[str, str]:
    """A theme's i18n/<language>.toml as {key: text}."""
    table = tomllib.loads((theme / "i18n" / f"{language}.toml").read_text(encoding="utf-8"))
    return {key: value["other"] for key, value in table.items()}


# --- The chat widget's contract -----------------------------------------------------------------


def chats(page: Page) -> list[Element]:
    """The page's <backchannel-chat> elements, in document order (their .text: the plain text
    inside them, what a reader without the script, a feed or a search index gets)."""
    return page.find_all(CHAT_ELEMENT)


def chat_inner_html(path: Path) -> list[str]:
    """The HTML inside each <backchannel-chat> element of a built file."""
    html = path.read_text(encoding="utf-8")
    return re.findall(rf"<{CHAT_ELEMENT}\b[^>]*>(.*?)</{CHAT_ELEMENT}>", html, flags=re.S)


def chat_strings(site: Path, chat: Element, base_path: str = "/") -> dict[str, str]:
    """The UI strings a widget loads: the JSON file its ``strings`` attribute names, checked
    against its ``strings-integrity`` (the browser refuses the file otherwise)."""
    url = chat.attrs["strings"]
    assert re.fullmatch(r"/(?:.*/)?backchannel/strings\.[a-z-]+\.[0-9a-f]{64,}\.json", url), url
    path = local_file(site, url, base_path)
    assert chat.attrs.get("strings-integrity") == sri_sha384(path), url
    return json.loads(path.read_text(encoding="utf-8"))


# One {url, integrity} object that js.Build's "@params" left in main.js, keys in either order and
# quoted or not (minified or not).
_BAKED = re.compile(r'\{\s*"?(integrity|url)"?\s*:\s*"([^"]+)"\s*,\s*"?(integrity|url)"?\s*:\s*"([^"]+)"\s*\}')


def baked_subresources(bundle: Path) -> dict[str, str]:
    """The files main.js loads itself ({url: integrity}): the widget's stylesheet, which it links
    in each widget's shadow root, and the write chunk, which it loads when a visitor writes."""
    baked = {}
    for first_key, first, _, second in _BAKED.findall(bundle.read_text(encoding="utf-8")):
        url, integrity = (second, first) if first_key == "integrity" else (first, second)
        baked[url] = integrity
    return baked


def main_script(page: Page) -> str:
    """The URL of the chat script the page loads (exactly one)."""
    scripts = [
        src
        for element in page.find_all("script")
        if re.search(r"/backchannel/js/main\.", src := element.attrs.get("src") or "")
    ]
    assert len(scripts) == 1, f"{page.path}: expected one chat script, got {scripts}"
    return scripts[0]


def check_widget_subresources(site: Path, page: Page, base_path: str = "/") -> dict[str, str]:
    """The page's chat script and everything it loads exist in ``site`` with the integrity the
    page and the script name (what a browser enforces). Returns the script's {url: integrity}."""
    src = main_script(page)
    [element] = [e for e in page.find_all("script") if e.attrs.get("src") == src]
    bundle = local_file(site, src, base_path)
    assert element.attrs.get("integrity") == sri_sha384(bundle), src
    baked = baked_subresources(bundle)
    kinds = sorted(re.sub(r"^.*/backchannel/(css|js)/(\w+)\..*$", r"\1/\2", url) for url in baked)
    assert kinds == ["css/backchannel", "js/conversation", "js/write"], baked
    for url, integrity in baked.items():
        assert integrity == sri_sha384(local_file(site, url, base_path)), url
    for chat in chats(page):
        chat_strings(site, chat, base_path)
    return baked


# --- Small host sites, written on the fly ---------------------------------------------------------

# A host theme's minimum: baseof, single and list (home pages too). Nothing of Backchannel.
HOST_LAYOUTS = {
    "layouts/_default/baseof.html": (
        '<!doctype html><html lang="{{ site.Language.Lang }}"><head><meta charset="utf-8">'
        "<title>{{ .Title }}</title></head>"
        '<body class="tiny-host"><main>{{ block "main" . }}{{ end }}</main></body></html>\n'
    ),
    "layouts/_default/single.html": '{{ define "main" }}<h1>{{ .Title }}</h1>{{ .Content }}{{ end }}\n',
    "layouts/_default/list.html": '{{ define "main" }}<h1>{{ .Title }}</h1>{{ .Content }}{{ end }}\n',
}


def write_site(root: Path, config: str, files: dict[str, str], *, layouts: bool = True) -> Path:
    """A Hugo site at ``root``: hugo.toml holding ``config`` after a line naming the repository's
    themes/ folder, ``files`` ({path: text}), and HOST_LAYOUTS unless ``layouts`` is false."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "hugo.toml").write_text(f"themesDir = {json.dumps(str(REPO_ROOT / 'themes'))}\n{config}", encoding="utf-8")
    for name, text in {**(HOST_LAYOUTS if layouts else {}), **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def build_with_the_sites_own_config(source: Path, destination: Path) -> Path:
    """`hugo` on ``source`` with nothing from the environment overriding its config (build_site
    always overrides backend_url, which is the value these tests check comes from the config)."""
    environment = {name: value for name, value in os.environ.items() if not name.upper().startswith("HUGO")}
    command = [
        find_hugo(),
        "--source",
        str(source),
        "--destination",
        str(destination),
        "--cleanDestinationDir",
        "--noBuildLock",
    ]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if result.returncode != 0:
        raise SiteBuildError(f"Hugo build failed (exit {result.returncode}):\n{result.stderr}")
    return destination
