// The room session against the model server (tests/js/model-server.js): joins and re-joins,
// the outbox on the wire, errors, older pages.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createOutbox } from "../../themes/backchannel/assets/backchannel/js/outbox.js";
import { createRoomSession } from "../../themes/backchannel/assets/backchannel/js/session.js";
import { createTimeline } from "../../themes/backchannel/assets/backchannel/js/timeline.js";
import { createModelClient, createModelServer } from "./model-server.js";
import { FakeStorage } from "./support.js";

const ROOM = "lobby";

function counter(prefix = "c") {
  let next = 0;
  return () => `${prefix}${(next += 1)}`;
}

/** A server and one page, named "ann", connected and joined. */
function setUp({ server = createModelServer(), storage = new FakeStorage(), join = true } = {}) {
  const page = createModelClient({ server, storage, room: ROOM, newClientId: counter() });
  if (join) {
    page.session.setName("ann");
    page.connect();
    page.settle();
  }
  return { server, storage, page };
}

const READY = { type: "ready", protocol: 1, max_text_chars: 100, max_rooms: 5, history_limit: 50, resume_limit: 500 };

function message(seq) {
  return { type: "message", room: ROOM, seq, author: "bob", text: `m${seq}`, sent_at: "2024-05-01T12:00:00Z", client_id: `b${seq}` };
}

/** A session whose socket only records what it is asked to send. */
function bareSession({ sent, ...callbacks }) {
  return createRoomSession({
    room: ROOM,
    timeline: createTimeline(),
    outbox: createOutbox({ room: ROOM, storage: new FakeStorage() }),
    send: (event) => sent.push(event),
    ...callbacks,
  });
}

const sentOfType = (page, type) => page.sent.filter((event) => event.type === type);

function postMany(server, count, author = "bob") {
  for (let index = 0; index < count; index += 1) server.post(ROOM, author, `from ${author}`, `${author}-${index}-${server.log(ROOM).length}`);
}

describe("session: joining and resuming", () => {
  it("joins after ready, without after_seq the first time", () => {
    const { page } = setUp();
    assert.deepEqual(sentOfType(page, "join"), [{ type: "join", room: ROOM, name: "ann", after_seq: undefined }]);
    assert.equal(page.session.joined, true);
  });

  it("waits for a name before joining", () => {
    const { page } = setUp({ join: false });
    page.connect();
    page.settle();
    assert.deepEqual(page.sent, []);
    page.session.setName("ann");
    page.settle();
    assert.equal(page.session.joined, true);
  });

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

  it("re-joins once on a live gap, not once per message", () => {
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
    page.deliver(); // 5: still the same gap, the re-join is on its way
    assert.equal(sentOfType(page, "join").length, joinsBefore + 1);
    assert.equal(sentOfType(page, "join").at(-1).after_seq, 1);
    page.settle();
    assert.deepEqual(page.shown(), [1, 2, 3, 4, 5]);
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

  it("changing the name leaves, then joins again under the new name, resuming", () => {
    const { server, page } = setUp();
    postMany(server, 2);
    page.settle();
    page.session.setName("annie");
    page.settle();
    assert.deepEqual(
      page.sent.slice(-2).map((event) => [event.type, event.name, event.after_seq]),
      [
        ["leave", undefined, undefined],
        ["join", "annie", 2],
      ],
    );
    assert.equal(page.session.name, "annie");
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
    page.deliver(); // ready → join
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
    page.session.setName("ann");
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
    page.session.setName("ann");
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
    otherTab.add("from the other tab", "ann"); // …which was closed before it was acked
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
    page.session.setName("ann");
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
    page.session.setName("ann");
    page.connect();
    page.deliver(); // ready → join
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
    const session = bareSession({ sent, onChange: (change) => changes.push(change) });
    session.setName("ann");
    session.handleEvent(READY);
    session.handleEvent({ type: "joined", room: ROOM, name: "ann", latest_seq: 9, resumed: false, history: [message(9)], has_older: true });
    assert.deepEqual(changes.at(-1), { prepended: false });
    assert.equal(session.loadOlder(), true);
    assert.deepEqual(sent.at(-1), { type: "load_older", room: ROOM, before_seq: 9 });
    session.handleEvent({ type: "older", room: ROOM, messages: [message(8)], has_older: true });
    assert.deepEqual(changes.at(-1), { prepended: true });
  });

  it("a refused load_older can be asked again", () => {
    const sent = [];
    const session = bareSession({ sent });
    session.setName("ann");
    session.handleEvent(READY);
    session.handleEvent({ type: "joined", room: ROOM, name: "ann", latest_seq: 9, resumed: false, history: [message(9)], has_older: true });
    session.loadOlder();
    session.handleEvent({ type: "error", code: "bad_field", message: "m", room: ROOM });
    assert.equal(session.loadingOlder, false);
    assert.equal(session.loadOlder(), true);
  });
});

describe("session: protocol version", () => {
  it("reports a server that speaks another version and does not join", () => {
    const sent = [];
    let mismatch = false;
    const session = bareSession({
      sent,
      onProtocolMismatch: () => {
        mismatch = true;
      },
    });
    session.setName("ann");
    session.handleEvent({ ...READY, protocol: 2 });
    assert.equal(mismatch, true);
    assert.deepEqual(sent, []);
  });

  it("ignores events about other rooms", () => {
    const sent = [];
    const session = bareSession({ sent });
    session.setName("ann");
    session.handleEvent(READY);
    session.handleEvent({ type: "joined", room: "help", name: "ann", latest_seq: 0, resumed: false, history: [], has_older: false });
    assert.equal(session.joined, false);
  });

  it("throws on an event type it does not know (a bug, not a server problem)", () => {
    const session = bareSession({ sent: [] });
    assert.throws(() => session.handleEvent({ type: "mystery" }), /unhandled server event type mystery/);
  });
});
