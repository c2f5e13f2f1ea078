// One WebSocket to the backend that reconnects by itself, patiently, for as long as the page is
// open.
//
// The WebSocket constructor and the timer functions are options so that tests can drive the
// wrapper with fakes. The wrapper decodes every frame (protocol.js) and hands the event to
// `onEvent`; the consumer routes it (chat.js).
//
// States: connecting (→ waking when the attempt has not opened after WAKING_AFTER_MS: a sleeping
// free-tier server takes up to a minute) → connected; after a close, or a heartbeat that got no
// answer: reconnecting (waiting for the backoff timer) → connecting → …; close(), or a close code
// that says trying again is pointless (4003: banned) → offline, for good.

import { ClientEventType, CloseCode, ServerEventType, decodeServerEvent, namesTable } from "./protocol.js";

export const ConnectionState = namesTable(["connecting", "waking", "connected", "reconnecting", "offline"]);

export const RECONNECT_BASE_DELAY_MS = 500;
export const RECONNECT_MAX_DELAY_MS = 20_000;
// Idle WebSockets get cut by proxies and load balancers (often after 60 s); a ping keeps it busy.
export const PING_INTERVAL_MS = 25_000;
// No frame at all this long after a ping: the link is dead (a dead TCP connection can take many
// minutes to close by itself). With the ping interval, a dead link is noticed within 35 s.
export const PING_TIMEOUT_MS = 10_000;
export const WAKING_AFTER_MS = 5_000;
// An attempt that has not opened by then is given up (and retried).
export const CONNECT_TIMEOUT_MS = 75_000;
// The close code of a socket this side gave up on (4000–4999: for applications).
export const DEAD_CONNECTION_CLOSE_CODE = 4000;
// Close codes after which reconnecting cannot help.
const FINAL_CLOSE_CODES = new Set([CloseCode.BANNED]);
// Closed for going too fast (flooding, too many sockets): the backoff starts at this many failures
// (a 4 s ceiling) rather than at once, or the reconnect would be too fast again.
const THROTTLED_CLOSE_CODES = new Set([CloseCode.FLOODING, CloseCode.TOO_MANY_SOCKETS]);
const THROTTLED_CLOSE_FAILURES = 3;

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
 * `send(event)`, `retryNow()`, `restart()`, `close()`, and the read-only `state` and
 * `reconnectDelayMs`.
 *
 * onStateChange(state, { reconnectDelayMs, closeCode }) may be called before this function
 * returns; `closeCode` is the server's close code when it ended the connection for good.
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
  // Timers of the current socket: the next ping, the ping's deadline, the waking notice and the
  // connect timeout.
  const timers = new Map();
  let stopped = false;

  function changeState(nextState, closeCode) {
    state = nextState;
    onStateChange(nextState, { reconnectDelayMs, closeCode });
  }

  function startTimer(name, delayMs, callback) {
    stopTimer(name);
    timers.set(
      name,
      setTimeout(() => {
        timers.delete(name);
        callback();
      }, delayMs),
    );
  }

  function stopTimer(name) {
    if (timers.has(name)) clearTimeout(timers.get(name));
    timers.delete(name);
  }

  function stopTimers() {
    for (const name of [...timers.keys()]) stopTimer(name);
  }

  /** Sends a ping; without any frame back within PING_TIMEOUT_MS, the socket is dropped. */
  function ping() {
    socket.send(JSON.stringify({ type: ClientEventType.PING }));
    if (!timers.has("deadline")) startTimer("deadline", PING_TIMEOUT_MS, drop);
  }

  function schedulePing() {
    startTimer("ping", PING_INTERVAL_MS, () => {
      ping();
      schedulePing();
    });
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

  /** The current socket is gone (closed, or given up on): wait, then try again. */
  function lose() {
    socket = null;
    stopTimers();
    if (!stopped) scheduleReconnect();
  }

  /** Gives up on the current socket without waiting for its close event (which may never come). */
  function drop() {
    const ws = socket;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(DEAD_CONNECTION_CLOSE_CODE);
    } catch {
      // Already closing.
    }
    lose();
  }

  function handleFrame(data) {
    stopTimer("deadline"); // any frame shows the link is alive
    let event;
    try {
      event = decodeServerEvent(data);
    } catch (error) {
      onDecodeError(error);
      return;
    }
    // Only a server that accepts us counts as a success: one that closes at once (crashing,
    // overloaded, or refusing us after `ready`: auth timeout, too many sockets) keeps the backoff
    // growing.
    if (event.type === ServerEventType.AUTHENTICATED) consecutiveFailures = 0;
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
    startTimer("waking", WAKING_AFTER_MS, () => changeState(ConnectionState.WAKING));
    startTimer("connect", CONNECT_TIMEOUT_MS, drop);
    // Every handler first checks that `ws` is still the current socket: a late event from a
    // replaced socket must not touch the new one.
    ws.onopen = () => {
      if (ws !== socket) return;
      stopTimers();
      changeState(ConnectionState.CONNECTED);
      schedulePing();
    };
    ws.onmessage = (message) => {
      if (ws === socket) handleFrame(message.data);
    };
    // An error is always followed by a close event, which does the work.
    ws.onerror = () => {};
    ws.onclose = (closeEvent) => {
      if (ws !== socket) return;
      const code = closeEvent?.code;
      if (FINAL_CLOSE_CODES.has(code)) {
        socket = null;
        stop(code);
        return;
      }
      if (THROTTLED_CLOSE_CODES.has(code)) {
        consecutiveFailures = Math.max(consecutiveFailures, THROTTLED_CLOSE_FAILURES);
      }
      lose();
    };
  }

  // The events come from the session, built from checked values, and from the sender, which
  // checks what a person typed against the protocol first (protocol.js encodeClientEvent).
  function send(event) {
    if (state !== ConnectionState.CONNECTED) throw new NotConnectedError();
    socket.send(JSON.stringify(event));
  }

  /**
   * The browser came online or the tab became visible: skip the rest of the backoff wait, or,
   * when connected, check the link at once (it may have died while the tab slept).
   */
  function retryNow() {
    if (stopped) return;
    if (reconnectTimer !== null) {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      connect();
    } else if (state === ConnectionState.CONNECTED) {
      ping();
    }
  }

  /** Closes the current socket, if any, without its handlers (which must not run any more). */
  function closeCurrent() {
    if (socket === null) return;
    const ws = socket;
    socket = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.close(1000);
  }

  function stop(closeCode) {
    stopped = true;
    if (reconnectTimer !== null) clearTimeout(reconnectTimer);
    reconnectTimer = null;
    reconnectDelayMs = null;
    stopTimers();
    closeCurrent();
    changeState(ConnectionState.OFFLINE, closeCode);
  }

  /** Closes the connection and stops reconnecting, for good. */
  function close() {
    if (stopped && state === ConnectionState.OFFLINE) return;
    stop();
  }

  /**
   * Opens a new connection at once, e.g. to authenticate under a new identity (a socket
   * authenticates once).
   */
  function restart() {
    if (stopped) return;
    if (reconnectTimer !== null) clearTimeout(reconnectTimer);
    reconnectTimer = null;
    stopTimers();
    closeCurrent();
    connect();
  }

  connect();

  return {
    send,
    retryNow,
    restart,
    close,
    get state() {
      return state;
    },
    get reconnectDelayMs() {
      return reconnectDelayMs;
    },
  };
}
