// The pure helpers of chat.js; the mounted widget is covered by the browser tests (tests/e2e).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  formatString,
  readRoomChoice,
  resolveSocketUrl,
} from "../../themes/backchannel/assets/backchannel/js/chat.js";
import { describeTyping } from "../../themes/backchannel/assets/backchannel/js/people.js";
import { displayedState } from "../../themes/backchannel/assets/backchannel/js/status.js";

describe("resolveSocketUrl", () => {
  const cases = [
    ["ws://localhost:8000", "http:", "ws://localhost:8000/ws/"],
    ["ws://localhost:8000/", "http:", "ws://localhost:8000/ws/"],
    ["wss://chat.example.com", "https:", "wss://chat.example.com/ws/"],
    ["wss://chat.example.com/prefix/", "https:", "wss://chat.example.com/prefix/ws/"],
    // An https page may not open ws://: upgrade, except for a local backend.
    ["ws://chat.example.com", "https:", "wss://chat.example.com/ws/"],
    ["ws://chat.example.com", "http:", "ws://chat.example.com/ws/"],
    ["ws://localhost:8000", "https:", "ws://localhost:8000/ws/"],
    ["ws://127.0.0.1:8000", "https:", "ws://127.0.0.1:8000/ws/"],
  ];
  for (const [backendUrl, pageProtocol, expected] of cases) {
    it(`${backendUrl} on an ${pageProtocol} page → ${expected}`, () => {
      assert.equal(resolveSocketUrl(backendUrl, pageProtocol), expected);
    });
  }
});

describe("readRoomChoice", () => {
  it("takes the author's room as it is", () => {
    assert.deepEqual(readRoomChoice({ room: "about" }, ""), { room: "about" });
  });

  it("takes the room from the query parameter, normalised", () => {
    const fromQuery = { param: "name" };
    assert.deepEqual(readRoomChoice(fromQuery, "?name=lobby"), { room: "lobby" });
    assert.deepEqual(readRoomChoice(fromQuery, "?name=%20Help%20"), { room: "help" });
    assert.deepEqual(readRoomChoice(fromQuery, "?other=1&name=Room-2"), { room: "room-2" });
  });

  it("reports a missing room", () => {
    const fromQuery = { param: "name" };
    assert.deepEqual(readRoomChoice(fromQuery, ""), { problem: "missing", raw: "" });
    assert.deepEqual(readRoomChoice(fromQuery, "?name="), { problem: "missing", raw: "" });
    assert.deepEqual(readRoomChoice({}, "?name=lobby"), { problem: "missing", raw: "" });
  });

  it("reports an invalid room with what was given", () => {
    const fromQuery = { param: "name" };
    assert.deepEqual(readRoomChoice(fromQuery, "?name=a_b"), { problem: "invalid", raw: "a_b" });
    assert.deepEqual(readRoomChoice(fromQuery, "?name=..%2Fx"), { problem: "invalid", raw: "../x" });
    assert.deepEqual(readRoomChoice({ room: "Bad" }, ""), { problem: "invalid", raw: "Bad" });
  });
});

describe("displayedState", () => {
  it("is the socket's state while the browser is online", () => {
    for (const state of ["connecting", "waking", "connected", "reconnecting", "offline"]) {
      assert.equal(displayedState(state, true), state);
    }
  });

  it("is offline while the browser has no network and the socket is not up", () => {
    for (const state of ["connecting", "waking", "reconnecting"]) {
      assert.equal(displayedState(state, false), "offline");
    }
    assert.equal(displayedState("connected", false), "connected");
  });
});

describe("formatString", () => {
  it("fills placeholders and leaves unknown ones", () => {
    assert.equal(formatString("Reconnecting in {seconds} s…", { seconds: 3 }), "Reconnecting in 3 s…");
    assert.equal(formatString("{a} {b}", { a: "x" }), "x {b}");
    assert.equal(formatString("{toString}", {}), "{toString}");
  });
});

describe("describeTyping", () => {
  const translate = (key, values = {}) => `${key}${JSON.stringify(values)}`;
  it("names one or two people and counts the rest", () => {
    assert.equal(describeTyping([], translate), "");
    assert.equal(describeTyping(["Ann"], translate), 'chat_typing_one{"name":"Ann"}');
    assert.equal(describeTyping(["Ann", "Bob"], translate), 'chat_typing_two{"name":"Ann","other":"Bob"}');
    assert.equal(describeTyping(["Ann", "Bob", "Cy"], translate), "chat_typing_many{}");
  });
});

