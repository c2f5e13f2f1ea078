"""A visitor in headless Chromium, seen through the widget's DOM contract (ARCHITECTURE.md,
"Widget markup"): `.bc-messages .bc-message` with `data-seq`, and for the visitor's own
messages `data-client-id` and `data-state` (pending/sent/failed); `.bc-status[data-state]`.

Each visitor has its own browser context (own localStorage, so its own remembered name and
outbox); closing its tab and opening the room again keeps the context, as a real browser would.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from tests.chaos.client import log
from tests.chaos.verify import Entry, Observed

PAGE_TIMEOUT_MS = 10_000

# Runs in the page (Playwright passes it as a function, not as a string to eval: the site's CSP
# forbids eval).
READ_MESSAGES = """elements => elements.map(element => ({
    seq: element.getAttribute('data-seq'),
    clientId: element.getAttribute('data-client-id'),
    state: element.getAttribute('data-state'),
    text: element.querySelector('.bc-message__text')?.textContent ?? '',
}))"""


class BrowserClient:
    def __init__(self, browser, *, label: str, url: str, name: str) -> None:
        self.label = label
        self.url = url
        self.name = name
        self.context = browser.new_context()
        self.page = None
        self.typed: list[str] = []
        self.page_errors: list[str] = []

    # --- the tab ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open the room in a new tab of this visitor's browser and pick the name if asked."""
        page = self.context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.on("pageerror", lambda error: self.page_errors.append(f"{self.label}: {error}"))
        page.goto(self.url)
        self.page = page
        self._pick_name_if_asked()

    def _pick_name_if_asked(self) -> None:
        """A visitor reads at once; one without a stored name writes a first letter, which brings
        the name picker, picks the name and clears the draft."""
        composer = self.page.locator("form.bc-composer textarea[name=text]")
        composer.wait_for(state="visible")
        identity = self.page.locator(".bc-identity")
        if identity.is_visible():
            return
        composer.fill("…")
        picker = self.page.locator("form.bc-name input[name=name]")
        picker.wait_for(state="visible")
        picker.fill(self.name)
        picker.press("Enter")
        identity.wait_for(state="visible")
        composer.fill("")

    def reload(self) -> None:
        self.page.reload()
        self._pick_name_if_asked()

    def close_tab(self) -> None:
        self.page.close()
        self.page = None

    def close(self) -> None:
        self.context.close()

    # --- this visitor's path to the backend ----------------------------------------------
    #
    # Chromium's offline emulation (context.set_offline) is not used: it holds WebSocket frames
    # rather than failing the socket, and lets them out again (or as the tab closes), so a "sent
    # while offline" message can reach the server anyway. Instead this visitor's sockets go
    # through Playwright's WebSocket routing, which can refuse them for real.

    def route_sockets(self) -> None:
        """Route this visitor's WebSockets through Playwright (before open()), so that
        set_reachable(False) can cut them. Reachable, every frame is passed on unchanged."""
        self._reachable = True
        self._routes = []
        # The widget's socket: "/ws/", with the protocol version it asks for ("/ws/?protocol=3").
        self.context.route_web_socket(lambda url: urlsplit(url).path.endswith("/ws/"), self._route)

    def _route(self, route) -> None:
        # Runs on the test's thread whenever it is inside a Playwright call.
        if self._reachable:
            self._routes.append((route, route.connect_to_server()))
        else:
            route.close()  # the page sees its socket close: the backend cannot be reached

    def set_reachable(self, reachable: bool) -> None:
        """Unreachable: the open socket is closed on both sides and every new one is refused."""
        self._reachable = reachable
        if not reachable:
            for page_side, server_side in self._routes:
                server_side.close()
                page_side.close()
            self._routes.clear()
        self.say("backend reachable again" if reachable else "backend unreachable (sockets refused)")

    # --- what the visitor does and sees ----------------------------------------------------

    def status(self) -> str | None:
        return self.page.locator(".bc-status").get_attribute("data-state")

    def wait_status(self, *states: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while (status := self.status()) not in states:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.label}: status stayed {status!r}, expected one of {states} within {timeout:.0f} s"
                )
            self.page.wait_for_timeout(100)
        return status

    def type(self, text: str) -> None:
        composer = self.page.locator("form.bc-composer textarea[name=text]")
        composer.fill(text)
        composer.press("Enter")
        self.typed.append(text)

    def entries(self) -> list[Entry]:
        raw = self.page.locator(".bc-messages .bc-message").evaluate_all(READ_MESSAGES)
        return [
            Entry(
                seq=int(item["seq"]) if item["seq"] else None,
                client_id=item["clientId"],
                text=item["text"],
                state=item["state"] or "shown",
            )
            for item in raw
        ]

    def observe(self) -> Observed:
        entries = self.entries() if self.page is not None else []
        own = [entry for entry in entries if entry.client_id]
        return Observed(
            label=self.label,
            entries=entries,
            typed=list(self.typed),
            # An own message counts as acked once it shows as sent (that takes the ack).
            acked={entry.client_id: entry.seq for entry in own if entry.state == "sent" and entry.seq},
            unacked=[entry.client_id for entry in own if entry.state == "pending"],
            failed={entry.client_id: "failed" for entry in own if entry.state == "failed"},
            errors=[{"code": "page_error", "message": error} for error in self.page_errors],
            extra=f"status {self.status() if self.page is not None else 'closed'}",
        )

    def say(self, message: str) -> None:
        log(f"{self.label}: {message}")
