import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  ClientEventType,
  ErrorCode,
  PROTOCOL_VERSION,
  ProtocolError,
  ServerEventType,
  decodeServerEvent,
  encodeClientEvent,
} from "../../themes/backchannel/assets/backchannel/js/protocol.js";
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
  text: "hello <b>world</b>",
  sent_at: "2024-05-01T12:34:56.123456+00:00",
  client_id: "abc-123",
};

describe("protocol tables", () => {
  const architecture = readArchitecture();

  it("is version 1", () => assert.equal(PROTOCOL_VERSION, 1));

  it("mirrors ARCHITECTURE.md", () => {
    assert.deepEqual(
      Object.values(ClientEventType).sort(),
      readTableNames(architecture, "### Client → server").sort(),
    );
    assert.deepEqual(
      Object.values(ServerEventType).sort(),
      readTableNames(architecture, "### Server → client").sort(),
    );
    assert.deepEqual(
      Object.values(ErrorCode).sort(),
      readTableNames(architecture, "### Error codes").sort(),
    );
  });

  it("is frozen", () => {
    for (const table of [ClientEventType, ServerEventType, ErrorCode]) {
      assert.ok(Object.isFrozen(table));
    }
  });
});

describe("encodeClientEvent", () => {
  it("encodes join, with the name trimmed", () => {
    assert.deepEqual(JSON.parse(encodeClientEvent({ type: "join", room: "lobby", name: " Alice " })), {
      type: "join",
      room: "lobby",
      name: "Alice",
    });
  });

  it("encodes leave", () => {
    assert.deepEqual(JSON.parse(encodeClientEvent({ type: "leave", room: "help" })), {
      type: "leave",
      room: "help",
    });
  });

  it("encodes send with and without client_id", () => {
    assert.deepEqual(
      JSON.parse(encodeClientEvent({ type: "send", room: "lobby", text: "hi", client_id: "a_B-9" })),
      { type: "send", room: "lobby", text: "hi", client_id: "a_B-9" },
    );
    assert.deepEqual(JSON.parse(encodeClientEvent({ type: "send", room: "lobby", text: "hi" })), {
      type: "send",
      room: "lobby",
      text: "hi",
    });
    assert.deepEqual(
      JSON.parse(encodeClientEvent({ type: "send", room: "lobby", text: "hi", client_id: null })),
      { type: "send", room: "lobby", text: "hi" },
    );
  });

  it("encodes ping", () => {
    assert.equal(encodeClientEvent({ type: "ping" }), '{"type":"ping"}');
  });

  it("drops fields it does not know", () => {
    assert.equal(encodeClientEvent({ type: "ping", extra: 1 }), '{"type":"ping"}');
  });

  it("keeps text as written, line breaks included", () => {
    const frame = JSON.parse(encodeClientEvent({ type: "send", room: "a", text: "  two\nlines " }));
    assert.equal(frame.text, "  two\nlines ");
  });

  it("checks the text length in characters once the limit is known", () => {
    const event = { type: "send", room: "lobby", text: "😀".repeat(5) };
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
    ["join without room", { type: "join", name: "a" }, ErrorCode.BAD_FIELD],
    ["join with a number room", { type: "join", room: 1, name: "a" }, ErrorCode.BAD_FIELD],
    ["join with a bad room", { type: "join", room: "Lobby", name: "a" }, ErrorCode.INVALID_ROOM],
    ["join without name", { type: "join", room: "lobby" }, ErrorCode.BAD_FIELD],
    ["join with an empty name", { type: "join", room: "lobby", name: "  " }, ErrorCode.INVALID_NAME],
    ["join with a long name", { type: "join", room: "lobby", name: "n".repeat(33) }, ErrorCode.INVALID_NAME],
    ["join with a control character", { type: "join", room: "lobby", name: "a\u0007" }, ErrorCode.INVALID_NAME],
    ["leave without room", { type: "leave" }, ErrorCode.BAD_FIELD],
    ["leave with a bad room", { type: "leave", room: "-a" }, ErrorCode.INVALID_ROOM],
    ["send without text", { type: "send", room: "lobby" }, ErrorCode.BAD_FIELD],
    ["send with a number text", { type: "send", room: "lobby", text: 5 }, ErrorCode.BAD_FIELD],
    ["send with empty text", { type: "send", room: "lobby", text: "" }, ErrorCode.TEXT_EMPTY],
    ["send with white space", { type: "send", room: "lobby", text: " \n\t " }, ErrorCode.TEXT_EMPTY],
    ["send with a bad room", { type: "send", room: "a_b", text: "x" }, ErrorCode.INVALID_ROOM],
    ["send with an empty client_id", { type: "send", room: "a", text: "x", client_id: "" }, ErrorCode.BAD_FIELD],
    ["send with a client_id space", { type: "send", room: "a", text: "x", client_id: "a b" }, ErrorCode.BAD_FIELD],
    ["send with a long client_id", { type: "send", room: "a", text: "x", client_id: "c".repeat(65) }, ErrorCode.BAD_FIELD],
    ["send with a number client_id", { type: "send", room: "a", text: "x", client_id: 7 }, ErrorCode.BAD_FIELD],
  ];
  for (const [label, event, code] of malformed) {
    it(`refuses ${label} with ${code}`, () => assertProtocolError(() => encodeClientEvent(event), code));
  }

  it("names the bad field", () => {
    assert.throws(() => encodeClientEvent({ type: "send", room: "a", text: 1 }), { field: "text" });
  });
});

describe("decodeServerEvent", () => {
  it("decodes ready", () => {
    assert.deepEqual(
      decodeServerEvent('{"type":"ready","protocol":1,"max_text_chars":2000,"max_rooms":5}'),
      { type: "ready", protocol: 1, max_text_chars: 2000, max_rooms: 5 },
    );
  });

  it("decodes joined with its history", () => {
    const event = decodeServerEvent(
      JSON.stringify({ type: "joined", room: "lobby", name: "Alice", history: [MESSAGE] }),
    );
    assert.equal(event.name, "Alice");
    assert.deepEqual(event.history, [MESSAGE]);
  });

  it("decodes left and pong", () => {
    assert.deepEqual(decodeServerEvent('{"type":"left","room":"lobby"}'), { type: "left", room: "lobby" });
    assert.deepEqual(decodeServerEvent('{"type":"pong"}'), { type: "pong" });
  });

  it("decodes message; a missing client_id is null", () => {
    assert.deepEqual(decodeServerEvent(JSON.stringify(MESSAGE)), MESSAGE);
    const { client_id: _clientId, ...withoutClientId } = MESSAGE;
    assert.equal(decodeServerEvent(JSON.stringify(withoutClientId)).client_id, null);
    assert.equal(decodeServerEvent(JSON.stringify({ ...MESSAGE, client_id: null })).client_id, null);
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
    assert.equal(decodeServerEvent('{"type":"error","code":"new_code","message":"m"}').code, "new_code");
  });

  it("drops fields it does not know", () => {
    assert.deepEqual(decodeServerEvent('{"type":"pong","extra":[1,2]}'), { type: "pong" });
    assert.equal("extra" in decodeServerEvent(JSON.stringify({ ...MESSAGE, extra: 1 })), false);
  });

  const ready = { type: "ready", protocol: 1, max_text_chars: 10, max_rooms: 5 };
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
    ["a client type", '{"type":"join","room":"lobby","name":"a"}', ErrorCode.UNKNOWN_TYPE],
    ["ready without protocol", JSON.stringify({ ...ready, protocol: undefined }), ErrorCode.BAD_FIELD],
    ["ready with a string protocol", JSON.stringify({ ...ready, protocol: "1" }), ErrorCode.BAD_FIELD],
    ["ready with zero max_text_chars", JSON.stringify({ ...ready, max_text_chars: 0 }), ErrorCode.BAD_FIELD],
    ["ready with fractional max_rooms", JSON.stringify({ ...ready, max_rooms: 1.5 }), ErrorCode.BAD_FIELD],
    ["joined without history", '{"type":"joined","room":"a","name":"b"}', ErrorCode.BAD_FIELD],
    ["joined with an object history", '{"type":"joined","room":"a","name":"b","history":{}}', ErrorCode.BAD_FIELD],
    ["joined with a string in history", '{"type":"joined","room":"a","name":"b","history":["x"]}', ErrorCode.BAD_FIELD],
    [
      "joined with a bad message in history",
      JSON.stringify({ type: "joined", room: "a", name: "b", history: [{ ...MESSAGE, seq: 0 }] }),
      ErrorCode.BAD_FIELD,
    ],
    ["joined without name", '{"type":"joined","room":"a","history":[]}', ErrorCode.BAD_FIELD],
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
