"""What the site tests share: the built HTML read with html.parser (standard library only), the
site's config, SRI and CSP helpers, and a copy of the site's source to build variants of."""

from __future__ import annotations

import base64
import hashlib
import shutil
import tomllib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from scripts.site import REPO_ROOT


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
    TEXT_TAGS = {"script", "style", "a", "h1", "h2", "title"}

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


def local_file(site: Path, url: str) -> Path:
    """The built file behind a root-relative or absolute URL of the site."""
    path = urlsplit(url).path
    assert path.startswith("/"), f"expected a root-relative path, got {url}"
    return site / path.lstrip("/")


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
