// A model of the backend's protocol (ARCHITECTURE.md "Wire protocol", "Delivery guarantees",
// "Protocol version 3: mutations in the log") for the node tests: auth first, a log per room,
// idempotent sends, resume from after_seq, older pages, pongs, tombstones of deleted messages,
// locked rooms. It speaks JSON text frames, so the client's real encoder and decoder run too.
//
// The version is negotiated per connection, as the backend's consumer does: `connect(url)` with
// `?protocol=3` (at most `maxProtocol`) speaks version 3, anything else exactly version 2. Version
// 3 (backend/chat/changes.py, selectors.py, consumers.py) adds the room's `rev` log: `edit`,
// `delete` and `react` (idempotent per client_id; a change that changes nothing is acked with the
// message's own rev and its state goes to the sender only), `changed` to version-3 sockets and
// `deleted` to version 2, messages in their current state (rev, edited, reply_to, reactions),
// `joined.latest_rev` and a resume's `changes`, and `pong.revs`. A deletion also blanks the quote
// of every reply to it, under the same rev, with a `changed` each.
//
// Tokens are the identity's name, except "expired:<name>" (token_expired), "bad:<anything>"
// (bad_token) and "banned:<name>" (error banned, then the connection closes with 4003). A name
// starting with "staff" is staff.
//
// A connection has two ways down: `stream`, the socket itself (ordered, lossless while the
// connection lives), and `layer`, the channel layer's live broadcasts, which a test may drop,
// duplicate or deliver late (`flushLayer`). Every direct answer goes straight into `stream`.

import { createOutbox } from "../../themes/backchannel/assets/backchannel/js/outbox.js";
import { decodeServerEvent, encodeClientEvent } from "../../themes/backchannel/assets/backchannel/js/protocol.js";
import { createFakeTimers, createWritingSession } from "./support.js";
import { createTimeline } from "../../themes/backchannel/assets/backchannel/js/timeline.js";

// backend/chat/protocol.py: REACTION_EMOJI, REACTION_NAMES_SHOWN, REPLY_EXCERPT_CHARS.
export const REACTION_EMOJI = ["👍", "❤️", "😂", "😮", "😢", "🎉"];
const REACTION_NAMES_SHOWN = 20;
const REPLY_EXCERPT_CHARS = 100;
const CHANGE_TYPES = new Set(["edit", "delete", "react"]);
// What version 3 adds to a message; a version-2 socket gets it without them.
const V3_MESSAGE_FIELDS = ["rev", "edited", "reply_to", "reactions"];

/** The version a socket speaks: backend/chat/protocol.py negotiated_protocol, at most maxProtocol. */
function negotiatedProtocol(url, maxProtocol) {
  const query = url.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
  for (const pair of query.split("&")) {
    const [name, value = ""] = pair.split("=");
    if (name === "protocol" && /^\d{1,3}$/.test(value)) return Math.max(2, Math.min(Number(value), maxProtocol));
  }
  return 2;
}

/** A message event as a socket of `protocol` gets it. */
export function messageFor(message, protocol) {
  if (protocol >= 3) return message;
  const v2 = { ...message };
  for (const field of V3_MESSAGE_FIELDS) delete v2[field];
  return v2;
}

/** A refusal of a change: nothing is stored, no rev is taken. */
class Refused extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

export function createModelServer({
  historyLimit = 50,
  resumeLimit = 500,
  maxTextChars = 2000,
  maxRooms = 5,
  typingIntervalSecs = 3,
  // The newest version this server speaks: 2 is a server from before version 3.
  maxProtocol = 3,
  editWindowSecs = 900,
  shouldFailSend = () => false,
  // Version 3: a change (edit, delete, react) that fails to be stored (server_error).
  shouldFailChange = () => false,
} = {}) {
  const rooms = new Map();
  const connections = new Set();
  let clock = Date.UTC(2024, 4, 1);

  function roomLog(name) {
    if (!rooms.has(name)) {
      rooms.set(name, {
        log: [],
        byClientId: new Map(),
        locked: false,
        lastRev: 0,
        // The rev log (MessageChange): { rev, seq, kind, visitor, client_id }, and its rows by
        // visitor and client_id, for idempotency.
        changes: [],
        changeByKey: new Map(),
        // seq → the Reaction rows of a message, oldest first: { emoji, visitor, name }.
        reactors: new Map(),
      });
    }
    return rooms.get(name);
  }

  // Encoded once per version, published to every socket of the room, through the (lossy) layer.
  // `eventV3` null: version-3 sockets get nothing (and `event` null: version 2 gets nothing).
  function publish(roomName, event, except = null, eventV3 = event) {
    const frames = { 2: event && JSON.stringify(event), 3: eventV3 && JSON.stringify(eventV3) };
    for (const connection of connections) {
      const frame = frames[connection.protocol];
      if (frame && connection !== except && connection.subscribed.has(roomName)) connection.layer.push(frame);
    }
  }

  function quoteOf(original) {
    if (original.deleted) return { seq: original.seq, author: "", excerpt: "", deleted: true };
    const excerpt = [...original.text].slice(0, REPLY_EXCERPT_CHARS).join("");
    return { seq: original.seq, author: original.author, excerpt, deleted: false };
  }

  function store(roomName, author, text, clientId, { staff = false, replyTo = null } = {}) {
    const room = roomLog(roomName);
    clock += 1000;
    const message = {
      type: "message",
      room: roomName,
      seq: room.log.length + 1,
      author,
      visitor: `v-${author}`,
      staff,
      text,
      sent_at: new Date(clock).toISOString(),
      client_id: clientId,
      deleted: false,
      rev: 0,
      edited: false,
      reply_to: replyTo === null ? null : quoteOf(room.log[replyTo - 1]),
      reactions: [],
    };
    room.log.push(message);
    room.byClientId.set(clientId, message);
    publish(roomName, messageFor(message, 2), null, message);
    return message;
  }

  /** The reactions a page shows: chat.changes.reaction_summary. */
  function reactionSummary(rows) {
    return REACTION_EMOJI.filter((emoji) => rows.some((row) => row.emoji === emoji)).map((emoji) => {
      const of = rows.filter((row) => row.emoji === emoji);
      const shown = of.slice(0, REACTION_NAMES_SHOWN);
      return { emoji, count: of.length, names: shown.map((row) => row.name), visitors: shown.map((row) => row.visitor) };
    });
  }

  // parts: how many `changed` carry the rev (left out when 1; 0 on a copy for the sender alone).
  const changedEvent = (roomName, message, parts = 1) => ({
    type: "changed", room: roomName, rev: message.rev, message, ...(parts !== 1 && { parts }),
  });

  /**
   * One change to message `seq` (chat.changes._change): `apply(message)` returns the new states
   * of the messages it changes (the message acted on first), or null when it changes nothing;
   * it throws Refused. `doneIfDeleted`: a deleted message is left as it is instead of refused.
   * Returns { rev, applied, message } and publishes what the room's sockets get of it.
   */
  function change(roomName, { seq, kind, visitor, clientId, apply, doneIfDeleted = false }) {
    const room = roomLog(roomName);
    const key = `${visitor} ${clientId}`;
    if (clientId !== null && room.changeByKey.has(key)) {
      const first = room.changeByKey.get(key);
      return { rev: first.rev, applied: false, message: room.log[first.seq - 1] };
    }
    const message = room.log[seq - 1];
    if (message === undefined) throw new Refused("not_found");
    if (message.deleted) {
      if (!doneIfDeleted) throw new Refused("not_found");
      return { rev: message.rev, applied: false, message };
    }
    const changed = apply(message);
    if (changed === null) return { rev: message.rev, applied: false, message };
    room.lastRev += 1;
    const rev = room.lastRev;
    const row = { rev, seq, kind, visitor, client_id: clientId };
    room.changes.push(row);
    if (clientId !== null) room.changeByKey.set(key, row);
    for (const state of changed) {
      state.rev = rev;
      room.log[state.seq - 1] = state;
      room.byClientId.set(state.client_id, state);
      // Version 2 hears of a deletion of the message acted on, and of nothing else.
      const v2 = kind === "delete" && state.seq === seq ? { type: "deleted", room: roomName, seq } : null;
      publish(roomName, v2, null, changedEvent(roomName, state, changed.length));
    }
    return { rev, applied: true, message: room.log[seq - 1] };
  }

  /** chat.changes._tombstone: the message and the replies whose quote it blanks, new states. */
  function tombstone(roomName, message) {
    const room = roomLog(roomName);
    room.reactors.delete(message.seq);
    const dead = { ...message, author: "", visitor: "", text: "", deleted: true, edited: false, reply_to: null, reactions: [] };
    const replies = room.log
      .filter((reply) => !reply.deleted && reply.reply_to?.seq === message.seq)
      .map((reply) => ({ ...reply, reply_to: { seq: message.seq, author: "", excerpt: "", deleted: true } }));
    return [dead, ...replies];
  }

  function presenceOf(roomName) {
    const people = new Map();
    for (const connection of connections) {
      if (connection.joined.has(roomName)) people.set(connection.identity.visitor, connection.identity);
    }
    const list = [...people.values()].sort((a, b) => a.name.localeCompare(b.name));
    return { online_count: list.length, people: list };
  }

  function identify(token) {
    const [kind, rest] = token.includes(":") ? token.split(/:(.*)/s) : ["ok", token];
    const name = rest;
    return { kind, identity: { name, visitor: `v-${name}`, staff: name.startsWith("staff") } };
  }

  function latestSeq(roomName) {
    return roomLog(roomName).log.length;
  }

  function error(code, fields = {}) {
    return { type: "error", code, message: code, ...fields };
  }

  /** join (selectors.catch_up): version 2 as before, version 3 with latest_rev and changes. */
  function joinAnswer(connection, event) {
    const { log, locked, lastRev } = roomLog(event.room);
    const v3 = connection.protocol >= 3;
    const after = event.after_seq;
    const afterRev = (v3 && event.after_rev) || 0;
    const firstSeq = (v3 && event.first_seq) || 1;
    let resumed = after != null && after <= log.length && log.length - after <= resumeLimit && afterRev <= lastRev;
    let changes = [];
    if (resumed && v3 && after) {
      changes = log
        .filter((message) => message.rev > afterRev && message.seq >= firstSeq && message.seq <= after)
        .sort((a, b) => a.rev - b.rev || a.seq - b.seq);
      // More than resume_limit: the client is better off replacing its view.
      if (changes.length > resumeLimit) resumed = false;
    }
    const history = resumed ? log.slice(after) : log.slice(Math.max(0, log.length - historyLimit));
    const joined = {
      type: "joined",
      room: event.room,
      latest_seq: log.length,
      resumed,
      history: history.map((message) => messageFor(message, connection.protocol)),
      has_older: history.length > 0 ? history[0].seq > 1 : log.length > 0,
      locked,
      slow_mode_secs: 0,
      presence: presenceOf(event.room),
    };
    if (v3) {
      joined.latest_rev = lastRev;
      if (resumed) joined.changes = changes;
    }
    return joined;
  }

  /** edit, delete, react from a version-3 socket (consumers.ChatConsumer.change). */
  function answerChange(connection, event, reply) {
    const { identity } = connection;
    const room = roomLog(event.room);
    const fields = { room: event.room, client_id: event.client_id };
    if (!connection.joined.has(event.room)) {
      reply(error("not_joined", fields));
      return;
    }
    const mayWrite = () => {
      if (room.locked && !identity.staff) throw new Refused("room_locked");
    };
    let result;
    try {
      if (event.type === "react" && !REACTION_EMOJI.includes(event.emoji)) throw new Refused("bad_emoji");
      if (shouldFailChange(event)) throw new Refused("server_error");
      const common = { seq: event.seq, visitor: identity.visitor, clientId: event.client_id };
      if (event.type === "edit") {
        if ([...event.text].length > maxTextChars) throw new Refused("text_too_long");
        if (!room.changeByKey.has(`${identity.visitor} ${event.client_id}`)) mayWrite();
        result = change(event.room, {
          ...common,
          kind: "edit",
          apply(message) {
            if (message.visitor !== identity.visitor) throw new Refused("not_author");
            if (clock - Date.parse(message.sent_at) > editWindowSecs * 1000) throw new Refused("edit_window_passed");
            return [{ ...message, text: event.text, edited: true }];
          },
        });
      } else if (event.type === "delete") {
        result = change(event.room, {
          ...common,
          kind: "delete",
          doneIfDeleted: true,
          apply(message) {
            if (message.visitor !== identity.visitor && !identity.staff) throw new Refused("not_author");
            return tombstone(event.room, message);
          },
        });
      } else {
        if (!room.changeByKey.has(`${identity.visitor} ${event.client_id}`)) mayWrite();
        result = change(event.room, {
          ...common,
          kind: event.on ? "react" : "unreact",
          apply(message) {
            const rows = room.reactors.get(message.seq) ?? [];
            const mine = rows.some((row) => row.emoji === event.emoji && row.visitor === identity.visitor);
            if (mine === event.on) return null;
            const now = event.on
              ? [...rows, { emoji: event.emoji, visitor: identity.visitor, name: identity.name }]
              : rows.filter((row) => !(row.emoji === event.emoji && row.visitor === identity.visitor));
            room.reactors.set(message.seq, now);
            return [{ ...message, reactions: reactionSummary(now) }];
          },
        });
      }
    } catch (refusal) {
      if (!(refusal instanceof Refused)) throw refusal;
      reply(error(refusal.code, fields));
      return;
    }
    // A repeat, or a change that changed nothing: the sender may have missed the state.
    if (!result.applied) reply(changedEvent(event.room, result.message, 0));
    reply({ type: "ack", room: event.room, client_id: event.client_id, rev: result.rev });
  }

  function answer(connection, event) {
    const reply = (frame) => connection.stream.push(JSON.stringify(frame));
    if (event.type !== "auth" && connection.identity === null) {
      reply(error("not_authenticated"));
      return;
    }
    if (CHANGE_TYPES.has(event.type)) {
      if (connection.protocol < 3) reply(error("unknown_type"));
      else answerChange(connection, event, reply);
      return;
    }
    switch (event.type) {
      case "auth": {
        if (connection.identity !== null) {
          reply(error("already_authenticated"));
          return;
        }
        const { kind, identity } = identify(event.token);
        if (kind === "expired") reply(error("token_expired"));
        else if (kind === "bad") reply(error("bad_token"));
        else if (kind === "banned") {
          reply(error("banned"));
          connection.closeCode = 4003;
          connection.open = false;
        } else {
          connection.identity = identity;
          reply({ type: "authenticated", ...identity });
        }
        return;
      }
      case "join": {
        if (!connection.joined.has(event.room) && connection.joined.size >= maxRooms) {
          reply(error("too_many_rooms", { room: event.room }));
          return;
        }
        // Subscribe before reading the log: what is posted meanwhile arrives live too.
        connection.joined.set(event.room, connection.identity.name);
        connection.subscribed.add(event.room);
        reply(joinAnswer(connection, event));
        return;
      }
      case "typing":
        if (!connection.joined.has(event.room)) reply(error("not_joined", { room: event.room }));
        else publish(event.room, { type: "typing", room: event.room, visitor: connection.identity.visitor, name: connection.identity.name }, connection);
        return;
      case "leave":
        connection.joined.delete(event.room);
        connection.subscribed.delete(event.room);
        reply({ type: "left", room: event.room });
        return;
      case "send": {
        const fields = { room: event.room, client_id: event.client_id };
        if (!connection.joined.has(event.room)) {
          reply(error("not_joined", { room: event.room })); // like the backend: no client_id
          return;
        }
        if ([...event.text].length > maxTextChars) {
          reply(error("text_too_long", fields));
          return;
        }
        const known = roomLog(event.room).byClientId.get(event.client_id);
        if (known !== undefined) {
          reply(messageFor(known, connection.protocol)); // the stored copy, to the sender only
          reply({ type: "ack", room: event.room, client_id: event.client_id, seq: known.seq });
          return;
        }
        if (roomLog(event.room).locked && !connection.identity.staff) {
          reply(error("room_locked", fields));
          return;
        }
        if (shouldFailSend(event)) {
          reply(error("server_error", fields));
          return;
        }
        // Version 2 does not read reply_to; version 3 refuses one that names no message.
        const replyTo = connection.protocol >= 3 ? (event.reply_to ?? null) : null;
        if (replyTo !== null && replyTo > latestSeq(event.room)) {
          reply(error("not_found", fields));
          return;
        }
        const message = store(event.room, connection.identity.name, event.text, event.client_id, {
          staff: connection.identity.staff,
          replyTo,
        });
        reply({ type: "ack", room: event.room, client_id: event.client_id, seq: message.seq });
        return;
      }
      case "load_older": {
        const older = roomLog(event.room).log.filter((message) => message.seq < event.before_seq);
        const messages = older.slice(Math.max(0, older.length - historyLimit));
        reply({
          type: "older",
          room: event.room,
          messages: messages.map((message) => messageFor(message, connection.protocol)),
          has_older: messages.length > 0 && messages[0].seq > 1,
        });
        return;
      }
      case "ping": {
        const latest = {};
        const revs = {};
        for (const room of connection.joined.keys()) {
          latest[room] = latestSeq(room);
          revs[room] = roomLog(room).lastRev;
          connection.subscribed.add(room); // renews group memberships a layer restart forgot
        }
        reply(connection.protocol >= 3 ? { type: "pong", rooms: latest, revs } : { type: "pong", rooms: latest });
        return;
      }
      default:
        reply(error("unknown_type"));
    }
  }

  return {
    rooms,

    /** The room's messages in their current state (version 3's fields included). */
    log(roomName) {
      return roomLog(roomName).log;
    },

    /** The room's rev log: { rev, seq, kind, visitor, client_id }, by rev. */
    changes(roomName) {
      return roomLog(roomName).changes;
    },

    lastRev(roomName) {
      return roomLog(roomName).lastRev;
    },

    /** Someone else posts (through another socket that is not modelled); `replyTo` a seq. */
    post(roomName, author, text, clientId, { replyTo = null } = {}) {
      return store(roomName, author, text, clientId, { replyTo });
    },

    /**
     * A moderator deletes a message from the admin (changes.moderator_delete): a tombstone in the
     * log under the room's next rev, the replies' quotes blanked; `deleted` to version 2,
     * `changed` (each message) to version 3. A deleted message stays as it is.
     */
    deleteMessage(roomName, seq, by = "admin") {
      return change(roomName, {
        seq,
        kind: "delete",
        visitor: "",
        clientId: null,
        doneIfDeleted: true,
        apply: (message) => tombstone(roomName, message),
      }).applied;
    },

    /** A moderator locks or unlocks a room. */
    lock(roomName, locked) {
      roomLog(roomName).locked = locked;
      publish(roomName, { type: "room_state", room: roomName, locked, slow_mode_secs: 0 });
    },

    /** The server's clock moves on (edit windows pass). */
    tick(ms) {
      clock += ms;
    },

    /** A socket opens on `url` (`/ws/?protocol=3` asks for version 3); `ready` is its first frame. */
    connect(url = "/ws/") {
      const protocol = negotiatedProtocol(url, maxProtocol);
      const connection = {
        protocol,
        identity: null,
        closeCode: null,
        joined: new Map(),
        subscribed: new Set(),
        stream: [],
        layer: [],
        open: true,
        /** The client wrote a frame: the server handles it at once, in order. */
        receive(text) {
          if (connection.open) answer(connection, JSON.parse(text));
        },
        /** Moves live frames from the layer into the stream; `fate` decides each one's lot. */
        flushLayer(fate = () => "deliver") {
          const kept = [];
          for (const frame of connection.layer) {
            const lot = fate(frame);
            if (lot === "deliver") connection.stream.push(frame);
            else if (lot === "duplicate") connection.stream.push(frame, frame);
            else if (lot === "later") kept.push(frame);
            // "drop": lost, as the at-most-once layer may
          }
          connection.layer = kept;
        },
        /** A channel-layer restart: every group membership is forgotten until the next ping. */
        forgetGroups() {
          connection.subscribed.clear();
        },
        close() {
          connection.open = false;
          connection.stream = [];
          connection.layer = [];
          connections.delete(connection);
        },
      };
      connections.add(connection);
      const ready = {
        type: "ready",
        protocol,
        max_text_chars: maxTextChars,
        max_rooms: maxRooms,
        history_limit: historyLimit,
        resume_limit: resumeLimit,
        auth_timeout_secs: 5,
        typing_interval_secs: typingIntervalSecs,
      };
      if (protocol >= 3) Object.assign(ready, { reaction_emoji: REACTION_EMOJI, edit_window_secs: editWindowSecs });
      connection.stream.push(JSON.stringify(ready));
      return connection;
    },
  };
}

/**
 * One page (widget) talking to a model server: the real session, timeline, outbox, encoder and
 * decoder, with the socket replaced by explicit steps. Frames the client writes wait in `uplink`
 * until `pump()` (a connection can die with frames still on their way); `deliver()` hands the
 * client the next frame of the stream.
 */
export function createModelClient({
  server,
  storage,
  room = "lobby",
  newClientId,
  token = null,
  // The version the page asks for (`/ws/?protocol=3`, as chat.js does); undefined: it asks for
  // none, as a version-2 widget.
  protocol,
  onError = () => {},
  onTokenRefused = () => {},
}) {
  let connection = null;
  let uplink = [];
  let maxTextChars;
  // Every connection gets a new epoch; the logs say on which one a frame went or came.
  let epoch = 0;
  const sent = [];
  const errors = [];
  // Frames the decoder refused: dropped, as socket.js drops them (onDecodeError).
  const decodeErrors = [];
  // Every frame in order, both ways: { epoch, out: event } or { epoch, in: event }.
  const wire = [];

  const page = {
    // The identity's token, as localStorage would keep it across reloads.
    token,
    connection: () => connection,
    sent,
    errors,
    decodeErrors,
    wire,
    uplink: () => uplink,
    // The session's clock (gap grace, throttles): settle() runs what falls due once all is quiet.
    timers: createFakeTimers(),
    session: null,
    timeline: null,
    outbox: null,
  };

  function open() {
    page.timeline = createTimeline();
    page.outbox = createOutbox({ room, storage, newClientId });
    page.session = createWritingSession({
      room,
      timeline: page.timeline,
      outbox: page.outbox,
      token: page.token,
      onToken: (event) => {
        page.token = event.token;
      },
      onTokenRefused: (code) => onTokenRefused(code, page),
      setTimeout: page.timers.setTimeout,
      clearTimeout: page.timers.clearTimeout,
      now: page.timers.now,
      send(event) {
        const frame = encodeClientEvent(event, { maxTextChars });
        if (connection === null) throw new Error("not connected");
        sent.push(event);
        wire.push({ epoch, out: event });
        uplink.push(frame);
      },
      onError: (code, details) => {
        errors.push(code);
        onError(code, details);
      },
    });
  }

  Object.assign(page, {
    connect() {
      epoch += 1;
      connection = server.connect(protocol === undefined ? "/ws/" : `/ws/?protocol=${protocol}`);
    },
    disconnect() {
      if (connection === null) return;
      connection.close();
      connection = null;
      uplink = [];
      maxTextChars = undefined;
      page.session.disconnected();
    },
    /** A new token for the identity (a renewal): kept for reloads, handed to the session. */
    setToken(newToken) {
      page.token = newToken;
      page.session.setToken(newToken);
    },
    /** The tab is closed and opened again: a new page on the same storage. */
    reload() {
      page.disconnect();
      open();
    },
    /** The server handles the frames written so far. */
    pump() {
      const frames = uplink;
      uplink = [];
      for (const frame of frames) connection?.receive(frame);
    },
    /** Hands the client the next frame of the stream; false when there is none. */
    deliver() {
      if (connection === null || connection.stream.length === 0) return false;
      const frame = connection.stream.shift();
      let event;
      try {
        event = decodeServerEvent(frame);
      } catch (error) {
        decodeErrors.push(`${error.message}: ${frame}`);
        return true;
      }
      if (event.type === "ready") maxTextChars = event.max_text_chars;
      wire.push({ epoch, in: event });
      page.session.handleEvent(event);
      return true;
    },
    /** Pumps and delivers until nothing moves, with the layer delivering everything and the
     * clock moved on past every timer the session set meanwhile. */
    settle() {
      for (let round = 0; round < 10_000; round += 1) {
        page.pump();
        connection?.flushLayer();
        if (page.deliver() || uplink.length > 0) continue;
        const delaysMs = page.timers.pendingDelaysMs();
        if (delaysMs.length === 0) return;
        page.timers.advance(Math.max(...delaysMs));
      }
      throw new Error("the client and the server never went quiet");
    },
    ping() {
      if (connection === null) return;
      uplink.push(encodeClientEvent({ type: "ping" }));
    },
    /** What the view shows: a seq for a server message, a client_id for an own message not received. */
    shown() {
      return page.timeline.entries().map((entry) => (entry.key.startsWith("s") ? entry.seq : entry.clientId));
    },
  });
  open();
  return page;
}
