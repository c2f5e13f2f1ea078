import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  ClientEventType,
  CloseCode,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  ProtocolError,
  ServerEventType,
  decodeServerEvent,
  encodeClientEvent,
} from "../../themes/backchannel/assets/backchannel/js/protocol.js";
import * as ErrorCode from "../../themes/backchannel/assets/backchannel/js/error-codes.js";
import { readArchitecture, readTableNames } from "./support.js";

function assertProtocolError(action, code) {
  assert.throws(action, (error) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${error}`);
    assert.equal(error.code, code);
    return true;
  });
}

const MESSAGE = {
  type: "message",
  room: "lobby",
  seq: 7,
  author: "alice",
  visitor: "v123",
  staff: false,
  tag: "k3f9",
  text: "hello <b>world</b>",
  deleted: false,
  sent_at: "2024-05-01T12:34:56.123456+00:00",
  client_id: "abc-123",
};

const READY = {
  type: "ready",
  protocol: 2,
  max_text_chars: 2000,
  max_rooms: 5,
  history_limit: 50,
  resume_limit: 500,
  auth_timeout_secs: 5,
  typing_interval_secs: 3,
};

const PRESENCE = {
  online_count: 2,
  people: [
    { visitor: "v1", name: "Ann", staff: false, tag: "a1b2" },
    { visitor: "v2", name: "Sue", staff: true, tag: "c3d4" },
  ],
};

const JOINED = {
  type: "joined",
  room: "lobby",
  latest_seq: 7,
  resumed: false,
  history: [MESSAGE],
  has_older: true,
  locked: false,
  slow_mode_secs: 0,
  presence: PRESENCE,
};

describe("protocol tables", () => {
  const architecture = readArchitecture();

  it("is version 3, and still speaks 2", () => {
    assert.equal(PROTOCOL_VERSION, 3);
    assert.equal(MIN_PROTOCOL_VERSION, 2);
  });

  it("mirrors the close codes of ARCHITECTURE.md", () => {
    const section = architecture.slice(architecture.indexOf("### Close codes"), architecture.indexOf("### Delivery guarantees"));
    const codes = [...section.matchAll(/^\| (\d{4}) \|/gm)].map((match) => Number(match[1]));
    assert.deepEqual(Object.values(CloseCode).sort(), codes.sort());
  });

  it("mirrors ARCHITECTURE.md", () => {
    // Version 2's tables and version 3's additions.
    const union = (...names) => [...new Set(names.flat())].sort();
    assert.deepEqual(
      Object.values(ClientEventType).sort(),
      union(readTableNames(architecture, "### Client → server"), readTableNames(architecture, "### Version 3: client → server")),
    );
    assert.deepEqual(
      Object.values(ServerEventType).sort(),
      union(readTableNames(architecture, "### Server → client"), readTableNames(architecture, "### Version 3: server → client")),
    );
    assert.deepEqual(
      Object.values(ErrorCode).sort(),
      readTableNames(architecture, "### Error codes").sort(),
    );
  });

  it("is frozen", () => {
    for (const table of [ClientEventType, ServerEventType, CloseCode]) {
      assert.ok(Object.isFrozen(table));
    }
    // A module namespace: read-only by nature.
    assert.throws(() => {
      ErrorCode.BANNED = "x";
    }, TypeError);
    assert.deepEqual(Object.entries(ErrorCode).filter(([name, code]) => name !== code.toUpperCase()), [], "NAME = \"name\"");
  });
});

describe("encodeClientEvent", () => {
  it("encodes auth with its token", () => {
    assert.deepEqual(JSON.parse(encodeClientEvent({ type: "auth", token: "abc:def" })), { type: "auth", token: "abc:def" });
  });

  it("encodes join without a name (the token names the visitor)", () => {
    assert.deepEqual(JSON.parse(encodeClientEvent({ type: "join", room: "lobby", name: "Alice" })), {
      type: "join",
      room: "lobby",
    });
  });

  it("encodes join with after_seq, and leaves it out when undefined or null", () => {
    for (const afterSeq of [0, 1, 123_456]) {
      assert.deepEqual(
        JSON.parse(encodeClientEvent({ type: "join", room: "lobby", after_seq: afterSeq })),
        { type: "join", room: "lobby", after_seq: afterSeq },
      );
    }
    for (const afterSeq of [undefined, null]) {
      assert.deepEqual(JSON.parse(encodeClientEvent({ type: "join", room: "lobby", after_seq: afterSeq })), {
        type: "join",
        room: "lobby",
      });
    }
  });

  it("encodes typing", () => {
    assert.deepEqual(JSON.parse(encodeClientEvent({ type: "typing", room: "lobby" })), { type: "typing", room: "lobby" });
  });

  it("encodes load_older", () => {
    assert.deepEqual(JSON.parse(encodeClientEvent({ type: "load_older", room: "lobby", before_seq: 51 })), {
      type: "load_older",
      room: "lobby",
      before_seq: 51,
    });
  });

  it("encodes leave", () => {
    assert.deepEqual(JSON.parse(encodeClientEvent({ type: "leave", room: "help" })), {
      type: "leave",
      room: "help",
    });
  });

  it("encodes send with its client_id", () => {
    assert.deepEqual(
      JSON.parse(encodeClientEvent({ type: "send", room: "lobby", text: "hi", client_id: "a_B-9" })),
      { type: "send", room: "lobby", text: "hi", client_id: "a_B-9" },
    );
    const longest = "c".repeat(64);
    assert.equal(JSON.parse(encodeClientEvent({ type: "send", room: "a", text: "x", client_id: longest })).client_id, longest);
  });

  it("encodes ping", () => {
    assert.equal(encodeClientEvent({ type: "ping" }), '{"type":"ping"}');
  });

  it("drops fields it does not know", () => {
    assert.equal(encodeClientEvent({ type: "ping", extra: 1 }), '{"type":"ping"}');
  });

  it("keeps text as written, line breaks included", () => {
    const frame = JSON.parse(encodeClientEvent({ type: "send", room: "a", text: "  two\nlines ", client_id: "c" }));
    assert.equal(frame.text, "  two\nlines ");
  });

  it("checks the text length in characters once the limit is known", () => {
    const event = { type: "send", room: "lobby", text: "😀".repeat(5), client_id: "c" };
    assert.doesNotThrow(() => encodeClientEvent(event, { maxTextChars: 5 }));
    assertProtocolError(() => encodeClientEvent(event, { maxTextChars: 4 }), ErrorCode.TEXT_TOO_LONG);
    assert.doesNotThrow(() => encodeClientEvent({ ...event, text: "x".repeat(100_000) }));
  });

  const malformed = [
    ["not an object", "join", ErrorCode.BAD_EVENT],
    ["null", null, ErrorCode.BAD_EVENT],
    ["an array", ["join"], ErrorCode.BAD_EVENT],
    ["no type", { room: "lobby" }, ErrorCode.BAD_EVENT],
    ["a number type", { type: 1 }, ErrorCode.BAD_EVENT],
    ["an unknown type", { type: "shout" }, ErrorCode.UNKNOWN_TYPE],
    ["a server type", { type: "message" }, ErrorCode.UNKNOWN_TYPE],
    ["auth without token", { type: "auth" }, ErrorCode.BAD_FIELD],
    ["auth with an empty token", { type: "auth", token: "" }, ErrorCode.BAD_FIELD],
    ["auth with a number token", { type: "auth", token: 5 }, ErrorCode.BAD_FIELD],
    ["typing without room", { type: "typing" }, ErrorCode.BAD_FIELD],
    ["typing with a bad room", { type: "typing", room: "A b" }, ErrorCode.INVALID_ROOM],
    ["join without room", { type: "join" }, ErrorCode.BAD_FIELD],
    ["join with a number room", { type: "join", room: 1 }, ErrorCode.BAD_FIELD],
    ["join with a bad room", { type: "join", room: "Lobby" }, ErrorCode.INVALID_ROOM],
    ["leave without room", { type: "leave" }, ErrorCode.BAD_FIELD],
    ["leave with a bad room", { type: "leave", room: "-a" }, ErrorCode.INVALID_ROOM],
    ["send without text", { type: "send", room: "lobby" }, ErrorCode.BAD_FIELD],
    ["send with a number text", { type: "send", room: "lobby", text: 5 }, ErrorCode.BAD_FIELD],
    ["send with empty text", { type: "send", room: "lobby", text: "" }, ErrorCode.TEXT_EMPTY],
    ["send with white space", { type: "send", room: "lobby", text: " \n\t " }, ErrorCode.TEXT_EMPTY],
    ["send with a bad room", { type: "send", room: "a_b", text: "x" }, ErrorCode.INVALID_ROOM],
    ["send without client_id", { type: "send", room: "a", text: "x" }, ErrorCode.BAD_FIELD],
    ["send with a null client_id", { type: "send", room: "a", text: "x", client_id: null }, ErrorCode.BAD_FIELD],
    ["join with a negative after_seq", { type: "join", room: "a", after_seq: -1 }, ErrorCode.BAD_FIELD],
    ["join with a fractional after_seq", { type: "join", room: "a", after_seq: 1.5 }, ErrorCode.BAD_FIELD],
    ["join with a string after_seq", { type: "join", room: "a", after_seq: "3" }, ErrorCode.BAD_FIELD],
    ["load_older without before_seq", { type: "load_older", room: "a" }, ErrorCode.BAD_FIELD],
    ["load_older with before_seq 0", { type: "load_older", room: "a", before_seq: 0 }, ErrorCode.BAD_FIELD],
    ["load_older with a bad room", { type: "load_older", room: "A", before_seq: 5 }, ErrorCode.INVALID_ROOM],
    ["send with an empty client_id", { type: "send", room: "a", text: "x", client_id: "" }, ErrorCode.BAD_FIELD],
    ["send with a client_id space", { type: "send", room: "a", text: "x", client_id: "a b" }, ErrorCode.BAD_FIELD],
    ["send with a long client_id", { type: "send", room: "a", text: "x", client_id: "c".repeat(65) }, ErrorCode.BAD_FIELD],
    ["send with a number client_id", { type: "send", room: "a", text: "x", client_id: 7 }, ErrorCode.BAD_FIELD],
  ];
  for (const [label, event, code] of malformed) {
    it(`refuses ${label} with ${code}`, () => assertProtocolError(() => encodeClientEvent(event), code));
  }

  it("names the bad field in its message", () => {
    assert.throws(() => encodeClientEvent({ type: "send", room: "a", text: 1 }), { message: "bad send.text" });
  });
});

describe("decodeServerEvent", () => {
  it("decodes ready, with read_without_auth false from a server that does not say it", () => {
    assert.deepEqual(decodeServerEvent(JSON.stringify(READY)), { ...READY, read_without_auth: false });
    const reading = { ...READY, read_without_auth: true };
    assert.deepEqual(decodeServerEvent(JSON.stringify(reading)), reading);
  });

  it("decodes joined with its history", () => {
    assert.deepEqual(decodeServerEvent(JSON.stringify(JOINED)), JOINED);
    const resumed = { ...JOINED, resumed: true, history: [], latest_seq: 0, has_older: false };
    assert.deepEqual(decodeServerEvent(JSON.stringify(resumed)), resumed);
  });

  it("decodes left and pong", () => {
    assert.deepEqual(decodeServerEvent('{"type":"left","room":"lobby"}'), { type: "left", room: "lobby" });
    assert.deepEqual(decodeServerEvent('{"type":"pong","rooms":{}}'), { type: "pong", rooms: {} });
    assert.deepEqual(decodeServerEvent('{"type":"pong","rooms":{"lobby":7,"help":0}}'), {
      type: "pong",
      rooms: { lobby: 7, help: 0 },
    });
  });

  it("decodes ack", () => {
    const ack = { type: "ack", room: "lobby", client_id: "abc-123", seq: 7 };
    assert.deepEqual(decodeServerEvent(JSON.stringify({ ...ack, extra: 1 })), ack);
  });

  it("decodes older", () => {
    const older = { type: "older", room: "lobby", messages: [MESSAGE], has_older: true };
    assert.deepEqual(decodeServerEvent(JSON.stringify(older)), older);
    const last = { ...older, messages: [], has_older: false };
    assert.deepEqual(decodeServerEvent(JSON.stringify(last)), last);
  });

  it("decodes message; a missing client_id is null", () => {
    assert.deepEqual(decodeServerEvent(JSON.stringify(MESSAGE)), MESSAGE);
    const { client_id: _clientId, ...withoutClientId } = MESSAGE;
    assert.equal(decodeServerEvent(JSON.stringify(withoutClientId)).client_id, null);
    assert.equal(decodeServerEvent(JSON.stringify({ ...MESSAGE, client_id: null })).client_id, null);
  });

  it("decodes authenticated and token", () => {
    const authenticated = { type: "authenticated", name: "Ann", visitor: "v1", staff: false, tag: "a1b2" };
    assert.deepEqual(decodeServerEvent(JSON.stringify({ ...authenticated, extra: 1 })), { ...authenticated, muted: null });
    const muted = { reason: "spam", until: "2026-12-07T12:00:00Z" };
    assert.deepEqual(decodeServerEvent(JSON.stringify({ ...authenticated, muted })), { ...authenticated, muted });
    assert.deepEqual(decodeServerEvent(JSON.stringify({ ...authenticated, muted: { until: null } })).muted, { reason: "", until: null });
    assertProtocolError(() => decodeServerEvent(JSON.stringify({ ...authenticated, muted: "yes" })), "bad_field");
    assertProtocolError(() => decodeServerEvent(JSON.stringify({ ...authenticated, muted: { until: "soon" } })), "bad_field");
    const token = { type: "token", token: "t.k", expires_in_secs: 3600 };
    assert.deepEqual(decodeServerEvent(JSON.stringify(token)), token);
  });

  it("decodes an older server's events, which carry no tag, with an empty one; a tag must be a string", () => {
    const { tag: _tag, ...untagged } = MESSAGE;
    assert.equal(decodeServerEvent(JSON.stringify(untagged)).tag, "");
    const typing = { type: "typing", room: "lobby", visitor: "v1", name: "Ann" };
    assert.deepEqual(decodeServerEvent(JSON.stringify(typing)), { ...typing, tag: "" });
    const presence = { type: "presence", room: "lobby", online_count: 1, people: [{ visitor: "v1", name: "Ann", staff: false }] };
    assert.equal(decodeServerEvent(JSON.stringify(presence)).people[0].tag, "");
    assertProtocolError(() => decodeServerEvent(JSON.stringify({ ...MESSAGE, tag: 7 })), "bad_field");
    assertProtocolError(() => decodeServerEvent(JSON.stringify({ ...typing, tag: ["x"] })), "bad_field");
  });

  it("decodes deleted, typing and room_state", () => {
    for (const event of [
      { type: "deleted", room: "lobby", seq: 3 },
      { type: "typing", room: "lobby", visitor: "v1", name: "Ann", tag: "a1b2" },
      { type: "room_state", room: "lobby", locked: true, slow_mode_secs: 30 },
    ]) {
      assert.deepEqual(decodeServerEvent(JSON.stringify(event)), event);
    }
  });

  it("decodes presence, with people or only the count; the change is left out", () => {
    const change = { kind: "joined", person: PRESENCE.people[0] };
    assert.deepEqual(decodeServerEvent(JSON.stringify({ type: "presence", room: "lobby", ...PRESENCE, change })), {
      type: "presence",
      room: "lobby",
      ...PRESENCE,
    });
    assert.deepEqual(decodeServerEvent('{"type":"presence","room":"lobby","online_count":250,"people":null}'), {
      type: "presence",
      room: "lobby",
      online_count: 250,
      people: null,
    });
    const withExtra = { ...PRESENCE, people: [{ ...PRESENCE.people[0], colour: "red" }] };
    assert.deepEqual(decodeServerEvent(JSON.stringify({ type: "presence", room: "a", ...withExtra })).people[0], PRESENCE.people[0]);
  });

  it("decodes moderated; until may be null, reason defaults to empty", () => {
    const muted = { type: "moderated", action: "muted", reason: "spam", until: "2024-05-01T13:00:00Z" };
    assert.deepEqual(decodeServerEvent(JSON.stringify(muted)), muted);
    assert.deepEqual(decodeServerEvent('{"type":"moderated","action":"banned","until":null}'), {
      type: "moderated",
      action: "banned",
      reason: "",
      until: null,
    });
  });

  it("decodes a deleted message's tombstone", () => {
    const tombstone = { ...MESSAGE, author: "", text: "", deleted: true };
    assert.deepEqual(decodeServerEvent(JSON.stringify(tombstone)), tombstone);
  });

  it("decodes error with retry_after_secs", () => {
    assert.deepEqual(
      decodeServerEvent('{"type":"error","code":"slow_mode","message":"m","room":"a","client_id":"c","retry_after_secs":12.5}'),
      { type: "error", code: "slow_mode", message: "m", room: "a", client_id: "c", retry_after_secs: 12.5 },
    );
  });

  it("decodes error with and without room; unknown codes pass through", () => {
    assert.deepEqual(decodeServerEvent('{"type":"error","code":"bad_json","message":"nope"}'), {
      type: "error",
      code: "bad_json",
      message: "nope",
    });
    assert.deepEqual(
      decodeServerEvent('{"type":"error","code":"not_joined","message":"m","room":"help"}'),
      { type: "error", code: "not_joined", message: "m", room: "help" },
    );
    assert.deepEqual(
      decodeServerEvent('{"type":"error","code":"text_too_long","message":"m","room":"a","client_id":"c-1"}'),
      { type: "error", code: "text_too_long", message: "m", room: "a", client_id: "c-1" },
    );
    assert.equal("client_id" in decodeServerEvent('{"type":"error","code":"x","message":"m","client_id":null}'), false);
    assert.equal(decodeServerEvent('{"type":"error","code":"new_code","message":"m"}').code, "new_code");
  });

  it("drops fields it does not know", () => {
    assert.deepEqual(decodeServerEvent('{"type":"pong","rooms":{},"extra":[1,2]}'), { type: "pong", rooms: {} });
    assert.equal("extra" in decodeServerEvent(JSON.stringify({ ...MESSAGE, extra: 1 })), false);
  });

  const ready = READY;
  const joined = JOINED;
  const malformed = [
    ["a binary frame", new ArrayBuffer(2), ErrorCode.BINARY_FRAME],
    ["text that is not JSON", "{type: ready}", ErrorCode.BAD_JSON],
    ["an empty frame", "", ErrorCode.BAD_JSON],
    ["a JSON array", "[]", ErrorCode.BAD_EVENT],
    ["a JSON string", '"ready"', ErrorCode.BAD_EVENT],
    ["JSON null", "null", ErrorCode.BAD_EVENT],
    ["an object without type", '{"room":"lobby"}', ErrorCode.BAD_EVENT],
    ["a number type", '{"type":3}', ErrorCode.BAD_EVENT],
    ["an unknown type", '{"type":"shout"}', ErrorCode.UNKNOWN_TYPE],
    ["a client type", '{"type":"join","room":"lobby"}', ErrorCode.UNKNOWN_TYPE],
    ["ready without typing_interval_secs", JSON.stringify({ ...ready, typing_interval_secs: undefined }), ErrorCode.BAD_FIELD],
    ["ready with a negative auth_timeout_secs", JSON.stringify({ ...ready, auth_timeout_secs: -1 }), ErrorCode.BAD_FIELD],
    ["authenticated without visitor", '{"type":"authenticated","name":"a","staff":false}', ErrorCode.BAD_FIELD],
    ["authenticated with a string staff", '{"type":"authenticated","name":"a","visitor":"v","staff":"no"}', ErrorCode.BAD_FIELD],
    ["token with an empty token", '{"type":"token","token":"","expires_in_secs":1}', ErrorCode.BAD_FIELD],
    ["deleted with seq 0", '{"type":"deleted","room":"a","seq":0}', ErrorCode.BAD_FIELD],
    ["presence without online_count", '{"type":"presence","room":"a","people":[]}', ErrorCode.BAD_FIELD],
    ["presence with an object people", '{"type":"presence","room":"a","online_count":1,"people":{}}', ErrorCode.BAD_FIELD],
    ["presence with a bad person", '{"type":"presence","room":"a","online_count":1,"people":[{"name":"a"}]}', ErrorCode.BAD_FIELD],
    ["typing without visitor", '{"type":"typing","room":"a","name":"b"}', ErrorCode.BAD_FIELD],
    ["room_state without locked", '{"type":"room_state","room":"a","slow_mode_secs":0}', ErrorCode.BAD_FIELD],
    ["moderated with an unknown action", '{"type":"moderated","action":"scolded","reason":"","until":null}', ErrorCode.BAD_FIELD],
    ["moderated with a bad until", '{"type":"moderated","action":"muted","reason":"","until":"soon"}', ErrorCode.BAD_FIELD],
    ["error with a string retry_after_secs", '{"type":"error","code":"x","message":"m","retry_after_secs":"5"}', ErrorCode.BAD_FIELD],
    ["joined without presence", JSON.stringify({ ...JOINED, presence: undefined }), ErrorCode.BAD_FIELD],
    ["joined without locked", JSON.stringify({ ...JOINED, locked: undefined }), ErrorCode.BAD_FIELD],
    ["message without visitor", JSON.stringify({ ...MESSAGE, visitor: undefined }), ErrorCode.BAD_FIELD],
    ["message without deleted", JSON.stringify({ ...MESSAGE, deleted: undefined }), ErrorCode.BAD_FIELD],
    ["message with a string staff", JSON.stringify({ ...MESSAGE, staff: "yes" }), ErrorCode.BAD_FIELD],
    ["ready without protocol", JSON.stringify({ ...ready, protocol: undefined }), ErrorCode.BAD_FIELD],
    ["ready with a string protocol", JSON.stringify({ ...ready, protocol: "1" }), ErrorCode.BAD_FIELD],
    ["ready with zero max_text_chars", JSON.stringify({ ...ready, max_text_chars: 0 }), ErrorCode.BAD_FIELD],
    ["ready with fractional max_rooms", JSON.stringify({ ...ready, max_rooms: 1.5 }), ErrorCode.BAD_FIELD],
    ["ready without history_limit", JSON.stringify({ ...ready, history_limit: undefined }), ErrorCode.BAD_FIELD],
    ["ready with a negative resume_limit", JSON.stringify({ ...ready, resume_limit: -1 }), ErrorCode.BAD_FIELD],
    ["joined without history", JSON.stringify({ ...joined, history: undefined }), ErrorCode.BAD_FIELD],
    ["joined with an object history", JSON.stringify({ ...joined, history: {} }), ErrorCode.BAD_FIELD],
    ["joined with a string in history", JSON.stringify({ ...joined, history: ["x"] }), ErrorCode.BAD_FIELD],
    ["joined with a bad message in history", JSON.stringify({ ...joined, history: [{ ...MESSAGE, seq: 0 }] }), ErrorCode.BAD_FIELD],
    ["joined without latest_seq", JSON.stringify({ ...joined, latest_seq: undefined }), ErrorCode.BAD_FIELD],
    ["joined with a string latest_seq", JSON.stringify({ ...joined, latest_seq: "7" }), ErrorCode.BAD_FIELD],
    ["joined without resumed", JSON.stringify({ ...joined, resumed: undefined }), ErrorCode.BAD_FIELD],
    ["joined with a number resumed", JSON.stringify({ ...joined, resumed: 1 }), ErrorCode.BAD_FIELD],
    ["joined without has_older", JSON.stringify({ ...joined, has_older: undefined }), ErrorCode.BAD_FIELD],
    ["ack without client_id", '{"type":"ack","room":"a","seq":1}', ErrorCode.BAD_FIELD],
    ["ack with a bad client_id", '{"type":"ack","room":"a","client_id":"a b","seq":1}', ErrorCode.BAD_FIELD],
    ["ack with seq 0", '{"type":"ack","room":"a","client_id":"c","seq":0}', ErrorCode.BAD_FIELD],
    ["older without messages", '{"type":"older","room":"a","has_older":false}', ErrorCode.BAD_FIELD],
    ["older with a bad message", JSON.stringify({ type: "older", room: "a", messages: [{}], has_older: false }), ErrorCode.BAD_FIELD],
    ["older without has_older", '{"type":"older","room":"a","messages":[]}', ErrorCode.BAD_FIELD],
    ["pong without rooms", '{"type":"pong"}', ErrorCode.BAD_FIELD],
    ["pong with a list of rooms", '{"type":"pong","rooms":["a"]}', ErrorCode.BAD_FIELD],
    ["pong with a string seq", '{"type":"pong","rooms":{"a":"1"}}', ErrorCode.BAD_FIELD],
    ["error with a number client_id", '{"type":"error","code":"x","message":"m","client_id":1}', ErrorCode.BAD_FIELD],
    ["left without room", '{"type":"left"}', ErrorCode.BAD_FIELD],
    ["message with seq 0", JSON.stringify({ ...MESSAGE, seq: 0 }), ErrorCode.BAD_FIELD],
    ["message with a string seq", JSON.stringify({ ...MESSAGE, seq: "7" }), ErrorCode.BAD_FIELD],
    ["message with a fractional seq", JSON.stringify({ ...MESSAGE, seq: 7.5 }), ErrorCode.BAD_FIELD],
    ["message without author", JSON.stringify({ ...MESSAGE, author: undefined }), ErrorCode.BAD_FIELD],
    ["message with a number text", JSON.stringify({ ...MESSAGE, text: 1 }), ErrorCode.BAD_FIELD],
    ["message with a bad sent_at", JSON.stringify({ ...MESSAGE, sent_at: "yesterday" }), ErrorCode.BAD_FIELD],
    ["message with a number client_id", JSON.stringify({ ...MESSAGE, client_id: 5 }), ErrorCode.BAD_FIELD],
    ["error without code", '{"type":"error","message":"m"}', ErrorCode.BAD_FIELD],
    ["error without message", '{"type":"error","code":"bad_json"}', ErrorCode.BAD_FIELD],
    ["error with a number room", '{"type":"error","code":"x","message":"m","room":1}', ErrorCode.BAD_FIELD],
  ];
  for (const [label, frame, code] of malformed) {
    it(`refuses ${label} with ${code}`, () => assertProtocolError(() => decodeServerEvent(frame), code));
  }
});
