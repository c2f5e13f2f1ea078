import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createTimeline } from "../../themes/backchannel/assets/backchannel/js/timeline.js";

const ROOM = "lobby";

function message(seq, overrides = {}) {
  return {
    type: "message",
    room: ROOM,
    seq,
    author: "bob",
    visitor: "v-bob",
    tag: "b0b0",
    staff: false,
    text: `m${seq}`,
    sent_at: "2024-05-01T12:00:00Z",
    client_id: `bob-${seq}`,
    deleted: false,
    ...overrides,
  };
}

function range(from, to) {
  return Array.from({ length: to - from + 1 }, (_, index) => message(from + index));
}

function joined({ history = [], latestSeq = history.at(-1)?.seq ?? 0, resumed = false, hasOlder = false } = {}) {
  return { type: "joined", room: ROOM, latest_seq: latestSeq, resumed, history, has_older: hasOlder };
}

function pendingItem(clientId, text = `text of ${clientId}`) {
  return { client_id: clientId, text, author: "ann", created_at: "2024-05-01T12:00:00Z", state: "pending" };
}

/** What the view shows: a seq for a server message, a client_id for an own message not received. */
const shown = (timeline) =>
  timeline.entries().map((entry) => (entry.key.startsWith("s") ? entry.seq : entry.clientId));

/** A timeline that has joined the room and shows `history`. */
function joinedTimeline(history, options = {}) {
  const timeline = createTimeline();
  timeline.expectJoined();
  timeline.applyJoined(joined({ history, ...options }));
  return timeline;
}

describe("timeline: joined", () => {
  it("starts empty, with nothing to resume from", () => {
    const timeline = createTimeline();
    assert.deepEqual(timeline.entries(), []);
    assert.equal(timeline.resumeAfter, undefined);
    assert.equal(timeline.olderBefore, null);
  });

  it("shows the history of a first join, oldest first", () => {
    const timeline = joinedTimeline(range(4, 6), { hasOlder: true });
    assert.deepEqual(shown(timeline), [4, 5, 6]);
    assert.equal(timeline.resumeAfter, 6);
    assert.equal(timeline.olderBefore, 4);
    const [{ message: stored, ...first }] = timeline.entries();
    // The message as stored, for the conversation chunk (version 3's fields).
    assert.equal(stored.seq, 4);
    assert.deepEqual(first, {
      key: "s4",
      seq: 4,
      clientId: undefined,
      author: "bob",
      visitor: "v-bob",
      tag: "b0b0",
      staff: false,
      text: "m4",
      sentAt: "2024-05-01T12:00:00Z",
      own: false,
      state: undefined,
    });
  });

  it("an empty room: nothing to resume from, nothing older", () => {
    const timeline = joinedTimeline([], { latestSeq: 0 });
    assert.deepEqual(shown(timeline), []);
    assert.equal(timeline.resumeAfter, undefined);
    assert.equal(timeline.olderBefore, null);
  });

  it("an empty history of a busy room (history_limit 0) resumes from latest_seq", () => {
    const timeline = joinedTimeline([], { latestSeq: 40, hasOlder: true });
    assert.equal(timeline.resumeAfter, 40);
    assert.equal(timeline.olderBefore, 41);
    assert.equal(timeline.applyMessage(message(41)).gap, false);
    assert.deepEqual(shown(timeline), [41]);
  });

  it("resumed: appends after the last seq, dropping what it already shows", () => {
    const timeline = joinedTimeline(range(1, 3));
    timeline.expectJoined();
    const result = timeline.applyJoined(joined({ history: range(3, 6), resumed: true, hasOlder: true }));
    assert.deepEqual(result, { gap: false, sent: [] });
    assert.deepEqual(shown(timeline), [1, 2, 3, 4, 5, 6]);
    assert.equal(timeline.olderBefore, null, "resumed keeps what the view knew about older pages");
  });

  it("not resumed: replaces the view", () => {
    const timeline = joinedTimeline(range(1, 3));
    timeline.applyJoined(joined({ history: range(50, 52), hasOlder: true }));
    assert.deepEqual(shown(timeline), [50, 51, 52]);
    assert.equal(timeline.resumeAfter, 52);
    assert.equal(timeline.olderBefore, 50);
  });

  it("not resumed: keeps the pending outbox items, after the history", () => {
    const timeline = joinedTimeline(range(1, 2));
    timeline.addOwn(pendingItem("p1"));
    timeline.addOwn({ ...pendingItem("f1"), state: "failed", code: "text_too_long" });
    timeline.applyJoined(joined({ history: range(7, 8) }));
    assert.deepEqual(shown(timeline), [7, 8, "p1", "f1"]);
    const [, , pending, failed] = timeline.entries();
    assert.equal(pending.state, "pending");
    assert.equal(pending.own, true);
    assert.equal(pending.key, "cp1");
    assert.equal(failed.state, "failed");
    assert.equal(failed.code, "text_too_long");
  });

  it("live messages that arrive while a join is on its way wait for its answer", () => {
    const timeline = joinedTimeline(range(1, 2));
    timeline.expectJoined();
    // Posted after the server read the log: only live, and before `joined` (replace).
    assert.deepEqual(timeline.applyMessage(message(31)), { gap: false, sent: [] });
    assert.deepEqual(shown(timeline), [1, 2], "held");
    timeline.applyJoined(joined({ history: range(21, 30) }));
    assert.deepEqual(shown(timeline), [21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);
  });

  it("abortJoin() shows the held messages", () => {
    const timeline = joinedTimeline(range(1, 2));
    timeline.expectJoined();
    timeline.applyMessage(message(3));
    assert.deepEqual(timeline.abortJoin(), { gap: false, sent: [] });
    assert.deepEqual(shown(timeline), [1, 2, 3]);
  });

  it("reports a gap when latest_seq is past the history", () => {
    const timeline = createTimeline();
    assert.equal(timeline.applyJoined(joined({ history: range(1, 3), latestSeq: 5 })).gap, true);
  });
});

describe("timeline: live messages", () => {
  it("appends in order and shows each seq once", () => {
    const timeline = joinedTimeline(range(1, 2));
    assert.deepEqual(timeline.applyMessage(message(3)), { gap: false, sent: [] });
    timeline.applyMessage(message(3));
    timeline.applyMessage(message(2));
    assert.deepEqual(shown(timeline), [1, 2, 3]);
    assert.equal(timeline.resumeAfter, 3);
  });

  it("detects a gap (seq > last + 1), shows the message, and resumes from before the gap", () => {
    const timeline = joinedTimeline(range(1, 2));
    assert.equal(timeline.applyMessage(message(5)).gap, true);
    assert.deepEqual(shown(timeline), [1, 2, 5]);
    assert.equal(timeline.resumeAfter, 2, "after_seq must not skip 3 and 4");
    assert.equal(timeline.applyMessage(message(6)).gap, true, "still a gap");
    timeline.expectJoined();
    const result = timeline.applyJoined(joined({ history: range(3, 6), resumed: true }));
    assert.equal(result.gap, false);
    assert.deepEqual(shown(timeline), [1, 2, 3, 4, 5, 6]);
    assert.equal(timeline.resumeAfter, 6);
  });

  it("fills a gap with late live messages too, in order", () => {
    const timeline = joinedTimeline(range(1, 1));
    timeline.applyMessage(message(3));
    assert.equal(timeline.applyMessage(message(2)).gap, false);
    assert.deepEqual(shown(timeline), [1, 2, 3]);
  });

  it("does not show a message from before the view (a repeat of an old send)", () => {
    const timeline = joinedTimeline(range(10, 12), { hasOlder: true });
    timeline.applyMessage(message(4));
    assert.deepEqual(shown(timeline), [10, 11, 12]);
  });

  it("isBehind(): a pong's latest_seq past the last seq is a gap", () => {
    const timeline = joinedTimeline(range(1, 3));
    assert.equal(timeline.isBehind(3), false);
    assert.equal(timeline.isBehind(2), false);
    assert.equal(timeline.isBehind(4), true);
    timeline.applyMessage(message(5));
    assert.equal(timeline.isBehind(5), true, "4 is still missing");
  });
});

describe("timeline: older pages", () => {
  it("prepends a page and moves the floor", () => {
    const timeline = joinedTimeline(range(11, 12), { hasOlder: true });
    assert.equal(timeline.olderBefore, 11);
    const result = timeline.applyOlder({ type: "older", room: ROOM, messages: range(6, 10), has_older: true }, 11);
    assert.equal(result.added, 5);
    assert.deepEqual(shown(timeline), [6, 7, 8, 9, 10, 11, 12]);
    assert.equal(timeline.olderBefore, 6);
    assert.equal(timeline.resumeAfter, 12);
    timeline.applyOlder({ type: "older", room: ROOM, messages: range(1, 5), has_older: false }, 6);
    assert.deepEqual(shown(timeline), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(timeline.olderBefore, null);
  });

  it("ignores a page for a view that was replaced meanwhile", () => {
    const timeline = joinedTimeline(range(11, 12), { hasOlder: true });
    timeline.applyJoined(joined({ history: range(60, 61), hasOlder: true }));
    const result = timeline.applyOlder({ type: "older", room: ROOM, messages: range(6, 10), has_older: true }, 11);
    assert.equal(result.added, 0);
    assert.deepEqual(shown(timeline), [60, 61]);
  });

  it("keeps each seq once when a page overlaps the view", () => {
    const timeline = joinedTimeline(range(5, 6), { hasOlder: true });
    timeline.applyOlder({ type: "older", room: ROOM, messages: range(1, 6), has_older: false }, 5);
    assert.deepEqual(shown(timeline), [1, 2, 3, 4, 5, 6]);
  });
});

describe("timeline: own messages (outbox reconciliation)", () => {
  it("shows a pending item at the end until its message arrives", () => {
    const timeline = joinedTimeline(range(1, 2));
    timeline.addOwn(pendingItem("p1"));
    assert.deepEqual(shown(timeline), [1, 2, "p1"]);
    const result = timeline.applyMessage(message(3, { author: "ann", text: "text of p1", client_id: "p1" }));
    assert.deepEqual(result, { gap: false, sent: ["p1"] });
    assert.deepEqual(shown(timeline), [1, 2, 3]);
    const own = timeline.entries()[2];
    assert.deepEqual(
      [own.key, own.own, own.clientId, own.state],
      ["s3", true, "p1", "sent"],
    );
    assert.equal(timeline.entries()[1].own, false);
  });

  it("messages by the identity's visitor are own after a reload or from another tab", () => {
    // A fresh timeline knows no client_ids: the page was reloaded, or another tab sent them.
    const timeline = joinedTimeline([
      message(1, { author: "ann", visitor: "v-ann", client_id: "earlier-tab" }),
      message(2),
    ]);
    timeline.applyMessage(message(3, { author: "ann", visitor: "v-ann", client_id: "other-tab" }));
    assert.deepEqual(
      timeline.entries("v-ann").map((entry) => [entry.seq, entry.own, entry.state]),
      [
        [1, true, "sent"],
        [2, false, undefined],
        [3, true, "sent"],
      ],
    );
    // Without an identity nothing is own; another visitor of the same name is somebody else.
    assert.deepEqual(timeline.entries().map((entry) => entry.own), [false, false, false]);
    assert.deepEqual(timeline.entries("v-ann-2").map((entry) => entry.own), [false, false, false]);
  });

  it("an ack marks an item sent; it waits at its seq until its message arrives", () => {
    const timeline = joinedTimeline(range(1, 2));
    timeline.addOwn(pendingItem("p1"));
    timeline.addOwn(pendingItem("p2"));
    const result = timeline.applyAck({ type: "ack", room: ROOM, client_id: "p1", seq: 3 });
    assert.deepEqual(result, { gap: false, sent: ["p1"] }, "an ack ahead of its message is no gap");
    let entries = timeline.entries();
    assert.deepEqual(entries.map((entry) => [entry.key, entry.seq, entry.state]), [
      ["s1", 1, undefined],
      ["s2", 2, undefined],
      ["cp1", 3, "sent"],
      ["cp2", undefined, "pending"],
    ]);
    // A later message from someone else goes after it.
    timeline.applyMessage(message(4));
    assert.deepEqual(shown(timeline), [1, 2, "p1", 4, "p2"]);
    // Its own copy arrives: shown once, at its seq.
    assert.deepEqual(timeline.applyMessage(message(3, { client_id: "p1" })).sent, [], "already confirmed");
    entries = timeline.entries();
    assert.deepEqual(shown(timeline), [1, 2, 3, 4, "p2"]);
    assert.equal(entries[2].clientId, "p1");
  });

  it("an acked item from before the view is not kept at the end", () => {
    const timeline = joinedTimeline(range(20, 22), { hasOlder: true });
    timeline.addOwn(pendingItem("p1"));
    timeline.applyAck({ type: "ack", room: ROOM, client_id: "p1", seq: 7 });
    assert.deepEqual(shown(timeline), [20, 21, 22]);
  });

  it("a history that holds an outbox item confirms it (sent before a reload)", () => {
    const timeline = createTimeline();
    timeline.addOwn(pendingItem("p1"));
    timeline.expectJoined();
    const result = timeline.applyJoined(joined({ history: [message(1), message(2, { client_id: "p1" })] }));
    assert.deepEqual(result.sent, ["p1"]);
    assert.deepEqual(shown(timeline), [1, 2]);
    assert.equal(timeline.entries()[1].state, "sent");
  });

  it("failed items can be retried or discarded; sent ones cannot", () => {
    const timeline = joinedTimeline([]);
    timeline.addOwn(pendingItem("p1"));
    timeline.markFailed("p1", "text_too_long");
    assert.deepEqual(
      timeline.entries().map((entry) => [entry.state, entry.code]),
      [["failed", "text_too_long"]],
    );
    timeline.markPending("p1");
    assert.deepEqual(timeline.entries().map((entry) => [entry.state, entry.code]), [["pending", undefined]]);
    timeline.discard("p1");
    assert.deepEqual(timeline.entries(), []);

    timeline.addOwn(pendingItem("p2"));
    timeline.applyAck({ type: "ack", room: ROOM, client_id: "p2", seq: 1 });
    timeline.markFailed("p2", "server_error");
    timeline.discard("p2");
    assert.deepEqual(timeline.entries().map((entry) => entry.state), ["sent"]);
  });

  it("ignores acks and messages for client_ids it does not know", () => {
    const timeline = joinedTimeline(range(1, 1));
    assert.deepEqual(timeline.applyAck({ type: "ack", room: ROOM, client_id: "zz", seq: 2 }).sent, []);
    assert.deepEqual(timeline.applyMessage(message(2, { client_id: null })).sent, []);
    assert.deepEqual(shown(timeline), [1, 2]);
  });
});

describe("timeline: deletions", () => {
  const tombstone = (seq, overrides = {}) => message(seq, { author: "", text: "", deleted: true, ...overrides });

  it("a deleted message leaves the view, and its seq still counts", () => {
    const timeline = joinedTimeline(range(1, 3));
    assert.deepEqual(timeline.applyDeleted({ seq: 2 }), { gap: false, sent: [] });
    assert.deepEqual(shown(timeline), [1, 3]);
    assert.equal(timeline.lastSeq, 3);
    assert.equal(timeline.applyMessage(message(4)).gap, false);
    assert.deepEqual(shown(timeline), [1, 3, 4]);
  });

  it("tombstones count for the unbroken run but show nothing", () => {
    const timeline = joinedTimeline([message(1), tombstone(2), message(3)], { hasOlder: false });
    assert.deepEqual(shown(timeline), [1, 3]);
    assert.equal(timeline.resumeAfter, 3);
    assert.equal(timeline.applyMessage(tombstone(4)).gap, false);
    assert.equal(timeline.lastSeq, 4);
  });

  it("a tombstone replaces a copy shown before the deletion", () => {
    const timeline = joinedTimeline(range(1, 2));
    timeline.applyMessage(tombstone(2));
    assert.deepEqual(shown(timeline), [1]);
  });

  it("a copy that arrives after its `deleted` event is not shown (a late live frame, an older page)", () => {
    const timeline = joinedTimeline(range(5, 6), { hasOlder: true });
    timeline.applyDeleted({ seq: 7 });
    timeline.applyDeleted({ seq: 4 });
    timeline.applyMessage(message(7));
    assert.deepEqual(shown(timeline), [5, 6]);
    assert.equal(timeline.lastSeq, 7);
    const result = timeline.applyOlder({ messages: [message(3), message(4)], has_older: false }, 5);
    assert.equal(result.added, 1);
    assert.deepEqual(shown(timeline), [3, 5, 6]);
  });

  it("a `deleted` event while a join is on its way applies to what the join brings", () => {
    const timeline = joinedTimeline(range(1, 2));
    timeline.expectJoined();
    timeline.applyDeleted({ seq: 3 });
    timeline.applyJoined(joined({ history: [message(3)], resumed: true }));
    assert.deepEqual(shown(timeline), [1, 2]);
    assert.equal(timeline.lastSeq, 3);
  });

  it("an own message that is deleted is confirmed and not shown", () => {
    const timeline = joinedTimeline(range(1, 1));
    timeline.addOwn(pendingItem("c1"));
    assert.deepEqual(timeline.applyAck({ client_id: "c1", seq: 2 }).sent, ["c1"]);
    assert.deepEqual(shown(timeline), [1, "c1"]);
    timeline.applyDeleted({ seq: 2 });
    assert.deepEqual(shown(timeline), [1], "acked, deleted before its copy came");
    timeline.addOwn(pendingItem("c2"));
    assert.deepEqual(timeline.applyMessage(tombstone(3, { client_id: "c2" })).sent, ["c2"]);
    assert.deepEqual(shown(timeline), [1]);
  });

  it("passes the staff flag on", () => {
    const timeline = joinedTimeline([message(1, { staff: true })]);
    assert.equal(timeline.entries()[0].staff, true);
  });
});

describe("timeline: a rev of several parts (version 3)", () => {
  const joined = (overrides = {}) => ({
    type: "joined", room: "lobby", latest_seq: 2, latest_rev: 5, resumed: false, has_older: false,
    history: [1, 2].map((seq) => ({ type: "message", room: "lobby", seq, author: "bob", visitor: "v-bob", staff: false, text: `m${seq}`, deleted: false, sent_at: "2024-05-01T12:00:00Z", client_id: null, rev: 0 })),
    ...overrides,
  });
  const tombstone = { type: "message", room: "lobby", seq: 1, author: "", visitor: "", staff: false, text: "", deleted: true, sent_at: "2024-05-01T12:00:00Z", client_id: null, rev: 6 };
  const requoted = { type: "message", room: "lobby", seq: 2, author: "bob", visitor: "v-bob", staff: false, text: "m2", deleted: false, sent_at: "2024-05-01T12:00:00Z", client_id: null, rev: 6, reply_to: { seq: 1, author: "", excerpt: "", deleted: true } };

  it("has a deletion's rev once every part has come, and not before", () => {
    const timeline = createTimeline();
    timeline.applyJoined(joined());
    timeline.applyChanged({ rev: 6, parts: 2, message: tombstone });
    timeline.applyChanged({ rev: 6, parts: 2, message: tombstone });
    assert.deepEqual(timeline.resumeChanges, { after_rev: 5, first_seq: 1 }, "one part of two (the same one twice)");
    assert.equal(timeline.isBehind(2, 6), true, "a pong of rev 6 is news: the reply's part may be lost");
    timeline.applyChanged({ rev: 6, parts: 2, message: requoted });
    assert.deepEqual(timeline.resumeChanges, { after_rev: 6, first_seq: 1 });
    assert.equal(timeline.hasGap(), false, "both parts: nothing to fetch, no re-join");
  });

  it("an older page read before a change to one of its messages does not bring back the old state", () => {
    const timeline = createTimeline();
    timeline.applyJoined(joined({ history: [], latest_seq: 2, has_older: true }));
    const edited = { ...requoted, seq: 1, rev: 7, text: "m1, edited", reply_to: null };
    // The change comes live while the page holding seq 1 is on its way, read before the edit.
    timeline.applyChanged({ rev: 7, parts: 1, message: edited });
    timeline.applyChanged({ rev: 6, parts: 1, message: { ...edited, rev: 6, text: "an earlier edit" } });
    timeline.applyOlder({ messages: joined().history, has_older: false }, 3);
    assert.deepEqual(timeline.entries().map((entry) => entry.text), ["m1, edited", "m2"]);
    timeline.applyChanged({ rev: 8, parts: 2, message: { ...tombstone, rev: 8 } });
    assert.deepEqual(timeline.entries().map((entry) => entry.text), ["m2"], "a deletion of a shown message applies");
  });

  it("does not count a copy for the sender alone (parts 0)", () => {
    const timeline = createTimeline();
    timeline.applyJoined(joined());
    timeline.applyChanged({ rev: 6, parts: 0, message: { ...requoted, reply_to: null } });
    assert.equal(timeline.hasGap(), false);
    assert.deepEqual(timeline.resumeChanges, { after_rev: 5, first_seq: 1 });
  });
});
