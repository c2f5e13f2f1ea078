import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import {
  CONNECT_TIMEOUT_MS,
  ConnectionState,
  DEAD_CONNECTION_CLOSE_CODE,
  NotConnectedError,
  PING_INTERVAL_MS,
  PING_TIMEOUT_MS,
  RECONNECT_BASE_DELAY_MS,
  WAKING_AFTER_MS,
  RECONNECT_MAX_DELAY_MS,
  computeReconnectDelayMs,
  createChatSocket,
} from "../../themes/backchannel/assets/backchannel/js/socket.js";
import { FakeWebSocket, createFakeTimers } from "./support.js";

const URL = "ws://127.0.0.1:8000/ws/";
// Just under 1: full jitter then gives (almost) the whole backoff ceiling.
const ALMOST_ONE = 0.999_999;
const READY = {
  type: "ready",
  protocol: 2,
  max_text_chars: 10,
  max_rooms: 5,
  history_limit: 50,
  resume_limit: 500,
  auth_timeout_secs: 5,
  typing_interval_secs: 3,
};
const AUTHENTICATED = { type: "authenticated", name: "Ann", visitor: "v1", staff: false };
const PING = '{"type":"ping"}';
const PONG = { type: "pong", rooms: {} };

function openSocket({ random = () => ALMOST_ONE } = {}) {
  const timers = createFakeTimers();
  const events = [];
  const states = [];
  const decodeErrors = [];
  const socket = createChatSocket({
    url: URL,
    WebSocket: FakeWebSocket,
    onEvent: (event) => events.push(event),
    onStateChange: (state, { reconnectDelayMs }) => states.push([state, reconnectDelayMs]),
    onDecodeError: (error) => decodeErrors.push(error),
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    random,
  });
  return { socket, timers, events, states, decodeErrors };
}

/** Drops the current connection, lets the backoff run out and fails the next attempt too. */
function failAttempts(timers, count) {
  const delays = [];
  for (let attempt = 0; attempt < count; attempt += 1) {
    FakeWebSocket.latest.connectionDrops();
    delays.push(timers.pendingDelaysMs().at(-1));
    timers.advance(RECONNECT_MAX_DELAY_MS);
  }
  return delays;
}

beforeEach(() => FakeWebSocket.reset());

describe("computeReconnectDelayMs", () => {
  it("doubles the ceiling per failure from 0.5 s and caps it at 20 s", () => {
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 100].map((failures) =>
      computeReconnectDelayMs(failures, () => 1),
    );
    assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16_000, 20_000, 20_000, 20_000]);
    assert.equal(RECONNECT_BASE_DELAY_MS, 500);
    assert.equal(RECONNECT_MAX_DELAY_MS, 20_000);
  });

  it("draws uniformly below the ceiling (full jitter)", () => {
    assert.equal(computeReconnectDelayMs(3, () => 0), 0);
    assert.equal(computeReconnectDelayMs(3, () => 0.5), 2000);
  });
});

describe("createChatSocket", () => {
  it("connects at once and reports connecting, then connected", () => {
    const { socket, states } = openSocket();
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(FakeWebSocket.latest.url, URL);
    assert.equal(socket.state, ConnectionState.CONNECTING);
    FakeWebSocket.latest.serverOpens();
    assert.equal(socket.state, ConnectionState.CONNECTED);
    assert.deepEqual(states, [
      ["connecting", null],
      ["connected", null],
    ]);
  });

  it("passes decoded server events on and drops malformed frames", () => {
    const { events, decodeErrors } = openSocket();
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends({ ...READY, unknown_field: true });
    ws.serverSendsRaw("not json");
    ws.serverSends({ type: "mystery" });
    assert.deepEqual(events, [{ ...READY, read_without_auth: false }]);
    assert.deepEqual(
      decodeErrors.map((error) => error.code),
      ["bad_json", "unknown_type"],
    );
  });

  it("sends each event as one JSON text frame (the sender checks what people typed)", () => {
    const { socket } = openSocket();
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    socket.send({ type: "join", room: "lobby", after_seq: 4 });
    assert.deepEqual(ws.sent, ['{"type":"join","room":"lobby","after_seq":4}']);
  });

  it("refuses to send while not connected", () => {
    const { socket } = openSocket();
    assert.throws(() => socket.send({ type: "ping" }), NotConnectedError);
    assert.deepEqual(FakeWebSocket.latest.sent, []);
  });

  it("pings every 25 s while connected", () => {
    const { timers } = openSocket();
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    assert.equal(PING_INTERVAL_MS, 25_000);
    timers.advance(PING_INTERVAL_MS - 1);
    assert.deepEqual(ws.sent, []);
    timers.advance(1);
    assert.deepEqual(ws.sent, [PING]);
    ws.serverSends(PONG);
    timers.advance(PING_INTERVAL_MS);
    assert.deepEqual(ws.sent, [PING, PING]);
  });

  it("drops a connection that sends no frame within 10 s of a ping, and reconnects", () => {
    const { socket, timers, states } = openSocket();
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends(READY);
    timers.advance(PING_INTERVAL_MS);
    assert.equal(PING_TIMEOUT_MS, 10_000);
    timers.advance(PING_TIMEOUT_MS - 1);
    assert.equal(socket.state, ConnectionState.CONNECTED);
    timers.advance(1);
    assert.equal(ws.closeCode, DEAD_CONNECTION_CLOSE_CODE, "closed by this side");
    assert.equal(socket.state, ConnectionState.RECONNECTING, "without waiting for the close event");
    assert.deepEqual(states.at(-1), ["reconnecting", 499]);
    // The dead socket's close event, whenever it comes, changes nothing.
    ws.connectionDrops();
    assert.equal(timers.pendingDelaysMs().length, 1);
    timers.advance(499);
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.ok(PING_INTERVAL_MS + PING_TIMEOUT_MS <= 35_000, "a dead link is noticed within ~30 s");
  });

  it("counts any frame as an answer to the ping", () => {
    const { socket, timers, events } = openSocket();
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    timers.advance(PING_INTERVAL_MS + PING_TIMEOUT_MS - 1);
    ws.serverSendsRaw("not json"); // even a frame it cannot read
    timers.advance(PING_INTERVAL_MS - 1);
    assert.equal(socket.state, ConnectionState.CONNECTED);
    assert.deepEqual(ws.sent, [PING, PING]);
    ws.serverSends({ type: "message", room: "a", seq: 1, author: "b", visitor: "v", staff: false, text: "c", deleted: false, sent_at: "2024-01-01T00:00:00Z" });
    timers.advance(PING_TIMEOUT_MS);
    assert.equal(socket.state, ConnectionState.CONNECTED);
    assert.equal(events.length, 1);
  });

  it("says the server is waking when an attempt has not opened after 5 s", () => {
    const { socket, timers, states } = openSocket();
    assert.equal(WAKING_AFTER_MS, 5000);
    timers.advance(WAKING_AFTER_MS - 1);
    assert.equal(socket.state, ConnectionState.CONNECTING);
    timers.advance(1);
    assert.equal(socket.state, ConnectionState.WAKING);
    FakeWebSocket.latest.serverOpens();
    assert.deepEqual(
      states.map(([state]) => state),
      ["connecting", "waking", "connected"],
    );
    assert.deepEqual(timers.pendingDelaysMs(), [PING_INTERVAL_MS], "only the ping timer is left");
  });

  it("gives up on an attempt that has not opened after the connect timeout, and tries again", () => {
    const { socket, timers } = openSocket();
    const first = FakeWebSocket.latest;
    timers.advance(CONNECT_TIMEOUT_MS);
    assert.equal(first.closeCode, DEAD_CONNECTION_CLOSE_CODE);
    assert.equal(socket.state, ConnectionState.RECONNECTING);
    timers.advance(socket.reconnectDelayMs);
    assert.equal(FakeWebSocket.instances.length, 2);
    first.serverOpens(); // far too late: ignored
    assert.equal(socket.state, ConnectionState.CONNECTING);
  });

  it("never gives up while the page is open", () => {
    const { socket, timers } = openSocket();
    failAttempts(timers, 200);
    assert.equal(FakeWebSocket.instances.length, 201);
    assert.equal(socket.state, ConnectionState.CONNECTING);
  });

  it("reconnects after an unexpected close, with a growing backoff", () => {
    const { socket, timers, states } = openSocket();
    FakeWebSocket.latest.serverOpens();

    FakeWebSocket.latest.connectionDrops();
    assert.equal(socket.state, ConnectionState.RECONNECTING);
    assert.equal(socket.reconnectDelayMs, 499);
    assert.deepEqual(states.at(-1), ["reconnecting", 499]);
    assert.deepEqual(timers.pendingDelaysMs(), [499]);

    timers.advance(498);
    assert.equal(FakeWebSocket.instances.length, 1, "waits for the backoff");
    timers.advance(1);
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.equal(FakeWebSocket.latest.url, URL);
    assert.equal(socket.state, ConnectionState.CONNECTING);

    // Attempts that fail before opening: the ceiling doubles each time, up to 20 s.
    const delays = failAttempts(timers, 8);
    assert.deepEqual(delays, [999, 1999, 3999, 7999, 15_999, 19_999, 19_999, 19_999]);
  });

  it("resets the backoff once the server has authenticated the socket", () => {
    const { socket, timers } = openSocket();
    failAttempts(timers, 4);
    FakeWebSocket.latest.serverOpens();
    assert.equal(socket.state, ConnectionState.CONNECTED);
    FakeWebSocket.latest.serverSends(READY);
    FakeWebSocket.latest.serverSends(AUTHENTICATED);
    FakeWebSocket.latest.connectionDrops();
    assert.equal(socket.reconnectDelayMs, 499);
  });

  it("keeps the backoff growing for a server that says ready but closes before authenticating (4001)", () => {
    const { socket, timers } = openSocket();
    failAttempts(timers, 4);
    FakeWebSocket.latest.serverOpens();
    FakeWebSocket.latest.serverSends(READY);
    FakeWebSocket.latest.serverCloses(4001);
    assert.equal(socket.state, ConnectionState.RECONNECTING);
    assert.equal(socket.reconnectDelayMs, 7999, "the fifth failure in a row");
  });

  it("does not reconnect after a ban (4003), and says why", () => {
    const { socket, timers, states } = openSocket();
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    ws.serverSends(READY);
    ws.serverCloses(4003);
    assert.equal(socket.state, ConnectionState.OFFLINE);
    timers.advance(10 * RECONNECT_MAX_DELAY_MS);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.deepEqual(timers.pendingDelaysMs(), [], "no ping, no reconnect");
    socket.retryNow();
    assert.equal(FakeWebSocket.instances.length, 1, "not even when asked");
    assert.equal(states.at(-1)[0], ConnectionState.OFFLINE);
  });

  it("reports the close code of a ban to onStateChange", () => {
    const timers = createFakeTimers();
    const reports = [];
    createChatSocket({
      url: URL,
      WebSocket: FakeWebSocket,
      onEvent: () => {},
      onStateChange: (state, details) => reports.push([state, details.closeCode]),
      setTimeout: timers.setTimeout,
      clearTimeout: timers.clearTimeout,
    });
    FakeWebSocket.latest.serverOpens();
    FakeWebSocket.latest.serverCloses(4003);
    assert.deepEqual(reports.at(-1), [ConnectionState.OFFLINE, 4003]);
  });

  for (const code of [4008, 4029]) {
    it(`reconnects after ${code}, waiting a backoff of at least a few seconds`, () => {
      const { socket } = openSocket();
      const ws = FakeWebSocket.latest;
      ws.serverOpens();
      ws.serverSends(READY);
      ws.serverSends(AUTHENTICATED);
      ws.serverCloses(code);
      assert.equal(socket.state, ConnectionState.RECONNECTING);
      assert.equal(socket.reconnectDelayMs, 3999);
    });
  }

  it("reconnects as usual after 1012 (service restart: a deploy or a restart)", () => {
    const { socket, timers } = openSocket();
    FakeWebSocket.latest.serverOpens();
    FakeWebSocket.latest.serverCloses(1012);
    assert.equal(socket.state, ConnectionState.RECONNECTING);
    timers.advance(RECONNECT_BASE_DELAY_MS);
    assert.equal(FakeWebSocket.instances.length, 2);
  });

  it("restart() opens a new connection at once, and the old one stays quiet", () => {
    const { socket, events } = openSocket();
    const old = FakeWebSocket.latest;
    old.serverOpens();
    socket.restart();
    assert.equal(old.closeCode, 1000);
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.equal(socket.state, ConnectionState.CONNECTING);
    old.serverSends(READY);
    old.connectionDrops();
    assert.deepEqual(events, []);
    assert.equal(FakeWebSocket.instances.length, 2, "the old close schedules nothing");
  });

  it("keeps the backoff growing for a server that accepts and closes at once", () => {
    const { socket, timers } = openSocket();
    failAttempts(timers, 4);
    FakeWebSocket.latest.serverOpens();
    FakeWebSocket.latest.connectionDrops();
    assert.equal(socket.reconnectDelayMs, 7999, "the fifth failure in a row");
  });

  it("does not reconnect after close(), not even on a late close event", () => {
    const { socket, timers, states } = openSocket();
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    socket.close();
    assert.equal(ws.closeCode, 1000);
    assert.equal(socket.state, ConnectionState.OFFLINE);
    assert.deepEqual(states.at(-1), ["offline", null]);
    ws.connectionDrops();
    timers.advance(60_000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.deepEqual(timers.pendingDelaysMs(), []);
    assert.equal(socket.state, ConnectionState.OFFLINE);
  });

  it("close() during the backoff cancels the pending reconnect", () => {
    const { socket, timers } = openSocket();
    FakeWebSocket.latest.connectionDrops();
    socket.close();
    timers.advance(60_000);
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.equal(socket.state, ConnectionState.OFFLINE);
  });

  it("retryNow() while connected checks the link with a ping at once", () => {
    const { socket, timers } = openSocket();
    const ws = FakeWebSocket.latest;
    ws.serverOpens();
    socket.retryNow();
    socket.retryNow();
    assert.equal(FakeWebSocket.instances.length, 1, "no new connection");
    assert.deepEqual(ws.sent, [PING, PING]);
    timers.advance(PING_TIMEOUT_MS);
    assert.equal(socket.state, ConnectionState.RECONNECTING, "no answer within 10 s: dead");
  });

  it("retryNow() while connecting does nothing", () => {
    const { socket } = openSocket();
    socket.retryNow();
    assert.equal(FakeWebSocket.instances.length, 1);
    assert.deepEqual(FakeWebSocket.latest.sent, []);
  });

  it("retryNow() skips the rest of the backoff", () => {
    const { socket, timers } = openSocket();
    FakeWebSocket.latest.serverOpens();

    FakeWebSocket.latest.connectionDrops();
    socket.retryNow();
    assert.equal(FakeWebSocket.instances.length, 2);
    assert.equal(socket.state, ConnectionState.CONNECTING);
    assert.deepEqual(
      timers.pendingDelaysMs(),
      [WAKING_AFTER_MS, CONNECT_TIMEOUT_MS],
      "the backoff timer was cancelled",
    );

    socket.close();
    socket.retryNow();
    assert.equal(FakeWebSocket.instances.length, 2, "no-op after close()");
  });

  it("ignores events from a replaced socket", () => {
    const { socket, events } = openSocket();
    const first = FakeWebSocket.latest;
    first.connectionDrops();
    socket.retryNow();
    first.serverSends(READY);
    first.serverOpens();
    assert.deepEqual(events, []);
    assert.equal(socket.state, ConnectionState.CONNECTING);
  });

  it("goes offline for good when the URL cannot be opened", () => {
    class ThrowingWebSocket {
      constructor() {
        throw new SyntaxError("bad URL");
      }
    }
    const timers = createFakeTimers();
    const originalConsoleError = console.error;
    console.error = () => {};
    try {
      const socket = createChatSocket({
        url: "nope",
        WebSocket: ThrowingWebSocket,
        onEvent: () => {},
        setTimeout: timers.setTimeout,
        clearTimeout: timers.clearTimeout,
      });
      assert.equal(socket.state, ConnectionState.OFFLINE);
      assert.deepEqual(timers.pendingDelaysMs(), []);
    } finally {
      console.error = originalConsoleError;
    }
  });
});
