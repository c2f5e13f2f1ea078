// Wire protocol versions 2 and 3 (ARCHITECTURE.md "Wire protocol", "Protocol version 3"); mirrors
// backend/chat/protocol.py. The widget asks for 3 (`/ws/?protocol=3`) and speaks 2 with an older
// server, which answers `ready.protocol` 2: version 3's fields are then simply absent.
// Every frame is a JSON object with a string `type`. Unknown fields are ignored in both
// directions: the encoder only writes the fields it knows, the decoder only returns them.

import * as ErrorCode from "./error-codes.js";
import { countCharacters, isValidRoomName } from "./rooms.js";

export { DISPLAY_NAME_MAX_CHARS, ROOM_NAME_MAX_CHARS } from "./rooms.js";

export const PROTOCOL_VERSION = 3;
// The oldest server protocol the widget still speaks (no edits, reactions or replies).
export const MIN_PROTOCOL_VERSION = 2;

export const CLIENT_ID_MAX_CHARS = 64;
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

// { JOIN: "join", … }, written as a list of names: half the bytes of the spelled-out object, and
// the chat bundle must stay under 12 KB gzipped.
export function namesTable(names) {
  return Object.freeze(Object.fromEntries(names.map((name) => [name.toUpperCase(), name])));
}

export const ServerEventType = namesTable([
  "ready", "authenticated", "token", "joined", "left", "message", "deleted", "ack", "older",
  "presence", "typing", "room_state", "moderated", "pong", "error", "changed",
]);

export const ModerationAction = namesTable(["muted", "unmuted", "banned"]);

/** WebSocket close codes the server uses (ARCHITECTURE.md "Close codes"). */
export const CloseCode = Object.freeze({
  SERVICE_RESTART: 1012,
  AUTH_TIMEOUT: 4001,
  BANNED: 4003,
  FLOODING: 4008,
  TOO_MANY_SOCKETS: 4029,
});

/**
 * A frame that breaks the protocol, in either direction. `code` is one of ErrorCode, the same
 * code the server would answer with, so the UI can show the same translated message.
 */
export class ProtocolError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
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
// Durations in seconds may be fractional (a server may compute them from a token bucket).
const isSeconds = (value) => typeof value === "number" && Number.isFinite(value) && value >= 0;
const isNonEmptyString = (value) => typeof value === "string" && value !== "";
const isClientId = (value) => typeof value === "string" && CLIENT_ID_PATTERN.test(value);

// One terse message for every bad field (the type and field name it; the rule is in ARCHITECTURE.md):
// the chat bundle must stay under 12 KB gzipped.
function requireField(event, field, isValid) {
  const value = event[field];
  if (!isValid(value)) throw new ProtocolError(ErrorCode.BAD_FIELD, `bad ${event.type}.${field}`);
  return value;
}

const isString = (value) => typeof value === "string";
const isOptionalCount = (value) => value == null || isCount(value);

/** The field rules of `event`'s type in `table` (CLIENT_FIELDS or SERVER_FIELDS). */
function requireType(event, table) {
  if (!isPlainObject(event) || !isString(event.type)) throw new ProtocolError(ErrorCode.BAD_EVENT, "not an event");
  if (!Object.hasOwn(table, event.type)) throw new ProtocolError(ErrorCode.UNKNOWN_TYPE, `unknown type ${event.type}`);
  return table[event.type];
}

// ---------------------------------------------------------------------------------------------
// Client → server

// The fields of each client event, checked in this order. Beyond its type, a `room` must follow
// the room rule (else invalid_room) and a `text` must not be blank (text_empty) nor, once the
// server's limit is known, too long (text_too_long); any other bad field is bad_field.
const CLIENT_FIELDS = {
  auth: { token: isNonEmptyString },
  // after_seq (and version 3's after_rev, first_seq): absent (or null) on a first join.
  join: { room: isString, after_seq: isOptionalCount, after_rev: isOptionalCount, first_seq: isOptionalCount },
  leave: { room: isString },
  // reply_to (version 3): the seq of the message replied to.
  send: { room: isString, text: isString, client_id: isClientId, reply_to: (value) => value == null || isPositiveInteger(value) },
  typing: { room: isString },
  load_older: { room: isString, before_seq: isPositiveInteger },
  ping: {},
  // Version 3: changes to a message of the room (ARCHITECTURE.md "Version 3: client → server").
  edit: { room: isString, seq: isPositiveInteger, text: isString, client_id: isClientId },
  delete: { room: isString, seq: isPositiveInteger, client_id: isClientId },
  react: { room: isString, seq: isPositiveInteger, emoji: isNonEmptyString, on: isBoolean, client_id: isClientId },
};

// Written out, not Object.keys(CLIENT_FIELDS): main (first paint) names these types, and only the
// write chunk validates, so the field rules stay out of main. protocol.test.js checks they agree.
export const ClientEventType = namesTable([
  "auth", "join", "leave", "send", "typing", "load_older", "ping", "edit", "delete", "react",
]);

/**
 * Validates a client event and returns its JSON text. Throws ProtocolError with the code the
 * server would have answered. `maxTextChars` comes from the server's `ready` event; before it is
 * known, the length of `send.text` is left for the server to check.
 */
export function encodeClientEvent(event, { maxTextChars } = {}) {
  const rules = requireType(event, CLIENT_FIELDS);
  const frame = { type: event.type };
  for (const [field, isValid] of Object.entries(rules)) {
    const value = requireField(event, field, isValid);
    if (value == null) continue;
    if (field === "room" && !isValidRoomName(value)) {
      throw new ProtocolError(ErrorCode.INVALID_ROOM, `invalid room name ${JSON.stringify(value)}`);
    }
    if (field === "text" && value.trim() === "") throw new ProtocolError(ErrorCode.TEXT_EMPTY, "text is empty");
    if (field === "text" && countCharacters(value) > maxTextChars) {
      throw new ProtocolError(ErrorCode.TEXT_TOO_LONG, `text is over ${maxTextChars} characters`);
    }
    frame[field] = value;
  }
  return JSON.stringify(frame);
}

// ---------------------------------------------------------------------------------------------
// Server → client

// Field rules, by the shorter names the table below uses.
const STRING = isString;
const BOOLEAN = isBoolean;
const COUNT = isCount;
const POSITIVE = isPositiveInteger;
const SECONDS = isSeconds;
const TOKEN = isNonEmptyString;
const DATE_TIME = (value) => isString(value) && !Number.isNaN(Date.parse(value));
const ACTION = (value) => Object.values(ModerationAction).includes(value);

// The required fields of each server event (the others are decoded by hand below).
const SERVER_FIELDS = {
  ready: {
    protocol: POSITIVE,
    max_text_chars: POSITIVE,
    max_rooms: POSITIVE,
    history_limit: COUNT,
    resume_limit: COUNT,
    auth_timeout_secs: SECONDS,
    typing_interval_secs: SECONDS,
  },
  authenticated: { name: STRING, visitor: STRING, staff: BOOLEAN },
  token: { token: TOKEN, expires_in_secs: SECONDS },
  joined: {
    room: STRING,
    latest_seq: COUNT,
    resumed: BOOLEAN,
    has_older: BOOLEAN,
    locked: BOOLEAN,
    slow_mode_secs: SECONDS,
  },
  left: { room: STRING },
  message: {
    room: STRING,
    seq: POSITIVE,
    author: STRING,
    visitor: STRING,
    staff: BOOLEAN,
    text: STRING,
    deleted: BOOLEAN,
    sent_at: DATE_TIME,
  },
  deleted: { room: STRING, seq: POSITIVE },
  // `seq` for a message; version 3's changes are acked with `rev` instead (decoded below).
  ack: { room: STRING, client_id: isClientId },
  older: { room: STRING, has_older: BOOLEAN },
  presence: { room: STRING, online_count: COUNT },
  typing: { room: STRING, visitor: STRING, name: STRING },
  room_state: { room: STRING, locked: BOOLEAN, slow_mode_secs: SECONDS },
  moderated: { action: ACTION },
  pong: {},
  error: { code: STRING, message: STRING },
  // rev: the message's own (0 if it never changed) when the change changed nothing.
  changed: { room: STRING, rev: COUNT },
};

// One person of a presence list.
const PERSON_FIELDS = { visitor: STRING, name: STRING, staff: BOOLEAN };

// `tag` (authenticated, message, typing, a person): a few characters derived from the visitor id
// that tell two people of one name apart; "" from an older server, which sends none.
function withTag(event, into) {
  into.tag = event.tag == null ? "" : requireField(event, "tag", isString);
  return into;
}

// Fields that may be absent or null: decoded only when present.
const OPTIONAL_ERROR_FIELDS = { room: STRING, client_id: STRING, retry_after_secs: SECONDS };

/** A new object with `type` and the fields of `rules`, each checked. */
function pick(event, rules, into = { type: event.type }) {
  for (const [field, isValid] of Object.entries(rules)) into[field] = requireField(event, field, isValid);
  return into;
}

function decodeList(event, field, decodeItem) {
  return requireField(event, field, (list) => Array.isArray(list) && list.every(isPlainObject)).map(decodeItem);
}

function decodeMessage(event) {
  const decoded = pick(event, SERVER_FIELDS.message, { type: ServerEventType.MESSAGE });
  // client_id: the sender's idempotency key; null (or absent) from an older server.
  decoded.client_id = event.client_id ?? null;
  if (decoded.client_id !== null) requireField(event, "client_id", isString);
  // Version 3: the rev of its latest change (0: none; absent from version 2), which the timeline compares.
  if (event.rev != null) decoded.rev = requireField(event, "rev", isCount);
  // Version 3's current state, kept as sent: only the conversation chunk draws it, and checks
  // each field's shape there (conversation.js).
  for (const field of V3_MESSAGE_FIELDS) if (event[field] != null) decoded[field] = event[field];
  return withTag(event, decoded);
}

const V3_MESSAGE_FIELDS = ["edited", "reply_to", "reactions"];

// An optional field of counts by room name (`pong.rooms`, version 3's `pong.revs`).
function decodeCounts(event, field) {
  return { ...requireField(event, field, (counts) => isPlainObject(counts) && Object.values(counts).every(isCount)) };
}

// A sanction's { reason, until } (`moderated`, `authenticated.muted`): the reason may be absent,
// `until` null (until lifted) or an ISO 8601 time.
function decodeSanction(event, into) {
  into.reason = isString(event.reason) ? event.reason : "";
  into.until = event.until ?? null;
  if (into.until !== null) requireField(event, "until", DATE_TIME);
  return into;
}

// `presence` events and `joined.presence`; the optional `change` is not kept (the list says all).
function decodePresence(event, into) {
  into.online_count = requireField(event, "online_count", isCount);
  into.people = event.people === null ? null : decodeList(event, "people", (person) => withTag(person, pick(person, PERSON_FIELDS, {})));
  return into;
}

/** Parses and validates one server frame; returns a new object holding only the known fields. */
export function decodeServerEvent(text) {
  if (typeof text !== "string") {
    throw new ProtocolError(ErrorCode.BINARY_FRAME, "not a text frame");
  }
  let event;
  try {
    event = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(ErrorCode.BAD_JSON, `not JSON: ${error.message}`);
  }
  const decoded = pick(event, requireType(event, SERVER_FIELDS));
  switch (event.type) {
    case ServerEventType.READY:
      // Whether a socket may join and read before `auth` (absent: an older server, it may not).
      decoded.read_without_auth = event.read_without_auth === true;
      // Version 3: what `react` takes, in the order pages show it, and how long edits are allowed;
      // kept as sent, for the write chunk, which checks them where it uses them (message-actions.js).
      for (const field of ["reaction_emoji", "edit_window_secs"]) if (event[field] != null) decoded[field] = event[field];
      break;
    case ServerEventType.AUTHENTICATED:
      // The visitor's mute, so that a reload shows it (null: not muted, or an older server).
      decoded.muted = event.muted == null ? null : decodeSanction(requireField(event, "muted", isPlainObject), {});
      return withTag(event, decoded);
    case ServerEventType.TYPING:
      return withTag(event, decoded);
    case ServerEventType.JOINED:
      decoded.history = decodeList(event, "history", decodeMessage);
      // Version 3: the room's newest rev, and on a resume the messages changed since `after_rev`.
      if (event.latest_rev != null) decoded.latest_rev = requireField(event, "latest_rev", isCount);
      if (event.changes != null) decoded.changes = decodeList(event, "changes", decodeMessage);
      decoded.presence = decodePresence(requireField(event, "presence", isPlainObject), {});
      break;
    case ServerEventType.MESSAGE:
      return decodeMessage(event);
    case ServerEventType.OLDER:
      decoded.messages = decodeList(event, "messages", decodeMessage);
      break;
    case ServerEventType.PRESENCE:
      decodePresence(event, decoded);
      break;
    case ServerEventType.MODERATED:
      return decodeSanction(event, decoded);
    case ServerEventType.PONG:
      decoded.rooms = decodeCounts(event, "rooms");
      if (event.revs != null) decoded.revs = decodeCounts(event, "revs");
      break;
    case ServerEventType.ACK:
      if (event.rev != null) decoded.rev = requireField(event, "rev", isCount);
      else decoded.seq = requireField(event, "seq", isPositiveInteger);
      break;
    case ServerEventType.CHANGED:
      decoded.message = decodeMessage(requireField(event, "message", isPlainObject));
      // How many `changed` carry this rev (absent: 1, or a server that does not say; 0: not counted).
      if (event.parts != null) decoded.parts = requireField(event, "parts", isCount);
      break;
    case ServerEventType.ERROR:
      // `code` is not checked against ErrorCode: a newer server may add codes; the UI falls back
      // to a generic message for codes it does not know.
      for (const [field, isValid] of Object.entries(OPTIONAL_ERROR_FIELDS)) {
        if (event[field] !== undefined && event[field] !== null) decoded[field] = requireField(event, field, isValid);
      }
      break;
    default:
      // Every other type is only its SERVER_FIELDS.
  }
  return decoded;
}
