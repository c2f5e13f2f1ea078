import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  DISPLAY_NAME_MAX_CHARS,
  ROOM_NAME_MAX_CHARS,
  ROOM_NAME_PATTERN,
  countCharacters,
  isValidDisplayName,
  isValidRoomName,
  normalizeDisplayName,
  normalizeRoomName,
} from "../../themes/backchannel/assets/backchannel/js/rooms.js";
import { readArchitecture, readRoomNameTable } from "./support.js";

// tests/fixtures/room_names.json is the table the Python tests of backend/chat/rooms.py read too.
const ROOM_NAME_TABLE = readRoomNameTable();
const GOOD_ROOM_NAMES = new Set([
  ...ROOM_NAME_TABLE.valid,
  ...["lobby", "a", "room-1", "0", "a-b-c", "a".repeat(40)],
]);
const BAD_ROOM_NAMES = new Set([
  ...ROOM_NAME_TABLE.invalid,
  ...["", "-a", "a-", "Lobby", "a_b", "a b", "é", "a".repeat(41), "../x"],
]);

describe("room names", () => {
  it("uses the regular expression written in ARCHITECTURE.md", () => {
    const documented = readArchitecture().match(/\(`\^(.+?)\$`\)/);
    assert.ok(documented, "ARCHITECTURE.md names the room regex as (`^…$`)");
    assert.equal(ROOM_NAME_PATTERN.source, `^${documented[1]}$`);
    assert.equal(ROOM_NAME_MAX_CHARS, 40);
  });

  for (const name of GOOD_ROOM_NAMES) {
    it(`accepts ${JSON.stringify(name)}`, () => assert.equal(isValidRoomName(name), true));
  }
  for (const name of BAD_ROOM_NAMES) {
    it(`refuses ${JSON.stringify(name)}`, () => assert.equal(isValidRoomName(name), false));
  }

  it("refuses what is not a string", () => {
    for (const value of [undefined, null, 1, ["lobby"], { name: "lobby" }]) {
      assert.equal(isValidRoomName(value), false);
    }
  });

  it("normalises typed input by trimming and lower-casing, and nothing else", () => {
    assert.equal(normalizeRoomName("  Lobby\n"), "lobby");
    assert.equal(normalizeRoomName("ROOM-1"), "room-1");
    assert.equal(normalizeRoomName("a b"), "a b");
    assert.equal(normalizeRoomName(undefined), "");
    assert.equal(isValidRoomName(normalizeRoomName(" Help ")), true);
    assert.equal(isValidRoomName(normalizeRoomName("A_B")), false);
  });
});

describe("display names", () => {
  const valid = ["a", "Alice", "  bob  ", "a".repeat(DISPLAY_NAME_MAX_CHARS), "山田 太郎", "😀".repeat(32)];
  const invalid = ["", "   ", "a".repeat(33), "😀".repeat(33), "a\u0000b", "a\nb", "tab\there", "\u007f", "x\u0085",
    "zero\u200bwidth", "bidi\u202eoverride", "private\ue000use",
    // Invisible yet not category C: what let "admin" pass for a reserved name, and blank names.
    "admin\ufe0f", "ad\u034fmin", "moderator\ufe0e", "staff\u{e0100}", "\u3164\u3164", "\u115f\u1160", "\uffa0",
    "\u2800\u2800", "line\u2028break"];

  for (const name of valid) {
    it(`accepts ${JSON.stringify(name)}`, () => assert.equal(isValidDisplayName(name), true));
  }
  for (const name of invalid) {
    it(`refuses ${JSON.stringify(name)}`, () => assert.equal(isValidDisplayName(name), false));
  }

  it("refuses what is not a string", () => {
    assert.equal(isValidDisplayName(undefined), false);
    assert.equal(isValidDisplayName(42), false);
  });

  it("trims surrounding white space", () => {
    assert.equal(normalizeDisplayName("  Alice \t"), "Alice");
  });

  it("counts code points like Python's len()", () => {
    assert.equal(countCharacters("😀"), 1);
    assert.equal("😀".length, 2);
    assert.equal(countCharacters("abc"), 3);
  });
});
