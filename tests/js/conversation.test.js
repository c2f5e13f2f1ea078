// The conversation chunk's and the write chunk's pure parts: mentions being typed, the search
// URL, days, folding, and what is drawn of version 3's fields (checked, as they come from the
// network). The DOM wiring is covered in chat.mount.test.js and the browser tests.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { describeDay, isLongText, localDay, readReactions, readReplyQuote } from "../../themes/backchannel/assets/backchannel/js/decorations.js";
import { MENTION_CHOICES_MAX, findMentionQuery, insertMention, matchNames } from "../../themes/backchannel/assets/backchannel/js/mention-picker.js";
import { decodeServerEvent } from "../../themes/backchannel/assets/backchannel/js/protocol.js";
import { searchUrl } from "../../themes/backchannel/assets/backchannel/js/search.js";

describe("mentions being typed", () => {
  it("finds the name being typed after an @ at a word's start, up to the caret", () => {
    assert.deepEqual(findMentionQuery("hi @an", 6), { start: 3, query: "an" });
    assert.deepEqual(findMentionQuery("@", 1), { start: 0, query: "" });
    assert.deepEqual(findMentionQuery("@Ann and", 4), { start: 0, query: "Ann" });
    assert.equal(findMentionQuery("mail@example", 12), null, "not inside a word");
    assert.equal(findMentionQuery("@Ann hi", 7), null, "a space ends it");
  });

  it("offers the names that start with it, any case, once each, without the visitor's own", () => {
    const names = ["Ann", "anna", "Bob", "ANN", "Annette", "Me"];
    assert.deepEqual(matchNames(names, "an"), ["Ann", "anna", "Annette"]);
    assert.deepEqual(matchNames(names, "", "Me"), ["Ann", "anna", "Bob", "Annette"]);
    assert.equal(matchNames(Array.from({ length: 20 }, (_, index) => `n${index}`), "n").length, MENTION_CHOICES_MAX);
  });

  it("puts '@Name ' in place of what was typed, the caret after it", () => {
    assert.deepEqual(insertMention("hi @an, ok", 3, 6, "Ann"), { text: "hi @Ann , ok", caret: 8 });
  });
});

describe("search", () => {
  it("asks the room's search API, the query and the page encoded", () => {
    assert.equal(searchUrl("https://chat.example", "tea", "東京 & co"), "https://chat.example/api/rooms/tea/search/?q=%E6%9D%B1%E4%BA%AC+%26+co");
    assert.equal(searchUrl("https://chat.example", "tea", "x", 40), "https://chat.example/api/rooms/tea/search/?q=x&before_seq=40");
  });
});

describe("reading aids", () => {
  const now = Date.parse("2026-12-07T12:00:00");
  const translate = (key) => key;

  it("names today and yesterday, and writes other days out", () => {
    assert.equal(describeDay("2026-12-07T08:00:00", now, "en", translate), "chat_day_today");
    assert.equal(describeDay("2026-12-06T23:00:00", now, "en", translate), "chat_day_yesterday");
    assert.match(describeDay("2026-11-30T10:00:00", now, "en", translate), /November 30, 2026/);
    assert.equal(localDay("2026-12-07T08:00:00"), localDay("2026-12-07T20:00:00"));
  });

  it("folds a message over 500 characters or 8 lines", () => {
    assert.equal(isLongText("x".repeat(500)), false);
    assert.equal(isLongText("x".repeat(501)), true);
    assert.equal(isLongText("a\n".repeat(7) + "a"), false);
    assert.equal(isLongText("a\n".repeat(8) + "a"), true);
  });
});

describe("version 3's fields, as drawn", () => {
  it("keeps well-formed reactions and drops the rest", () => {
    const message = {
      reactions: [
        { emoji: "👍", count: 2, names: ["Ann", 3], visitors: ["v-ann"] },
        { emoji: "🎉", count: 0 },
        { emoji: 5, count: 1 },
        null,
        { emoji: "😮", count: 1 },
      ],
    };
    assert.deepEqual(readReactions(message), [
      { emoji: "👍", count: 2, names: ["Ann"], visitors: ["v-ann"] },
      { emoji: "😮", count: 1, names: [], visitors: [] },
    ]);
    assert.deepEqual(readReactions({ reactions: "lots" }), []);
  });

  it("reads a reply's quote, or nothing when it is malformed", () => {
    assert.deepEqual(readReplyQuote({ reply_to: { seq: 4, author: "Bob", excerpt: "hi", deleted: false } }), { seq: 4, author: "Bob", excerpt: "hi", deleted: false });
    assert.deepEqual(readReplyQuote({ reply_to: { seq: 4, deleted: true } }), { seq: 4, author: "", excerpt: "", deleted: true });
    assert.equal(readReplyQuote({ reply_to: { seq: "4" } }), null);
    assert.equal(readReplyQuote({ reply_to: null }), null);
  });

  it("decodes a change's ack by its rev, and a message's by its seq", () => {
    assert.deepEqual(decodeServerEvent('{"type":"ack","room":"tea","client_id":"c1","rev":0}'), { type: "ack", room: "tea", client_id: "c1", rev: 0 });
    assert.deepEqual(decodeServerEvent('{"type":"ack","room":"tea","client_id":"c1","seq":3}'), { type: "ack", room: "tea", client_id: "c1", seq: 3 });
    assert.throws(() => decodeServerEvent('{"type":"ack","room":"tea","client_id":"c1"}'), { code: "bad_field" });
  });
});
