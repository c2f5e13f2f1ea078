// One room's view, without DOM or I/O: the server's messages keyed by seq and shown in seq order
// (each seq at most once), followed by the visitor's own messages that are not shown yet (the
// outbox: pending, failed, or acked but not received). Rules: ARCHITECTURE.md "Delivery
// guarantees". tests/js/timeline.test.js and tests/js/delivery.property.test.js cover it.
//
// The view is the window (floor, …] of the room's log: every seq ≤ floor is only reachable
// through `load_older`; `last` is the end of the unbroken run floor+1, floor+2, …, the seq the
// client resumes from (`join.after_seq`). A message past last + 1 is shown, but marks a gap.
//
// A message a moderator deleted stays in the view as a tombstone (`deleted: true`): its seq still
// counts for `last`, so deleting never opens a gap, but entries() leaves it out.
//
// Version 3 (ARCHITECTURE.md "Protocol version 3"): every change to a message (an edit, a
// deletion, a reaction) has the room's next `rev` and comes as `changed` with the message's whole
// current state, which replaces the copy shown only when its `rev` is higher (duplicates and
// reordering are harmless). `revDone` is the rev up to which the view has every change
// (`join.after_rev`); a rev past revDone + 1, or a `pong.revs` above it, is a gap. A deletion's rev
// (it also changes the replies quoting the message) is only had from a `joined`.

import { namesTable } from "./protocol.js";

// held: the word filter holds it for a moderator (held_for_review); it shows once approved.
export const OwnState = namesTable(["pending", "sent", "failed", "held"]);

/**
 * Returns the view of one room. Every apply… method returns { gap, sent }: `gap` is true when
 * the client knows the room has messages after `last` that it has not received (send `join`
 * with `after_seq` again); `sent` lists the own client_ids that this event confirmed as stored.
 */
export function createTimeline() {
  let messages = new Map();
  let floor = 0;
  let last = 0;
  let hasOlder = false;
  // Between sending `join` and its `joined`, live messages wait: a `joined` that replaces the
  // view must not drop what arrived meanwhile. While waiting: the join's first_seq (floor + 1).
  let joining = false;
  let held = [];
  // client_id → { clientId, text, author, createdAt, state, code, seq }: own messages not shown
  // as a server message yet. `ownIds` remembers every own client_id, for styling.
  const own = new Map();
  const ownIds = new Set();
  // Seqs a `deleted` event named. A copy of the message that comes later (a live frame delayed,
  // a history read before the deletion) is stored as a tombstone. Deletions are rare: never pruned.
  const deletedSeqs = new Set();
  // Version 3: revs seen past revDone (a change that came early, or a gap), and the newest
  // rev the server has reported.
  let revDone = 0;
  let revsAhead = new Set();
  // rev → the seqs of its `changed` events come so far (a rev of several parts: a deletion).
  const revParts = {};
  // seq → the newest `changed` state of a message before the view (older pages not loaded yet).
  const changedBefore = new Map();
  let knownLatestRev = 0;

  function advance() {
    while (messages.has(last + 1)) last += 1;
    while (revsAhead.delete(revDone + 1)) revDone += 1;
  }

  // The newest seq the server has reported (joined, pong): a gap until the view reaches it.
  let knownLatest = 0;

  function hasMessagesPastLast() {
    for (const seq of messages.keys()) if (seq > last) return true;
    return revsAhead.size > 0 || knownLatestRev > revDone;
  }

  // Sent own items wait at the end of the list until their message is in the view; once their
  // seq is at or below `last` they are shown (or lie before the view, in older pages).
  function forgetShownOwn() {
    for (const [clientId, item] of own) {
      if (item.state === OwnState.SENT && item.seq <= last) own.delete(clientId);
    }
  }

  function confirm(clientId, seq, sent) {
    const item = own.get(clientId);
    if (item === undefined || item.state === OwnState.SENT) return;
    own.set(clientId, { ...item, state: OwnState.SENT, code: undefined, seq });
    ownIds.add(clientId);
    sent.push(clientId);
  }

  function tombstoneIfDeleted(message) {
    return deletedSeqs.has(message.seq) && !message.deleted ? { ...message, author: "", text: "", deleted: true } : message;
  }

  // A newer state (version 3), or a tombstone, replaces the copy shown (a resume after missing
  // a `deleted`, or a `changed`).
  const isNewer = (message, shown) => (message.rev ?? 0) > (shown.rev ?? 0) || (message.deleted && !shown.deleted);

  function insert(message, sent) {
    if (message.client_id !== null) confirm(message.client_id, message.seq, sent);
    if (message.seq <= floor) {
      // A change to a message before the view: an older page read before it must not undo it.
      if (isNewer(message, changedBefore.get(message.seq) ?? {})) changedBefore.set(message.seq, message);
      return;
    }
    const shown = messages.get(message.seq);
    if (shown && !isNewer(message, shown)) return;
    messages.set(message.seq, tombstoneIfDeleted(message));
    advance();
  }

  function finish(sent, latestSeq = 0) {
    forgetShownOwn();
    knownLatest = Math.max(knownLatest, latestSeq);
    return { gap: latestSeq > last || hasMessagesPastLast(), sent };
  }

  return {
    /** Call when sending `join`: live messages wait for its answer. */
    expectJoined() {
      joining = floor + 1;
    },

    /** The `join` will not be answered (refused, or the connection is gone): stop waiting. */
    abortJoin() {
      joining = false;
      const sent = [];
      for (const message of held.splice(0)) insert(message, sent);
      return finish(sent);
    },

    applyJoined(joined) {
      // An older page applied after the join was sent lies before its first_seq: a resume's
      // changes leave it out, so they are not every change up to latest_rev.
      const pageBefore = joined.resumed && joining > floor + 1;
      joining = false;
      const sent = [];
      if (!joined.resumed) {
        messages = new Map();
        floor = joined.history.length > 0 ? joined.history[0].seq - 1 : joined.latest_seq;
        last = floor;
        hasOlder = joined.has_older;
      }
      // Every change up to latest_rev is in what this answer carries (a resume's `changes`, or a
      // view replaced by messages in their current state).
      if (!pageBefore) revDone = Math.max(revDone, joined.latest_rev ?? 0);
      revsAhead = new Set([...revsAhead].filter((rev) => rev > revDone));
      for (const rev in revParts) if (rev <= revDone) delete revParts[rev];
      // resumed: `history` is everything after our `after_seq` (= last): append it.
      for (const message of [...joined.changes ?? [], ...joined.history]) insert(message, sent);
      for (const message of held.splice(0)) insert(message, sent);
      return finish(sent, joined.latest_seq);
    },

    applyMessage(message) {
      if (joining) {
        held.push(message);
        return { gap: false, sent: [] };
      }
      const sent = [];
      insert(message, sent);
      return finish(sent);
    },

    /** Version 3's `changed`: the message's new state, and one more part of a rev of the room. */
    applyChanged({ rev, message, parts }) {
      // A deletion's rev also blanks the quote of each reply, each in a `changed` the layer may
      // lose: the rev is had once its `parts` messages have come (0: a copy for its sender only,
      // never counted). A server that does not say (no `parts`): a tombstone or a blanked quote
      // never counts its rev as had, and a resume fills it.
      if (rev > revDone && parts !== 0) {
        const seqs = (revParts[rev] ??= new Set()).add(message.seq);
        if (seqs.size >= (parts ?? (message.deleted || message.reply_to?.deleted ? Infinity : 1))) {
          revsAhead.add(rev);
          delete revParts[rev];
        }
      }
      advance(); // also when the message is not stored (older than shown, or before the view)
      return this.applyMessage(message);
    },

    /** A moderator deleted `seq`: no gap, nothing confirmed. */
    applyDeleted({ seq }) {
      deletedSeqs.add(seq);
      const message = messages.get(seq);
      if (message !== undefined) messages.set(seq, tombstoneIfDeleted(message));
      return { gap: false, sent: [] };
    },

    // Not a gap signal: the server writes `ack` before the sender's own copy of the broadcast
    // comes back through the channel layer, so the ack's seq is nearly always ahead. If that copy
    // is lost, the next `pong` tells.
    applyAck(ack) {
      const sent = [];
      confirm(ack.client_id, ack.seq, sent);
      return finish(sent);
    },

    /** An `older` page, the answer to `load_older` with `before_seq` = beforeSeq. */
    applyOlder(older, beforeSeq) {
      // A join that replaced the view meanwhile makes the page stale: it would leave a hole.
      if (beforeSeq !== floor + 1) return { gap: false, sent: [], added: 0 };
      const sent = [];
      let added = 0;
      for (let message of older.messages) {
        if (message.client_id !== null) confirm(message.client_id, message.seq, sent);
        if (message.seq > floor || messages.has(message.seq)) continue;
        const kept = changedBefore.get(message.seq) ?? message;
        if (isNewer(kept, message)) message = kept;
        const stored = tombstoneIfDeleted(message);
        messages.set(message.seq, stored);
        if (!stored.deleted) added += 1;
      }
      if (older.messages.length > 0) floor = Math.min(floor, older.messages[0].seq - 1);
      hasOlder = older.has_older && floor > 0;
      return { ...finish(sent), added };
    },

    /** `pong.rooms[room]` (and version 3's `pong.revs[room]`): true when the view lacks something. */
    isBehind(latestSeq, latestRev = 0) {
      knownLatest = Math.max(knownLatest, latestSeq);
      knownLatestRev = Math.max(knownLatestRev, latestRev);
      return latestSeq > last || latestRev > revDone;
    },

    /** True while a seq the server has told of (or one before a message shown) is missing. */
    hasGap() {
      return knownLatest > last || hasMessagesPastLast();
    },

    addOwn({ client_id: clientId, text, author, created_at: createdAt, state, code }) {
      own.set(clientId, { clientId, text, author, createdAt, state, code, seq: undefined });
      ownIds.add(clientId);
    },

    markFailed(clientId, code) {
      const item = own.get(clientId);
      if (item && item.state !== OwnState.SENT) own.set(clientId, { ...item, state: OwnState.FAILED, code });
    },

    /** A moderator must approve it first: it waits, neither sending nor failed. */
    markHeld(clientId) {
      const item = own.get(clientId);
      if (item && item.state === OwnState.PENDING) own.set(clientId, { ...item, state: OwnState.HELD });
    },

    markPending(clientId) {
      const item = own.get(clientId);
      if (item && (item.state === OwnState.FAILED || item.state === OwnState.HELD)) {
        own.set(clientId, { ...item, state: OwnState.PENDING, code: undefined });
      }
    },

    discard(clientId) {
      const item = own.get(clientId);
      if (item && item.state !== OwnState.SENT) own.delete(clientId);
    },

    /** `join.after_seq`: the end of the unbroken run shown, or undefined when there is none. */
    get resumeAfter() {
      return last > 0 ? last : undefined;
    },

    /** Version 3's `join.after_rev` and `join.first_seq`, with resumeAfter. */
    get resumeChanges() {
      return last > 0 ? { after_rev: revDone, first_seq: floor + 1 } : {};
    },

    /** `load_older.before_seq`, or null when there is nothing older. */
    get olderBefore() {
      return hasOlder && floor > 0 ? floor + 1 : null;
    },

    get lastSeq() {
      return last;
    },

    /**
     * What to show, in order: { key, seq, clientId, author, staff, text, sentAt, own, state, code }.
     * `key` is stable while an entry keeps its place: "s<seq>" or "c<client_id>". A message is own
     * when this page sent it or when `ownVisitor` (the identity's visitor id) wrote it: from
     * before a reload, or from another tab.
     */
    entries(ownVisitor) {
      const list = [];
      for (const [seq, message] of messages) {
        if (message.deleted) continue;
        const isOwn = ownIds.has(message.client_id) || message.visitor === ownVisitor;
        list.push({
          key: `s${seq}`,
          seq,
          clientId: isOwn ? message.client_id : undefined,
          author: message.author,
          visitor: message.visitor,
          tag: message.tag,
          staff: message.staff === true,
          text: message.text,
          sentAt: message.sent_at,
          own: isOwn,
          state: isOwn ? OwnState.SENT : undefined,
          // Version 3 (conversation.js draws them): edited, reply_to, reactions.
          message,
        });
      }
      for (const item of own.values()) {
        if (item.state === OwnState.SENT && (messages.has(item.seq) || deletedSeqs.has(item.seq))) continue;
        list.push({
          key: `c${item.clientId}`,
          // An acked message waits in its seq's place; the others (no seq yet) at the end.
          seq: item.seq,
          clientId: item.clientId,
          author: item.author,
          text: item.text,
          sentAt: item.createdAt,
          own: true,
          state: item.state,
          code: item.code,
        });
      }
      // Stable: unsent messages keep the order they were written in.
      return list.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
    },
  };
}
