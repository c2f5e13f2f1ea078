// mountChat (chat.js) on a fake DOM (fake-dom.js) with fake timers and a fake WebSocket: the
// wiring between the socket, the session and the page. The real browser is tests/e2e.
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { DISPLAY_NAME_STORAGE_KEY, mountChat } from "../../themes/backchannel/assets/backchannel/js/chat.js";
import { PING_INTERVAL_MS, PING_TIMEOUT_MS } from "../../themes/backchannel/assets/backchannel/js/socket.js";
import { FakeEvent, createFakeDocument, createFakeWindow, createWidget } from "./fake-dom.js";
import { FakeStorage, FakeWebSocket, createFakeTimers } from "./support.js";

const ROOM = "lobby";
const STRINGS = {
  chat_status_connecting: "Connecting…",
  chat_status_waking: "Waking the server…",
  chat_status_connected: "Connected",
  chat_status_reconnecting: "Reconnecting in {seconds} s…",
  chat_status_offline: "You are offline.",
  chat_message_pending: "Sending…",
  chat_message_failed: "Not sent",
  chat_message_retry: "Retry",
  chat_message_discard: "Discard",
  chat_error_unknown: "Something went wrong.",
  chat_error_text_too_long: "That message is too long.",
};
const READY = { type: "ready", protocol: 1, max_text_chars: 20, max_rooms: 5, history_limit: 50, resume_limit: 500 };

function message(seq, overrides = {}) {
  return { type: "message", room: ROOM, seq, author: "Bob", text: `m${seq}`, sent_at: "2024-05-01T12:00:00Z", client_id: `b${seq}`, ...overrides };
}

function joined(history, overrides = {}) {
  return { type: "joined", room: ROOM, name: "Ann", latest_seq: history.at(-1)?.seq ?? 0, resumed: false, history, has_older: false, ...overrides };
}

/** Mounts a widget for a visitor whose name ("Ann") is remembered. */
function mount({ storage = new FakeStorage(), online = true } = {}) {
  storage.setItem(DISPLAY_NAME_STORAGE_KEY, "Ann");
  const document = createFakeDocument();
  const window = createFakeWindow();
  const element = createWidget(document, { room: ROOM, strings: STRINGS });
  const timers = createFakeTimers();
  const navigator = { onLine: online };
  const handle = mountChat(element, {
    backendUrl: "ws://127.0.0.1:8000",
    WebSocket: FakeWebSocket,
    storage,
    location: { search: "", href: "http://127.0.0.1/about/", protocol: "http:" },
    history: null,
    window,
    navigator,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    now: timers.now,
    random: () => 0.999_999,
  });
  const $ = (selector) => element.querySelector(selector);
  const $$ = (selector) => element.querySelectorAll(selector);
  return { handle, element, document, window, timers, navigator, storage, $, $$ };
}

/** The server opens, says ready, and answers the join with `history`. */
function connect(history = [], joinedOverrides = {}) {
  const ws = FakeWebSocket.latest;
  ws.serverOpens();
  ws.serverSends(READY);
  ws.serverSends(joined(history, joinedOverrides));
  return ws;
}

const sentFrames = (ws) => ws.sent.map((frame) => JSON.parse(frame));

function type(widget, text) {
  widget.$("textarea").value = text;
  widget.$("form.bc-composer").dispatchEvent(new FakeEvent("submit"));
}

function shownMessages(widget) {
  return widget.$$(".bc-message").map((element) => ({
    seq: element.getAttribute("data-seq"),
    clientId: element.getAttribute("data-client-id"),
    state: element.getAttribute("data-state"),
    text: element.querySelector(".bc-message__text").textContent,
  }));
}

beforeEach(() => FakeWebSocket.reset());

describe("mountChat", () => {
  it("joins with the remembered name and shows the history", () => {
    const widget = mount();
    assert.equal(widget.$(".bc-status").dataset.state, "connecting");
    const ws = connect([message(1), message(2)]);
    assert.deepEqual(sentFrames(ws), [{ type: "join", room: ROOM, name: "Ann" }]);
    assert.equal(widget.$(".bc-status").dataset.state, "connected");
    assert.equal(widget.$("form.bc-composer").hidden, false);
    assert.deepEqual(shownMessages(widget).map((shown) => shown.seq), ["1", "2"]);
    assert.equal(widget.$(".bc-load-older").hidden, true);
  });

  it("shows a message as pending at once, then sent at its seq", () => {
    const widget = mount();
    const ws = connect([message(1)]);
    type(widget, "hello");
    assert.equal(widget.$("textarea").value, "");
    const [pending] = shownMessages(widget).slice(1);
    assert.equal(pending.state, "pending");
    assert.equal(pending.seq, null);
    assert.equal(widget.$(".bc-message__status").textContent, "Sending…");
    const send = sentFrames(ws).at(-1);
    assert.deepEqual(send, { type: "send", room: ROOM, text: "hello", client_id: pending.clientId });
    ws.serverSends({ type: "ack", room: ROOM, client_id: send.client_id, seq: 2 });
    ws.serverSends(message(2, { author: "Ann", text: "hello", client_id: send.client_id }));
    assert.deepEqual(shownMessages(widget).at(-1), { seq: "2", clientId: send.client_id, state: "sent", text: "hello" });
    assert.equal(widget.storage.getItem(`backchannel:outbox:${ROOM}`), null);
  });

  it("keeps what is typed while disconnected and sends it after rejoining with after_seq", () => {
    const widget = mount();
    connect([message(1), message(2)]);
    FakeWebSocket.latest.connectionDrops();
    type(widget, "written offline");
    assert.equal(shownMessages(widget).at(-1).state, "pending");
    assert.match(widget.storage.getItem(`backchannel:outbox:${ROOM}`), /written offline/);
    widget.timers.advance(1000);
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends(READY);
    assert.deepEqual(sentFrames(ws), [{ type: "join", room: ROOM, name: "Ann", after_seq: 2 }]);
    ws.serverSends(joined([], { resumed: true, latest_seq: 2 }));
    assert.equal(sentFrames(ws).at(-1).text, "written offline");
  });

  it("refuses a text over the server's limit at once and keeps it in the composer", () => {
    const widget = mount();
    connect();
    type(widget, "x".repeat(21));
    assert.equal(widget.$("textarea").value, "x".repeat(21));
    assert.equal(widget.$(".bc-error").dataset.code, "text_too_long");
    assert.equal(widget.$(".bc-error").textContent, "That message is too long.");
    assert.deepEqual(shownMessages(widget), []);
  });

  it("offers retry and discard on a failed message", () => {
    const widget = mount();
    const ws = connect();
    type(widget, "hello");
    const clientId = sentFrames(ws).at(-1).client_id;
    ws.serverSends({ type: "error", code: "bad_field", message: "m", room: ROOM, client_id: clientId });
    assert.equal(shownMessages(widget)[0].state, "failed");
    widget.$(".bc-message__retry").click();
    assert.equal(shownMessages(widget)[0].state, "pending");
    assert.equal(sentFrames(ws).filter((frame) => frame.type === "send").length, 2);
    ws.serverSends({ type: "error", code: "bad_field", message: "m", room: ROOM, client_id: clientId });
    widget.$(".bc-message__discard").click();
    assert.deepEqual(shownMessages(widget), []);
    assert.equal(widget.storage.getItem(`backchannel:outbox:${ROOM}`), null);
  });

  it("loads older messages from the button, before the first seq shown", () => {
    const widget = mount();
    const ws = connect([message(5), message(6)], { has_older: true });
    const button = widget.$(".bc-load-older");
    assert.equal(button.hidden, false);
    assert.equal(widget.$(".bc-messages").firstChild, button, "at the top of the list");
    button.click();
    assert.equal(button.disabled, true);
    assert.deepEqual(sentFrames(ws).at(-1), { type: "load_older", room: ROOM, before_seq: 5 });
    ws.serverSends({ type: "older", room: ROOM, messages: [message(3), message(4)], has_older: false });
    assert.deepEqual(shownMessages(widget).map((shown) => shown.seq), ["3", "4", "5", "6"]);
    assert.equal(button.hidden, true);
  });

  it("keeps the reading position when older messages go on top", () => {
    const widget = mount();
    const ws = connect([message(5), message(6), message(7), message(8)], { has_older: true });
    const list = widget.$(".bc-messages");
    list.scrollTop = 0; // the visitor scrolled to the top…
    list.dispatchEvent(new FakeEvent("scroll")); // …which asks for the older page
    assert.deepEqual(sentFrames(ws).at(-1), { type: "load_older", room: ROOM, before_seq: 5 });
    ws.serverSends({ type: "older", room: ROOM, messages: [message(3), message(4)], has_older: false });
    assert.equal(list.scrollTop, 80, "two 40 px messages went on top");
  });

  it("counts down to the next attempt, every second", () => {
    const widget = mount();
    connect();
    FakeWebSocket.latest.connectionDrops(); // backoff: 499 ms
    const status = widget.$(".bc-status");
    assert.equal(status.dataset.state, "reconnecting");
    assert.equal(status.textContent, "Reconnecting in 1 s…");
    // Several failures later the wait is long enough to count down.
    for (let attempt = 0; attempt < 4; attempt += 1) {
      widget.timers.advance(20_000);
      FakeWebSocket.latest.connectionDrops();
    }
    assert.equal(status.textContent, "Reconnecting in 8 s…");
    assert.equal(status.getAttribute("aria-live"), null, "the state change is announced");
    widget.timers.advance(1000);
    assert.equal(status.textContent, "Reconnecting in 7 s…");
    assert.equal(status.getAttribute("aria-live"), "off", "the ticks are not");
    widget.timers.advance(5000);
    assert.equal(status.textContent, "Reconnecting in 2 s…");
    widget.timers.advance(2000);
    assert.equal(status.dataset.state, "connecting");
  });

  it("retries at once when the browser comes online or the tab becomes visible", () => {
    const widget = mount();
    connect();
    FakeWebSocket.latest.connectionDrops();
    widget.timers.advance(499);
    FakeWebSocket.latest.connectionDrops(); // now waiting up to 1 s
    assert.equal(FakeWebSocket.instances.length, 2);
    widget.window.dispatch("online");
    assert.equal(FakeWebSocket.instances.length, 3, "no waiting for the backoff");
    FakeWebSocket.latest.connectionDrops();
    widget.document.visibilityState = "hidden";
    widget.document.dispatch("visibilitychange");
    assert.equal(FakeWebSocket.instances.length, 3, "not while hidden");
    widget.document.visibilityState = "visible";
    widget.document.dispatch("visibilitychange");
    assert.equal(FakeWebSocket.instances.length, 4);
  });

  it("checks an open connection when the tab becomes visible, and drops it if dead", () => {
    const widget = mount();
    const ws = connect();
    widget.document.dispatch("visibilitychange");
    assert.deepEqual(sentFrames(ws).at(-1), { type: "ping" });
    widget.timers.advance(PING_TIMEOUT_MS);
    assert.equal(widget.$(".bc-status").dataset.state, "reconnecting");
  });

  it("notices a dead connection within ~35 s with no event from the browser", () => {
    const widget = mount();
    connect();
    widget.timers.advance(PING_INTERVAL_MS + PING_TIMEOUT_MS);
    assert.equal(widget.$(".bc-status").dataset.state, "reconnecting");
  });

  it("checks an open connection when the browser goes offline", () => {
    const widget = mount();
    const ws = connect();
    widget.navigator.onLine = false;
    widget.window.dispatch("offline");
    assert.equal(widget.$(".bc-status").dataset.state, "connected", "until shown otherwise");
    assert.deepEqual(sentFrames(ws).at(-1), { type: "ping" });
    widget.timers.advance(PING_TIMEOUT_MS);
    assert.equal(widget.$(".bc-status").dataset.state, "offline");
  });

  it("says offline when the browser has no network", () => {
    const widget = mount();
    connect();
    FakeWebSocket.latest.connectionDrops();
    widget.navigator.onLine = false;
    widget.window.dispatch("offline");
    assert.equal(widget.$(".bc-status").dataset.state, "offline");
    assert.equal(widget.$(".bc-status").textContent, "You are offline.");
  });

  it("says the server is waking when it takes more than 5 s to answer", () => {
    const widget = mount();
    widget.timers.advance(5000);
    assert.equal(widget.$(".bc-status").dataset.state, "waking");
    assert.equal(widget.$(".bc-status").textContent, "Waking the server…");
  });

  it("shows the outbox of an earlier visit at once, before connecting", () => {
    const storage = new FakeStorage();
    storage.setItem(
      `backchannel:outbox:${ROOM}`,
      JSON.stringify([{ client_id: "kept-1", text: "from last time", author: "Ann", created_at: "2024-05-01T12:00:00Z", state: "pending" }]),
    );
    const widget = mount({ storage });
    assert.deepEqual(shownMessages(widget), [{ seq: null, clientId: "kept-1", state: "pending", text: "from last time" }]);
    const ws = connect();
    assert.deepEqual(sentFrames(ws).at(-1), { type: "send", room: ROOM, text: "from last time", client_id: "kept-1" });
  });

  it("close() stops the socket and removes its listeners", () => {
    const widget = mount();
    connect();
    widget.handle.close();
    assert.equal(widget.window.listenerCount(), 0);
    assert.equal(widget.document.listenerCount(), 0);
    assert.equal(FakeWebSocket.latest.closeCode, 1000);
  });
});
