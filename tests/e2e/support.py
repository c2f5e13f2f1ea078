"""What the browser tests share: a visitor entering a room, sending, reading, and a Python
visitor posting over the real protocol (for payloads a person would not type)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import websockets
from playwright.sync_api import Browser, Page, expect

from tests.identity_client import fetch_token

REPLY_TIMEOUT_SECS = 5
_client_ids = itertools.count(1)


@contextmanager
def visitor_pages(browser: Browser, **context_options) -> Iterator[Callable[[str], Page]]:
    """Yields ``open_page(url)``: each page a separate visitor (its own browser context, so its
    own localStorage), recording its console errors in ``page.console_errors``. The contexts
    close on exit. ``context_options`` go to ``browser.new_context`` (``ignore_https_errors``)."""
    contexts = []

    def open_page(url: str) -> Page:
        context = browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.console_errors = []  # type: ignore[attr-defined]
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        page.goto(url)
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


def enter_room_as(page: Page, name: str) -> None:
    """Reads first (the room is live without a name), then starts to write: the name picker
    comes up beside the composer; the draft is cleared once the visitor has their name."""
    composer = page.locator("form.bc-composer textarea[name=text]")
    expect(composer).to_be_visible()
    composer.fill("h")
    name_form = page.locator("form.bc-name")
    expect(name_form).to_be_visible()
    name_form.locator("input[name=name]").fill(name)
    name_form.locator("input[name=name]").press("Enter")
    expect(name_form).to_be_hidden()
    expect(page.locator(".bc-identity")).to_be_visible()
    composer.fill("")
    expect(page.locator(".bc-status")).to_have_attribute("data-state", "connected")


def send(page: Page, text: str) -> None:
    """Writes ``text`` and presses Send (Enter sends too, except on touch keyboards, where it
    breaks the line: the keyboard tests cover Enter)."""
    composer = page.locator("form.bc-composer")
    composer.locator("textarea[name=text]").fill(text)
    composer.locator("button[type=submit]").click()


def message_texts(page: Page):
    return page.locator(".bc-messages .bc-message .bc-message__text")


def post_as(backend_url: str, site_origin: str, room: str, name: str, texts: list[str]) -> dict:
    """Post ``texts`` to ``room`` as a new visitor ``name``, each acked; the identity used."""

    async def scenario() -> dict:
        identity = await asyncio.to_thread(fetch_token, backend_url, name)
        ws_url = backend_url.replace("http://", "ws://") + "/ws/"
        async with websockets.connect(ws_url, origin=site_origin) as socket:
            await socket.send(json.dumps({"type": "auth", "token": identity["token"]}))
            await socket.send(json.dumps({"type": "join", "room": room}))
            for text in texts:
                client_id = f"py{next(_client_ids)}"
                await socket.send(json.dumps({"type": "send", "room": room, "text": text, "client_id": client_id}))
                while True:
                    event = json.loads(await asyncio.wait_for(socket.recv(), REPLY_TIMEOUT_SECS))
                    assert event["type"] != "error", event
                    if event["type"] == "ack" and event["client_id"] == client_id:
                        break
        return identity

    # Playwright's sync API keeps an event loop running in this thread: run ours in another.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, scenario()).result()
