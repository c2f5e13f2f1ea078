// The room session against the model server (tests/js/model-server.js): auth first, joins and
// re-joins, the outbox on the wire, errors, older pages, deletions, presence and room state.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createOutbox } from "../../themes/backchannel/assets/backchannel/js/outbox.js";
import { attachSender } from "../../themes/backchannel/assets/backchannel/js/sender.js";
import { GAP_GRACE_MS, createRoomSession } from "../../themes/backchannel/assets/backchannel/js/session.js";
import { createTimeline } from "../../themes/backchannel/assets/backchannel/js/timeline.js";
import { createModelClient, createModelServer } from "./model-server.js";
import { FakeStorage, createFakeTimers, createWritingSession } from "./support.js";

const ROOM = "lobby";

function counter(prefix = "c") {
  let next = 0;
  return () => `${prefix}${(next += 1)}`;
}

/** A server and one page, whose identity is "ann" (its token), connected and joined. */
function setUp({ server = createModelServer(), storage = new FakeStorage(), join = true, ...options } = {}) {
  const page = createModelClient({ server, storage, room: ROOM, newClientId: counter(), token: join ? "ann" : null, ...options });
  if (join) {
    page.connect();
    page.settle();
  }
  return { server, storage, page };
}

const READY = {
  type: "ready",
  protocol: 2,
  max_text_chars: 100,
  max_rooms: 5,
  history_limit: 50,
  resume_limit: 500,
  auth_timeout_secs: 5,
  typing_interval_secs: 3,
};
const AUTHENTICATED = { type: "authenticated", name: "ann", visitor: "v-ann", staff: false };
const PRESENCE = { online_count: 1, people: [{ visitor: "v-ann", name: "ann", staff: false }] };

function message(seq) {
  return {
    type: "message",
    room: ROOM,
    seq,
    author: "bob",
    visitor: "v-bob",
    staff: false,
    text: `m${seq}`,
    sent_at: "2024-05-01T12:00:00Z",
    client_id: `b${seq}`,
    deleted: false,
  };
}

function joinedEvent(overrides = {}) {
  return {
    type: "joined",
    room: ROOM,
    latest_seq: 9,
    resumed: false,
    history: [message(9)],
    has_older: true,
    locked: false,
    slow_mode_secs: 0,
    presence: PRESENCE,
    ...overrides,
  };
}

/** A session whose socket only records what it is asked to send. */
function bareSession({ sent, token = "ann", ...options }) {
  return createWritingSession({
    room: ROOM,
    timeline: createTimeline(),
    outbox: createOutbox({ room: ROOM, storage: new FakeStorage(), newClientId: counter() }),
    send: (event) => sent.push(event),
    token,
    ...options,
  });
}

/** A bare session that is authenticated and joined. */
function joinedSession(options) {
  const session = bareSession(options);
  session.handleEvent(READY);
  session.handleEvent(AUTHENTICATED);
  session.handleEvent(joinedEvent());
  return session;
}

const sentOfType = (page, type) => page.sent.filter((event) => event.type === type);

function postMany(server, count, author = "bob") {
  for (let index = 0; index < count; index += 1) server.post(ROOM, author, `from ${author}`, `${author}-${index}-${server.log(ROOM).length}`);
}

describe("session: authentication", () => {
  it("authenticates first, then joins, without after_seq the first time", () => {
    const { page } = setUp();
    assert.deepEqual(page.sent.slice(0, 2), [
      { type: "auth", token: "ann" },
      { type: "join", room: ROOM, after_seq: undefined },
    ]);
    assert.equal(page.session.joined, true);
    assert.deepEqual(page.session.identity, { name: "ann", visitor: "v-ann", staff: false, tag: "" }, "the model server sends no tag, as an older server");
  });

  it("waits for a token before authenticating", () => {
    const { page } = setUp({ join: false });
    page.connect();
    page.settle();
    assert.deepEqual(page.sent, []);
    page.setToken("ann");
    page.settle();
    assert.equal(page.session.joined, true);
  });

  it("authenticates first on every new connection, and sends nothing before authenticated", () => {
    const { page } = setUp();
    page.session.submit("written offline", "ann");
    page.disconnect();
    page.session.submit("written offline too", "ann");
    page.connect();
    page.deliver(); // ready → auth
    assert.deepEqual(page.uplink().map((frame) => JSON.parse(frame).type), ["auth"]);
    page.pump();
    page.deliver(); // authenticated → join
    assert.deepEqual(page.uplink().map((frame) => JSON.parse(frame).type), ["join"]);
    page.settle();
    const epochs = page.wire.filter((frame) => frame.out).map((frame) => [frame.epoch, frame.out.type]);
    for (const epoch of new Set(epochs.map(([e]) => e))) {
      assert.equal(epochs.find(([e]) => e === epoch)[1], "auth", `connection ${epoch} starts with auth`);
    }
    assert.equal(page.errors.includes("not_authenticated"), false);
  });

  it("keeps the fresh token of a `token` event for the next connection", () => {
    const { page } = setUp();
    page.session.handleEvent({ type: "token", token: "ann", expires_in_secs: 3600 });
    assert.equal(page.token, "ann");
    page.session.handleEvent({ type: "token", token: "ann-2", expires_in_secs: 3600 });
    assert.equal(page.token, "ann-2");
    page.disconnect();
    page.connect();
    page.deliver();
    assert.deepEqual(page.sent.at(-1), { type: "auth", token: "ann-2" });
  });

  for (const [token, code] of [
    ["expired:ann", "token_expired"],
    ["bad:xyz", "bad_token"],
  ]) {
    it(`${code}: asks for a new token and authenticates on the same connection`, () => {
      const refused = [];
      const { page } = setUp({
        join: false,
        token,
        onTokenRefused: (refusedCode, refusedPage) => {
          refused.push(refusedCode);
          refusedPage.setToken("ann"); // what chat.js does once identity.js has a new one
        },
      });
      page.connect();
      const connection = page.connection();
      page.settle();
      assert.deepEqual(refused, [code]);
      assert.equal(page.connection(), connection, "the same connection");
      assert.deepEqual(sentOfType(page, "auth"), [
        { type: "auth", token },
        { type: "auth", token: "ann" },
      ]);
      assert.equal(page.session.joined, true);
    });
  }

  it("does not present a refused token again on the next connection", () => {
    const refused = [];
    const { page } = setUp({ join: false, token: "expired:ann", onTokenRefused: (code) => refused.push(code) });
    page.connect();
    page.settle();
    page.disconnect();
    page.connect();
    page.settle();
    assert.deepEqual(sentOfType(page, "auth").length, 1, "waits for the new token");
    assert.deepEqual(refused, ["token_expired"]);
  });
});

describe("session: joining and resuming", () => {
  it("re-joins after every reconnect with after_seq = the last seq shown, and appends", () => {
    const { server, page } = setUp();
    postMany(server, 3);
    page.settle();
    assert.deepEqual(page.shown(), [1, 2, 3]);
    page.disconnect();
    postMany(server, 2);
    page.connect();
    page.settle();
    assert.equal(sentOfType(page, "join").at(-1).after_seq, 3);
    assert.deepEqual(page.shown(), [1, 2, 3, 4, 5]);
  });

  it("re-joins once on a live gap that stays open for GAP_GRACE_MS, not once per message", () => {
    const { server, page } = setUp();
    postMany(server, 1);
    page.settle();
    page.connection().forgetGroups(); // e.g. the channel layer restarted
    postMany(server, 2); // 2 and 3 never arrive live
    page.connection().subscribed.add(ROOM);
    postMany(server, 2); // 4 and 5 do
    const joinsBefore = sentOfType(page, "join").length;
    page.connection().flushLayer();
    page.deliver(); // 4: a gap
    page.deliver(); // 5: still the same gap
    page.timers.advance(GAP_GRACE_MS - 1);
    assert.equal(sentOfType(page, "join").length, joinsBefore, "2 and 3 may still be on their way");
    page.timers.advance(1);
    assert.equal(sentOfType(page, "join").length, joinsBefore + 1);
    assert.equal(sentOfType(page, "join").at(-1).after_seq, 1);
    page.settle();
    assert.deepEqual(page.shown(), [1, 2, 3, 4, 5]);
  });

  it("does not re-join when messages from two processes arrive out of order", () => {
    const sent = [];
    const timers = createFakeTimers();
    const session = joinedSession({ sent, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, now: timers.now });
    const joinsBefore = sent.filter((event) => event.type === "join").length;
    session.handleEvent(message(2)); // 1 was posted on the other process and is a moment behind
    session.handleEvent(message(1));
    timers.advance(GAP_GRACE_MS * 2);
    assert.equal(sent.filter((event) => event.type === "join").length, joinsBefore);
    assert.deepEqual(timers.pendingDelaysMs(), []);
  });

  it("re-joins when a pong reports a newer latest_seq", () => {
    const { server, page } = setUp();
    page.connection().forgetGroups();
    postMany(server, 2);
    page.settle();
    assert.deepEqual(page.shown(), [], "nothing arrived live");
    page.ping(); // the ping also renews the membership
    page.settle();
    assert.equal(sentOfType(page, "join").at(-1).after_seq, undefined, "nothing shown yet");
    assert.deepEqual(page.shown(), [1, 2]);
    page.ping();
    page.settle();
    assert.equal(sentOfType(page, "join").length, 2, "an up-to-date pong changes nothing");
  });

  it("replaces the view when the gap is over resume_limit", () => {
    const { server, page } = setUp({ server: createModelServer({ historyLimit: 3, resumeLimit: 4 }) });
    postMany(server, 2);
    page.settle();
    page.disconnect();
    postMany(server, 10);
    page.connect();
    page.settle();
    assert.deepEqual(page.shown(), [10, 11, 12]);
    assert.equal(page.timeline.olderBefore, 10);
  });

  it("a new identity on a new connection joins again, resuming", () => {
    const { server, page } = setUp();
    postMany(server, 2);
    page.settle();
    page.disconnect();
    page.token = "annie";
    page.session.setToken("annie");
    page.connect();
    page.settle();
    assert.deepEqual(page.sent.slice(-2), [
      { type: "auth", token: "annie" },
      { type: "join", room: ROOM, after_seq: 2 },
    ]);
    assert.equal(page.session.identity.name, "annie");
  });
});

describe("session: the outbox on the wire", () => {
  it("sends a message with its client_id; the ack removes it from the outbox", () => {
    const { server, page } = setUp();
    page.session.submit("hello", "ann");
    assert.deepEqual(sentOfType(page, "send"), [{ type: "send", room: ROOM, text: "hello", client_id: "c1" }]);
    assert.deepEqual(page.shown(), ["c1"]);
    assert.equal(page.timeline.entries()[0].state, "pending");
    page.settle();
    assert.deepEqual(page.outbox.items(), []);
    assert.deepEqual(page.shown(), [1]);
    assert.deepEqual(server.log(ROOM).map((message) => message.client_id), ["c1"]);
    const [entry] = page.timeline.entries();
    assert.deepEqual([entry.own, entry.state, entry.clientId], [true, "sent", "c1"]);
  });

  it("keeps what is typed while disconnected, and sends it after the next joined", () => {
    const { server, page } = setUp();
    page.disconnect();
    page.session.submit("one", "ann");
    page.session.submit("two", "ann");
    assert.deepEqual(page.shown(), ["c1", "c2"]);
    assert.deepEqual(sentOfType(page, "send"), []);
    page.connect();
    page.deliver(); // ready → auth
    page.pump();
    page.deliver(); // authenticated → join
    assert.deepEqual(sentOfType(page, "send"), [], "not before joined");
    page.settle();
    assert.deepEqual(server.log(ROOM).map((message) => message.text), ["one", "two"]);
    assert.deepEqual(page.outbox.items(), []);
  });

  it("never sends an item twice on one connection, and again on every new one until acked", () => {
    const { server, page } = setUp();
    page.session.submit("hello", "ann");
    // Re-joins on the same connection do not resend what is on its way.
    page.session.handleEvent({ type: "pong", rooms: { [ROOM]: 5 } });
    page.session.submit("second", "ann");
    assert.deepEqual(sentOfType(page, "send").map((event) => event.client_id), ["c1", "c2"]);
    // The connection dies before the server read anything.
    page.disconnect();
    page.connect();
    page.settle();
    assert.deepEqual(sentOfType(page, "send").map((event) => event.client_id), ["c1", "c2", "c1", "c2"]);
    assert.deepEqual(server.log(ROOM).map((message) => message.client_id), ["c1", "c2"]);
  });

  it("a resend after a lost ack stores nothing twice and shows the message once", () => {
    const { server, page } = setUp();
    page.session.submit("hello", "ann");
    page.pump(); // stored…
    page.disconnect(); // …but the ack and the message are lost
    assert.deepEqual(page.outbox.items().map((item) => item.client_id), ["c1"]);
    page.connect();
    page.settle();
    assert.equal(server.log(ROOM).length, 1);
    assert.deepEqual(page.shown(), [1]);
    assert.deepEqual(page.outbox.items(), []);
  });

  it("survives a reload: the new page shows the item pending and sends it after joining", () => {
    const { server, page, storage } = setUp();
    page.disconnect();
    page.session.submit("written offline", "ann");
    page.reload();
    assert.deepEqual(page.shown(), ["c1"]);
    assert.equal(page.timeline.entries()[0].state, "pending");
    page.connect();
    page.settle();
    assert.deepEqual(server.log(ROOM).map((message) => message.text), ["written offline"]);
    assert.equal(storage.getItem(`backchannel:outbox:${ROOM}`), null);
  });

  it("after a reload, an item the history already holds is confirmed, not sent again", () => {
    const { server, page } = setUp();
    page.session.submit("hello", "ann");
    page.pump(); // stored, never acked
    page.reload();
    page.connect();
    page.settle();
    assert.deepEqual(sentOfType(page, "send").length, 1, "only the first send");
    assert.deepEqual(page.outbox.items(), []);
    assert.equal(server.log(ROOM).length, 1);
    assert.equal(page.timeline.entries()[0].state, "sent");
  });

  it("sends and clears the items another tab of the room left in the shared outbox", () => {
    const { server, page, storage } = setUp();
    const otherTab = createOutbox({ room: ROOM, storage, newClientId: () => "other-tab-1" });
    otherTab.add({ text: "from the other tab", author: "ann" }); // …which was closed before it was acked
    page.session.handleEvent({ type: "pong", rooms: { [ROOM]: 0 } });
    page.settle();
    assert.deepEqual(server.log(ROOM).map((message) => message.client_id), ["other-tab-1"]);
    assert.deepEqual(page.outbox.items(), []);
  });

  it("a server_error keeps the item pending and the next pong sends it again", () => {
    let failures = 1;
    const server = createModelServer({ shouldFailSend: () => failures-- > 0 });
    const { page } = setUp({ server });
    page.session.submit("hello", "ann");
    page.settle();
    assert.deepEqual(page.errors, ["server_error"]);
    assert.equal(page.outbox.items()[0].state, "pending");
    assert.equal(page.timeline.entries()[0].state, "pending");
    page.ping();
    page.settle();
    assert.deepEqual(server.log(ROOM).map((message) => message.text), ["hello"]);
    assert.deepEqual(page.outbox.items(), []);
  });

  it("a refusal that cannot pass marks the item failed; retry sends it again, discard drops it", () => {
    const server = createModelServer({ maxTextChars: 5 });
    const { page } = setUp({ server, join: false });
    page.setToken("ann");
    page.disconnect();
    // Written before the limit was known: queued, refused by the encoder once connected.
    page.session.submit("too long", "ann");
    page.connect();
    page.settle();
    assert.deepEqual(sentOfType(page, "send"), []);
    const [entry] = page.timeline.entries();
    assert.deepEqual([entry.state, entry.code], ["failed", "text_too_long"]);
    assert.equal(page.outbox.items()[0].state, "failed");
    page.session.retry("c1");
    assert.equal(page.timeline.entries()[0].state, "failed", "fails again, without a frame sent");
    page.session.discard("c1");
    assert.deepEqual(page.shown(), []);
    assert.deepEqual(page.outbox.items(), []);
    // Once the limit is known, a text over it is refused at once and never queued.
    assert.throws(() => page.session.submit("too long", "ann"), { code: "text_too_long" });
    assert.deepEqual(page.outbox.items(), []);
  });

  it("the server's refusal of an item marks it failed, with the code", () => {
    const { page } = setUp();
    page.session.submit("hello", "ann");
    page.session.handleEvent({ type: "error", code: "bad_field", message: "m", room: ROOM, client_id: "c1" });
    assert.deepEqual(page.outbox.items().map((item) => [item.state, item.code]), [["failed", "bad_field"]]);
    page.session.retry("c1");
    page.settle();
    assert.deepEqual(page.outbox.items(), [], "retried and acked");
  });

  it("not_joined: joins again and resends; a second not_joined after that fails the item", () => {
    const { page, server } = setUp();
    page.connection().joined.delete(ROOM); // the server lost track of the membership
    page.session.submit("hello", "ann");
    page.settle();
    assert.deepEqual(server.log(ROOM).map((message) => message.text), ["hello"]);

    assert.ok(page.errors.includes("not_joined"));

    page.session.submit("again", "ann");
    page.session.handleEvent({ type: "error", code: "not_joined", message: "m", room: ROOM, client_id: "c2" });
    page.session.handleEvent({ type: "error", code: "not_joined", message: "m", room: ROOM, client_id: "c2" });
    assert.equal(page.outbox.get("c2").state, "failed");
  });

  it("an error that names no item ends a pending join", () => {
    const { page } = setUp({ join: false });
    page.setToken("ann");
    page.connect();
    page.deliver(); // ready → auth
    page.pump();
    page.deliver(); // authenticated → join
    page.session.handleEvent({ type: "error", code: "too_many_rooms", message: "m", room: ROOM });
    assert.equal(page.session.joined, false);
    page.disconnect();
    page.connect();
    page.settle();
    assert.equal(page.session.joined, true);
  });
});

describe("session: older pages", () => {
  it("asks for the page before the first seq shown, one request at a time", () => {
    const server = createModelServer({ historyLimit: 3 });
    postMany(server, 8);
    const { page } = setUp({ server });
    assert.deepEqual(page.shown(), [6, 7, 8]);
    assert.equal(page.session.loadOlder(), true);
    assert.equal(page.session.loadingOlder, true);
    assert.equal(page.session.loadOlder(), false, "one is on its way");
    assert.deepEqual(sentOfType(page, "load_older"), [{ type: "load_older", room: ROOM, before_seq: 6 }]);
    page.settle();
    assert.deepEqual(page.shown(), [3, 4, 5, 6, 7, 8]);
    page.session.loadOlder();
    page.settle();
    assert.deepEqual(page.shown(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(page.session.loadOlder(), false, "nothing older");
  });

  it("tells onChange when messages went on top", () => {
    const changes = [];
    const sent = [];
    const session = joinedSession({ sent, onChange: (change) => changes.push(change) });
    assert.deepEqual(changes.at(-1), { prepended: false });
    assert.equal(session.loadOlder(), true);
    assert.deepEqual(sent.at(-1), { type: "load_older", room: ROOM, before_seq: 9 });
    session.handleEvent({ type: "older", room: ROOM, messages: [message(8)], has_older: true });
    assert.deepEqual(changes.at(-1), { prepended: true });
  });

  it("a refused load_older can be asked again", () => {
    const sent = [];
    const session = joinedSession({ sent });
    session.loadOlder();
    session.handleEvent({ type: "error", code: "bad_field", message: "m", room: ROOM });
    assert.equal(session.loadingOlder, false);
    assert.equal(session.loadOlder(), true);
  });
});

describe("session: protocol version", () => {
  it("reports a server that speaks a version it does not know (newer, or older than 2) and does not join", () => {
    const sent = [];
    let mismatch = false;
    const session = bareSession({
      sent,
      onProtocolMismatch: () => {
        mismatch = true;
      },
    });
    session.handleEvent({ ...READY, protocol: 4 });
    assert.equal(mismatch, true);
    session.handleEvent({ ...READY, protocol: 1 });
    assert.deepEqual(sent, []);
  });

  it("ignores events about other rooms", () => {
    const sent = [];
    const session = bareSession({ sent });
    session.handleEvent(READY);
    session.handleEvent(AUTHENTICATED);
    session.handleEvent(joinedEvent({ room: "help" }));
    assert.equal(session.joined, false);
    session.handleEvent({ type: "presence", room: "help", online_count: 3, people: null });
    session.handleEvent({ type: "deleted", room: "help", seq: 1 });
    session.handleEvent({ type: "room_state", room: "help", locked: true, slow_mode_secs: 0 });
    assert.equal(session.presence, null);
    assert.equal(session.roomState.locked, false);
  });

  it("throws on an event type it does not know (a bug, not a server problem)", () => {
    const session = bareSession({ sent: [] });
    assert.throws(() => session.handleEvent({ type: "mystery" }), /unhandled server event type mystery/);
  });
});

describe("session: refusals of the moderation and the throttles", () => {
  for (const code of ["muted", "room_locked", "duplicate_text"]) {
    it(`${code} fails the item for good (retry is the visitor's)`, () => {
      const sent = [];
      const errors = [];
      const session = joinedSession({ sent, onError: (errorCode) => errors.push(errorCode) });
      const item = session.submit("hello", "ann");
      session.handleEvent({ type: "error", code, message: "m", room: ROOM, client_id: item.client_id });
      assert.deepEqual(errors, [code]);
      assert.equal(session.identity.name, "ann");
      session.handleEvent({ type: "pong", rooms: { [ROOM]: 9 } });
      assert.equal(sent.filter((event) => event.type === "send").length, 1, "not sent again by itself");
    });
  }

  for (const code of ["rate_limited", "slow_mode"]) {
    it(`${code}: the item stays pending, and nothing goes out until retry_after_secs has passed`, () => {
      const sent = [];
      const timers = createFakeTimers();
      const session = joinedSession({ sent, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, now: timers.now });
      const first = session.submit("one", "ann");
      session.handleEvent({ type: "error", code, message: "m", room: ROOM, client_id: first.client_id, retry_after_secs: 2.5 });
      session.submit("two", "ann");
      session.handleEvent({ type: "pong", rooms: { [ROOM]: 9 } });
      const sends = () => sent.filter((event) => event.type === "send").map((event) => event.text);
      assert.deepEqual(sends(), ["one"], "held back while throttled");
      timers.advance(2499);
      assert.deepEqual(sends(), ["one"]);
      timers.advance(1);
      assert.deepEqual(sends(), ["one", "one", "two"]);
    });
  }

  it("rate_limited without a client_id (the frame limit) sends what was on its way again, later", () => {
    const sent = [];
    const timers = createFakeTimers();
    const session = joinedSession({ sent, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, now: timers.now });
    session.submit("one", "ann");
    session.handleEvent({ type: "error", code: "rate_limited", message: "m", retry_after_secs: 1 });
    timers.advance(1000);
    assert.deepEqual(sent.filter((event) => event.type === "send").map((event) => event.text), ["one", "one"]);
  });

  it("held_for_review: the item waits for a moderator, is not sent again on this connection, and once more on the next", () => {
    const sent = [];
    const errors = [];
    const timeline = createTimeline();
    const outbox = createOutbox({ room: ROOM, storage: new FakeStorage(), newClientId: counter() });
    const session = createWritingSession({ room: ROOM, timeline, outbox, send: (event) => sent.push(event), token: "ann", onError: (code) => errors.push(code) });
    session.handleEvent(READY);
    session.handleEvent(AUTHENTICATED);
    session.handleEvent(joinedEvent());
    const item = session.submit("a held word", "ann");
    session.handleEvent({ type: "error", code: "held_for_review", message: "m", room: ROOM, client_id: item.client_id });
    const sends = () => sent.filter((event) => event.type === "send").length;
    const state = () => timeline.entries("v-ann").at(-1).state;
    assert.deepEqual([errors, state(), outbox.items()[0].state], [["held_for_review"], "held", "pending"]);
    session.handleEvent({ type: "pong", rooms: { [ROOM]: 9 } });
    assert.equal(sends(), 1, "not again while the connection lasts");

    session.disconnected();
    session.handleEvent(READY);
    session.handleEvent(AUTHENTICATED);
    session.handleEvent(joinedEvent({ resumed: true, history: [] }));
    assert.equal(sends(), 2, "a new connection asks once more");
    assert.equal(state(), "held", "still shown as waiting meanwhile");
    // Approved meanwhile: stored, so the resend is acked.
    session.handleEvent({ type: "ack", room: ROOM, client_id: item.client_id, seq: 10 });
    assert.deepEqual(outbox.items(), []);
    assert.equal(state(), "sent");
  });

  it("blocked_word fails the item (a moderator's word filter refused it)", () => {
    const sent = [];
    const session = joinedSession({ sent });
    const item = session.submit("a blocked word", "ann");
    session.handleEvent({ type: "error", code: "blocked_word", message: "m", room: ROOM, client_id: item.client_id });
    session.handleEvent({ type: "pong", rooms: { [ROOM]: 9 } });
    assert.equal(sent.filter((event) => event.type === "send").length, 1);
  });

  it("reports retry_after_secs to onError", () => {
    const reports = [];
    const session = joinedSession({ sent: [], onError: (code, details) => reports.push([code, details.retryAfterSecs]) });
    session.handleEvent({ type: "error", code: "slow_mode", message: "m", room: ROOM, retry_after_secs: 30 });
    assert.deepEqual(reports, [["slow_mode", 30]]);
  });

  it("a locked room refuses a visitor's message, and staff may still post", () => {
    const server = createModelServer();
    const { page } = setUp({ server });
    server.lock(ROOM, true);
    page.settle();
    assert.equal(page.session.roomState.locked, true);
    page.session.submit("hello", "ann");
    page.settle();
    assert.deepEqual([page.outbox.items()[0].state, page.outbox.items()[0].code], ["failed", "room_locked"]);
    const staff = createModelClient({ server, storage: new FakeStorage(), room: ROOM, newClientId: counter("s"), token: "staff-sue" });
    staff.connect();
    staff.settle();
    staff.session.submit("still here", "staff-sue");
    staff.settle();
    assert.deepEqual(server.log(ROOM).map((stored) => [stored.author, stored.staff]), [["staff-sue", true]]);
  });
});

describe("session: deletions, presence, typing, moderation", () => {
  it("a deleted message leaves the view; its seq still counts (no gap, no re-join)", () => {
    const { server, page } = setUp();
    postMany(server, 3);
    page.settle();
    const joins = sentOfType(page, "join").length;
    server.deleteMessage(ROOM, 2);
    page.settle();
    assert.deepEqual(page.shown(), [1, 3]);
    postMany(server, 1);
    page.settle();
    assert.deepEqual(page.shown(), [1, 3, 4]);
    assert.equal(sentOfType(page, "join").length, joins, "no gap");
    assert.equal(page.timeline.lastSeq, 4);
  });

  it("a resume gets a message deleted meanwhile as a tombstone, and shows nothing for it", () => {
    const { server, page } = setUp();
    postMany(server, 2);
    page.settle();
    page.disconnect();
    postMany(server, 2);
    server.deleteMessage(ROOM, 3);
    page.connect();
    page.settle();
    assert.deepEqual(page.shown(), [1, 2, 4]);
    assert.equal(page.timeline.lastSeq, 4);
  });

  it("keeps the presence and the room state of joined, presence and room_state", () => {
    const session = joinedSession({ sent: [] });
    assert.deepEqual(session.presence, PRESENCE);
    assert.deepEqual(session.roomState, { locked: false, slow_mode_secs: 0 });
    session.handleEvent({ type: "presence", room: ROOM, online_count: 250, people: null });
    assert.deepEqual(session.presence, { online_count: 250, people: null });
    session.handleEvent({ type: "room_state", room: ROOM, locked: true, slow_mode_secs: 10 });
    assert.deepEqual(session.roomState, { locked: true, slow_mode_secs: 10 });
    session.disconnected();
    assert.equal(session.presence, null, "nobody is known to be here while disconnected");
  });

  it("sends typing at most once per typing_interval_secs, and only when joined", () => {
    const sent = [];
    const timers = createFakeTimers();
    const session = bareSession({ sent, now: timers.now });
    session.notifyTyping();
    assert.deepEqual(sent, []);
    session.handleEvent(READY);
    session.handleEvent(AUTHENTICATED);
    session.handleEvent(joinedEvent());
    const typings = () => sent.filter((event) => event.type === "typing");
    session.notifyTyping();
    session.notifyTyping();
    timers.advance(2999);
    session.notifyTyping();
    assert.deepEqual(typings(), [{ type: "typing", room: ROOM }]);
    timers.advance(1);
    session.notifyTyping();
    assert.equal(typings().length, 2);
  });

  it("passes typing of its room and moderated on", () => {
    const typing = [];
    const moderated = [];
    const session = joinedSession({ sent: [], onTyping: (event) => typing.push(event.name), onModerated: (event) => moderated.push(event.action) });
    session.handleEvent({ type: "typing", room: ROOM, visitor: "v-bob", name: "bob" });
    session.handleEvent({ type: "typing", room: "help", visitor: "v-cy", name: "cy" });
    session.handleEvent({ type: "moderated", action: "muted", reason: "", until: null });
    assert.deepEqual(typing, ["bob"]);
    assert.deepEqual(moderated, ["muted"]);
  });

  it("relays another member's typing through the model server, not to the typist", () => {
    const server = createModelServer();
    const { page } = setUp({ server });
    const bob = createModelClient({ server, storage: new FakeStorage(), room: ROOM, token: "bob" });
    bob.connect();
    bob.settle();
    bob.session.notifyTyping();
    bob.settle();
    page.settle();
    assert.ok(page.wire.some((frame) => frame.in?.type === "typing" && frame.in.name === "bob"));
    assert.equal(bob.wire.some((frame) => frame.in?.type === "typing"), false);
  });
});

describe("createRoomSession: a session without a sender only reads", () => {
  it("reads, sends no message and shows none of the outbox, until a sender is attached", () => {
    const sent = [];
    const storage = new FakeStorage();
    const outbox = createOutbox({ room: ROOM, storage, newClientId: counter() });
    outbox.add({ text: "left from an earlier visit", author: "ann" });
    const timeline = createTimeline();
    const session = createRoomSession({ room: ROOM, timeline, send: (event) => sent.push(event), token: "ann" });
    session.handleEvent(READY);
    session.handleEvent(AUTHENTICATED);
    session.handleEvent(joinedEvent());
    session.handleEvent({ type: "pong", rooms: { [ROOM]: 9 } });
    assert.deepEqual(sent.map((event) => event.type), ["auth", "join"]);
    assert.deepEqual(timeline.entries("v-ann").map((entry) => entry.text), ["m9"]);

    const sender = attachSender(session, { room: ROOM, timeline, outbox, send: (event) => sent.push(event) });
    assert.deepEqual(sent.at(-1), { type: "send", room: ROOM, text: "left from an earlier visit", client_id: "c1" });
    assert.deepEqual(timeline.entries("v-ann").map((entry) => [entry.text, entry.state]), [["m9", undefined], ["left from an earlier visit", "pending"]]);
    session.handleEvent({ type: "ack", room: ROOM, client_id: "c1", seq: 10 });
    assert.deepEqual(outbox.items(), []);
    assert.equal(typeof sender.submit, "function");
  });
});

describe("attachSender: what people typed is checked before it goes", () => {
  it("an item kept from before the server lowered its limit fails as too long, and is not sent", () => {
    const sent = [];
    const storage = new FakeStorage();
    const outbox = createOutbox({ room: ROOM, storage, newClientId: counter() });
    outbox.add({ text: "x".repeat(30), author: "ann" });
    const timeline = createTimeline();
    const session = createWritingSession({ room: ROOM, timeline, outbox, send: (event) => sent.push(event), token: "ann" });
    session.handleEvent({ ...READY, max_text_chars: 20 });
    session.handleEvent(AUTHENTICATED);
    session.handleEvent(joinedEvent());
    assert.equal(sent.filter((event) => event.type === "send").length, 0);
    assert.deepEqual(outbox.items().map((item) => [item.state, item.code]), [["failed", "text_too_long"]]);
  });
});

describe("createRoomSession: reading without a name", () => {
  const READING = { ...READY, read_without_auth: true };

  it("joins without auth where the server allows it, and not where it does not", () => {
    const sent = [];
    const reader = bareSession({ sent, token: null });
    reader.handleEvent(READING);
    assert.deepEqual(sent, [{ type: "join", room: ROOM, after_seq: undefined }]);

    const older = [];
    const waiting = bareSession({ sent: older, token: null });
    waiting.handleEvent(READY);
    assert.deepEqual(older, [], "an older server: nothing until there is a token");
  });

  it("keeps what is written while reading, and sends it after auth on the same connection without joining again", () => {
    const sent = [];
    const session = bareSession({ sent, token: null });
    session.handleEvent(READING);
    session.handleEvent(joinedEvent());
    const item = session.submit("hello", "ann");
    assert.equal(sent.filter((event) => event.type === "send").length, 0, "a reader cannot send");
    session.notifyTyping();
    assert.equal(sent.filter((event) => event.type === "typing").length, 0);

    session.setToken("ann");
    assert.deepEqual(sent.at(-1), { type: "auth", token: "ann" });
    session.handleEvent(AUTHENTICATED);
    assert.deepEqual(sent.at(-1), { type: "send", room: ROOM, text: "hello", client_id: item.client_id });
    assert.equal(sent.filter((event) => event.type === "join").length, 1, "already reading: no second join");
  });
});
