// Protocol version 3 (ARCHITECTURE.md "Protocol version 3: mutations in the log"): first the model
// server's version 3 against the backend's rules (negotiation, edit, delete, react, idempotency,
// changes that change nothing, `changed` and `deleted`, joined.latest_rev and changes, pong.revs),
// then the widget's session, timeline and sender against it, with the cases the conversation
// property found, and a version-3 widget against a version-2 server.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { decodeServerEvent } from "../../themes/backchannel/assets/backchannel/js/protocol.js";
import { REACTION_EMOJI, createModelClient, createModelServer } from "./model-server.js";
import { FakeStorage } from "./support.js";

const ROOM = "lobby";

function counter(prefix = "c") {
  let next = 0;
  return () => `${prefix}${(next += 1)}`;
}

/**
 * A raw socket of `name` on `url`, authenticated and joined: say(event) writes a frame, read()
 * takes every frame that came so far (the layer's too), decoded as the widget decodes them.
 */
function socket(server, name, { url = "/ws/?protocol=3", join = {} } = {}) {
  const connection = server.connect(url);
  const say = (event) => connection.receive(JSON.stringify({ room: ROOM, ...event }));
  const read = () => {
    connection.flushLayer();
    return connection.stream.splice(0).map((frame) => decodeServerEvent(frame));
  };
  const ready = read()[0];
  say({ type: "auth", token: name });
  say({ type: "join", ...join });
  const [, joined] = read();
  return { connection, say, read, ready, joined };
}

const ofType = (events, type) => events.filter((event) => event.type === type);

describe("model server: version 3 is negotiated per connection", () => {
  it("/ws/?protocol=3 gets version 3 with reaction_emoji and edit_window_secs; no parameter, version 2 as before", () => {
    const server = createModelServer({ editWindowSecs: 60 });
    const v3 = socket(server, "ann");
    assert.equal(v3.ready.protocol, 3);
    assert.deepEqual(v3.ready.reaction_emoji, REACTION_EMOJI);
    assert.equal(v3.ready.edit_window_secs, 60);
    assert.equal(v3.joined.latest_rev, 0);
    const v2 = socket(server, "bob", { url: "/ws/" });
    assert.equal(v2.ready.protocol, 2);
    assert.equal(v2.ready.reaction_emoji, undefined);
    assert.equal("latest_rev" in v2.joined, false);
    assert.equal(socket(server, "cat", { url: "/ws/?protocol=9" }).ready.protocol, 3, "the lower of the two");
    assert.equal(socket(server, "dan", { url: "/ws/?protocol=x" }).ready.protocol, 2);
    assert.equal(socket(createModelServer({ maxProtocol: 2 }), "ann").ready.protocol, 2, "an older server");
  });

  it("a version-2 socket gets messages without version 3's fields, and unknown_type for a change", () => {
    const server = createModelServer();
    const v2 = socket(server, "bob", { url: "/ws/" });
    v2.say({ type: "send", text: "hi", client_id: "b1", reply_to: 99 }); // reply_to ignored
    const events = v2.read();
    const [message] = ofType(events, "message");
    assert.deepEqual([message.rev, message.edited, message.reply_to, message.reactions], [undefined, undefined, undefined, undefined]);
    assert.equal(ofType(events, "ack")[0].seq, 1);
    assert.equal(server.log(ROOM)[0].reply_to, null, "a version-2 send replies to nothing");
    v2.say({ type: "edit", seq: 1, text: "hello", client_id: "b2" });
    assert.deepEqual(v2.read().map((event) => event.code), ["unknown_type"]);
    assert.equal(server.log(ROOM)[0].text, "hi");
  });
});

describe("model server: edit, delete, react", () => {
  it("an edit takes the room's next rev: ack with it, `changed` to version 3, nothing to version 2", () => {
    const server = createModelServer();
    const ann = socket(server, "ann");
    const bob = socket(server, "bob");
    const old = socket(server, "otto", { url: "/ws/" });
    ann.say({ type: "send", text: "helo", client_id: "a1" });
    ann.say({ type: "edit", seq: 1, text: "hello", client_id: "a2" });
    assert.deepEqual(ofType(ann.read(), "ack").map((ack) => [ack.client_id, ack.seq, ack.rev]), [["a1", 1, undefined], ["a2", undefined, 1]]);
    const [changed] = ofType(bob.read(), "changed");
    assert.deepEqual([changed.rev, changed.message.text, changed.message.edited, changed.message.rev], [1, "hello", true, 1]);
    assert.deepEqual(old.read().map((event) => event.type), ["message"]);
    assert.equal(server.lastRev(ROOM), 1);
  });

  it("a repeated client_id applies nothing: acked with the first rev, the current state to the sender only", () => {
    const server = createModelServer();
    const ann = socket(server, "ann");
    const bob = socket(server, "bob");
    ann.say({ type: "send", text: "cake?", client_id: "a1" });
    ann.say({ type: "react", seq: 1, emoji: "🎉", on: true, client_id: "a2" });
    bob.say({ type: "react", seq: 1, emoji: "🎉", on: true, client_id: "b1" });
    ann.read();
    bob.read();
    ann.say({ type: "react", seq: 1, emoji: "🎉", on: true, client_id: "a2" });
    const again = ann.read();
    assert.deepEqual(again.map((event) => event.type), ["changed", "ack"]);
    assert.equal(again[1].rev, 1, "the first one's rev");
    assert.equal(again[0].rev, 2, "the message's current state");
    assert.deepEqual(again[0].message.reactions, [{ emoji: "🎉", count: 2, names: ["ann", "bob"], visitors: ["v-ann", "v-bob"] }]);
    assert.deepEqual(bob.read(), [], "nothing to the others");
    assert.equal(server.changes(ROOM).length, 2);
  });

  it("a reaction already on (or already off) changes nothing: acked with the message's own rev (0 too)", () => {
    const server = createModelServer();
    const ann = socket(server, "ann");
    const bob = socket(server, "bob");
    ann.say({ type: "send", text: "cake?", client_id: "a1" });
    ann.say({ type: "react", seq: 1, emoji: "👍", on: false, client_id: "a2" });
    const events = ann.read();
    assert.deepEqual([ofType(events, "changed")[0].rev, ofType(events, "ack")[1].rev], [0, 0], "a changed of rev 0 decodes");
    ann.say({ type: "react", seq: 1, emoji: "👍", on: true, client_id: "a3" });
    ann.say({ type: "react", seq: 1, emoji: "👍", on: true, client_id: "a4" });
    assert.deepEqual(ofType(ann.read(), "ack").map((each) => each.rev), [1, 1]);
    assert.equal(ofType(bob.read(), "changed").length, 1);
    ann.say({ type: "react", seq: 1, emoji: "👍", on: false, client_id: "a5" });
    assert.deepEqual(ofType(bob.read(), "changed")[0].message.reactions, []);
  });

  it("a deletion blanks the quote of each reply under the same rev, a `changed` each; version 2 gets one `deleted`", () => {
    const server = createModelServer();
    const ann = socket(server, "ann");
    const bob = socket(server, "bob");
    const old = socket(server, "otto", { url: "/ws/" });
    ann.say({ type: "send", text: "original", client_id: "a1" });
    bob.say({ type: "send", text: "reply one", client_id: "b1", reply_to: 1 });
    bob.say({ type: "send", text: "reply two", client_id: "b2", reply_to: 1 });
    ann.say({ type: "react", seq: 1, emoji: "🎉", on: true, client_id: "a2" });
    assert.deepEqual(server.log(ROOM)[1].reply_to, { seq: 1, author: "ann", excerpt: "original", deleted: false });
    bob.read();
    old.read();
    ann.say({ type: "delete", seq: 1, client_id: "a3" });
    const changed = ofType(bob.read(), "changed");
    assert.deepEqual(changed.map((event) => [event.rev, event.message.seq]), [[2, 1], [2, 2], [2, 3]]);
    const { author, visitor, text, deleted, reactions, reply_to: replyTo, edited } = changed[0].message;
    assert.deepEqual([author, visitor, text, deleted, reactions, replyTo, edited], ["", "", "", true, [], undefined, false]);
    assert.deepEqual(changed[1].message.reply_to, { seq: 1, author: "", excerpt: "", deleted: true });
    assert.deepEqual(old.read(), [{ type: "deleted", room: ROOM, seq: 1 }]);
    // Deleting it again changes nothing; replying to it quotes it removed.
    ann.say({ type: "delete", seq: 1, client_id: "a4" });
    assert.equal(ofType(ann.read(), "ack").at(-1).rev, 2);
    bob.say({ type: "send", text: "too late", client_id: "b3", reply_to: 1 });
    assert.equal(server.log(ROOM)[3].reply_to.deleted, true);
  });

  it("refusals take no rev: not_author, edit_window_passed, not_found, bad_emoji, room_locked (not for a delete)", () => {
    const server = createModelServer({ editWindowSecs: 30 });
    const ann = socket(server, "ann");
    const bob = socket(server, "bob");
    const sue = socket(server, "staff-sue");
    ann.say({ type: "send", text: "mine", client_id: "a1" });
    bob.say({ type: "edit", seq: 1, text: "yours?", client_id: "b1" });
    bob.say({ type: "delete", seq: 1, client_id: "b2" });
    bob.say({ type: "react", seq: 1, emoji: "💩", on: true, client_id: "b3" });
    bob.say({ type: "react", seq: 7, emoji: "🎉", on: true, client_id: "b4" });
    bob.say({ type: "send", text: "to nothing", client_id: "b5", reply_to: 7 });
    assert.deepEqual(ofType(bob.read(), "error").map((event) => [event.client_id, event.code]), [
      ["b1", "not_author"],
      ["b2", "not_author"],
      ["b3", "bad_emoji"],
      ["b4", "not_found"],
      ["b5", "not_found"],
    ]);
    server.tick(31_000);
    ann.say({ type: "edit", seq: 1, text: "too late", client_id: "a2" });
    server.lock(ROOM, true);
    ann.say({ type: "react", seq: 1, emoji: "🎉", on: true, client_id: "a3" });
    assert.deepEqual(ofType(ann.read(), "error").map((event) => event.code), ["edit_window_passed", "room_locked"]);
    assert.equal(server.lastRev(ROOM), 0);
    sue.say({ type: "delete", seq: 1, client_id: "s1" }); // a moderator's delete, locked room or not
    server.lock(ROOM, false);
    ann.say({ type: "edit", seq: 1, text: "gone", client_id: "a4" });
    assert.deepEqual(ofType(ann.read(), "error").map((event) => event.code), ["not_found"]);
    assert.deepEqual(server.changes(ROOM), [{ rev: 1, seq: 1, kind: "delete", visitor: "v-staff-sue", client_id: "s1" }]);
  });
});

describe("model server: joined and pong in version 3", () => {
  it("a resume gets latest_rev and `changes`: each message once, in its current state, first_seq ≤ seq ≤ after_seq, by rev", () => {
    const server = createModelServer();
    const ann = socket(server, "ann");
    for (let index = 1; index <= 5; index += 1) ann.say({ type: "send", text: `m${index}`, client_id: `a${index}` });
    ann.say({ type: "react", seq: 4, emoji: "🎉", on: true, client_id: "r1" });
    ann.say({ type: "edit", seq: 1, text: "m1!", client_id: "e1" });
    ann.say({ type: "edit", seq: 2, text: "m2!", client_id: "e2" });
    ann.say({ type: "edit", seq: 4, text: "m4!", client_id: "e3" });
    ann.say({ type: "edit", seq: 5, text: "m5!", client_id: "e4" });
    const { joined } = socket(server, "bob", { join: { after_seq: 4, after_rev: 1, first_seq: 2 } });
    assert.equal(joined.resumed, true);
    assert.equal(joined.latest_rev, 5);
    assert.deepEqual(joined.changes.map((message) => [message.seq, message.rev, message.text]), [[2, 3, "m2!"], [4, 4, "m4!"]]);
    assert.deepEqual(joined.changes[1].reactions.map((reaction) => reaction.emoji), ["🎉"]);
    assert.deepEqual(joined.history.map((message) => [message.seq, message.rev]), [[5, 5]]);
    const v2 = socket(server, "otto", { url: "/ws/", join: { after_seq: 4, after_rev: 1, first_seq: 2 } }).joined;
    assert.deepEqual([v2.resumed, v2.changes, v2.latest_rev], [true, undefined, undefined]);
  });

  it("over resume_limit changes, or an after_rev ahead of the log: the latest page, not a resume", () => {
    const server = createModelServer({ resumeLimit: 1 });
    const ann = socket(server, "ann");
    ann.say({ type: "send", text: "one", client_id: "a1" });
    ann.say({ type: "send", text: "two", client_id: "a2" });
    ann.say({ type: "edit", seq: 1, text: "one!", client_id: "e1" });
    assert.equal(socket(server, "bob", { join: { after_seq: 2, after_rev: 0 } }).joined.resumed, true);
    ann.say({ type: "edit", seq: 2, text: "two!", client_id: "e2" });
    const { joined } = socket(server, "cat", { join: { after_seq: 2, after_rev: 0 } });
    assert.deepEqual([joined.resumed, joined.changes, joined.history.length, joined.latest_rev], [false, undefined, 2, 2]);
    assert.equal(socket(server, "dan", { join: { after_seq: 2, after_rev: 3 } }).joined.resumed, false);
  });

  it("pong.revs names each joined room's latest rev (version 3 only)", () => {
    const server = createModelServer();
    const ann = socket(server, "ann");
    ann.say({ type: "send", text: "one", client_id: "a1" });
    ann.say({ type: "edit", seq: 1, text: "one!", client_id: "e1" });
    ann.read();
    ann.say({ type: "ping" });
    assert.deepEqual(ann.read(), [{ type: "pong", rooms: { [ROOM]: 1 }, revs: { [ROOM]: 1 } }]);
    const old = socket(server, "otto", { url: "/ws/" });
    old.say({ type: "ping" });
    assert.deepEqual(old.read().at(-1), { type: "pong", rooms: { [ROOM]: 1 } });
  });
});

/** A server and a version-3 page of "ann", connected and joined. */
function setUp({ server = createModelServer(), token = "ann", protocol = 3 } = {}) {
  const page = createModelClient({ server, storage: new FakeStorage(), room: ROOM, newClientId: counter(`${token}-`), token, protocol });
  page.connect();
  page.settle();
  return { server, page };
}

const texts = (page) => page.timeline.entries().map((entry) => entry.text);
const joinsOf = (page) => page.sent.filter((event) => event.type === "join");

describe("session (version 3) against the model server", () => {
  it("re-joins with after_rev and first_seq, and applies the changes it missed", () => {
    const { server, page } = setUp();
    server.post(ROOM, "bob", "one", "b1");
    server.post(ROOM, "bob", "two", "b2");
    page.settle();
    page.disconnect();
    const bob = socket(server, "bob");
    bob.say({ type: "edit", seq: 1, text: "one!", client_id: "e1" });
    page.connect();
    page.settle();
    assert.deepEqual(joinsOf(page).at(-1), { type: "join", room: ROOM, after_seq: 2, after_rev: 0, first_seq: 1 });
    assert.deepEqual(texts(page), ["one!", "two"]);
    assert.equal(page.timeline.entries()[0].message.edited, true);
  });

  it("edits, reacts and deletes through the outbox; a change resent after a lost ack applies once", () => {
    const { server, page } = setUp();
    page.session.submit("helo", "ann");
    page.settle();
    page.session.change("edit", 1, { text: "hello" });
    page.pump(); // stored…
    page.disconnect(); // …but its ack is lost: the outbox sends it again on the next connection
    page.connect();
    page.settle();
    assert.deepEqual(page.sent.filter((event) => event.type === "edit").length, 2);
    assert.deepEqual(server.changes(ROOM).map((change) => change.kind), ["edit"]);
    page.session.change("react", 1, { emoji: "🎉", on: true });
    page.settle();
    assert.deepEqual(page.timeline.entries()[0].message.reactions, [{ emoji: "🎉", count: 1, names: ["ann"], visitors: ["v-ann"] }]);
    page.session.change("delete", 1);
    page.settle();
    assert.deepEqual(page.timeline.entries(), []);
    assert.deepEqual(page.outbox.items(), []);
    assert.deepEqual(page.decodeErrors, []);
  });

  it("a change refused for good leaves the outbox; one refused with server_error goes again", () => {
    let failing = true;
    const server = createModelServer({ shouldFailChange: () => failing });
    const { page } = setUp({ server });
    server.post(ROOM, "bob", "bob's", "b1");
    page.settle();
    page.session.change("edit", 1, { text: "mine now" });
    page.settle();
    assert.deepEqual(page.outbox.items().map((item) => item.kind), ["edit"], "server_error: kept");
    failing = false;
    page.ping();
    page.settle();
    assert.deepEqual(page.outbox.items(), [], "not_author: dropped");
    assert.deepEqual(page.errors, ["server_error", "not_author"]);
  });

  // Found by the conversation property (seed 46): a deletion's rev also blanks the quotes of the
  // replies, each in a `changed` of its own; the page counted the rev as had from the reply's,
  // and the lost tombstone was never asked for again.
  it("a deletion whose tombstone the layer lost is repaired, though a reply's `changed` of the same rev came", () => {
    const { server, page } = setUp();
    server.post(ROOM, "bob", "original", "b1");
    server.post(ROOM, "bob", "a reply", "b2", { replyTo: 1 });
    page.settle();
    server.deleteMessage(ROOM, 1);
    page.connection().flushLayer((frame) => (JSON.parse(frame).message.seq === 1 ? "drop" : "deliver"));
    page.ping(); // the next pong says rev 1
    page.settle();
    assert.deepEqual(texts(page), ["a reply"]);
    assert.equal(page.timeline.entries()[0].message.reply_to.deleted, true);
    assert.equal(joinsOf(page).at(-1).after_rev, 0, "the deletion's rev is asked for again");
  });

  it("…and so is a lost reply's `changed`, when the tombstone came", () => {
    const { server, page } = setUp();
    server.post(ROOM, "bob", "original", "b1");
    server.post(ROOM, "bob", "a reply", "b2", { replyTo: 1 });
    page.settle();
    server.deleteMessage(ROOM, 1);
    page.connection().flushLayer((frame) => (JSON.parse(frame).message.seq === 2 ? "drop" : "deliver"));
    page.ping(); // the next pong says rev 1
    page.settle();
    assert.deepEqual(page.timeline.entries()[0].message.reply_to, { seq: 1, author: "", excerpt: "", deleted: true });
  });

  // Found by the conversation property (seed 1085): an older page that arrives between a join and
  // its answer lies before the join's first_seq; the resume's changes leave it out, so a change
  // to it that the layer lost was counted as had.
  it("an older page applied while a join is on its way: its messages' changes are asked for again", () => {
    const { server, page } = setUp({ server: createModelServer({ historyLimit: 1 }) });
    server.post(ROOM, "bob", "old", "b1");
    server.post(ROOM, "bob", "new", "b2");
    page.disconnect();
    page.connect();
    page.settle();
    assert.deepEqual(texts(page), ["new"]);
    server.post(ROOM, "bob", "lost", "b3");
    server.post(ROOM, "bob", "newer", "b4");
    page.connection().flushLayer((frame) => (JSON.parse(frame).seq === 3 ? "drop" : "deliver"));
    page.deliver(); // seq 4: a gap, filled once its grace has passed
    page.session.loadOlder();
    page.pump(); // the page is read…
    server.deleteMessage(ROOM, 1); // …then its message deleted, the `changed` lost…
    page.connection().flushLayer(() => "drop");
    page.timers.advance(2000); // …and the gap's join goes while the page is on its way
    page.settle(); // the page, then the resume: changes from seq 2 on
    page.ping();
    page.settle();
    assert.deepEqual(texts(page), ["new", "lost", "newer"]);
  });

  // Found by the order-of-arrival property (seed 5): a `changed` older than the copy shown was
  // counted but did not move the rev on, so the page thought itself behind and re-joined.
  it("a `changed` older than the copy shown (arriving late) leaves no gap", () => {
    const { server, page } = setUp();
    server.post(ROOM, "bob", "one", "b1");
    page.settle();
    const bob = socket(server, "bob");
    bob.say({ type: "edit", seq: 1, text: "one!", client_id: "e1" });
    bob.say({ type: "edit", seq: 1, text: "one!!", client_id: "e2" });
    const [first, second] = page.connection().layer.splice(0);
    page.connection().layer.push(second, first);
    page.settle();
    assert.deepEqual(texts(page), ["one!!"]);
    assert.equal(page.timeline.hasGap(), false);
    assert.equal(joinsOf(page).length, 1, "no re-join");
  });
});

describe("a version-3 widget against a version-2 server", () => {
  it("speaks version 2: no after_rev, `deleted` applied, changes kept in the outbox until a version-3 server", () => {
    const storage = new FakeStorage();
    const old = createModelServer({ maxProtocol: 2 });
    const page = createModelClient({ server: old, storage, room: ROOM, newClientId: counter(), token: "ann", protocol: 3 });
    page.connect();
    page.settle();
    assert.equal(page.session.protocol, 2);
    assert.equal(page.session.settings.reaction_emoji, undefined);
    old.post(ROOM, "bob", "one", "b1");
    old.post(ROOM, "bob", "two", "b2");
    page.session.submit("mine", "ann");
    page.settle();
    page.session.change("react", 3, { emoji: "🎉", on: true });
    page.session.change("edit", 3, { text: "mine!" });
    page.settle();
    old.deleteMessage(ROOM, 1);
    page.settle();
    assert.deepEqual(texts(page), ["two", "mine"]);
    page.disconnect();
    page.connect();
    page.settle();
    for (const event of page.sent) assert.ok(["auth", "join", "send"].includes(event.type), `sent ${event.type} to a version-2 server`);
    for (const join of joinsOf(page)) assert.deepEqual(Object.keys(join).sort(), ["after_seq", "room", "type"]);
    assert.deepEqual(joinsOf(page).at(-1).after_seq, 3);
    assert.deepEqual(page.outbox.items().map((item) => [item.kind, item.state]), [["react", "pending"], ["edit", "pending"]]);
    assert.deepEqual([page.errors, page.decodeErrors], [[], []]);
  });
});
