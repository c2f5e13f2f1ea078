// The sending half of a room session (session.js), without DOM: the outbox on the wire. Each
// pending item goes once per connection while the socket is joined and authenticated, stays in the
// outbox until the server confirms it (its `ack`, or its message), waits out throttles, and is
// marked failed on a final refusal. In the write chunk (write.js), with the rest of what writing
// needs: a reader's page never loads it. tests/js/session.test.js and the property test
// (tests/js/delivery.property.test.js) drive it with its session.

import * as ErrorCode from "./error-codes.js";
import { ClientEventType, ProtocolError, encodeClientEvent } from "./protocol.js";

// Refusals of a `send` that pass by themselves: the item stays pending. server_error goes again
// with the next pong or joined; the throttles say when to try again (`retry_after_secs`), and
// nothing is sent until then (a volley into a rate limit counts towards a flood close, 4008).
const PASSING_SEND_ERRORS = new Set([ErrorCode.SERVER_ERROR]);
const THROTTLE_ERRORS = new Set([ErrorCode.RATE_LIMITED, ErrorCode.SLOW_MODE]);
// What an outbox item carries onto the wire besides its type, room and client_id.
const ITEM_FIELDS = ["text", "reply_to", "seq", "emoji", "on"];

/**
 * Plugs the outbox into `session` (createRoomSession): its items are shown at once and sent when
 * the socket can. `send(event)` is the socket's (see createRoomSession). Returns
 * { submit(text, author), retry(clientId), discard(clientId), notifyTyping() }.
 */
export function attachSender(session, { room, timeline, outbox, send, now = Date.now }) {
  // client_ids sent on this connection and not answered yet: never two sends of one item at once.
  const inFlight = new Set();
  // client_ids refused with not_joined once: after a re-join, a second refusal is final.
  const refusedNotJoined = new Set();
  // client_ids the word filter holds for a moderator (held_for_review): not sent again on this
  // connection. The next connection sends them once more, which tells their fate: held still,
  // acked (approved meanwhile) or blocked_word (rejected).
  const held = new Set();
  let lastTypingMs = -Infinity;

  function fail(clientId, code) {
    inFlight.delete(clientId);
    outbox.markFailed(clientId, code);
    timeline.markFailed(clientId, code);
  }

  /** Sends every pending outbox item not already on its way on this connection. */
  function flush() {
    if (!session.joined || !session.authenticated || session.throttled) return;
    for (const item of outbox.items()) {
      if (item.state !== "pending" || inFlight.has(item.client_id) || held.has(item.client_id)) continue;
      // A change waits for a server that speaks version 3.
      if (item.kind !== undefined && session.protocol < 3) continue;
      const event = { type: item.kind ?? ClientEventType.SEND, room, client_id: item.client_id };
      for (const field of ITEM_FIELDS) if (item[field] != null) event[field] = item[field];
      try {
        // Typed by a person (perhaps before the server lowered its limit): checked here, as the
        // socket sends what it is given.
        encodeClientEvent(event, { maxTextChars: session.maxTextChars });
        send(event);
      } catch (error) {
        if (!(error instanceof ProtocolError)) return; // not connected: the next joined retries
        fail(item.client_id, error.code);
        continue;
      }
      inFlight.add(item.client_id);
    }
  }

  // What the session tells its sender.
  const sender = {
    flush,
    /** The server stored these client_ids (here, or from another tab sharing the outbox). */
    confirmed(clientIds) {
      for (const clientId of clientIds) {
        outbox.remove(clientId);
        inFlight.delete(clientId);
        refusedNotJoined.delete(clientId);
        held.delete(clientId);
      }
    },
    /** Whatever was on its way is lost: the connection closed, or a frame was refused unread. */
    lost() {
      inFlight.clear();
      held.clear();
    },
    /**
     * The server does not count this socket in the room (not_joined, naming no client_id for a
     * send it refuses so): everything on its way goes again after the re-join; a second refusal
     * of one item is final.
     */
    notJoined(clientId) {
      inFlight.clear();
      if (clientId !== undefined && refusedNotJoined.has(clientId)) fail(clientId, ErrorCode.NOT_JOINED);
      else if (clientId !== undefined) refusedNotJoined.add(clientId);
    },
    /** An `error` naming a client_id: true when it was about an outbox item (now handled). */
    refused({ code, client_id: clientId, retry_after_secs: retryAfterSecs }) {
      if (outbox.get(clientId) === undefined) return false;
      inFlight.delete(clientId);
      if (THROTTLE_ERRORS.has(code)) session.holdFor(retryAfterSecs);
      else if (code === ErrorCode.HELD_FOR_REVIEW) {
        held.add(clientId);
        timeline.markHeld(clientId);
      } else if (outbox.get(clientId).kind !== undefined) {
        // A refused change (its window passed, the message is gone…) is not kept: the error line
        // says why (chat.js), and nothing in the list waits for it.
        if (!PASSING_SEND_ERRORS.has(code)) sender.confirmed([clientId]);
      } else if (!PASSING_SEND_ERRORS.has(code)) fail(clientId, code);
      return true;
    },
  };

  for (const item of outbox.items()) if (item.kind === undefined) timeline.addOwn(item);
  session.attachSender(sender);

  return {
    /**
     * Queues a message (kept until acked, across reloads) and sends it when joined. Throws
     * ProtocolError when the text can never be sent (empty, or over the server's limit).
     */
    submit(text, author, { replyTo } = {}) {
      encodeClientEvent({ type: ClientEventType.SEND, room, text, client_id: "check" }, { maxTextChars: session.maxTextChars });
      const item = outbox.add({ text, author, ...(replyTo !== undefined && { reply_to: replyTo }) });
      timeline.addOwn(item);
      flush();
      session.changed();
      return item;
    },

    /**
     * Queues a change to the stored message `seq` (version 3): `kind` "edit" ({ text }), "delete"
     * or "react" ({ emoji, on }). Kept and resent like a message until acked; throws ProtocolError
     * when it can never be sent (an empty or too long edit).
     */
    change(kind, seq, fields = {}) {
      encodeClientEvent({ type: kind, room, seq, client_id: "check", ...fields }, { maxTextChars: session.maxTextChars });
      const item = outbox.add({ kind, seq, ...fields });
      flush();
      return item;
    },

    retry(clientId) {
      refusedNotJoined.delete(clientId);
      outbox.markPending(clientId);
      timeline.markPending(clientId);
      flush();
      session.changed();
    },

    discard(clientId) {
      outbox.remove(clientId);
      timeline.discard(clientId);
      session.changed();
    },

    /**
     * The visitor is typing: tells the room, at most once per `typing_interval_secs` (the server
     * drops the extra ones anyway; not sending them spares the frame rate limit).
     */
    notifyTyping() {
      if (!session.joined || !session.authenticated || now() - lastTypingMs < session.typingIntervalMs) return;
      try {
        send({ type: ClientEventType.TYPING, room });
        lastTypingMs = now();
      } catch {
        // Not connected (or refused): a typing notice is not worth an error.
      }
    },
  };
}
