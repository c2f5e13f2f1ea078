// One widget's conversation with the server about its room, without DOM: authenticates (the first
// frame of every connection), joins (and re-joins with `after_seq` to resume or fill a gap),
// applies what the server says to the timeline, and keeps the room's presence and state. Sending
// (the outbox) is its sender's (sender.js, in the write chunk), plugged in when the visitor writes.
// chat.js feeds it the socket's events and draws the timeline; the property test
// (tests/js/delivery.property.test.js) drives it against a model server.

import * as ErrorCode from "./error-codes.js";
import { ClientEventType, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, ProtocolError, ServerEventType } from "./protocol.js";

// A throttle refusal without retry_after_secs (an older server) waits this long.
const DEFAULT_RETRY_AFTER_SECS = 1;
// The token was refused: the socket stays open for another `auth` with a new one.
const TOKEN_ERRORS = new Set([ErrorCode.BAD_TOKEN, ErrorCode.TOKEN_EXPIRED]);
// Live messages posted on different backend processes can arrive out of seq order, the missing one
// a few milliseconds late. A gap is filled (a re-join) only if it is still open after this long,
// so a big room does not re-join all at once at every reordering.
export const GAP_GRACE_MS = 1500;

/**
 * send(event) is the socket's: it throws ProtocolError (invalid event) or anything else (not
 * connected). `token` is the identity's token (null until there is one: see setToken).
 *
 * onChange({ prepended }) is told the view, the presence or the room state changed;
 * onError(code, { room, clientId, retryAfterSecs }) about every refusal; onProtocolMismatch() when
 * the server speaks another protocol version; onAuthenticated({ name, visitor, staff, tag, muted }) and
 * onToken({ token, expires_in_secs }) about the identity; onTokenRefused(code) when a new token is
 * needed (bad_token, token_expired): answer with setToken(); onTyping and onModerated get those
 * events as they are. A session only reads until a sender is attached (sender.js attachSender).
 */
export function createRoomSession({
  room,
  timeline,
  send,
  token: initialToken = null,
  onChange = () => {},
  onError = () => {},
  onProtocolMismatch = () => {},
  onAuthenticated = () => {},
  onToken = () => {},
  onTokenRefused = () => {},
  onTyping = () => {},
  onModerated = () => {},
  setTimeout = globalThis.setTimeout.bind(globalThis),
  clearTimeout = globalThis.clearTimeout.bind(globalThis),
  now = Date.now,
}) {
  let token = initialToken;
  let identity = null; // { name, visitor, staff } from `authenticated`
  let maxTextChars;
  let typingIntervalMs;
  let ready = false;
  // The version this socket speaks (`ready.protocol`), and version 3's `ready` settings.
  let protocol = 0;
  let settings = {};
  // The server lets this socket read (join, load older pages) before `auth`: `ready`'s
  // read_without_auth. A visitor without a name reads so; sending needs `auth`.
  let readsWithoutAuth = false;
  let authPending = false;
  let authenticated = false;
  let joined = false;
  let joinPending = false;
  let olderBefore = null;
  let presence = null; // { online_count, people }
  let roomState = { locked: false, slow_mode_secs: 0 };
  // While a throttle holds, nothing is sent; the timer sends what waits.
  let throttleTimer = null;
  let throttledUntilMs = 0;
  let gapTimer = null;
  // The outbox's sender (sender.js attachSender), once the visitor writes.
  let sender = null;

  function trySend(event) {
    try {
      send(event);
      return true;
    } catch (error) {
      if (error instanceof ProtocolError) onError(error.code, { room });
      return false;
    }
  }

  function authenticate() {
    if (!ready || authenticated || authPending || token === null) return;
    authPending = trySend({ type: ClientEventType.AUTH, token });
  }

  function join() {
    // Not held by a throttle: joining is how the visitor reads, and slow mode can last minutes.
    if (!(authenticated || (readsWithoutAuth && token === null && !authPending)) || joinPending) return;
    const event = { type: ClientEventType.JOIN, room, after_seq: timeline.resumeAfter };
    if (protocol > 2) Object.assign(event, timeline.resumeChanges);
    if (trySend(event)) {
      joinPending = true;
      timeline.expectJoined();
    }
  }

  function confirmSent({ gap, sent }) {
    sender?.confirmed(sent);
    if (gap) fillGapSoon();
  }

  function fillGapSoon() {
    if (gapTimer !== null) return;
    gapTimer = setTimeout(() => {
      gapTimer = null;
      if (timeline.hasGap()) join();
    }, GAP_GRACE_MS);
  }

  /** A throttle refused something: send nothing more until it has passed, then join and flush. */
  function holdFor(retryAfterSecs = DEFAULT_RETRY_AFTER_SECS) {
    throttledUntilMs = Math.max(throttledUntilMs, now() + retryAfterSecs * 1000);
    if (throttleTimer !== null) clearTimeout(throttleTimer);
    throttleTimer = setTimeout(() => {
      throttleTimer = null;
      if (!joined) join();
      sender?.flush();
    }, Math.max(0, throttledUntilMs - now()));
  }

  function handleError(event) {
    const clientId = event.client_id;
    if (TOKEN_ERRORS.has(event.code)) {
      authPending = false;
      token = null; // not worth presenting again
      onTokenRefused(event.code);
    } else if (event.code === ErrorCode.NOT_JOINED && event.room === room) {
      // The server does not count this socket in the room: join again (the sender sends what was
      // on its way again after `joined`).
      joined = false;
      olderBefore = null;
      sender?.notJoined(clientId);
      join();
    } else if (!(clientId !== undefined && sender?.refused(event))) {
      if (event.code === ErrorCode.RATE_LIMITED) {
        // The per-socket frame limit refuses a frame unread, so it may name no client_id: any
        // send on its way may be lost, and goes again once the limit has passed.
        sender?.lost();
        holdFor(event.retry_after_secs);
      }
      if (event.room === room) {
        // The answer to a join or load_older: it will not come.
        if (joinPending) {
          joinPending = false;
          confirmSent(timeline.abortJoin());
        }
        olderBefore = null;
      }
    }
    onError(event.code, { room: event.room, clientId, retryAfterSecs: event.retry_after_secs });
  }

  function handleEvent(event) {
    switch (event.type) {
      case ServerEventType.READY:
        // The server answers the lower of its version and the one asked for.
        if (event.protocol > PROTOCOL_VERSION || event.protocol < MIN_PROTOCOL_VERSION) {
          onProtocolMismatch();
          return;
        }
        ready = true;
        protocol = event.protocol;
        settings = event;
        readsWithoutAuth = event.read_without_auth === true;
        maxTextChars = event.max_text_chars;
        typingIntervalMs = event.typing_interval_secs * 1000;
        authenticate();
        join(); // reading without a name, where the server allows it
        return;
      case ServerEventType.AUTHENTICATED:
        authenticated = true;
        authPending = false;
        identity = { name: event.name, visitor: event.visitor, staff: event.staff, tag: event.tag };
        onAuthenticated({ ...identity, muted: event.muted ?? null });
        // A socket that already reads the room enters its presence with `auth`: no new join.
        if (joined) sender?.flush();
        else join();
        break;
      case ServerEventType.TOKEN:
        token = event.token;
        onToken(event);
        return;
      case ServerEventType.JOINED:
        if (event.room !== room) return;
        joined = true;
        joinPending = false;
        roomState = { locked: event.locked, slow_mode_secs: event.slow_mode_secs };
        presence = event.presence;
        confirmSent(timeline.applyJoined(event));
        sender?.flush();
        break;
      case ServerEventType.LEFT:
        if (event.room !== room) return;
        joined = false;
        break;
      case ServerEventType.MESSAGE:
        if (event.room !== room) return;
        confirmSent(timeline.applyMessage(event));
        // An item another tab of this room wrote (the outbox is shared) is stored too.
        if (event.client_id !== null) sender?.confirmed([event.client_id]);
        break;
      case ServerEventType.DELETED:
        if (event.room !== room) return;
        confirmSent(timeline.applyDeleted(event));
        break;
      case ServerEventType.CHANGED:
        if (event.room !== room) return;
        confirmSent(timeline.applyChanged(event));
        break;
      case ServerEventType.ACK:
        if (event.room !== room) return;
        confirmSent(timeline.applyAck(event));
        sender?.confirmed([event.client_id]);
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
      case ServerEventType.PRESENCE:
        if (event.room !== room) return;
        presence = { online_count: event.online_count, people: event.people };
        break;
      case ServerEventType.TYPING:
        if (event.room === room) onTyping(event);
        return;
      case ServerEventType.ROOM_STATE:
        if (event.room !== room) return;
        roomState = { locked: event.locked, slow_mode_secs: event.slow_mode_secs };
        break;
      case ServerEventType.MODERATED:
        onModerated(event);
        return;
      case ServerEventType.PONG:
        if (joined && Object.hasOwn(event.rooms, room) && timeline.isBehind(event.rooms[room], event.revs?.[room])) fillGapSoon();
        sender?.flush(); // items a server_error left pending
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
    readsWithoutAuth = false;
    authPending = false;
    authenticated = false;
    joined = false;
    joinPending = false;
    olderBefore = null;
    presence = null;
    sender?.lost();
    if (wasJoining) confirmSent(timeline.abortJoin());
  }

  /**
   * The identity's (new) token: authenticates when the connection waits for one. A token for
   * another identity (a new name) needs a new connection: a socket authenticates once.
   */
  function setToken(newToken) {
    token = newToken;
    authenticate();
  }

  /** Asks for the page before the first message shown; false when there is none or one is on its way. */
  function loadOlder() {
    const before = timeline.olderBefore;
    if (!joined || before === null || olderBefore !== null) return false;
    if (!trySend({ type: ClientEventType.LOAD_OLDER, room, before_seq: before })) return false;
    olderBefore = before;
    return true;
  }

  /** Stops the timers (the widget is closed). */
  function close() {
    for (const timer of [throttleTimer, gapTimer]) if (timer !== null) clearTimeout(timer);
    throttleTimer = gapTimer = null;
  }

  return {
    handleEvent,
    disconnected,
    setToken,
    loadOlder,
    holdFor,
    close,
    /** Plugs in the outbox's sender (sender.js attachSender); sends what it holds when it can. */
    attachSender(newSender) {
      sender = newSender;
      sender.flush();
      onChange({ prepended: false });
    },
    /** Something outside the session (the sender) changed the timeline. */
    changed() {
      onChange({ prepended: false });
    },
    get joined() {
      return joined;
    },
    get authenticated() {
      return authenticated;
    },
    /** An `auth` is on its way, unanswered. */
    get authenticating() {
      return authPending;
    },
    /** { name, visitor, staff } of the authenticated identity, or null. */
    get identity() {
      return identity;
    },
    get maxTextChars() {
      return maxTextChars;
    },
    /** The protocol version of this connection (0 before `ready`): 3 edits, reacts and replies. */
    get protocol() {
      return protocol;
    },
    /** The last `ready` (version 3: reaction_emoji, edit_window_secs). */
    get settings() {
      return settings;
    },
    get typingIntervalMs() {
      return typingIntervalMs;
    },
    /** A throttle holds: nothing is sent until it has passed (holdFor). */
    get throttled() {
      return throttleTimer !== null;
    },
    get loadingOlder() {
      return olderBefore !== null;
    },
    /** The room's { online_count, people } while joined, else null. */
    get presence() {
      return presence;
    },
    get roomState() {
      return roomState;
    },
  };
}
