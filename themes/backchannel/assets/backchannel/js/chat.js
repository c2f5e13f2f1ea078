// The chat widget: binds one `.bc-chat` element (markup: partials/backchannel/chat.html, contract:
// ARCHITECTURE.md "Widget markup") to one room over one socket.

import { ProtocolError, ServerEventType } from "./protocol.js";
import {
  isValidDisplayName,
  isValidRoomName,
  normalizeDisplayName,
  normalizeRoomName,
} from "./rooms.js";
import { createOutbox } from "./outbox.js";
import { createMessageElement, syncMessageList } from "./render.js";
import { createRoomSession } from "./session.js";
import { ConnectionState, createChatSocket } from "./socket.js";
import { createTimeline } from "./timeline.js";

/** localStorage key of the display name, shared by every widget of the site. */
export const DISPLAY_NAME_STORAGE_KEY = "backchannel:v1:display-name";

// Within this many pixels of the bottom the list counts as "at the bottom" and follows new messages.
const STICK_TO_BOTTOM_THRESHOLD_PX = 48;
// Scrolled this close to the top, the list asks for older messages.
const LOAD_OLDER_THRESHOLD_PX = 48;

const LOCAL_HOSTNAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

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
 * The `.bc-status[data-state]` to show: the socket's state, except that a connection that is not
 * up while the browser says it has no network is "offline".
 */
export function displayedState(socketState, isOnline) {
  return socketState !== ConnectionState.CONNECTED && !isOnline ? ConnectionState.OFFLINE : socketState;
}

/** Fills "{name}" placeholders; unknown placeholders stay as they are. */
export function formatString(template, values = {}) {
  return template.replace(/\{(\w+)\}/g, (placeholder, key) =>
    Object.hasOwn(values, key) ? String(values[key]) : placeholder,
  );
}

/**
 * Which room the widget is bound to: `data-bc-room`, or the page URL's query parameter named by
 * `data-bc-room-param`. Returns { room } or { problem: "missing" | "invalid", raw }.
 */
export function readRoomChoice(dataset, search) {
  if (dataset.bcRoom !== undefined) {
    // Written by the site's author and checked at build time: taken exactly as it is.
    const room = dataset.bcRoom;
    if (room === "") return { problem: "missing", raw: "" };
    return isValidRoomName(room) ? { room } : { problem: "invalid", raw: room };
  }
  const raw = dataset.bcRoomParam ? new URLSearchParams(search).get(dataset.bcRoomParam) : null;
  if (raw === null || raw.trim() === "") return { problem: "missing", raw: "" };
  // Typed by a visitor (or in a shared link): normalised like the landing page's form does.
  const room = normalizeRoomName(raw);
  return isValidRoomName(room) ? { room } : { problem: "invalid", raw };
}

function readStrings(element) {
  try {
    return JSON.parse(element.dataset.bcStrings || "{}");
  } catch {
    return {};
  }
}

// localStorage throws when storage is disabled; the widget then just forgets the name.
function readStoredName(storage) {
  try {
    return storage?.getItem(DISPLAY_NAME_STORAGE_KEY) ?? null;
  } catch {
    return null;
  }
}

function storeName(storage, name) {
  try {
    storage?.setItem(DISPLAY_NAME_STORAGE_KEY, name);
  } catch {
    // Not remembered; the visitor will be asked again on the next page.
  }
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
 * (no valid room: it then shows why and a link back). The browser objects are options so that a
 * test can pass fakes.
 */
export function mountChat(
  element,
  {
    backendUrl,
    WebSocket = globalThis.WebSocket,
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
  const strings = readStrings(element);
  const translate = (key, values) => formatString(strings[key] ?? key, values);
  const errorText = (code) => strings[`chat_error_${code}`] ?? translate("chat_error_unknown");
  const locale = document.documentElement.lang || undefined;
  const labels = {
    pending: translate("chat_message_pending"),
    failed: translate("chat_message_failed"),
    retry: translate("chat_message_retry"),
    discard: translate("chat_message_discard"),
    reason: errorText,
  };

  const parts = {
    title: element.querySelector(".bc-chat__title"),
    problem: element.querySelector(".bc-chat__problem"),
    problemText: element.querySelector(".bc-chat__problem-text"),
    status: element.querySelector(".bc-status"),
    error: element.querySelector(".bc-error"),
    messages: element.querySelector(".bc-messages"),
    loadOlder: element.querySelector(".bc-load-older"),
    nameForm: element.querySelector("form.bc-name"),
    composer: element.querySelector("form.bc-composer"),
    postingAs: element.querySelector(".bc-composer__identity"),
    changeName: element.querySelector(".bc-composer__change-name"),
  };
  const nameInput = parts.nameForm.elements.namedItem("name");
  const textArea = parts.composer.elements.namedItem("text");

  const choice = readRoomChoice(element.dataset, location.search);
  if (choice.problem) {
    for (const part of element.children) part.hidden = part !== parts.problem;
    parts.problemText.textContent = translate(`chat_room_${choice.problem}`, { room: choice.raw });
    parts.problem.hidden = false;
    element.dataset.bcProblem = choice.problem;
    return null;
  }
  const { room } = choice;
  const roomTitle = translate("chat_room_title", { room });
  parts.title.textContent = roomTitle;

  // The room page: show the canonical room name in the address bar and the tab title.
  if (element.dataset.bcRoomParam) {
    const url = new URL(location.href);
    if (url.searchParams.get(element.dataset.bcRoomParam) !== room) {
      url.searchParams.set(element.dataset.bcRoomParam, room);
      history?.replaceState(history.state, "", url.href);
    }
    document.title = `${roomTitle} · ${document.title}`;
  }

  let displayName = null;
  const rememberedName = readStoredName(storage);
  if (rememberedName !== null && isValidDisplayName(rememberedName)) {
    displayName = normalizeDisplayName(rememberedName);
    nameInput.value = displayName;
  }
  let isChoosingName = displayName === null;

  function showError(code) {
    parts.error.textContent = errorText(code);
    parts.error.dataset.code = code;
    parts.error.hidden = false;
  }

  function clearError() {
    parts.error.textContent = "";
    parts.error.dataset.code = "";
    parts.error.hidden = true;
  }

  // ---- Connection status, with a live countdown while waiting to reconnect ----
  let socketState = ConnectionState.CONNECTING;
  let reconnectAtMs = 0;
  let countdownTimer = null;

  function showStatus(isTick = false) {
    if (countdownTimer !== null) clearTimeout(countdownTimer);
    countdownTimer = null;
    const state = displayedState(socketState, navigator?.onLine !== false);
    const remainingMs = Math.max(0, reconnectAtMs - now());
    parts.status.dataset.state = state;
    parts.status.hidden = false;
    parts.status.textContent = translate(`chat_status_${state}`, {
      seconds: Math.max(1, Math.ceil(remainingMs / 1000)),
    });
    // A screen reader announces the state, not every tick of the countdown.
    if (isTick) parts.status.setAttribute("aria-live", "off");
    else parts.status.removeAttribute("aria-live");
    if (state === ConnectionState.RECONNECTING && remainingMs > 1000) {
      countdownTimer = setTimeout(() => showStatus(true), remainingMs % 1000 || 1000);
    }
  }

  function handleStateChange(state, { reconnectDelayMs }) {
    socketState = state;
    reconnectAtMs = now() + (reconnectDelayMs ?? 0);
    // A new connection starts from scratch: wait for `ready`, then join again.
    if (state !== ConnectionState.CONNECTED) session.disconnected();
    showStatus();
    showIdentity();
  }

  // ---- The message list ----
  const rendered = new Map();

  function isAtBottom(list) {
    return list.scrollHeight - list.scrollTop - list.clientHeight < STICK_TO_BOTTOM_THRESHOLD_PX;
  }

  function renderMessages({ prepended = false } = {}) {
    const list = parts.messages;
    const wasAtBottom = isAtBottom(list);
    const fromBottom = list.scrollHeight - list.scrollTop;
    syncMessageList(list, timeline.entries(), {
      start: parts.loadOlder,
      rendered,
      create: (entry) => createMessageElement(document, entry, { locale, labels }),
    });
    parts.loadOlder.hidden = timeline.olderBefore === null || !session.joined;
    parts.loadOlder.disabled = session.loadingOlder;
    if (prepended) list.scrollTop = list.scrollHeight - fromBottom; // keep what was on screen
    else if (wasAtBottom) list.scrollTop = list.scrollHeight;
  }

  function loadOlder() {
    if (session.loadOlder()) parts.loadOlder.disabled = true;
  }

  function showIdentity() {
    parts.nameForm.hidden = !isChoosingName;
    parts.composer.hidden = isChoosingName;
    if (displayName !== null) parts.postingAs.textContent = translate("chat_posting_as", { name: displayName });
  }

  const timeline = createTimeline();
  const session = createRoomSession({
    room,
    timeline,
    outbox: createOutbox({ room, storage }),
    send: (event) => socket.send(event),
    onChange: (change) => {
      if (session.joined && session.name !== null) displayName = session.name;
      renderMessages(change);
      showIdentity();
    },
    onError: (code, { room: errorRoom }) => {
      if (errorRoom !== undefined && errorRoom !== room) return;
      showError(code);
      if (code === "invalid_name") {
        isChoosingName = true;
        showIdentity();
      }
    },
    onProtocolMismatch: () => {
      showError("protocol");
      socket.close();
    },
  });

  function handleEvent(event) {
    if (event.type === ServerEventType.JOINED && event.room === room) clearError();
    session.handleEvent(event);
  }

  function submitName(submitEvent) {
    submitEvent.preventDefault();
    const name = normalizeDisplayName(nameInput.value);
    if (!isValidDisplayName(name)) {
      nameInput.setCustomValidity(translate("chat_name_invalid"));
      nameInput.reportValidity();
      return;
    }
    displayName = name;
    storeName(storage, name);
    isChoosingName = false;
    showIdentity();
    session.setName(name);
    textArea.focus();
  }

  function submitMessage() {
    const text = textArea.value.replace(/\s+$/u, "");
    if (text.trim() === "") return; // nothing to send; not worth an error
    try {
      session.submit(text, displayName);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      showError(error.code); // e.g. too long: the text stays in the composer to be shortened
      return;
    }
    textArea.value = "";
    clearError();
    parts.messages.scrollTop = parts.messages.scrollHeight;
  }

  function handleComposerKey(keyEvent) {
    if (keyEvent.key !== "Enter" || keyEvent.shiftKey) return;
    // Enter also confirms an IME conversion (Japanese, Chinese…), which is not "send". Safari
    // reports that keydown with isComposing false but the legacy keyCode 229.
    if (keyEvent.isComposing || keyEvent.keyCode === 229) return;
    keyEvent.preventDefault();
    submitMessage();
  }

  function handleListClick(clickEvent) {
    const button = clickEvent.target.closest?.("button[data-action]");
    const clientId = button?.closest(".bc-message")?.getAttribute("data-client-id");
    if (!clientId) return;
    if (button.dataset.action === "retry") session.retry(clientId);
    else session.discard(clientId);
  }

  // handleStateChange runs once inside this call, before `socket` is assigned: it must not use it.
  const socket = createChatSocket({
    url: resolveSocketUrl(backendUrl, location.protocol),
    WebSocket,
    onEvent: handleEvent,
    onStateChange: handleStateChange,
    setTimeout,
    clearTimeout,
    random,
  });

  if (displayName !== null) session.setName(displayName);
  parts.nameForm.addEventListener("submit", submitName);
  nameInput.addEventListener("input", () => nameInput.setCustomValidity(""));
  parts.composer.addEventListener("submit", (submitEvent) => {
    submitEvent.preventDefault();
    submitMessage();
  });
  textArea.addEventListener("keydown", handleComposerKey);
  parts.changeName.addEventListener("click", () => {
    isChoosingName = true;
    showIdentity();
    nameInput.focus();
    nameInput.select();
  });
  parts.messages.addEventListener("click", handleListClick);
  parts.loadOlder.addEventListener("click", loadOlder);
  parts.messages.addEventListener("scroll", () => {
    if (parts.messages.scrollTop < LOAD_OLDER_THRESHOLD_PX && !parts.loadOlder.hidden) loadOlder();
  });

  // Coming back online or to the tab: do not sit out the rest of a long backoff, and check at
  // once that an open connection is still alive.
  // Gone offline: an open connection is probably dead; a ping finds out within 10 s.
  const wentOffline = () => {
    showStatus();
    if (socket.state === ConnectionState.CONNECTED) socket.retryNow();
  };
  const retryNow = () => {
    showStatus();
    socket.retryNow();
  };
  const retryWhenVisible = () => {
    if (document.visibilityState === "visible") socket.retryNow();
  };
  window.addEventListener?.("online", retryNow);
  window.addEventListener?.("offline", wentOffline);
  document.addEventListener("visibilitychange", retryWhenVisible);

  renderMessages();
  showIdentity();

  return {
    room,
    close() {
      window.removeEventListener?.("online", retryNow);
      window.removeEventListener?.("offline", wentOffline);
      document.removeEventListener("visibilitychange", retryWhenVisible);
      socket.close();
      if (countdownTimer !== null) clearTimeout(countdownTimer);
    },
  };
}
