// A model of the backend's protocol (ARCHITECTURE.md "Wire protocol", "Delivery guarantees") for
// the node tests: a log per room, idempotent sends, resume from after_seq, older pages, pongs. It
// speaks JSON text frames, so the client's real encoder and decoder run too.
//
// A connection has two ways down: `stream`, the socket itself (ordered, lossless while the
// connection lives), and `layer`, the channel layer's live broadcasts, which a test may drop,
// duplicate or deliver late (`flushLayer`). Every direct answer goes straight into `stream`.

import { createOutbox } from "../../themes/backchannel/assets/backchannel/js/outbox.js";
import { decodeServerEvent, encodeClientEvent } from "../../themes/backchannel/assets/backchannel/js/protocol.js";
import { createRoomSession } from "../../themes/backchannel/assets/backchannel/js/session.js";
import { createTimeline } from "../../themes/backchannel/assets/backchannel/js/timeline.js";

export function createModelServer({
  historyLimit = 50,
  resumeLimit = 500,
  maxTextChars = 2000,
  maxRooms = 5,
  shouldFailSend = () => false,
} = {}) {
  const rooms = new Map();
  const connections = new Set();
  let clock = Date.UTC(2024, 4, 1);

  function roomLog(name) {
    if (!rooms.has(name)) rooms.set(name, { log: [], byClientId: new Map() });
    return rooms.get(name);
  }

  function store(roomName, author, text, clientId) {
    const room = roomLog(roomName);
    clock += 1000;
    const message = {
      type: "message",
      room: roomName,
      seq: room.log.length + 1,
      author,
      text,
      sent_at: new Date(clock).toISOString(),
      client_id: clientId,
    };
    room.log.push(message);
    room.byClientId.set(clientId, message);
    // Encoded once, published to every socket of the room, through the (lossy) layer.
    const frame = JSON.stringify(message);
    for (const connection of connections) {
      if (connection.subscribed.has(roomName)) connection.layer.push(frame);
    }
    return message;
  }

  function latestSeq(roomName) {
    return roomLog(roomName).log.length;
  }

  function error(code, fields = {}) {
    return { type: "error", code, message: code, ...fields };
  }

  function answer(connection, event) {
    const reply = (frame) => connection.stream.push(JSON.stringify(frame));
    switch (event.type) {
      case "join": {
        if (!connection.joined.has(event.room) && connection.joined.size >= maxRooms) {
          reply(error("too_many_rooms", { room: event.room }));
          return;
        }
        // Subscribe before reading the log: what is posted meanwhile arrives live too.
        connection.joined.set(event.room, event.name);
        connection.subscribed.add(event.room);
        const { log } = roomLog(event.room);
        const after = event.after_seq;
        const resumed = after !== undefined && after <= log.length && log.length - after <= resumeLimit;
        const history = resumed ? log.slice(after) : log.slice(Math.max(0, log.length - historyLimit));
        reply({
          type: "joined",
          room: event.room,
          name: event.name,
          latest_seq: log.length,
          resumed,
          history,
          has_older: history.length > 0 ? history[0].seq > 1 : log.length > 0,
        });
        return;
      }
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
        if (shouldFailSend(event)) {
          reply(error("server_error", fields));
          return;
        }
        const message = store(event.room, connection.joined.get(event.room), event.text, event.client_id);
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

    connect() {
      const connection = {
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
          protocol: 1,
          max_text_chars: maxTextChars,
          max_rooms: maxRooms,
          history_limit: historyLimit,
          resume_limit: resumeLimit,
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
export function createModelClient({ server, storage, room = "lobby", newClientId, onError = () => {} }) {
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
    connection: () => connection,
    sent,
    errors,
    wire,
    uplink: () => uplink,
    session: null,
    timeline: null,
    outbox: null,
  };

  function open() {
    page.timeline = createTimeline();
    page.outbox = createOutbox({ room, storage, newClientId });
    page.session = createRoomSession({
      room,
      timeline: page.timeline,
      outbox: page.outbox,
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
    /** Pumps and delivers until nothing moves, with the layer delivering everything. */
    settle() {
      for (let round = 0; round < 10_000; round += 1) {
        page.pump();
        connection?.flushLayer();
        if (!page.deliver() && uplink.length === 0) return;
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
