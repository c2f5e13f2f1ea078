import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  GROUP_WINDOW_MS,
  continuesGroup,
  describeRemaining,
  formatMessageTime,
  latestSeq,
  titleWithUnseen,
  unseenEntries,
} from "../../themes/backchannel/assets/backchannel/js/view.js";

// Timeline entries (timeline.js entries()), at `minute` minutes past 12:00 local time.
const at = (minute, second = 0) => new Date(2024, 4, 1, 12, minute, second).toISOString();
const from = (visitor, minute, overrides = {}) => ({
  seq: minute + 1, author: visitor.replace("v-", ""), visitor, own: false, staff: false, sentAt: at(minute), ...overrides,
});
const own = (minute, overrides = {}) => ({ seq: undefined, author: "me", own: true, sentAt: at(minute), ...overrides });

describe("continuesGroup", () => {
  it("runs a person's messages together within the window", () => {
    assert.equal(continuesGroup(from("v-ann", 0), from("v-ann", 4)), true);
    assert.equal(GROUP_WINDOW_MS, 5 * 60 * 1000);
  });

  it("starts a new group for another person, even one of the same name", () => {
    assert.equal(continuesGroup(from("v-ann", 0), from("v-bob", 1)), false);
    assert.equal(continuesGroup(from("v-ann", 0), from("v-ann2", 1, { author: "ann" })), false);
  });

  it("starts a new group after the window, on another day, or when time runs backwards", () => {
    assert.equal(continuesGroup(from("v-ann", 0), from("v-ann", 5)), false);
    const lateNight = { ...from("v-ann", 0), sentAt: new Date(2024, 4, 1, 23, 59).toISOString() };
    const nextMorning = { ...from("v-ann", 0), sentAt: new Date(2024, 4, 2, 0, 1).toISOString() };
    assert.equal(continuesGroup(lateNight, nextMorning), false);
    assert.equal(continuesGroup(from("v-ann", 3), from("v-ann", 1)), false);
  });

  it("groups own messages, sent or pending, apart from others'", () => {
    assert.equal(continuesGroup(own(0, { seq: 3, visitor: "v-me" }), own(1)), true);
    assert.equal(continuesGroup(from("v-me", 0), own(1)), false);
    assert.equal(continuesGroup(own(0), from("v-ann", 1)), false);
  });

  it("never groups the first message", () => {
    assert.equal(continuesGroup(undefined, from("v-ann", 0)), false);
  });
});

describe("formatMessageTime", () => {
  const sent = new Date(2024, 4, 1, 12, 0, 0);
  const after = (ms) => sent.getTime() + ms;

  it("says now, then minutes ago, in the page's language", () => {
    assert.equal(formatMessageTime(sent.toISOString(), after(20_000), "en").label, "now");
    assert.equal(formatMessageTime(sent.toISOString(), after(60_000), "en").label, "1 minute ago");
    assert.equal(formatMessageTime(sent.toISOString(), after(59 * 60_000), "en").label, "59 minutes ago");
    assert.equal(formatMessageTime(sent.toISOString(), after(20_000), "ja").label, "今");
    assert.equal(formatMessageTime(sent.toISOString(), after(3 * 60_000), "ja").label, "3 分前");
  });

  it("says now for a message from a clock a little ahead, the time for one far ahead", () => {
    assert.equal(formatMessageTime(sent.toISOString(), after(-30_000), "en").label, "now");
    assert.equal(formatMessageTime(sent.toISOString(), after(-5 * 60_000), "en").label, "12:00 PM");
  });

  it("gives the local clock time after an hour, and the day too on another day", () => {
    assert.equal(formatMessageTime(sent.toISOString(), after(2 * 3600_000), "en").label, "12:00 PM");
    assert.equal(formatMessageTime(sent.toISOString(), after(2 * 3600_000), "ja").label, "12:00");
    assert.equal(formatMessageTime(sent.toISOString(), after(26 * 3600_000), "en").label, "May 1, 2024, 12:00 PM");
    assert.equal(formatMessageTime(sent.toISOString(), after(26 * 3600_000), "ja").label, "2024/05/01 12:00");
  });

  it("gives the full local date as the title, and a datetime HTML accepts", () => {
    const time = formatMessageTime("2024-05-01T12:34:56.123456+00:00", Date.now(), "en");
    assert.equal(time.dateTime, "2024-05-01T12:34:56.123Z");
    assert.match(time.title, /2024/);
    assert.match(formatMessageTime("2024-05-01T12:34:56Z", Date.now(), "ja").title, /2024年5月1日/);
  });
});

describe("unseen messages", () => {
  const entries = [from("v-ann", 1), from("v-bob", 2), own(3, { seq: 4 }), from("v-ann", 4), own(5)];

  it("counts others' messages after the last one seen, not the visitor's own", () => {
    assert.equal(unseenEntries(entries, 0).length, 3);
    assert.deepEqual(unseenEntries(entries, 2).map((entry) => entry.seq), [3, 5]);
    assert.equal(unseenEntries(entries, 5).length, 0);
  });

  it("knows the newest seq, pending messages (no seq yet) aside", () => {
    assert.equal(latestSeq(entries), 5);
    assert.equal(latestSeq([]), 0);
  });

  it("puts the count in front of the tab title, formatted for the page", () => {
    assert.equal(titleWithUnseen("#lobby · Backchannel", 0), "#lobby · Backchannel");
    assert.equal(titleWithUnseen("#lobby · Backchannel", 3), "(3) #lobby · Backchannel");
    const format = (count) => count.toLocaleString("en");
    assert.equal(titleWithUnseen("#lobby", 1200, format), "(1,200) #lobby");
  });
});

describe("describeRemaining", () => {
  it("stays quiet far from the limit", () => {
    assert.equal(describeRemaining(0, 2000), null);
    assert.equal(describeRemaining(1799, 2000), null);
  });

  it("counts down near the limit (a tenth of it, at least 20) and counts the excess", () => {
    assert.deepEqual(describeRemaining(1800, 2000), { key: "chat_chars_left", count: 200 });
    assert.deepEqual(describeRemaining(2000, 2000), { key: "chat_chars_left", count: 0 });
    assert.deepEqual(describeRemaining(2003, 2000), { key: "chat_chars_over", count: 3 });
    assert.deepEqual(describeRemaining(80, 100), { key: "chat_chars_left", count: 20 });
    assert.equal(describeRemaining(79, 100), null);
  });

  it("says nothing before the server has told the limit", () => {
    assert.equal(describeRemaining(5000, undefined), null);
  });
});
