// mountChat (chat.js) on a fake DOM (fake-dom.js) with fake timers and a fake WebSocket: the
// wiring between the socket, the session and the page. The real browser is tests/e2e.
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { BANNED_RETRY_MS, mountChat } from "../../themes/backchannel/assets/backchannel/js/chat.js";
import * as writeChunk from "../../themes/backchannel/assets/backchannel/js/writing.js";
import * as conversationChunk from "../../themes/backchannel/assets/backchannel/js/decorations.js";
import { TYPING_NOTICE_MS } from "../../themes/backchannel/assets/backchannel/js/people.js";
import { IDENTITY_STORAGE_KEY } from "../../themes/backchannel/assets/backchannel/js/identity.js";
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
  chat_message_placeholder: "Write a message…",
  chat_message_failed: "Not sent",
  chat_message_retry: "Retry",
  chat_message_discard: "Discard",
  chat_error_unknown: "Something went wrong.",
  chat_error_text_too_long: "That message is too long.",
  chat_error_invalid_name: "Bad name.",
  chat_error_rate_limited: "Too fast: {seconds} s.",
  chat_error_identity_rate_limited: "Too many new names here: trying again in {seconds} s.",
  chat_error_slow_mode: "Slow mode: {seconds} s.",
  chat_error_room_locked: "Locked.",
  chat_identity: "You are {name}",
  chat_name_submit: "Join the chat",
  chat_name_working: "Checking…",
  chat_staff_badge: "staff",
  chat_presence_count: "{count} online",
  chat_typing_one: "{name} is typing…",
  chat_typing_two: "{name} and {other} are typing…",
  chat_typing_many: "Several people are typing…",
  chat_notice_locked: "Locked room.",
  chat_notice_slow_mode: "One message every {seconds} s.",
  chat_notice_muted: "You are muted.",
  chat_notice_banned: "You are banned.",
  chat_notice_until: "Until {time}.",
  chat_notice_reason: "Reason: {reason}",
};
const READY = {
  type: "ready",
  protocol: 2,
  max_text_chars: 20,
  max_rooms: 5,
  history_limit: 50,
  resume_limit: 500,
  auth_timeout_secs: 5,
  typing_interval_secs: 3,
};
const IDENTITY = { token: "tok-ann", name: "Ann", visitor: "v-ann", staff: false };
const AUTHENTICATED = { type: "authenticated", name: "Ann", visitor: "v-ann", staff: false };
const ALONE = { online_count: 1, people: [{ visitor: "v-ann", name: "Ann", staff: false }] };

function message(seq, overrides = {}) {
  return {
    type: "message",
    room: ROOM,
    seq,
    author: "Bob",
    visitor: "v-bob",
    staff: false,
    text: `m${seq}`,
    sent_at: "2024-05-01T12:00:00Z",
    client_id: `b${seq}`,
    deleted: false,
    ...overrides,
  };
}

function joined(history, overrides = {}) {
  return {
    type: "joined",
    room: ROOM,
    latest_seq: history.at(-1)?.seq ?? 0,
    resumed: false,
    history,
    has_older: false,
    locked: false,
    slow_mode_secs: 0,
    presence: ALONE,
    ...overrides,
  };
}

function respond(status, body) {
  return { ok: status >= 200 && status < 300, status, json: async () => body };
}

/** The identity API, faked (tests/js/identity.test.js covers it in depth); `answers` overrides paths. */
function createFakeApi(answers = {}) {
  const requests = [];
  let issued = 0;
  async function fetch(url, init) {
    const path = new URL(url).pathname;
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    requests.push({ url, path, body, credentials: init.credentials, headers: init.headers ?? {} });
    if (answers[path] !== undefined) return answers[path];
    if (path === "/api/identity/challenge/") return respond(200, { challenge: "ch", difficulty_bits: 4, expires_in_secs: 60 });
    if (path === "/api/identity/staff/") {
      return respond(200, { token: "tok-staff", name: body.username, visitor: "v-sue", staff: true, expires_in_secs: 60 });
    }
    issued += 1;
    return respond(200, { token: `tok-${issued}`, name: body.name, visitor: "v-ann", staff: false, expires_in_secs: 60 });
  }
  return { fetch, requests, answers };
}

// A digest of zeros: the first nonce solves any challenge, without the thread pool of the real
// WebCrypto (whose timing would make these tests flaky). tests/js/identity.test.js uses the real one.
const INSTANT_CRYPTO = { subtle: { digest: async () => new ArrayBuffer(32) } };

/** Lets the promises of identity requests (fetch, the digests) settle. */
async function settle() {
  for (let round = 0; round < 50; round += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** A visitor without a name starts to write: the write chunk loads and the name picker shows. */
async function startWriting(widget, text = "hello") {
  widget.$("textarea").value = text;
  widget.$("textarea").dispatchEvent(new FakeEvent("input"));
  // The chunk is a dynamic import: on a busy machine it takes more than a few turns.
  for (let round = 0; round < 200 && widget.$("form.bc-name") === null; round += 1) await settle();
}

/** Mounts a widget for a visitor whose identity ("Ann") is remembered, unless `identity` is null. */
function mount({
  storage = new FakeStorage(),
  online = true,
  identity = IDENTITY,
  api = createFakeApi(),
  lang = "en",
  touch = false,
  loadWrite = () => writeChunk,
  loadConversation = () => conversationChunk,
} = {}) {
  if (identity !== null) storage.setItem(IDENTITY_STORAGE_KEY, JSON.stringify(identity));
  const document = createFakeDocument({ lang });
  const window = createFakeWindow();
  const element = createWidget(document, { strings: STRINGS });
  const timers = createFakeTimers();
  const navigator = { onLine: online };
  const handle = mountChat(element, {
    backendUrl: "ws://127.0.0.1:8000",
    room: ROOM,
    strings: STRINGS,
    loadWrite,
    loadConversation,
    touch,
    WebSocket: FakeWebSocket,
    fetch: api.fetch,
    crypto: INSTANT_CRYPTO,
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
  return { handle, element, document, window, timers, navigator, storage, api, $, $$ };
}

/** The server opens, says ready, authenticates, and answers the join with `history`. */
function connect(history = [], joinedOverrides = {}, authenticated = AUTHENTICATED) {
  const ws = FakeWebSocket.latest;
  ws.serverOpens();
  ws.serverSends(READY);
  ws.serverSends(authenticated);
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
  it("authenticates with the remembered token, joins and shows the history", () => {
    const widget = mount();
    assert.equal(widget.$(".bc-status").dataset.state, "connecting");
    assert.equal(widget.$(".bc-join").hidden, true);
    const ws = connect([message(1), message(2)]);
    assert.deepEqual(sentFrames(ws), [
      { type: "auth", token: "tok-ann" },
      { type: "join", room: ROOM },
    ]);
    assert.equal(widget.$(".bc-identity").hidden, false);
    assert.equal(widget.$(".bc-identity__name").textContent, "You are Ann");
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
    assert.deepEqual(sentFrames(ws), [{ type: "auth", token: "tok-ann" }], "auth first, even with an outbox");
    ws.serverSends(AUTHENTICATED);
    assert.deepEqual(sentFrames(ws).at(-1), { type: "join", room: ROOM, after_seq: 2 });
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
    button.click(); // one page at a time
    assert.equal(button.disabled, false, "never disabled: it would drop the keyboard focus");
    assert.deepEqual(sentFrames(ws).filter((frame) => frame.type === "load_older"), [
      { type: "load_older", room: ROOM, before_seq: 5 },
    ]);
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

describe("mountChat: identity", () => {
  it("without an identity: reads at once over an anonymous socket, and asks for a name only when writing", async () => {
    const widget = mount({ storage: new FakeStorage(), identity: null });
    assert.equal(widget.$(".bc-join").hidden, true);
    assert.equal(widget.$("form.bc-name"), null, "the write chunk is not loaded yet");
    assert.equal(widget.$("form.bc-composer").hidden, false, "the composer is there from the start");
    assert.equal(widget.$(".bc-identity").hidden, true);
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends({ ...READY, read_without_auth: true });
    assert.deepEqual(sentFrames(ws), [{ type: "join", room: ROOM }], "joins without auth");
    ws.serverSends(joined([message(1)]));
    assert.deepEqual(shownMessages(widget).map((shown) => shown.seq), ["1"]);
    assert.equal(widget.api.requests.length, 0, "no identity request, no proof of work");
    await startWriting(widget);
    assert.equal(widget.$(".bc-join").hidden, false);
    assert.equal(widget.$("input[name=name]").value, "");
    assert.equal(widget.api.requests.length, 0, "still none: the visitor has not picked a name");
  });

  it("says hi: an empty room shows the empty-state line", async () => {
    const widget = mount({ identity: null });
    await startWriting(widget);
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends({ ...READY, read_without_auth: true });
    assert.equal(widget.$(".bc-empty").hidden, true, "not before the room is known");
    ws.serverSends(joined([]));
    assert.equal(widget.$(".bc-empty").hidden, false);
    ws.serverSends(message(1));
    assert.equal(widget.$(".bc-empty").hidden, true);
  });

  it("a message written before picking a name is sent once the name is taken, on the same socket", async () => {
    const widget = mount({ identity: null });
    await startWriting(widget);
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends({ ...READY, read_without_auth: true });
    ws.serverSends(joined([]));
    widget.$("textarea").value = "hi all";
    widget.$("form.bc-composer").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(widget.$(".bc-join").hidden, false);
    assert.equal(widget.$("textarea").value, "hi all", "kept while the visitor picks a name");
    widget.$("input[name=name]").value = "Ann";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(FakeWebSocket.instances.length, 1, "the reading socket authenticates");
    assert.deepEqual(sentFrames(ws).at(-1), { type: "auth", token: "tok-1" });
    ws.serverSends(AUTHENTICATED);
    const send = sentFrames(ws).at(-1);
    assert.deepEqual([send.type, send.text], ["send", "hi all"]);
    assert.equal(widget.$("textarea").value, "");
  });

  it("on a touch keyboard Enter breaks the line and only Send sends", () => {
    const widget = mount({ touch: true });
    const ws = connect();
    widget.$("textarea").value = "line one";
    const enter = new FakeEvent("keydown", { key: "Enter" });
    widget.$("textarea").dispatchEvent(enter);
    assert.equal(enter.defaultPrevented, false);
    assert.equal(sentFrames(ws).filter((frame) => frame.type === "send").length, 0);
    assert.equal(widget.$("textarea").getAttribute("enterkeyhint"), "enter");
  });

  it("submitting a name solves the challenge, stores the identity and authenticates with its token", async () => {
    const widget = mount({ identity: null });
    await startWriting(widget);
    widget.$("input[name=name]").value = " Ann ";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    assert.equal(widget.$("form.bc-name").querySelector("button").disabled, true, "busy while solving");
    assert.equal(widget.$("form.bc-name").querySelector("button").textContent, "Checking…");
    await settle();
    const post = widget.api.requests.find((request) => request.path === "/api/identity/");
    assert.deepEqual([post.body.name, post.body.website, post.credentials], ["Ann", "", "omit"]);
    assert.equal("token" in post.body, false);
    assert.deepEqual(JSON.parse(widget.storage.getItem(IDENTITY_STORAGE_KEY)), { token: "tok-1", name: "Ann", visitor: "v-ann", staff: false });
    assert.equal(widget.$(".bc-join").hidden, true);
    assert.equal(widget.$("form.bc-name").querySelector("button").textContent, "Join the chat");
    const ws = connect();
    assert.deepEqual(sentFrames(ws)[0], { type: "auth", token: "tok-1" });
    assert.equal(widget.$("form.bc-composer").hidden, false);
  });

  it("posts what a bot typed into the honeypot", async () => {
    const widget = mount({ identity: null });
    await startWriting(widget);
    widget.$("input[name=name]").value = "Ann";
    widget.$("input[name=website]").value = "http://spam.example";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(widget.api.requests.at(-1).body.website, "http://spam.example");
  });

  it("refuses an invalid name before asking the server", async () => {
    const widget = mount({ identity: null });
    await startWriting(widget);
    widget.$("input[name=name]").value = "   ";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    assert.equal(widget.api.requests.length, 0);
  });

  it("shows the API's refusal in .bc-error and keeps the picker", async () => {
    const api = createFakeApi({ "/api/identity/": respond(400, { error: { code: "invalid_name", message: "m" } }) });
    const widget = mount({ identity: null, api });
    await startWriting(widget);
    widget.$("input[name=name]").value = "Ann";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(widget.$(".bc-error").dataset.code, "invalid_name");
    assert.equal(widget.$(".bc-error").textContent, "Bad name.");
    assert.equal(widget.$(".bc-join").hidden, false);
    assert.equal(widget.$("form.bc-name").querySelector("button").disabled, false);
  });

  it("says how long to wait when the API is rate limited", async () => {
    const api = createFakeApi({
      "/api/identity/challenge/": respond(429, { error: { code: "rate_limited", message: "m", retry_after_secs: 29.2 } }),
    });
    const widget = mount({ identity: null, api });
    await startWriting(widget);
    widget.$("input[name=name]").value = "Ann";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(widget.$(".bc-error").textContent, "Too fast: 30 s.");
  });

  it("too many new names from one address: says so, and asks again by itself when the server allows", async () => {
    const api = createFakeApi();
    const answer = api.fetch;
    let refusals = 0;
    api.fetch = async (url, init) => {
      if (refusals === 0 && new URL(url).pathname === "/api/identity/") {
        refusals += 1;
        return respond(429, { error: { code: "identity_rate_limited", message: "m", retry_after_secs: 3 } });
      }
      return answer(url, init);
    };
    const widget = mount({ identity: null, api });
    await startWriting(widget);
    widget.$("input[name=name]").value = "Ann";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(widget.$(".bc-error").textContent, "Too many new names here: trying again in 3 s.");
    assert.equal(widget.storage.getItem(IDENTITY_STORAGE_KEY), null);
    widget.timers.advance(3000);
    await settle();
    assert.equal(JSON.parse(widget.storage.getItem(IDENTITY_STORAGE_KEY)).name, "Ann", "asked again, without a click");
    assert.equal(widget.$(".bc-error").hidden, true);
    assert.equal(widget.$(".bc-join").hidden, true);
  });

  it("a ban from the API shows the ban notice and hides the picker", async () => {
    const api = createFakeApi({ "/api/identity/": respond(403, { error: { code: "banned", message: "m" } }) });
    const widget = mount({ identity: null, api });
    await startWriting(widget);
    widget.$("input[name=name]").value = "Ann";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(widget.$(".bc-notice[data-kind=banned]").textContent, "You are banned.");
    assert.equal(widget.$(".bc-join").hidden, true);
  });

  it("staff sign in with username and password, and get the badge", async () => {
    const widget = mount({ identity: null });
    await startWriting(widget);
    widget.$("input[name=username]").value = " sue ";
    widget.$("input[name=password]").value = "secret";
    widget.$("form.bc-staff-login").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.deepEqual(widget.api.requests.at(-1).body, { username: "sue", password: "secret" });
    assert.equal(widget.$("input[name=password]").value, "", "the password is not kept");
    const ws = connect([], {}, { type: "authenticated", name: "sue", visitor: "v-sue", staff: true });
    assert.deepEqual(sentFrames(ws)[0], { type: "auth", token: "tok-staff" });
    assert.equal(widget.$(".bc-identity__name").textContent, "You are suestaff");
    assert.ok(widget.$(".bc-identity").querySelector(".bc-staff-badge"));
  });

  it("changing the name gets a token for the same visitor and reconnects under it", async () => {
    const widget = mount();
    connect();
    widget.$("button.bc-identity__change").click();
    await settle();
    assert.equal(widget.$(".bc-join").hidden, false);
    assert.equal(widget.$("input[name=name]").value, "Ann");
    widget.$("input[name=name]").value = "Annie";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(widget.api.requests.at(-1).body.token, "tok-ann", "keeps the visitor id");
    assert.equal(FakeWebSocket.instances.length, 2, "a socket authenticates once: a new one");
    assert.equal(FakeWebSocket.instances[0].closeCode, 1000);
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends(READY);
    assert.deepEqual(sentFrames(ws), [{ type: "auth", token: "tok-1" }]);
    ws.serverSends({ ...AUTHENTICATED, name: "Annie" });
    assert.equal(widget.$(".bc-identity__name").textContent, "You are Annie");
  });

  it("stores the fresh token of a `token` event", () => {
    const widget = mount();
    const ws = connect();
    ws.serverSends({ type: "token", token: "tok-fresh", expires_in_secs: 3600 });
    assert.equal(JSON.parse(widget.storage.getItem(IDENTITY_STORAGE_KEY)).token, "tok-fresh");
    ws.connectionDrops();
    widget.timers.advance(1000);
    FakeWebSocket.latest.serverOpens();
    FakeWebSocket.latest.serverSends(READY);
    assert.deepEqual(sentFrames(FakeWebSocket.latest), [{ type: "auth", token: "tok-fresh" }]);
  });

  for (const [code, sendsOldToken] of [
    ["token_expired", true],
    ["bad_token", false],
  ]) {
    it(`${code}: renews the token (old token sent: ${sendsOldToken}) and authenticates on the same socket`, async () => {
      const widget = mount();
      const ws = FakeWebSocket.latest;
      ws.serverOpens();
      ws.serverSends(READY);
      ws.serverSends({ type: "error", code, message: "m" });
      await settle();
      const post = widget.api.requests.find((request) => request.path === "/api/identity/");
      assert.equal(post.body.name, "Ann");
      assert.equal(post.body.token, sendsOldToken ? "tok-ann" : undefined);
      assert.equal(FakeWebSocket.instances.length, 1, "the same socket");
      assert.deepEqual(sentFrames(ws), [
        { type: "auth", token: "tok-ann" },
        { type: "auth", token: "tok-1" },
      ]);
      assert.equal(widget.$(".bc-error").hidden, true, "renewed quietly");
      ws.serverSends(AUTHENTICATED);
      assert.deepEqual(sentFrames(ws).at(-1), { type: "join", room: ROOM });
    });
  }

  it("asks for the name again when a renewal is refused", async () => {
    const api = createFakeApi({ "/api/identity/": respond(400, { error: { code: "reserved_name", message: "m" } }) });
    const widget = mount({ api });
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends(READY);
    ws.serverSends({ type: "error", code: "token_expired", message: "m" });
    await settle();
    assert.equal(widget.$(".bc-join").hidden, false);
    assert.equal(widget.$(".bc-error").dataset.code, "reserved_name");
    assert.equal(widget.$("form.bc-composer").hidden, false, "what the visitor writes meanwhile is kept");
    // The next try still presents the old token, to keep the visitor id.
    widget.$("input[name=name]").value = "Ann B";
    widget.$("form.bc-name").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(widget.api.requests.at(-1).body.token, "tok-ann");
  });
});

describe("mountChat: the write chunk", () => {
  /** A loadWrite that counts its calls and answers with `answers` in turn (then the chunk). */
  function countingLoader(...answers) {
    const loader = () => {
      loader.calls += 1;
      return answers.length > 0 ? answers.shift()() : writeChunk;
    };
    loader.calls = 0;
    return loader;
  }

  it("a reader never loads it; turning to the composer does, once", () => {
    const loadWrite = countingLoader();
    const widget = mount({ identity: null, loadWrite });
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends({ ...READY, read_without_auth: true });
    ws.serverSends(joined([message(1), message(2)]));
    ws.serverSends(message(3));
    assert.equal(shownMessages(widget).length, 3);
    assert.equal(loadWrite.calls, 0, "reading needs nothing more");
    assert.equal(widget.$("textarea").getAttribute("placeholder"), STRINGS.chat_message_placeholder, "the composer is ready to look at");
    widget.$("textarea").dispatchEvent(new FakeEvent("focus"));
    widget.$("textarea").dispatchEvent(new FakeEvent("input"));
    widget.$("textarea").dispatchEvent(new FakeEvent("focus"));
    assert.equal(loadWrite.calls, 1);
  });

  it("messages an earlier visit left in the outbox load it at once, show, and go after joining", () => {
    const storage = new FakeStorage();
    const item = { client_id: "earlier-1", text: "from before", author: "Ann", created_at: "2026-12-07T10:00:00Z", state: "pending" };
    storage.setItem(`backchannel:outbox:${ROOM}`, JSON.stringify([item]));
    const loadWrite = countingLoader();
    const widget = mount({ storage, loadWrite });
    assert.equal(loadWrite.calls, 1);
    assert.deepEqual(shownMessages(widget).map((shown) => [shown.text, shown.state]), [["from before", "pending"]]);
    const ws = connect();
    assert.deepEqual(sentFrames(ws).at(-1), { type: "send", room: ROOM, text: "from before", client_id: "earlier-1" });
  });

  it("Enter sends before the chunk has arrived: the text goes once it is there", async () => {
    let arrive;
    const loadWrite = countingLoader(() => new Promise((resolve) => (arrive = resolve)));
    const widget = mount({ loadWrite });
    const ws = connect();
    widget.$("textarea").value = "quick hello";
    const enter = new FakeEvent("keydown", { key: "Enter" });
    widget.$("textarea").dispatchEvent(enter);
    assert.equal(enter.defaultPrevented, true, "no new line in the field");
    assert.equal(sentFrames(ws).some((frame) => frame.type === "send"), false);
    arrive(writeChunk);
    await settle();
    const send = sentFrames(ws).at(-1);
    assert.deepEqual([send.type, send.text], ["send", "quick hello"]);
    assert.equal(widget.$("textarea").value, "");
  });

  it("a chunk that cannot be loaded says so and keeps the text; the next Send tries again", async () => {
    const loadWrite = countingLoader(() => Promise.reject(new Error("offline")));
    const widget = mount({ loadWrite });
    const ws = connect();
    type(widget, "still here");
    await settle();
    assert.equal(widget.$(".bc-error").dataset.code, "network");
    assert.equal(widget.$("textarea").value, "still here");
    type(widget, "still here");
    await settle();
    assert.equal(loadWrite.calls, 2);
    const send = sentFrames(ws).at(-1);
    assert.deepEqual([send.type, send.text], ["send", "still here"]);
  });
});

describe("mountChat: actions menus", () => {
  const SUE = { token: "tok-sue", name: "sue", visitor: "v-sue", staff: true };
  const SUE_AUTHENTICATED = { type: "authenticated", name: "sue", visitor: "v-sue", staff: true };
  const click = (element) => element.dispatchEvent(new FakeEvent("click"));
  const messageMenus = (widget) => widget.$(".bc-messages").querySelectorAll(".bc-menu-button");
  const panelButtons = (widget) => widget.$(".bc-menu").querySelectorAll("button").map((button) => button.textContent);

  it("a reader has none; a named visitor may report others' messages, not their own", () => {
    const reader = mount({ identity: null });
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends({ ...READY, read_without_auth: true });
    ws.serverSends(joined([message(1)]));
    assert.equal(messageMenus(reader)[0] ?? null, null);

    const ann = mount();
    connect([message(1), message(2, { author: "Ann", visitor: "v-ann", client_id: null })]);
    const menus = messageMenus(ann);
    assert.equal(menus.length, 1, "not on Ann's own message");
    assert.equal(menus[0].getAttribute("aria-label"), "chat_message_actions");
    click(menus[0]);
    assert.deepEqual(panelButtons(ann), ["chat_report", "chat_cancel"]);
    assert.equal(menus[0].getAttribute("aria-expanded"), "true");
  });

  it("one ⋯ of the list is in the tab order, and Up and Down move between them", () => {
    const widget = mount();
    connect([message(1), message(2), message(3)]);
    const menus = messageMenus(widget);
    assert.deepEqual(menus.map((menu) => menu.tabIndex), [-1, -1, 0], "the newest");
    const press = (key) => {
      const keyEvent = new FakeEvent("keydown", { key });
      widget.document.activeElement.dispatchEvent(keyEvent);
      return keyEvent;
    };
    menus[2].focus();
    assert.equal(press("ArrowUp").defaultPrevented, true);
    assert.equal(widget.document.activeElement, menus[1]);
    assert.deepEqual(menus.map((menu) => menu.tabIndex), [-1, 0, -1]);
    press("ArrowUp");
    assert.equal(press("ArrowUp").defaultPrevented, false, "the first stays");
    assert.equal(widget.document.activeElement, menus[0]);
    press("ArrowDown");
    assert.equal(widget.document.activeElement, menus[1]);
    // A new message keeps the visitor's place in the tab order.
    FakeWebSocket.latest.serverSends(message(4));
    assert.deepEqual(messageMenus(widget).map((menu) => menu.tabIndex), [-1, 0, -1, -1]);
  });

  it("a report goes with its reason and says thanks", async () => {
    const widget = mount();
    connect([message(1)]);
    widget.api.answers["/api/reports/"] = respond(201, {});
    click(messageMenus(widget)[0]);
    click(widget.$(".bc-menu").querySelector("button"));
    widget.$(".bc-menu__reason").value = "  insults  ";
    widget.$(".bc-menu__form").dispatchEvent(new FakeEvent("submit"));
    await settle();
    const [request] = widget.api.requests.filter((sent) => sent.path === "/api/reports/");
    assert.deepEqual(request.body, { room: ROOM, seq: 1, reason: "insults" });
    assert.equal(request.headers.Authorization, "Bearer tok-ann");
    assert.equal(widget.$(".bc-menu__done").textContent, "chat_report_sent");
  });

  it("staff delete, mute and ban from any message; a refusal shows in the error line", async () => {
    const widget = mount({ identity: SUE });
    connect([message(1), message(2, { author: "sue", visitor: "v-sue", staff: true, client_id: null })], {}, SUE_AUTHENTICATED);
    assert.equal(messageMenus(widget).length, 2, "staff may delete their own too");
    click(messageMenus(widget)[0]);
    assert.deepEqual(panelButtons(widget), [
      "chat_moderate_delete", "chat_moderate_mute_hour", "chat_moderate_mute_day", "chat_moderate_ban", "chat_moderate_ban_address", "chat_cancel",
    ]);
    widget.api.answers["/api/moderation/actions/"] = respond(200, { action: "mute", affected_online: 1 });
    click(widget.$(".bc-menu").querySelectorAll("button")[1]);
    widget.$(".bc-menu__reason").value = "flooding";
    widget.$(".bc-menu__form").dispatchEvent(new FakeEvent("submit"));
    await settle();
    const [request] = widget.api.requests.filter((sent) => sent.path === "/api/moderation/actions/");
    assert.deepEqual(request.body, { room: ROOM, seq: 1, action: "mute", duration_secs: 3600, reason: "flooding" });
    assert.equal(request.headers.Authorization, "Bearer tok-sue");
    assert.equal(widget.$(".bc-menu__done").textContent, "chat_moderate_done");

    widget.api.answers["/api/moderation/actions/"] = respond(409, { error: { code: "protected", message: "That is a staff member." } });
    click(messageMenus(widget)[1]);
    click(widget.$(".bc-menu").querySelectorAll("button")[3]);
    widget.$(".bc-menu__form").dispatchEvent(new FakeEvent("submit"));
    await settle();
    assert.equal(widget.$(".bc-error").dataset.code, "protected");
    assert.equal(widget.$(".bc-menu"), null, "the menu closes");
  });

  it("an address ban says first how many people it would hit", async () => {
    const widget = mount({ identity: SUE });
    connect([message(1)], {}, SUE_AUTHENTICATED);
    widget.api.answers["/api/moderation/address/"] = respond(200, { online_from_address: 3, protected: false });
    click(messageMenus(widget)[0]);
    click(widget.$(".bc-menu").querySelectorAll("button")[4]);
    await settle();
    assert.equal(widget.$(".bc-menu__warning").textContent, "chat_moderate_address_count_other");
    const [asked] = widget.api.requests.filter((sent) => sent.path === "/api/moderation/address/");
    assert.match(asked.url, /\?room=lobby&seq=1$/);
    widget.$(".bc-menu__form").dispatchEvent(new FakeEvent("submit"));
    await settle();
    const [request] = widget.api.requests.filter((sent) => sent.path === "/api/moderation/actions/");
    assert.deepEqual(request.body, { room: ROOM, seq: 1, action: "ban", duration_secs: null, scope: "address", reason: "" });
  });

  it("staff act on people of the online list too, never on other staff", async () => {
    const widget = mount({ identity: SUE });
    connect([], {
      presence: { online_count: 3, people: [
        { visitor: "v-sue", name: "sue", staff: true },
        { visitor: "v-bob", name: "bob", staff: false },
        { visitor: "v-tom", name: "tom", staff: true },
      ] },
    }, SUE_AUTHENTICATED);
    const menus = widget.$(".bc-presence").querySelectorAll(".bc-menu-button");
    assert.deepEqual(menus.map((menu) => menu.dataset.visitor), ["v-bob"]);
    click(menus[0]);
    assert.deepEqual(panelButtons(widget).slice(0, 2), ["chat_moderate_mute_hour", "chat_moderate_mute_day"]);
    widget.api.answers["/api/moderation/actions/"] = respond(200, { action: "ban", affected_online: 1 });
    click(widget.$(".bc-menu").querySelectorAll("button")[2]);
    widget.$(".bc-menu__form").dispatchEvent(new FakeEvent("submit"));
    await settle();
    const [request] = widget.api.requests.filter((sent) => sent.path === "/api/moderation/actions/");
    assert.deepEqual(request.body, { room: ROOM, visitor: "v-bob", action: "ban", duration_secs: null, reason: "" });
  });
});

describe("mountChat: moderation", () => {
  it("a ban (4003) shows the notice with its reason, hides the composer, and asks again every BANNED_RETRY_MS", () => {
    const widget = mount({ lang: "en" });
    const ws = connect([message(1)]);
    ws.serverSends({ type: "moderated", action: "banned", reason: "spam", until: null });
    ws.serverSends({ type: "error", code: "banned", message: "banned until lifted" });
    ws.serverCloses(4003);
    assert.equal(widget.$(".bc-notice[data-kind=banned]").textContent, "You are banned. Reason: spam");
    assert.equal(widget.$("form.bc-composer").hidden, true);
    assert.equal(widget.$(".bc-status").dataset.state, "offline");
    widget.window.dispatch("online");
    widget.timers.advance(BANNED_RETRY_MS - 1);
    assert.equal(FakeWebSocket.instances.length, 1, "no reconnect storm from banned pages");
    widget.timers.advance(1);
    assert.equal(FakeWebSocket.instances.length, 2);
    // Still banned: refused again, and the next try is a minute later.
    FakeWebSocket.latest.serverOpens();
    FakeWebSocket.latest.serverSends(READY);
    FakeWebSocket.latest.serverCloses(4003);
    widget.timers.advance(BANNED_RETRY_MS);
    assert.equal(FakeWebSocket.instances.length, 3);
    // Lifted meanwhile: accepted, the notice goes and the composer is back.
    connect([message(1)]);
    assert.equal(widget.$(".bc-notice[data-kind=banned]"), null);
    assert.equal(widget.$("form.bc-composer").hidden, false);
    assert.equal(widget.$(".bc-status").dataset.state, "connected");
  });

  it("a mute the server knows at authentication (after a reload) disables the composer with its end", () => {
    const widget = mount({ lang: "en" });
    const until = new Date(widget.timers.now() + 3_600_000).toISOString();
    connect([], {}, { ...AUTHENTICATED, muted: { reason: "calm down", until } });
    assert.match(widget.$(".bc-notice[data-kind=muted]").textContent, /^You are muted\. Until .+\. Reason: calm down$/);
    assert.equal(widget.$("textarea").disabled, true);
    assert.equal(widget.$("form.bc-composer").querySelector("button").disabled, true);
    widget.timers.advance(3_600_000);
    assert.equal(widget.$(".bc-notice[data-kind=muted]"), null, "over by itself at its end");
    assert.equal(widget.$("textarea").disabled, false);
  });

  it("a ban when authenticating (no moderated event) still shows the notice", () => {
    const widget = mount();
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends(READY);
    ws.serverSends({ type: "error", code: "banned", message: "m" });
    ws.serverCloses(4003);
    assert.equal(widget.$(".bc-notice[data-kind=banned]").textContent, "You are banned.");
  });

  for (const code of [4001, 4008, 4029, 1012]) {
    it(`reconnects after close ${code}`, () => {
      const widget = mount();
      connect();
      FakeWebSocket.latest.serverCloses(code);
      assert.equal(widget.$(".bc-status").dataset.state, "reconnecting");
      widget.timers.advance(20_000);
      assert.equal(FakeWebSocket.instances.length, 2);
    });
  }

  it("muted: a notice with the reason and the end, which goes at the end or on unmuted", () => {
    const widget = mount();
    const ws = connect();
    // Within the ping interval: this test does not answer pings.
    const until = new Date(widget.timers.now() + 20_000).toISOString();
    ws.serverSends({ type: "moderated", action: "muted", reason: "calm down", until });
    const notice = widget.$(".bc-notice[data-kind=muted]");
    assert.match(notice.textContent, /^You are muted\. Until .+\. Reason: calm down$/);
    widget.timers.advance(20_000);
    assert.equal(widget.$(".bc-notice[data-kind=muted]"), null, "the mute ran out");
    ws.serverSends({ type: "moderated", action: "muted", reason: "", until: null });
    assert.equal(widget.$(".bc-notice[data-kind=muted]").textContent, "You are muted.");
    ws.serverSends({ type: "moderated", action: "unmuted", reason: "", until: null });
    assert.equal(widget.$(".bc-notice[data-kind=muted]"), null);
  });

  it("a locked room: a notice, and the composer disabled except for staff", () => {
    const widget = mount();
    const ws = connect([], { locked: true });
    assert.equal(widget.$(".bc-notice[data-kind=locked]").textContent, "Locked room.");
    assert.equal(widget.$("textarea").disabled, true);
    ws.serverSends({ type: "room_state", room: ROOM, locked: false, slow_mode_secs: 30 });
    assert.equal(widget.$(".bc-notice[data-kind=locked]"), null);
    assert.equal(widget.$("textarea").disabled, false);
    assert.equal(widget.$(".bc-notice[data-kind=slow_mode]").textContent, "One message every 30 s.");

    FakeWebSocket.reset();
    const staff = mount({ identity: { token: "t", name: "sue", visitor: "v-sue", staff: true } });
    connect([], { locked: true }, { type: "authenticated", name: "sue", visitor: "v-sue", staff: true });
    assert.ok(staff.$(".bc-notice[data-kind=locked]"));
    assert.equal(staff.$("textarea").disabled, false);
  });

  it("a message refused as the room is locked ends failed, with retry", () => {
    const widget = mount();
    const ws = connect();
    type(widget, "hello");
    const clientId = sentFrames(ws).at(-1).client_id;
    ws.serverSends({ type: "error", code: "room_locked", message: "m", room: ROOM, client_id: clientId });
    assert.equal(shownMessages(widget)[0].state, "failed");
    assert.equal(widget.$(".bc-error").textContent, "Locked.");
    assert.ok(widget.$(".bc-message__retry"));
  });

  it("a message refused by slow mode waits retry_after_secs, says so, and goes again by itself", () => {
    const widget = mount();
    const ws = connect([], { slow_mode_secs: 10 });
    type(widget, "hello");
    const clientId = sentFrames(ws).at(-1).client_id;
    ws.serverSends({ type: "error", code: "slow_mode", message: "m", room: ROOM, client_id: clientId, retry_after_secs: 7.5 });
    assert.equal(widget.$(".bc-error").textContent, "Slow mode: 8 s.");
    assert.equal(shownMessages(widget)[0].state, "pending");
    widget.timers.advance(7500);
    assert.deepEqual(sentFrames(ws).filter((frame) => frame.type === "send").map((frame) => frame.client_id), [clientId, clientId]);
  });

  it("a deleted message leaves the list", () => {
    const widget = mount();
    const ws = connect([message(1), message(2), message(3)]);
    ws.serverSends({ type: "deleted", room: ROOM, seq: 2 });
    assert.deepEqual(shownMessages(widget).map((shown) => shown.seq), ["1", "3"]);
    ws.serverSends(message(4, { author: "", text: "", deleted: true }));
    ws.serverSends(message(5));
    assert.deepEqual(shownMessages(widget).map((shown) => shown.seq), ["1", "3", "5"]);
    assert.equal(sentFrames(ws).filter((frame) => frame.type === "join").length, 1, "no gap");
  });

  it("marks staff messages with the badge and links their URLs", () => {
    const widget = mount();
    connect([message(1, { author: "sue", staff: true, text: "read https://a.example/rules." })]);
    const shown = widget.$(".bc-message");
    assert.equal(shown.querySelector(".bc-staff-badge").textContent, "staff");
    const link = shown.querySelector("a");
    assert.equal(link.getAttribute("href"), "https://a.example/rules");
    assert.equal(link.getAttribute("rel"), "nofollow noopener ugc");
    assert.equal(link.getAttribute("target"), "_blank");
  });
});

describe("mountChat: presence and typing", () => {
  it("shows who is here, with staff badges, and only the count in a big room", () => {
    const widget = mount();
    assert.equal(widget.$(".bc-presence").hidden, true);
    const ws = connect();
    assert.equal(widget.$(".bc-presence").hidden, false);
    assert.equal(widget.$(".bc-presence__count").textContent, "1 online");
    ws.serverSends({
      type: "presence",
      room: ROOM,
      online_count: 2,
      people: [
        { visitor: "v-ann", name: "Ann", staff: false },
        { visitor: "v-sue", name: "sue", staff: true },
      ],
    });
    assert.equal(widget.$(".bc-presence__count").textContent, "2 online");
    const people = widget.$$(".bc-presence__person");
    assert.deepEqual(people.map((person) => person.textContent), ["Ann", "suestaff"]);
    assert.ok(people[1].querySelector(".bc-staff-badge"));
    ws.serverSends({ type: "presence", room: ROOM, online_count: 250, people: null });
    assert.equal(widget.$(".bc-presence__count").textContent, "250 online");
    assert.deepEqual(widget.$$(".bc-presence__person"), []);
    assert.equal(widget.$(".bc-presence__people").hidden, true);
    ws.connectionDrops();
    assert.equal(widget.$(".bc-presence").hidden, true, "unknown while disconnected");
  });

  it("shows who is typing for 5 s per notice, never the visitor's own typing", () => {
    const widget = mount();
    const ws = connect();
    const typing = () => widget.$(".bc-typing").textContent;
    ws.serverSends({ type: "typing", room: ROOM, visitor: "v-ann", name: "Ann" });
    assert.equal(typing(), "");
    ws.serverSends({ type: "typing", room: ROOM, visitor: "v-bob", name: "Bob" });
    assert.equal(typing(), "Bob is typing…");
    widget.timers.advance(3000);
    ws.serverSends({ type: "typing", room: ROOM, visitor: "v-cy", name: "Cy" });
    assert.equal(typing(), "Bob and Cy are typing…");
    ws.serverSends({ type: "typing", room: ROOM, visitor: "v-di", name: "Di" });
    assert.equal(typing(), "Several people are typing…");
    widget.timers.advance(TYPING_NOTICE_MS - 3000);
    assert.equal(typing(), "Cy and Di are typing…", "Bob's notice ran out");
    ws.serverSends(message(1, { visitor: "v-cy", author: "Cy" }));
    assert.equal(typing(), "Di is typing…", "Cy's message is what Cy was typing");
    widget.timers.advance(TYPING_NOTICE_MS);
    assert.equal(typing(), "");
  });

  it("tells the room the visitor is typing, at most every typing_interval_secs", () => {
    const widget = mount();
    const ws = connect();
    const textarea = widget.$("textarea");
    const typings = () => sentFrames(ws).filter((frame) => frame.type === "typing");
    textarea.value = " ";
    textarea.dispatchEvent(new FakeEvent("input"));
    assert.deepEqual(typings(), [], "white space is not typing");
    textarea.value = "h";
    textarea.dispatchEvent(new FakeEvent("input"));
    textarea.value = "he";
    textarea.dispatchEvent(new FakeEvent("input"));
    assert.deepEqual(typings(), [{ type: "typing", room: ROOM }]);
    widget.timers.advance(3000);
    textarea.value = "hel";
    textarea.dispatchEvent(new FakeEvent("input"));
    assert.equal(typings().length, 2);
  });
});

describe("mountChat: protocol version 3 (replies, reactions, edits, reading aids)", () => {
  const READY_V3 = { ...READY, protocol: 3, max_text_chars: 200, reaction_emoji: ["👍", "🎉"], edit_window_secs: 900 };
  const click = (element) => element.dispatchEvent(new FakeEvent("click"));
  const messageElement = (widget, seq) => widget.$(`.bc-message[data-seq="${seq}"]`);

  function connectV3(history = [], joinedOverrides = {}) {
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends(READY_V3);
    ws.serverSends(AUTHENTICATED);
    ws.serverSends(joined(history, { latest_rev: 0, ...joinedOverrides }));
    return ws;
  }

  it("asks for version 3 and shows each message in its current state: reply quote, reactions, edited, formatting", () => {
    const widget = mount();
    assert.match(FakeWebSocket.latest.url, /\/ws\/\?protocol=3$/);
    connectV3(
      [
        message(1, { text: "**hi** there" }),
        message(2, {
          author: "Ann", visitor: "v-ann", text: "hello", rev: 3, edited: true,
          reply_to: { seq: 1, author: "Bob", excerpt: "**hi** there", deleted: false },
          reactions: [{ emoji: "👍", count: 2, names: ["Ann", "Bob"], visitors: ["v-ann", "v-bob"] }],
        }),
      ],
      { latest_rev: 3 },
    );
    const formatted = messageElement(widget, 1).querySelector(".bc-message__text");
    assert.deepEqual(formatted.children.map((child) => child.tagName ?? "#text"), ["STRONG", "#text"]);
    assert.equal(formatted.textContent, "hi there");
    const reply = messageElement(widget, 2);
    assert.equal(reply.querySelector(".bc-reply-quote__author").textContent, "Bob");
    assert.equal(reply.querySelector(".bc-message__edited").textContent, "chat_message_edited");
    const reaction = reply.querySelector(".bc-reaction");
    assert.equal(reaction.textContent, "👍 2");
    assert.equal(reaction.getAttribute("aria-pressed"), "true", "Ann's own reaction, known by her visitor id");
    assert.equal(reaction.title, "Ann, Bob");
  });

  it("applies a `changed` only when it is newer, and a deletion turns replies' quotes into 'removed'", () => {
    const widget = mount();
    const ws = connectV3([message(1), message(2, { reply_to: { seq: 1, author: "Bob", excerpt: "m1", deleted: false } })]);
    ws.serverSends({ type: "changed", room: ROOM, rev: 1, message: message(1, { text: "m1 fixed", rev: 1, edited: true }) });
    assert.equal(messageElement(widget, 1).querySelector(".bc-message__text").textContent, "m1 fixed");
    ws.serverSends({ type: "changed", room: ROOM, rev: 1, message: message(1, { text: "stale", rev: 0 }) });
    assert.equal(messageElement(widget, 1).querySelector(".bc-message__text").textContent, "m1 fixed");
    const tombstone = message(1, { author: "", text: "", deleted: true, rev: 2 });
    ws.serverSends({ type: "changed", room: ROOM, rev: 2, message: tombstone });
    ws.serverSends({ type: "changed", room: ROOM, rev: 2, message: message(2, { rev: 2, reply_to: { seq: 1, author: "", excerpt: "", deleted: true } }) });
    assert.equal(messageElement(widget, 1), null);
    assert.ok(messageElement(widget, 2).querySelector(".bc-reply-quote--removed"));
  });

  it("resumes with after_rev and first_seq after a reconnect", () => {
    const widget = mount();
    const ws = connectV3([message(3), message(4)], { latest_rev: 7, has_older: true });
    ws.serverSends({ type: "changed", room: ROOM, rev: 8, message: message(4, { text: "m4!", rev: 8, edited: true }) });
    ws.connectionDrops();
    widget.timers.advance(30_000);
    const next = FakeWebSocket.latest;
    assert.notEqual(next, ws);
    next.serverOpens();
    next.serverSends(READY_V3);
    next.serverSends(AUTHENTICATED);
    const join = sentFrames(next).find((frame) => frame.type === "join");
    assert.deepEqual(join, { type: "join", room: ROOM, after_seq: 4, after_rev: 8, first_seq: 3 });
  });

  it("the ⋯ menu replies, reacts, edits and deletes through the outbox, each change once", async () => {
    const widget = mount();
    const ws = connectV3([message(1), message(2, { author: "Ann", visitor: "v-ann", client_id: "a2", sent_at: new Date(widget.timers.now()).toISOString() })]);
    const frames = () => sentFrames(ws).filter((frame) => ["send", "edit", "delete", "react"].includes(frame.type));

    click(messageElement(widget, 1).querySelector(".bc-menu-button"));
    await settle();
    const labels = () => widget.$(".bc-menu").querySelectorAll("button").map((button) => button.textContent);
    assert.deepEqual(labels(), ["👍", "🎉", "chat_reply", "chat_report", "chat_cancel"]);
    click(widget.$(".bc-menu__reactions").querySelectorAll("button")[1]);
    assert.deepEqual(frames().at(-1), { type: "react", room: ROOM, client_id: frames().at(-1).client_id, seq: 1, emoji: "🎉", on: true });

    click(messageElement(widget, 1).querySelector(".bc-menu-button"));
    click(widget.$(".bc-menu").querySelectorAll("button").find((button) => button.textContent === "chat_reply"));
    assert.equal(widget.$(".bc-composing").hidden, false);
    type(widget, "sure");
    assert.deepEqual(frames().at(-1), { type: "send", room: ROOM, client_id: frames().at(-1).client_id, text: "sure", reply_to: 1 });
    assert.equal(widget.$(".bc-composing").hidden, true);

    click(messageElement(widget, 2).querySelector(".bc-menu-button"));
    assert.deepEqual(labels(), ["👍", "🎉", "chat_reply", "chat_edit", "chat_delete_own", "chat_cancel"], "nothing to report on one's own");
    click(widget.$(".bc-menu").querySelectorAll("button").find((button) => button.textContent === "chat_edit"));
    assert.equal(widget.$("textarea").value, "m2");
    type(widget, "m2, edited");
    const edit = frames().at(-1);
    assert.deepEqual(edit, { type: "edit", room: ROOM, client_id: edit.client_id, seq: 2, text: "m2, edited" });
    assert.equal(widget.$("textarea").value, "");

    // Reconnected before the ack: the edit goes again with the same client_id, and only until acked.
    ws.connectionDrops();
    widget.timers.advance(30_000);
    const next = connectV3([message(1), message(2, { author: "Ann", visitor: "v-ann", client_id: "a2" })]);
    const resent = sentFrames(next).filter((frame) => frame.type === "edit");
    assert.deepEqual(resent.map((frame) => frame.client_id), [edit.client_id]);
    next.serverSends({ type: "ack", room: ROOM, client_id: edit.client_id, rev: 1 });
    assert.equal(JSON.parse(widget.storage.getItem("backchannel:outbox:lobby") ?? "[]").some((item) => item.client_id === edit.client_id), false);

    click(messageElement(widget, 2).querySelector(".bc-menu-button"));
    click(widget.$(".bc-menu").querySelectorAll("button").find((button) => button.textContent === "chat_delete_own"));
    assert.equal(sentFrames(next).at(-1).type, "delete");
    assert.equal(sentFrames(next).at(-1).seq, 2);
  });

  it("a reaction's own button toggles it off", async () => {
    const widget = mount();
    const ws = connectV3([message(1, { reactions: [{ emoji: "👍", count: 1, names: ["Ann"], visitors: ["v-ann"] }] })]);
    click(messageElement(widget, 1).querySelector(".bc-reaction"));
    await settle();
    const react = sentFrames(ws).find((frame) => frame.type === "react");
    assert.equal(react.on, false);
    assert.equal(react.emoji, "👍");
  });

  it("marks the first message after the last visit and the days", () => {
    const storage = new FakeStorage();
    storage.setItem("backchannel:seen:lobby", "2");
    const widget = mount({ storage });
    const ws = connectV3([message(1), message(2), message(3), message(4)]);
    // Before the message, with it in a div.bc-entry (display: contents), not in its bubble.
    const entry = messageElement(widget, 3).parentNode;
    assert.equal(entry.className, "bc-entry");
    assert.deepEqual(entry.children.map((child) => child.className), ["bc-unread", "bc-message"]);
    assert.equal(widget.$$(".bc-unread").length, 1);
    ws.serverSends(message(5));
    assert.equal(widget.$$(".bc-unread").length, 1, "what comes while the visitor is here is not since the last visit");
    assert.match(messageElement(widget, 1).parentNode.querySelector(".bc-day").textContent, /2024/, "the day, written out");
    assert.equal(widget.$$(".bc-day").length, 1, "one day: one separator");
    assert.equal(storage.getItem("backchannel:seen:lobby"), "5", "this visit's end, for the next one");
  });

  it("a first visit has no divider", () => {
    const widget = mount();
    const ws = connectV3([message(1), message(2)]);
    ws.serverSends(message(3));
    assert.equal(widget.$$(".bc-unread").length, 0);
  });

  it("folds a long message behind 'Show more'", () => {
    const widget = mount();
    connectV3([message(1, { text: "line\n".repeat(30) })]);
    const article = messageElement(widget, 1);
    const more = article.querySelector(".bc-show-more");
    assert.ok(article.classList.contains("bc-message--folded"));
    assert.equal(more.getAttribute("aria-expanded"), "false");
    click(more);
    assert.equal(article.classList.contains("bc-message--folded"), false);
    assert.equal(more.getAttribute("aria-expanded"), "true");
  });

  it("against a version-2 server: no change is offered, and the ⋯ of own messages is gone", async () => {
    const widget = mount();
    connect([message(1), message(2, { author: "Ann", visitor: "v-ann", client_id: "a2" })]);
    assert.equal(messageElement(widget, 2).querySelector(".bc-menu-button"), null);
    click(messageElement(widget, 1).querySelector(".bc-menu-button"));
    await settle();
    // Only what version 2 had: no reaction row, no reply.
    assert.equal(widget.$(".bc-menu__reactions"), null);
    assert.deepEqual(widget.$(".bc-menu").querySelectorAll("button").map((button) => button.textContent), ["chat_report", "chat_cancel"]);
  });
});
