import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";

import {
  createMessageElement,
  formatLocalTime,
  insertMessageElement,
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
    this.children.push(child);
    return child;
  }

  insertBefore(child, reference) {
    const index = reference === null ? this.children.length : this.children.indexOf(reference);
    assert.notEqual(index, -1, "reference node must be a child");
    this.children.splice(index, 0, child);
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

function message(overrides = {}) {
  return {
    type: "message",
    room: "lobby",
    seq: 1,
    author: "alice",
    text: "hello",
    sent_at: "2024-05-01T12:34:56.123456+00:00",
    client_id: null,
    ...overrides,
  };
}

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

  it("marks the visitor's own messages", () => {
    const element = createMessageElement(fakeDocument, message(), { isOwn: true });
    assert.equal(element.className, "bc-message bc-message--own");
  });
});

describe("insertMessageElement", () => {
  it("keeps the list ordered by seq", () => {
    const list = new FakeElement("div");
    for (const seq of [2, 5, 3, 1, 4]) {
      insertMessageElement(list, createMessageElement(fakeDocument, message({ seq })));
    }
    assert.deepEqual(
      list.children.map((child) => child.getAttribute("data-seq")),
      ["1", "2", "3", "4", "5"],
    );
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
