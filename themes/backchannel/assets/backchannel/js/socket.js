// One WebSocket to the backend that reconnects by itself.
//
// The WebSocket constructor and the timer functions are options so that tests can drive the
// wrapper with fakes. The wrapper decodes every frame (protocol.js) and hands the event to
// `onEvent`; the consumer routes it (chat.js).
//
// States: connecting → connected; after an unexpected close: reconnecting (waiting for the
// backoff timer) → connecting → …; close() → offline, for good.

import { ClientEventType, ServerEventType, decodeServerEvent, encodeClientEvent } from "./protocol.js";

export const ConnectionState = Object.freeze({
  CONNECTING: "connecting",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
  OFFLINE: "offline",
});

export const RECONNECT_BASE_DELAY_MS = 500;
export const RECONNECT_MAX_DELAY_MS = 20_000;
// Idle WebSockets get cut by proxies and load balancers (often after 60 s); a ping keeps it busy.
export const PING_INTERVAL_MS = 25_000;

/** Raised by send() when there is no open connection; the event was not sent. */
export class NotConnectedError extends Error {
  constructor() {
    super("the chat socket is not connected");
    this.name = "NotConnectedError";
  }
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, base × 2^failures)).
 * The jitter spreads the reconnects of many visitors after a server restart.
 */
export function computeReconnectDelayMs(consecutiveFailures, random = Math.random) {
  const ceilingMs = Math.min(
    RECONNECT_MAX_DELAY_MS,
    RECONNECT_BASE_DELAY_MS * 2 ** consecutiveFailures,
  );
  return Math.floor(random() * ceilingMs);
}

/**
 * Opens the socket at once and returns a handle:
 * `send(event)`, `retryNow()`, `close()`, and the read-only `state` and `reconnectDelayMs`.
 *
 * onStateChange(state, { reconnectDelayMs }) may be called before this function returns.
 * onDecodeError(protocolError) is told about frames that break the protocol; they are dropped.
 */
export function createChatSocket({
  url,
  WebSocket,
  onEvent,
  onStateChange = () => {},
  onDecodeError = (error) => console.warn("backchannel: dropped a server frame:", error),
  setTimeout = globalThis.setTimeout.bind(globalThis),
  clearTimeout = globalThis.clearTimeout.bind(globalThis),
  random = Math.random,
}) {
  let socket = null;
  let state = null;
  let consecutiveFailures = 0;
  let reconnectTimer = null;
  let reconnectDelayMs = null;
  let pingTimer = null;
  let stopped = false;
  // Limits the server announced in its `ready` event, used to validate outgoing events.
  let maxTextChars;

  function changeState(nextState) {
    state = nextState;
    onStateChange(nextState, { reconnectDelayMs });
  }

  function schedulePing() {
    pingTimer = setTimeout(() => {
      pingTimer = null;
      if (state !== ConnectionState.CONNECTED) return;
      socket.send(encodeClientEvent({ type: ClientEventType.PING }));
      schedulePing();
    }, PING_INTERVAL_MS);
  }

  function cancelPing() {
    if (pingTimer !== null) clearTimeout(pingTimer);
    pingTimer = null;
  }

  function scheduleReconnect() {
    reconnectDelayMs = computeReconnectDelayMs(consecutiveFailures, random);
    consecutiveFailures += 1;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect();
    }, reconnectDelayMs);
    changeState(ConnectionState.RECONNECTING);
  }

  function handleFrame(data) {
    let event;
    try {
      event = decodeServerEvent(data);
    } catch (error) {
      onDecodeError(error);
      return;
    }
    if (event.type === ServerEventType.READY) maxTextChars = event.max_text_chars;
    onEvent(event);
  }

  function connect() {
    reconnectDelayMs = null;
    changeState(ConnectionState.CONNECTING);
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (error) {
      // A malformed URL or a blocked scheme: retrying cannot help.
      console.error("backchannel: cannot open", url, error);
      stopped = true;
      changeState(ConnectionState.OFFLINE);
      return;
    }
    socket = ws;
    // Every handler first checks that `ws` is still the current socket: a late event from a
    // replaced socket must not touch the new one.
    ws.onopen = () => {
      if (ws !== socket) return;
      consecutiveFailures = 0;
      changeState(ConnectionState.CONNECTED);
      schedulePing();
    };
    ws.onmessage = (message) => {
      if (ws === socket) handleFrame(message.data);
    };
    // An error is always followed by a close event, which does the work.
    ws.onerror = () => {};
    ws.onclose = () => {
      if (ws !== socket) return;
      socket = null;
      maxTextChars = undefined;
      cancelPing();
      if (!stopped) scheduleReconnect();
    };
  }

  function send(event) {
    const frame = encodeClientEvent(event, { maxTextChars });
    if (state !== ConnectionState.CONNECTED) throw new NotConnectedError();
    socket.send(frame);
  }

  /** Skips the rest of the backoff wait (the browser came online, the tab became visible). */
  function retryNow() {
    if (stopped || reconnectTimer === null) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    connect();
  }

  /** Closes the connection and stops reconnecting, for good. */
  function close() {
    if (stopped && state === ConnectionState.OFFLINE) return;
    stopped = true;
    if (reconnectTimer !== null) clearTimeout(reconnectTimer);
    reconnectTimer = null;
    reconnectDelayMs = null;
    cancelPing();
    if (socket !== null) {
      const ws = socket;
      socket = null;
      ws.close(1000);
    }
    changeState(ConnectionState.OFFLINE);
  }

  connect();

  return {
    send,
    retryNow,
    close,
    get state() {
      return state;
    },
    get reconnectDelayMs() {
      return reconnectDelayMs;
    },
  };
}
