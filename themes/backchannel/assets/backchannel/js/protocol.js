// Wire protocol version 1 (ARCHITECTURE.md "Wire protocol"); mirrors backend/chat/protocol.py.
// Every frame is a JSON object with a string `type`. Unknown fields are ignored in both
// directions: the encoder only writes the fields it knows, the decoder only returns them.

import {
  countCharacters,
  isValidDisplayName,
  isValidRoomName,
  normalizeDisplayName,
} from "./rooms.js";

export { DISPLAY_NAME_MAX_CHARS, ROOM_NAME_MAX_CHARS } from "./rooms.js";

export const PROTOCOL_VERSION = 1;

export const CLIENT_ID_MAX_CHARS = 64;
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const ClientEventType = Object.freeze({
  JOIN: "join",
  LEAVE: "leave",
  SEND: "send",
  LOAD_OLDER: "load_older",
  PING: "ping",
});

export const ServerEventType = Object.freeze({
  READY: "ready",
  JOINED: "joined",
  LEFT: "left",
  MESSAGE: "message",
  ACK: "ack",
  OLDER: "older",
  PONG: "pong",
  ERROR: "error",
});

export const ErrorCode = Object.freeze({
  BINARY_FRAME: "binary_frame",
  FRAME_TOO_LARGE: "frame_too_large",
  BAD_JSON: "bad_json",
  BAD_EVENT: "bad_event",
  UNKNOWN_TYPE: "unknown_type",
  BAD_FIELD: "bad_field",
  INVALID_ROOM: "invalid_room",
  INVALID_NAME: "invalid_name",
  TEXT_EMPTY: "text_empty",
  TEXT_TOO_LONG: "text_too_long",
  NOT_JOINED: "not_joined",
  TOO_MANY_ROOMS: "too_many_rooms",
  SERVER_ERROR: "server_error",
});

/**
 * A frame that breaks the protocol, in either direction. `code` is one of ErrorCode, the same
 * code the server would answer with, so the UI can show the same translated message.
 */
export class ProtocolError extends Error {
  constructor(code, message, { field } = {}) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.field = field;
  }
}

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isPositiveInteger(value) {
  return Number.isSafeInteger(value) && value >= 1;
}

function isCount(value) {
  return Number.isSafeInteger(value) && value >= 0;
}

const isBoolean = (value) => typeof value === "boolean";
const isClientId = (value) => typeof value === "string" && CLIENT_ID_PATTERN.test(value);
const CLIENT_ID_RULE = `1 to ${CLIENT_ID_MAX_CHARS} of A-Z, a-z, 0-9, "_" and "-"`;

function requireField(event, field, isValid, expected) {
  const value = event[field];
  if (!isValid(value)) {
    throw new ProtocolError(ErrorCode.BAD_FIELD, `${event.type}.${field} must be ${expected}`, {
      field,
    });
  }
  return value;
}

const isString = (value) => typeof value === "string";

function requireRoom(event) {
  const room = requireField(event, "room", isString, "a string");
  if (!isValidRoomName(room)) {
    throw new ProtocolError(ErrorCode.INVALID_ROOM, `invalid room name ${JSON.stringify(room)}`, {
      field: "room",
    });
  }
  return room;
}

// ---------------------------------------------------------------------------------------------
// Client → server

/**
 * Validates a client event and returns its JSON text. Throws ProtocolError with the code the
 * server would have answered. `maxTextChars` comes from the server's `ready` event; before it is
 * known, the length of `send.text` is left for the server to check.
 */
export function encodeClientEvent(event, { maxTextChars } = {}) {
  if (!isPlainObject(event) || typeof event.type !== "string") {
    throw new ProtocolError(ErrorCode.BAD_EVENT, "an event is an object with a string type");
  }
  switch (event.type) {
    case ClientEventType.JOIN: {
      const room = requireRoom(event);
      const name = requireField(event, "name", isString, "a string");
      if (!isValidDisplayName(name)) {
        throw new ProtocolError(ErrorCode.INVALID_NAME, "invalid display name", { field: "name" });
      }
      const frame = { type: event.type, room, name: normalizeDisplayName(name) };
      if (event.after_seq !== undefined && event.after_seq !== null) {
        frame.after_seq = requireField(event, "after_seq", isCount, "an integer ≥ 0");
      }
      return JSON.stringify(frame);
    }
    case ClientEventType.LEAVE:
      return JSON.stringify({ type: event.type, room: requireRoom(event) });
    case ClientEventType.SEND: {
      const room = requireRoom(event);
      const text = requireField(event, "text", isString, "a string");
      if (text.trim() === "") {
        throw new ProtocolError(ErrorCode.TEXT_EMPTY, "text is empty", { field: "text" });
      }
      if (maxTextChars !== undefined && countCharacters(text) > maxTextChars) {
        throw new ProtocolError(ErrorCode.TEXT_TOO_LONG, `text is over ${maxTextChars} characters`, {
          field: "text",
        });
      }
      const clientId = requireField(event, "client_id", isClientId, CLIENT_ID_RULE);
      return JSON.stringify({ type: event.type, room, text, client_id: clientId });
    }
    case ClientEventType.LOAD_OLDER: {
      const room = requireRoom(event);
      const beforeSeq = requireField(event, "before_seq", isPositiveInteger, "a positive integer");
      return JSON.stringify({ type: event.type, room, before_seq: beforeSeq });
    }
    case ClientEventType.PING:
      return JSON.stringify({ type: event.type });
    default:
      throw new ProtocolError(ErrorCode.UNKNOWN_TYPE, `unknown client event type ${event.type}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Server → client

function decodeMessageList(event, field) {
  return requireField(event, field, Array.isArray, "a list").map((item) => {
    if (!isPlainObject(item)) {
      throw new ProtocolError(ErrorCode.BAD_FIELD, `${event.type}.${field} holds message events`, {
        field,
      });
    }
    return decodeMessage(item);
  });
}

function decodeMessage(event) {
  const clientId = event.client_id ?? null;
  if (clientId !== null && !isString(clientId)) {
    throw new ProtocolError(ErrorCode.BAD_FIELD, "message.client_id must be a string or null", {
      field: "client_id",
    });
  }
  return {
    type: ServerEventType.MESSAGE,
    room: requireField(event, "room", isString, "a string"),
    seq: requireField(event, "seq", isPositiveInteger, "a positive integer"),
    author: requireField(event, "author", isString, "a string"),
    text: requireField(event, "text", isString, "a string"),
    sent_at: requireField(
      event,
      "sent_at",
      (value) => isString(value) && !Number.isNaN(Date.parse(value)),
      "an ISO 8601 date-time",
    ),
    client_id: clientId,
  };
}

/** Parses and validates one server frame; returns a new object holding only the known fields. */
export function decodeServerEvent(text) {
  if (typeof text !== "string") {
    throw new ProtocolError(ErrorCode.BINARY_FRAME, "the server speaks text frames only");
  }
  let event;
  try {
    event = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(ErrorCode.BAD_JSON, `server frame is not JSON: ${error.message}`);
  }
  if (!isPlainObject(event) || typeof event.type !== "string") {
    throw new ProtocolError(ErrorCode.BAD_EVENT, "server frame is not an object with a string type");
  }
  switch (event.type) {
    case ServerEventType.READY:
      return {
        type: event.type,
        protocol: requireField(event, "protocol", isPositiveInteger, "a positive integer"),
        max_text_chars: requireField(event, "max_text_chars", isPositiveInteger, "a positive integer"),
        max_rooms: requireField(event, "max_rooms", isPositiveInteger, "a positive integer"),
        history_limit: requireField(event, "history_limit", isCount, "an integer ≥ 0"),
        resume_limit: requireField(event, "resume_limit", isCount, "an integer ≥ 0"),
      };
    case ServerEventType.JOINED:
      return {
        type: event.type,
        room: requireField(event, "room", isString, "a string"),
        name: requireField(event, "name", isString, "a string"),
        latest_seq: requireField(event, "latest_seq", isCount, "an integer ≥ 0"),
        resumed: requireField(event, "resumed", isBoolean, "a boolean"),
        history: decodeMessageList(event, "history"),
        has_older: requireField(event, "has_older", isBoolean, "a boolean"),
      };
    case ServerEventType.LEFT:
      return { type: event.type, room: requireField(event, "room", isString, "a string") };
    case ServerEventType.MESSAGE:
      return decodeMessage(event);
    case ServerEventType.ACK:
      return {
        type: event.type,
        room: requireField(event, "room", isString, "a string"),
        client_id: requireField(event, "client_id", isClientId, CLIENT_ID_RULE),
        seq: requireField(event, "seq", isPositiveInteger, "a positive integer"),
      };
    case ServerEventType.OLDER:
      return {
        type: event.type,
        room: requireField(event, "room", isString, "a string"),
        messages: decodeMessageList(event, "messages"),
        has_older: requireField(event, "has_older", isBoolean, "a boolean"),
      };
    case ServerEventType.PONG: {
      const rooms = requireField(event, "rooms", isPlainObject, "an object");
      for (const latestSeq of Object.values(rooms)) {
        if (!isCount(latestSeq)) {
          throw new ProtocolError(ErrorCode.BAD_FIELD, "pong.rooms maps rooms to integers ≥ 0", {
            field: "rooms",
          });
        }
      }
      return { type: event.type, rooms: { ...rooms } };
    }
    case ServerEventType.ERROR: {
      const decoded = {
        type: event.type,
        // Not checked against ErrorCode: a newer server may add codes; the UI falls back to a
        // generic message for codes it does not know.
        code: requireField(event, "code", isString, "a string"),
        message: requireField(event, "message", isString, "a string"),
      };
      if (event.room !== undefined && event.room !== null) {
        decoded.room = requireField(event, "room", isString, "a string");
      }
      if (event.client_id !== undefined && event.client_id !== null) {
        decoded.client_id = requireField(event, "client_id", isString, "a string");
      }
      return decoded;
    }
    default:
      throw new ProtocolError(ErrorCode.UNKNOWN_TYPE, `unknown server event type ${event.type}`);
  }
}
