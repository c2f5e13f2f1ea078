// A model of the backend's protocol (ARCHITECTURE.md "Wire protocol", "Delivery guarantees") for
// the node tests: auth first, a log per room, idempotent sends, resume from after_seq, older pages,
// pongs, tombstones of deleted messages, locked rooms. It speaks JSON text frames, so the client's
// real encoder and decoder run too.
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

export function createModelServer({
  historyLimit = 50,
  resumeLimit = 500,
  maxTextChars = 2000,
  maxRooms = 5,
  typingIntervalSecs = 3,
  shouldFailSend = () => false,
} = {}) {
  const rooms = new Map();
  const connections = new Set();
  let clock = Date.UTC(2024, 4, 1);

  function roomLog(name) {
    if (!rooms.has(name)) rooms.set(name, { log: [], byClientId: new Map(), locked: false });
    return rooms.get(name);
  }

  // Encoded once, published to every socket of the room, through the (lossy) layer.
  function publish(roomName, event, except = null) {
    const frame = JSON.stringify(event);
    for (const connection of connections) {
      if (connection !== except && connection.subscribed.has(roomName)) connection.layer.push(frame);
    }
  }

  function store(roomName, author, text, clientId, { staff = false } = {}) {
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
    };
    room.log.push(message);
    room.byClientId.set(clientId, message);
    publish(roomName, message);
    return message;
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

  function answer(connection, event) {
    const reply = (frame) => connection.stream.push(JSON.stringify(frame));
    if (event.type !== "auth" && connection.identity === null) {
      reply(error("not_authenticated"));
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
        const { log, locked } = roomLog(event.room);
        const after = event.after_seq;
        const resumed = after !== undefined && after <= log.length && log.length - after <= resumeLimit;
        const history = resumed ? log.slice(after) : log.slice(Math.max(0, log.length - historyLimit));
        reply({
          type: "joined",
          room: event.room,
          latest_seq: log.length,
          resumed,
          history,
          has_older: history.length > 0 ? history[0].seq > 1 : log.length > 0,
          locked,
          slow_mode_secs: 0,
          presence: presenceOf(event.room),
        });
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
          reply(known); // the stored copy, to the sender only
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
        const message = store(event.room, connection.identity.name, event.text, event.client_id, {
          staff: connection.identity.staff,
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
          messages,
          has_older: messages.length > 0 && messages[0].seq > 1,
        });
        return;
      }
      case "ping": {
        const latest = {};
        for (const room of connection.joined.keys()) {
          latest[room] = latestSeq(room);
          connection.subscribed.add(room); // renews group memberships a layer restart forgot
        }
        reply({ type: "pong", rooms: latest });
        return;
      }
      default:
        reply(error("unknown_type"));
    }
  }

  return {
    rooms,

    log(roomName) {
      return roomLog(roomName).log;
    },

    /** Someone else posts (through another socket that is not modelled). */
    post(roomName, author, text, clientId) {
      return store(roomName, author, text, clientId);
    },

    /** A moderator deletes a message: a tombstone in the log, `deleted` to the room. */
    deleteMessage(roomName, seq) {
      const room = roomLog(roomName);
      const tombstone = { ...room.log[seq - 1], author: "", text: "", deleted: true };
      room.log[seq - 1] = tombstone;
      room.byClientId.set(tombstone.client_id, tombstone);
      publish(roomName, { type: "deleted", room: roomName, seq });
    },

    /** A moderator locks or unlocks a room. */
    lock(roomName, locked) {
      roomLog(roomName).locked = locked;
      publish(roomName, { type: "room_state", room: roomName, locked, slow_mode_secs: 0 });
    },

    connect() {
      const connection = {
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
      connection.stream.push(
        JSON.stringify({
          type: "ready",
          protocol: 2,
          max_text_chars: maxTextChars,
          max_rooms: maxRooms,
          history_limit: historyLimit,
          resume_limit: resumeLimit,
          auth_timeout_secs: 5,
          typing_interval_secs: typingIntervalSecs,
        }),
      );
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
  // Every frame in order, both ways: { epoch, out: event } or { epoch, in: event }.
  const wire = [];

  const page = {
    // The identity's token, as localStorage would keep it across reloads.
    token,
    connection: () => connection,
    sent,
    errors,
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
      connection = server.connect();
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
      const event = decodeServerEvent(connection.stream.shift());
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
