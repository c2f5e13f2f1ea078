// The chat widget: binds one `.bc-chat` element (markup: partials/backchannel/chat.html, contract:
// ARCHITECTURE.md "Widget markup") to one room over one socket.

import { PROTOCOL_VERSION, ProtocolError, ClientEventType, ServerEventType } from "./protocol.js";
import {
  isValidDisplayName,
  isValidRoomName,
  normalizeDisplayName,
  normalizeRoomName,
} from "./rooms.js";
import { createMessageElement, insertMessageElement } from "./render.js";
import { ConnectionState, NotConnectedError, createChatSocket } from "./socket.js";

/** localStorage key of the display name, shared by every widget of the site. */
export const DISPLAY_NAME_STORAGE_KEY = "backchannel:v1:display-name";

// Within this many pixels of the bottom the list counts as "at the bottom" and follows new messages.
const STICK_TO_BOTTOM_THRESHOLD_PX = 48;

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

/** A random id of [A-Za-z0-9_-] (the protocol's client_id alphabet) to recognise our own echo. */
export function generateClientId(crypto = globalThis.crypto) {
  if (typeof crypto?.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
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
 * (no valid room: it then shows why and a link back).
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
  } = {},
) {
  const document = element.ownerDocument;
  const strings = readStrings(element);
  const translate = (key, values) => formatString(strings[key] ?? key, values);
  const locale = document.documentElement.lang || undefined;

  const parts = {
    title: element.querySelector(".bc-chat__title"),
    problem: element.querySelector(".bc-chat__problem"),
    problemText: element.querySelector(".bc-chat__problem-text"),
    status: element.querySelector(".bc-status"),
    error: element.querySelector(".bc-error"),
    messages: element.querySelector(".bc-messages"),
    nameForm: element.querySelector("form.bc-name"),
    composer: element.querySelector("form.bc-composer"),
    postingAs: element.querySelector(".bc-composer__identity"),
    changeName: element.querySelector(".bc-composer__change-name"),
  };
  const nameInput = parts.nameForm.elements.namedItem("name");
  const textArea = parts.composer.elements.namedItem("text");
  const sendButton = parts.composer.querySelector("button[type=submit]");

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
  let serverReady = false;
  let joined = false;
  // After a name change: the `left` answer triggers the join under the new name.
  let rejoinAfterLeave = false;
  const seenSeqs = new Set();
  const ownClientIds = new Set();

  function showError(code) {
    const key = `chat_error_${code}`;
    parts.error.textContent = Object.hasOwn(strings, key) ? strings[key] : translate("chat_error_unknown");
    parts.error.dataset.code = code;
    parts.error.hidden = false;
  }

  function clearError() {
    parts.error.textContent = "";
    parts.error.dataset.code = "";
    parts.error.hidden = true;
  }

  function showStatus(state, reconnectDelayMs) {
    parts.status.dataset.state = state;
    parts.status.hidden = false;
    parts.status.textContent = translate(`chat_status_${state}`, {
      seconds: Math.max(1, Math.ceil((reconnectDelayMs ?? 0) / 1000)),
    });
  }

  function showIdentity() {
    parts.nameForm.hidden = !isChoosingName;
    parts.composer.hidden = isChoosingName;
    if (displayName !== null) parts.postingAs.textContent = translate("chat_posting_as", { name: displayName });
    sendButton.disabled = !joined;
  }

  function sendEvent(event) {
    try {
      socket.send(event);
      return true;
    } catch (error) {
      if (error instanceof ProtocolError) showError(error.code);
      else if (error instanceof NotConnectedError) showError("not_connected");
      else throw error;
      return false;
    }
  }

  function joinIfPossible() {
    if (serverReady && !joined && displayName !== null) {
      sendEvent({ type: ClientEventType.JOIN, room, name: displayName });
    }
  }

  function renderMessages(messages) {
    const list = parts.messages;
    const wasAtBottom =
      list.scrollHeight - list.scrollTop - list.clientHeight < STICK_TO_BOTTOM_THRESHOLD_PX;
    for (const message of messages) {
      // A rejoin replays recent history; keep each message once.
      if (message.room !== room || seenSeqs.has(message.seq)) continue;
      seenSeqs.add(message.seq);
      const isOwn = message.client_id !== null && ownClientIds.has(message.client_id);
      insertMessageElement(list, createMessageElement(document, message, { locale, isOwn }));
    }
    if (wasAtBottom) list.scrollTop = list.scrollHeight;
  }

  function handleEvent(event) {
    switch (event.type) {
      case ServerEventType.READY:
        if (event.protocol !== PROTOCOL_VERSION) {
          showError("protocol");
          socket.close();
          return;
        }
        serverReady = true;
        joinIfPossible();
        break;
      case ServerEventType.JOINED:
        if (event.room !== room) return;
        joined = true;
        displayName = event.name;
        clearError();
        renderMessages(event.history);
        showIdentity();
        break;
      case ServerEventType.LEFT:
        if (event.room !== room) return;
        joined = false;
        showIdentity();
        if (rejoinAfterLeave) {
          rejoinAfterLeave = false;
          joinIfPossible();
        }
        break;
      case ServerEventType.MESSAGE:
        renderMessages([event]);
        break;
      case ServerEventType.PONG:
        break;
      case ServerEventType.ERROR:
        showError(event.code);
        if (event.code === "invalid_name") {
          isChoosingName = true;
          showIdentity();
        }
        break;
      default:
        // decodeServerEvent only returns the types above: reaching this is a bug in this file.
        throw new Error(`backchannel: unhandled server event type ${event.type}`);
    }
  }

  function handleStateChange(state, { reconnectDelayMs }) {
    if (state !== ConnectionState.CONNECTED) {
      // A new connection starts from scratch: wait for `ready`, then join again.
      serverReady = false;
      joined = false;
      rejoinAfterLeave = false;
    }
    showStatus(state, reconnectDelayMs);
    showIdentity();
  }

  function submitName(submitEvent) {
    submitEvent.preventDefault();
    const name = normalizeDisplayName(nameInput.value);
    if (!isValidDisplayName(name)) {
      nameInput.setCustomValidity(translate("chat_name_invalid"));
      nameInput.reportValidity();
      return;
    }
    const changed = name !== displayName;
    displayName = name;
    storeName(storage, name);
    isChoosingName = false;
    showIdentity();
    if (joined && changed) {
      rejoinAfterLeave = sendEvent({ type: ClientEventType.LEAVE, room });
    } else {
      joinIfPossible();
    }
    textArea.focus();
  }

  function submitMessage() {
    if (textArea.value.trim() === "") return; // nothing to send; not worth an error
    if (!joined) {
      showError("not_connected");
      return;
    }
    const clientId = generateClientId();
    ownClientIds.add(clientId);
    const text = textArea.value.replace(/\s+$/u, "");
    if (sendEvent({ type: ClientEventType.SEND, room, text, client_id: clientId })) {
      textArea.value = "";
      clearError();
    }
  }

  function handleComposerKey(keyEvent) {
    if (keyEvent.key !== "Enter" || keyEvent.shiftKey) return;
    // Enter also confirms an IME conversion (Japanese, Chinese…), which is not "send". Safari
    // reports that keydown with isComposing false but the legacy keyCode 229.
    if (keyEvent.isComposing || keyEvent.keyCode === 229) return;
    keyEvent.preventDefault();
    submitMessage();
  }

  // handleStateChange runs once inside this call, before `socket` is assigned: it must not use it.
  const socket = createChatSocket({
    url: resolveSocketUrl(backendUrl, location.protocol),
    WebSocket,
    onEvent: handleEvent,
    onStateChange: handleStateChange,
  });

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

  // Coming back online or to the tab: do not sit out the rest of a long backoff.
  const retryNow = () => socket.retryNow();
  const retryWhenVisible = () => {
    if (document.visibilityState === "visible") socket.retryNow();
  };
  window.addEventListener?.("online", retryNow);
  document.addEventListener("visibilitychange", retryWhenVisible);

  showIdentity();

  return {
    room,
    close() {
      window.removeEventListener?.("online", retryNow);
      document.removeEventListener("visibilitychange", retryWhenVisible);
      socket.close();
    },
  };
}
