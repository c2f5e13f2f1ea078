import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";

import {
  createMessageElement,
  formatLocalTime,
  syncMessageList,
} from "../../themes/backchannel/assets/backchannel/js/render.js";
import { THEME_JS_DIR } from "./support.js";

// A tiny DOM stand-in: enough for render.js, and loud if markup parsing is ever used.
class FakeElement {
  constructor(tagName) {
    this.tagName = tagName.toUpperCase();
    this.className = "";
    this.children = [];
    this.attributes = new Map();
    this.ownText = "";
    this.parent = null;
  }

  get firstChild() {
    return this.children[0] ?? null;
  }

  get nextSibling() {
    if (this.parent === null) return null;
    return this.parent.children[this.parent.children.indexOf(this) + 1] ?? null;
  }

  get textContent() {
    return this.ownText + this.children.map((child) => child.textContent).join("");
  }

  set textContent(value) {
    this.ownText = String(value);
    this.children = [];
  }

  set innerHTML(_value) {
    throw new Error("render.js must not use innerHTML");
  }

  set outerHTML(_value) {
    throw new Error("render.js must not use outerHTML");
  }

  insertAdjacentHTML() {
    throw new Error("render.js must not use insertAdjacentHTML");
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }

  getAttribute(name) {
    return this.attributes.get(name) ?? null;
  }

  appendChild(child) {
    return this.insertBefore(child, null);
  }

  insertBefore(child, reference) {
    if (child.parent !== null) child.parent.removeChild(child);
    const index = reference === null ? this.children.length : this.children.indexOf(reference);
    assert.notEqual(index, -1, "reference node must be a child");
    this.children.splice(index, 0, child);
    child.parent = this;
    return child;
  }

  removeChild(child) {
    const index = this.children.indexOf(child);
    assert.notEqual(index, -1, "removeChild of a node that is not a child");
    this.children.splice(index, 1);
    child.parent = null;
    return child;
  }

  querySelector(selector) {
    const className = selector.replace(/^\./, "");
    for (const child of this.children) {
      if (child.className.split(" ").includes(className)) return child;
      const found = child.querySelector(selector);
      if (found) return found;
    }
    return null;
  }
}

const fakeDocument = { createElement: (tagName) => new FakeElement(tagName) };

const HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>';

// A timeline entry (timeline.js entries()).
function message(overrides = {}) {
  return {
    key: `s${overrides.seq ?? 1}`,
    seq: 1,
    clientId: undefined,
    author: "alice",
    text: "hello",
    sentAt: "2024-05-01T12:34:56.123456+00:00",
    own: false,
    state: undefined,
    ...overrides,
  };
}

const LABELS = {
  pending: "Sending…",
  failed: "Not sent",
  retry: "Retry",
  discard: "Discard",
  reason: (code) => `reason ${code}`,
};

describe("formatLocalTime", () => {
  it("normalises datetime to what HTML accepts (at most 3 fraction digits, Z)", () => {
    const time = formatLocalTime("2024-05-01T12:34:56.123456+00:00", "en");
    assert.equal(time.dateTime, "2024-05-01T12:34:56.123Z");
    assert.match(time.label, /\d/);
    assert.match(time.title, /2024/);
  });

  it("gives empty labels for an unreadable date", () => {
    assert.deepEqual(formatLocalTime("never", "en"), { dateTime: "", label: "", title: "" });
  });
});

describe("createMessageElement", () => {
  it("builds the markup of ARCHITECTURE.md", () => {
    const element = createMessageElement(fakeDocument, message({ seq: 3 }), { locale: "en" });
    assert.equal(element.className, "bc-message");
    assert.equal(element.getAttribute("data-seq"), "3");
    assert.equal(element.querySelector(".bc-message__author").textContent, "alice");
    assert.equal(element.querySelector(".bc-message__text").textContent, "hello");
    const time = element.querySelector(".bc-message__time");
    assert.equal(time.tagName, "TIME");
    assert.equal(time.getAttribute("datetime"), "2024-05-01T12:34:56.123Z");
  });

  it("puts author and text in as text, never as markup", () => {
    const element = createMessageElement(fakeDocument, message({ author: HOSTILE, text: HOSTILE }));
    assert.equal(element.querySelector(".bc-message__author").textContent, HOSTILE);
    assert.equal(element.querySelector(".bc-message__text").textContent, HOSTILE);
    assert.equal(element.querySelector(".bc-message__text").children.length, 0);
  });

  it("marks the visitor's own sent messages with their client_id and state", () => {
    const element = createMessageElement(
      fakeDocument,
      message({ own: true, clientId: "c-1", state: "sent" }),
      { labels: LABELS },
    );
    assert.equal(element.className, "bc-message bc-message--own");
    assert.equal(element.getAttribute("data-client-id"), "c-1");
    assert.equal(element.getAttribute("data-state"), "sent");
    assert.equal(element.querySelector(".bc-message__status"), null);
    assert.equal(element.querySelector(".bc-message__actions"), null);
  });

  it("leaves data-client-id and data-state off other people's messages", () => {
    const element = createMessageElement(fakeDocument, message({ clientId: "x" }));
    assert.equal(element.getAttribute("data-client-id"), null);
    assert.equal(element.getAttribute("data-state"), null);
  });

  it("shows a pending message without a seq, marked as sending", () => {
    const entry = message({ key: "cp", seq: undefined, own: true, clientId: "p", state: "pending" });
    const element = createMessageElement(fakeDocument, entry, { labels: LABELS });
    assert.equal(element.getAttribute("data-seq"), null);
    assert.equal(element.getAttribute("data-state"), "pending");
    assert.equal(element.querySelector(".bc-message__status").textContent, "Sending…");
    assert.equal(element.querySelector(".bc-message__actions"), null);
  });

  it("gives a failed message its reason and retry and discard buttons", () => {
    const entry = message({ key: "cf", seq: undefined, own: true, clientId: "f", state: "failed", code: "text_too_long" });
    const element = createMessageElement(fakeDocument, entry, { labels: LABELS });
    assert.equal(element.getAttribute("data-state"), "failed");
    const status = element.querySelector(".bc-message__status");
    assert.equal(status.textContent, "Not sent");
    assert.equal(status.getAttribute("title"), "reason text_too_long");
    const retry = element.querySelector(".bc-message__retry");
    assert.equal(retry.tagName, "BUTTON");
    assert.equal(retry.getAttribute("type"), "button");
    assert.equal(retry.getAttribute("data-action"), "retry");
    assert.equal(retry.textContent, "Retry");
    assert.equal(element.querySelector(".bc-message__discard").getAttribute("data-action"), "discard");
  });
});

describe("syncMessageList", () => {
  function setUp() {
    const list = new FakeElement("div");
    const button = list.appendChild(new FakeElement("button"));
    const rendered = new Map();
    let created = 0;
    const sync = (entries) =>
      syncMessageList(list, entries, {
        start: button,
        rendered,
        create: (entry) => {
          created += 1;
          return createMessageElement(fakeDocument, entry, { labels: LABELS });
        },
      });
    const shown = () =>
      list.children.slice(1).map((child) => child.getAttribute("data-seq") ?? child.getAttribute("data-client-id"));
    return { list, button, sync, shown, created: () => created };
  }

  it("shows the entries in order after the start element, reusing unchanged elements", () => {
    const { list, button, sync, shown, created } = setUp();
    sync([message({ seq: 2 }), message({ seq: 3 })]);
    const three = list.children[2];
    sync([message({ seq: 1 }), message({ seq: 2 }), message({ seq: 3 }), message({ seq: 4 })]);
    assert.equal(list.children[0], button);
    assert.deepEqual(shown(), ["1", "2", "3", "4"]);
    assert.equal(list.children[3], three, "an unchanged entry keeps its element");
    assert.equal(created(), 4);
  });

  it("replaces an entry whose state changed, and removes the ones that are gone", () => {
    const { list, sync, shown } = setUp();
    const pending = message({ key: "cp", seq: undefined, own: true, clientId: "p", state: "pending" });
    sync([message({ seq: 1 }), pending]);
    sync([message({ seq: 1 }), { ...pending, state: "failed", code: "text_empty" }]);
    assert.equal(list.children[2].getAttribute("data-state"), "failed");
    // Acked and received: the pending element gives way to the message at its seq.
    sync([message({ seq: 1 }), message({ seq: 2, own: true, clientId: "p", state: "sent" })]);
    assert.deepEqual(shown(), ["1", "2"]);
    assert.equal(list.children[2].getAttribute("data-client-id"), "p");
    sync([]);
    assert.deepEqual(shown(), []);
    assert.equal(list.children.length, 1, "the start element stays");
  });
});

describe("the chat client sources", () => {
  it("never parse markup from strings", () => {
    const forbidden = /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment)\b/;
    for (const file of readdirSync(THEME_JS_DIR).filter((name) => name.endsWith(".js"))) {
      const source = readFileSync(new URL(file, THEME_JS_DIR), "utf8");
      assert.doesNotMatch(source, forbidden, file);
    }
  });
});
