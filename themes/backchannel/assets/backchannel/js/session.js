// One widget's conversation with the server about its room, without DOM: joins (and re-joins
// with `after_seq` to resume or fill a gap), sends the outbox, applies what the server says to the
// timeline. chat.js feeds it the socket's events and draws the timeline; the property test
// (tests/js/delivery.property.test.js) drives it against a model server.

import {
  ClientEventType,
  ErrorCode,
  PROTOCOL_VERSION,
  ProtocolError,
  ServerEventType,
  encodeClientEvent,
} from "./protocol.js";

// Refusals of a `send` that can go away by themselves: the item stays pending and is sent again.
const PASSING_SEND_ERRORS = new Set([ErrorCode.SERVER_ERROR]);

/**
 * send(event) is the socket's: it throws ProtocolError (invalid event) or anything else (not
 * connected). onChange({ prepended }) is told the view changed; onError(code, { room, clientId })
 * about every refusal; onProtocolMismatch() when the server speaks another protocol version.
 */
export function createRoomSession({
  room,
  timeline,
  outbox,
  send,
  onChange = () => {},
  onError = () => {},
  onProtocolMismatch = () => {},
}) {
  let name = null;
  let maxTextChars;
  let ready = false;
  let joined = false;
  let joinPending = false;
  let leavePending = false;
  let rejoinAfterLeave = false;
  let olderBefore = null;
  // client_ids sent on this connection and not answered yet: never two sends of one item at once.
  const inFlight = new Set();
  // client_ids refused with not_joined once: after a re-join, a second refusal is final.
  const refusedNotJoined = new Set();

  for (const item of outbox.items()) timeline.addOwn(item);

  function trySend(event) {
    try {
      send(event);
      return true;
    } catch (error) {
      if (error instanceof ProtocolError) onError(error.code, { room });
      return false;
    }
  }

  function join() {
    if (!ready || name === null || joinPending || leavePending) return;
    const event = { type: ClientEventType.JOIN, room, name, after_seq: timeline.resumeAfter };
    if (trySend(event)) {
      joinPending = true;
      timeline.expectJoined();
    }
  }

  function confirmSent({ gap, sent }) {
    for (const clientId of sent) {
      outbox.remove(clientId);
      inFlight.delete(clientId);
      refusedNotJoined.delete(clientId);
    }
    if (gap) join();
  }

  function fail(clientId, code) {
    inFlight.delete(clientId);
    outbox.markFailed(clientId, code);
    timeline.markFailed(clientId, code);
  }

  /** Sends every pending outbox item not already on its way on this connection. */
  function flush() {
    if (!joined) return;
    for (const item of outbox.items()) {
      if (item.state !== "pending" || inFlight.has(item.client_id)) continue;
      const event = { type: ClientEventType.SEND, room, text: item.text, client_id: item.client_id };
      try {
        send(event);
      } catch (error) {
        if (!(error instanceof ProtocolError)) return; // not connected: the next joined retries
        fail(item.client_id, error.code);
        continue;
      }
      inFlight.add(item.client_id);
    }
  }

  function handleError(event) {
    const clientId = event.client_id;
    if (event.code === ErrorCode.NOT_JOINED && event.room === room) {
      // The server does not count this socket in the room (it names no client_id for a send it
      // refuses so). Join again; everything on its way was refused too and goes again after
      // `joined`. A second refusal of one item after that is final.
      joined = false;
      inFlight.clear();
      olderBefore = null;
      if (clientId !== undefined && refusedNotJoined.has(clientId)) fail(clientId, event.code);
      else if (clientId !== undefined) refusedNotJoined.add(clientId);
      if (leavePending) left();
      else join();
    } else if (clientId !== undefined && outbox.get(clientId) !== undefined) {
      inFlight.delete(clientId);
      // server_error: stays pending; the next pong or joined sends it again.
      if (!PASSING_SEND_ERRORS.has(event.code)) fail(clientId, event.code);
    } else if (event.room === room) {
      // The answer to a join, leave or load_older: it will not come.
      if (joinPending) {
        joinPending = false;
        confirmSent(timeline.abortJoin());
      }
      if (leavePending) left();
      olderBefore = null;
    }
    onError(event.code, { room: event.room, clientId });
  }

  function left() {
    joined = false;
    leavePending = false;
    if (rejoinAfterLeave) {
      rejoinAfterLeave = false;
      join();
    }
  }

  function handleEvent(event) {
    switch (event.type) {
      case ServerEventType.READY:
        if (event.protocol !== PROTOCOL_VERSION) {
          onProtocolMismatch();
          return;
        }
        ready = true;
        maxTextChars = event.max_text_chars;
        join();
        return;
      case ServerEventType.JOINED:
        if (event.room !== room) return;
        // The answer to a join sent before a leave: the leave comes after it, so not joined.
        joined = !leavePending;
        joinPending = false;
        name = event.name;
        confirmSent(timeline.applyJoined(event));
        flush();
        break;
      case ServerEventType.LEFT:
        if (event.room !== room) return;
        left();
        break;
      case ServerEventType.MESSAGE:
        if (event.room !== room) return;
        confirmSent(timeline.applyMessage(event));
        // An item another tab of this room wrote (the outbox is shared) is stored too.
        if (event.client_id !== null && outbox.get(event.client_id) !== undefined) {
          confirmSent({ gap: false, sent: [event.client_id] });
        }
        break;
      case ServerEventType.ACK:
        if (event.room !== room) return;
        confirmSent(timeline.applyAck(event));
        confirmSent({ gap: false, sent: [event.client_id] });
        break;
      case ServerEventType.OLDER: {
        if (event.room !== room) return;
        const before = olderBefore;
        olderBefore = null;
        const result = timeline.applyOlder(event, before);
        confirmSent(result);
        onChange({ prepended: result.added > 0 });
        return;
      }
      case ServerEventType.PONG:
        if (joined && Object.hasOwn(event.rooms, room) && timeline.isBehind(event.rooms[room])) join();
        flush(); // items a server_error left pending
        return;
      case ServerEventType.ERROR:
        handleError(event);
        break;
      default:
        throw new Error(`backchannel: unhandled server event type ${event.type}`);
    }
    onChange({ prepended: false });
  }

  /** The socket closed or is not open yet: everything per-connection starts over. */
  function disconnected() {
    const wasJoining = joinPending;
    ready = false;
    joined = false;
    joinPending = false;
    leavePending = false;
    rejoinAfterLeave = false;
    olderBefore = null;
    inFlight.clear();
    if (wasJoining) confirmSent(timeline.abortJoin());
  }

  /** Chooses (or changes) the display name: joins, or leaves and joins again under it. */
  function setName(newName) {
    const changed = newName !== name;
    name = newName;
    if (joined && changed) {
      rejoinAfterLeave = trySend({ type: ClientEventType.LEAVE, room });
      leavePending = rejoinAfterLeave;
      // Nothing goes out until the join under the new name: a send now would be not_joined.
      if (leavePending) joined = false;
    } else {
      join();
    }
  }

  /**
   * Queues a message (kept until acked, across reloads) and sends it when joined. Throws
   * ProtocolError when the text can never be sent (empty, or over the server's limit).
   */
  function submit(text, author) {
    encodeClientEvent({ type: ClientEventType.SEND, room, text, client_id: "check" }, { maxTextChars });
    const item = outbox.add(text, author);
    timeline.addOwn(item);
    flush();
    onChange({ prepended: false });
    return item;
  }

  function retry(clientId) {
    refusedNotJoined.delete(clientId);
    outbox.markPending(clientId);
    timeline.markPending(clientId);
    flush();
    onChange({ prepended: false });
  }

  function discard(clientId) {
    outbox.remove(clientId);
    timeline.discard(clientId);
    onChange({ prepended: false });
  }

  /** Asks for the page before the first message shown; false when there is none or one is on its way. */
  function loadOlder() {
    const before = timeline.olderBefore;
    if (!joined || before === null || olderBefore !== null) return false;
    if (!trySend({ type: ClientEventType.LOAD_OLDER, room, before_seq: before })) return false;
    olderBefore = before;
    return true;
  }

  return {
    handleEvent,
    disconnected,
    setName,
    submit,
    retry,
    discard,
    loadOlder,
    get joined() {
      return joined;
    },
    get name() {
      return name;
    },
    get maxTextChars() {
      return maxTextChars;
    },
    get loadingOlder() {
      return olderBefore !== null;
    },
  };
}
