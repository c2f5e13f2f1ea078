// The chat widget: binds one `.bc-chat` section (markup.js, in the shadow root element.js makes;
// contract: ARCHITECTURE.md "Widget markup") to one room over one socket, through the session
// (session.js). Its parts each have a module: status.js (the connection line), list-view.js (the
// messages), people.js (presence, typing), notices.js (sanctions, room state); this file keeps
// the identity and ties them together. A visitor reads at once, without a name (an anonymous
// read-only socket). Everything writing needs (writing.js: the composer's counter, the outbox and its
// sender, the name picker, staff sign-in and the identity API with its proof of work) is the
// write chunk (write.js), loaded only when they start to write.

import { createIdentityStore } from "./identity-store.js";
import { createListView } from "./list-view.js";
import { createNotices } from "./notices.js";
import { hasOutbox } from "./outbox.js";
import { createPeopleView } from "./people.js";
import * as ErrorCode from "./error-codes.js";
import { CloseCode, PROTOCOL_VERSION, ServerEventType } from "./protocol.js";
import { isValidRoomName, normalizeRoomName } from "./rooms.js";
import { appendPersonMarks } from "./render.js";
import { createRoomSession } from "./session.js";
import { ConnectionState, NotConnectedError, createChatSocket } from "./socket.js";
import { createStatusLine } from "./status.js";
import { createTimeline } from "./timeline.js";


const LOCAL_HOSTNAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);
// A banned page tries to connect again this often (its socket is closed): it is back within this
// long of the ban being lifted. A refused attempt costs the server a handshake and an auth.
export const BANNED_RETRY_MS = 20_000;
// Buttons whose `data-action` the write chunk carries out (writing.js act): the ⋯ menu, a reaction.
const WRITE_ACTIONS = new Set(["menu", "react"]);

/**
 * The socket URL for a backend URL such as "wss://chat.example.com": "<backend>/ws/".
 * An https page may not open ws:// (mixed content), so ws:// is upgraded to wss:// there, except
 * for a local backend, which is what development uses.
 */
export function resolveSocketUrl(backendUrl, pageProtocol) {
  const url = new URL(backendUrl);
  if (pageProtocol === "https:" && url.protocol === "ws:" && !LOCAL_HOSTNAMES.has(url.hostname)) {
    url.protocol = "wss:";
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/ws/`;
  url.search = "";
  url.hash = "";
  return url.href;
}

/**
 * The backend's HTTP base (its identity API) for a backend URL: the socket URL's twin, http(s)
 * for ws(s), without "/ws/" ("wss://chat.example.com/prefix" → "https://chat.example.com/prefix").
 */
export function resolveHttpBase(backendUrl, pageProtocol) {
  return resolveSocketUrl(backendUrl, pageProtocol).replace(/^ws/, "http").replace(/\/ws\/$/, "");
}

/** Fills "{name}" placeholders; unknown placeholders stay as they are. */
export function formatString(template, values = {}) {
  return template.replace(/\{(\w+)\}/g, (placeholder, key) =>
    Object.hasOwn(values, key) ? String(values[key]) : placeholder,
  );
}

/**
 * Which room the widget is bound to: `room` (the element's `room`), or the page URL's query
 * parameter named `param` (its `room-param`). Returns { room } or { problem: "missing" |
 * "invalid", raw }.
 */
export function readRoomChoice({ room: authorRoom, param }, search) {
  if (authorRoom !== undefined) {
    // Written by the site's author and checked at build time: taken exactly as it is.
    if (authorRoom === "") return { problem: "missing", raw: "" };
    return isValidRoomName(authorRoom) ? { room: authorRoom } : { problem: "invalid", raw: authorRoom };
  }
  const raw = param ? new URLSearchParams(search).get(param) : null;
  if (raw === null || raw.trim() === "") return { problem: "missing", raw: "" };
  // Typed by a visitor (or in a shared link): normalised like the landing page's form does.
  const room = normalizeRoomName(raw);
  return isValidRoomName(room) ? { room } : { problem: "invalid", raw };
}

function defaultStorage() {
  try {
    return globalThis.localStorage;
  } catch {
    return null;
  }
}

/**
 * Mounts the widget and returns a handle with `close()`, or null when the widget cannot run
 * (no valid room: it then shows why and a link back). `room` (a room name) or `roomParam` (the
 * page URL's query parameter naming it) picks the room; `strings` are the UI strings;
 * `loadWrite()` returns the write chunk's { createWriting } (writing.js), or a promise of it, and
 * `loadConversation()` the conversation chunk's { createConversation } (conversation.js);
 * `titleElement` is the room's heading when the host page provides it (the room page's h1);
 * `touch`: Enter breaks the line (touch keyboards) and only the Send button sends. The browser
 * objects are options so that a test can pass fakes.
 */
export function mountChat(
  element,
  {
    backendUrl,
    room: authorRoom,
    roomParam,
    strings = {},
    loadWrite,
    loadConversation = () => Promise.reject(), // none: plain text only (its failure is silent)
    titleElement = null,
    homeUrl = "/",
    touch = false,
    pageLayout = false,
    WebSocket = globalThis.WebSocket,
    fetch = globalThis.fetch?.bind(globalThis),
    crypto = globalThis.crypto,
    storage = defaultStorage(),
    location = globalThis.location,
    history = globalThis.history,
    window = globalThis,
    navigator = globalThis.navigator,
    setTimeout = globalThis.setTimeout.bind(globalThis),
    clearTimeout = globalThis.clearTimeout.bind(globalThis),
    now = Date.now,
    random = Math.random,
  } = {},
) {
  const document = element.ownerDocument;
  const translate = (key, values) => formatString(strings[key] ?? key, values);
  const errorText = (code, values) =>
    strings[`chat_error_${code}`] !== undefined ? translate(`chat_error_${code}`, values) : translate("chat_error_unknown");
  const locale = document.documentElement.lang || undefined;
  const formatNumber = (count) => count.toLocaleString(locale);
  const plurals = new Intl.PluralRules(locale);
  // "{count} new messages": the _one or _other string, the number in the page's language.
  const translateCount = (key, count) =>
    translate(`${key}_${plurals.select(count) === "one" ? "one" : "other"}`, { count: formatNumber(count) });

  const $ = (selector) => element.querySelector(selector);
  // The widget's parts (markup.js).
  const titleHeading = titleElement ?? $(".bc-chat__title");
  const problemBox = $(".bc-chat__problem");
  const problemText = $(".bc-chat__problem-text");
  const errorLine = $(".bc-error");
  const joinBox = $(".bc-join");
  const identityLine = $(".bc-identity");
  const identityName = $(".bc-identity__name");
  const changeNameButton = $("button.bc-identity__change");
  const composerForm = $("form.bc-composer");
  const textArea = composerForm.elements.namedItem("text");
  const sendButton = composerForm.querySelector("button");

  $(".bc-chat__back").setAttribute("href", homeUrl);

  const choice = readRoomChoice({ room: authorRoom, param: roomParam }, location.search);
  if (choice.problem) {
    // The header stays: it holds the title (the room page's heading).
    for (const part of element.children) part.hidden = part !== problemBox && part !== $(".bc-chat__header");
    problemText.textContent = translate(`chat_room_${choice.problem}`, { room: choice.raw });
    problemBox.hidden = false;
    return null;
  }
  const { room } = choice;
  const roomTitle = translate("chat_room_title", { room });
  titleHeading.textContent = roomTitle;

  // The room page: show the canonical room name in the address bar and the tab title.
  if (roomParam) {
    const url = new URL(location.href);
    if (url.searchParams.get(roomParam) !== room) {
      url.searchParams.set(roomParam, room);
      history?.replaceState(history.state, "", url.href);
    }
    document.title = `${roomTitle} · ${document.title}`;
  }
  const pageTitle = document.title;

  const store = createIdentityStore(storage);
  // { token, name, visitor, staff } or null: without one the socket reads anonymously.
  let identity = store.current;
  // The write chunk's part (writing.js createWriting), once loaded: loadWriting.
  let writing = null;
  let closed = false;

  // The parts with a job of their own: who is here and typing; sanctions and room notices.
  const people = createPeopleView(element, { translate, formatNumber, setTimeout, clearTimeout });
  const notices = createNotices(element, { translate, locale, now, setTimeout, clearTimeout, onExpired: () => render() });
  const status = createStatusLine(element, { translate, navigator, now, setTimeout, clearTimeout });

  function showError(code, { retryAfterSecs } = {}) {
    errorLine.textContent = errorText(code, { seconds: Math.max(1, Math.ceil(retryAfterSecs ?? 1)) });
    errorLine.dataset.code = code;
    errorLine.hidden = false;
  }

  function clearError() {
    errorLine.textContent = "";
    errorLine.dataset.code = "";
    errorLine.hidden = true;
  }

  // ---- Connection status, with a live countdown while waiting to reconnect ----
  let socket = null;
  let bannedRetry = null;
  let socketState = ConnectionState.CONNECTING;
  let reconnectAtMs = 0;

  const showStatus = () => status.show({ state: socketState, reconnectAtMs, banned: notices.banned !== null });

  function handleStateChange(state, { reconnectDelayMs, closeCode }) {
    socketState = state;
    reconnectAtMs = now() + (reconnectDelayMs ?? 0);
    // A new connection starts from scratch: wait for `ready`, authenticate, then join again.
    if (state !== ConnectionState.CONNECTED) {
      session.disconnected();
      people.clearTypists();
    }
    if (closeCode === CloseCode.BANNED) {
      notices.ban();
      // A ban can be lifted: ask again now and then while the page stays open.
      clearTimeout(bannedRetry);
      bannedRetry = setTimeout(startSocket, BANNED_RETRY_MS);
    }
    render();
    showStatus();
  }

  // Rebuilt only when it changes, so that a screen reader is not told it again.
  let shownIdentity = null;

  function renderIdentity() {
    const { banned } = notices;
    const hasIdentity = identity !== null && banned === null;
    // Read first, name later: the composer is there from the start; the name picker joins it
    // when a visitor without a name writes (writing.render).
    composerForm.hidden = banned !== null;
    identityLine.hidden = !hasIdentity || writing?.isChoosingName === true;
    const signature = hasIdentity && `${identity.staff} ${identity.tag} ${identity.name}`;
    if (signature && shownIdentity !== signature) {
      shownIdentity = signature;
      identityName.textContent = translate("chat_identity", { name: identity.name });
      appendPersonMarks(document, identityName, identity, translate);
    }
    // Staff may still post in a locked room; a muted visitor reads until the mute ends.
    const readOnly = (session.roomState.locked && !(session.identity ?? identity)?.staff) || notices.muted !== null;
    textArea.disabled = sendButton.disabled = readOnly;
    writing?.render();
  }

  // Not the status: it changes with the connection only (handleStateChange), so that a screen
  // reader is not told it again with every message.
  function render(change) {
    const viewer = notices.banned === null && session.authenticated ? identity : null;
    list.render({ ...change, ownVisitor: identity?.visitor, viewer });
    if (list.entries.length > 0) startConversation();
    people.renderPresence(session.presence, viewer?.staff);
    notices.render(session.roomState);
    renderIdentity();
  }

  // ---- The socket, and the write chunk ----
  function startSocket() {
    socket = createChatSocket({
      url: `${resolveSocketUrl(backendUrl, location.protocol)}?protocol=${PROTOCOL_VERSION}`,
      WebSocket,
      onEvent: handleEvent,
      onStateChange: handleStateChange,
      setTimeout,
      clearTimeout,
      random,
    });
  }

  function sendFrame(event) {
    if (socket === null) throw new NotConnectedError();
    socket.send(event);
  }

  /**
   * Loads a chunk once (`load`: loadWrite, loadConversation) and sets its part up (`start`).
   * Resolves to the part, or to null when the chunk cannot be loaded (offline, or a deploy
   * replaced it: `failed` is told) and the next attempt tries again.
   */
  function chunkStarter(load, start, failed) {
    let loading = null;
    let part = null;
    const begin = (chunk) => {
      if (!closed) {
        part = start(chunk);
        render();
      }
      return part;
    };
    return () => {
      if (loading !== null) return loading;
      const chunk = load();
      if (typeof chunk.then === "function") {
        loading = chunk.then(begin, () => {
          loading = null;
          failed();
          return null;
        });
      } else {
        // Loaded already (another widget of the page asked first): set up at once. `loading` is
        // set first, as starting renders, and rendering may ask for the chunk again.
        loading = Promise.resolve().then(() => part);
        begin(chunk);
      }
      return loading;
    };
  }

  // The write chunk (writing.js): what the visitor needs to write; the error is shown when it fails.
  const loadWriting = chunkStarter(loadWrite, (chunk) => (writing = chunk.createWriting(widget)), () => showError("network"));
  // The conversation chunk (conversation.js): formatting, links, replies, reactions, edits, day
  // separators, the unread divider. Asked for once the list has a message; plain text until then.
  const startConversation = chunkStarter(
    loadConversation,
    (chunk) => list.enhance(chunk.createConversation(widget)),
    () => {},
  );

  /** Runs `use(writing)` at once when the chunk is there, else once it has loaded. */
  function withWriting(use) {
    const loading = loadWriting();
    if (writing !== null) use(writing);
    else loading.then((loaded) => loaded && use(loaded));
  }

  const timeline = createTimeline();
  const session = createRoomSession({
    room,
    timeline,
    send: sendFrame,
    token: identity?.token ?? null,
    setTimeout,
    clearTimeout,
    now,
    onChange: render,
    onError: (code, { room: errorRoom, retryAfterSecs }) => {
      if (errorRoom !== undefined && errorRoom !== room) return;
      if (code === ErrorCode.BAD_TOKEN || code === ErrorCode.TOKEN_EXPIRED) return; // renewed quietly
      if (code === ErrorCode.BANNED) notices.ban();
      // The server's message says until when, but only in English: the notice does without.
      if (code === ErrorCode.MUTED && notices.muted === null) notices.setMuted({ reason: "", until: null });
      showError(code, { retryAfterSecs });
      render();
    },
    onProtocolMismatch: () => {
      showError("protocol");
      socket.close();
    },
    onAuthenticated: ({ muted, ...who }) => {
      store.storeAuthenticated(who);
      identity = { ...identity, ...who };
      // Accepted again: a ban was lifted; and the mute as the server knows it (after a reload).
      notices.unban();
      notices.setMuted(muted);
    },
    onToken: ({ token }) => {
      store.storeToken(token);
      identity = { ...identity, token };
    },
    onTokenRefused: (code) => withWriting((loaded) => loaded.renew(code)),
    // Not another tab of this visitor.
    onTyping: (event) => event.visitor !== identity?.visitor && people.showTyping(event),
    onModerated: (event) => {
      notices.handleModerated(event);
      render();
    },
  });
  const list = createListView(element, {
    session,
    timeline,
    text: { translate, translateCount, errorText, formatNumber, locale },
    pageTitle,
    now,
  });

  function handleEvent(event) {
    if (event.type === ServerEventType.JOINED && event.room === room) clearError();
    // Their message is what they were typing.
    if (event.type === ServerEventType.MESSAGE && event.room === room) people.dropTypist(event.visitor);
    session.handleEvent(event);
  }

  // What writing.js is given: the widget's parts, and what it may do to it.
  const widget = {
    element,
    document,
    room,
    translate,
    translateCount,
    errorText,
    touch,
    pageLayout,
    window,
    session,
    timeline,
    list,
    store,
    storage,
    fetch,
    crypto,
    setTimeout,
    clearTimeout,
    now,
    httpBase: resolveHttpBase(backendUrl, location.protocol),
    get identity() {
      return identity;
    },
    set identity(next) {
      identity = next;
    },
    get banned() {
      return notices.banned !== null;
    },
    send: sendFrame,
    restartSocket: () => socket.restart(),
    ban() {
      notices.ban();
      socket?.close();
    },
    showError,
    clearError,
    render,
  };

  // The composer is there from first paint; what it does comes with the write chunk, asked for
  // as soon as a visitor turns to it.
  textArea.setAttribute("placeholder", translate(touch ? "chat_message_placeholder_touch" : "chat_message_placeholder"));
  // On a touch keyboard Enter is the only way to break a line: it does that, and Send sends.
  textArea.setAttribute("enterkeyhint", touch ? "enter" : "send");
  textArea.addEventListener("focus", loadWriting);
  textArea.addEventListener("input", loadWriting);
  composerForm.addEventListener("submit", (submitEvent) => {
    submitEvent.preventDefault();
    withWriting((loaded) => loaded.submit());
  });
  textArea.addEventListener("keydown", (keyEvent) => {
    if (touch || keyEvent.key !== "Enter" || keyEvent.shiftKey) return;
    // Enter also confirms an IME conversion (Japanese, Chinese…), which is not "send". Safari
    // reports that keydown with isComposing false but the legacy keyCode 229.
    if (keyEvent.isComposing || keyEvent.keyCode === 229) return;
    keyEvent.preventDefault();
    withWriting((loaded) => loaded.submit());
  });
  changeNameButton.addEventListener("click", () => withWriting((loaded) => loaded.changeName()));
  // A message's or a person's actions menu, a reaction: the write chunk's (writing.act).
  element.addEventListener("click", (clickEvent) => {
    const button = clickEvent.target.closest?.("button[data-action]");
    if (WRITE_ACTIONS.has(button?.dataset.action)) withWriting((loaded) => loaded.act(button));
  });
  // Messages from an earlier visit wait in the outbox: they go (and show) at once.
  if (hasOutbox(storage, room)) loadWriting();

  // Coming back online or to the tab: do not sit out the rest of a long backoff, and check at
  // once that an open connection is still alive.
  // Gone offline: an open connection is probably dead; a ping finds out within 10 s.
  const wentOffline = () => {
    showStatus();
    if (socket?.state === ConnectionState.CONNECTED) socket.retryNow();
  };
  const retryNow = () => {
    showStatus();
    socket?.retryNow();
  };
  const retryWhenVisible = () => {
    list.renderUnseen();
    if (document.visibilityState === "visible") socket?.retryNow();
  };
  window.addEventListener?.("online", retryNow);
  window.addEventListener?.("offline", wentOffline);
  document.addEventListener("visibilitychange", retryWhenVisible);

  // handleStateChange runs once inside createChatSocket, before `socket` is assigned: it must not
  // use it.
  startSocket();
  render();

  return {
    room,
    close() {
      closed = true;
      clearTimeout(bannedRetry);
      window.removeEventListener?.("online", retryNow);
      window.removeEventListener?.("offline", wentOffline);
      document.removeEventListener("visibilitychange", retryWhenVisible);
      socket?.close();
      session.close();
      people.clearTypists();
      notices.close();
      status.close();
      list.close();
      writing?.close();
    },
  };
}
