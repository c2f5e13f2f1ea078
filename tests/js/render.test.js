import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";

import { LINK_REL, appendLinkedText, splitLinks } from "../../themes/backchannel/assets/backchannel/js/links.js";
import { createMessageElement, syncMessageList } from "../../themes/backchannel/assets/backchannel/js/render.js";
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
    if (name === "class") this.className = String(value);
    else this.attributes.set(name, String(value));
  }

  getAttribute(name) {
    if (name === "class") return this.className;
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

// A text node: holds text only, never markup.
class FakeText {
  constructor(text) {
    this.nodeType = 3;
    this.className = "";
    this.textContent = String(text);
    this.children = [];
    this.parent = null;
  }

  querySelector() {
    return null;
  }
}

const fakeDocument = {
  createElement: (tagName) => new FakeElement(tagName),
  createTextNode: (text) => new FakeText(text),
};

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

// translate and errorText options, as chat.js passes them.
const STRINGS = {
  chat_message_pending: "Sending…",
  chat_message_failed: "Not sent",
  chat_message_retry: "Retry",
  chat_message_discard: "Discard",
  chat_staff_badge: "staff",
};
const LABELS = { translate: (key) => STRINGS[key], errorText: (code) => `reason ${code}` };

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

  it("shows the author's tag after the name, so two people of one name look different", () => {
    const element = createMessageElement(fakeDocument, message({ tag: "k3f9", staff: true }), { locale: "en", translate: (key) => key });
    assert.equal(element.querySelector(".bc-message__author").textContent, "alice");
    assert.equal(element.querySelector(".bc-tag").textContent, "#k3f9");
    assert.equal(element.querySelector(".bc-staff-badge").textContent, "chat_staff_badge");
    assert.equal(createMessageElement(fakeDocument, message(), { locale: "en" }).querySelector(".bc-tag"), null, "none from an older server");
  });

  it("says an own message held by the word filter waits for a moderator, without retry buttons", () => {
    const element = createMessageElement(fakeDocument, message({ own: true, clientId: "c1", state: "held" }), { translate: (key) => key });
    assert.equal(element.getAttribute("data-state"), "held");
    assert.equal(element.querySelector(".bc-message__status").textContent, "chat_message_held");
    assert.equal(element.querySelector(".bc-message__actions"), null);
  });

  it("marks a message that continues its author's group, keeping the author for screen readers", () => {
    const element = createMessageElement(fakeDocument, message({ grouped: true }), { locale: "en" });
    assert.equal(element.className, "bc-message bc-message--grouped");
    assert.equal(element.querySelector(".bc-message__author").textContent, "alice");
  });

  it("labels a recent message's time relative to now, in the page's language", () => {
    const now = Date.parse("2024-05-01T12:39:00Z");
    const english = createMessageElement(fakeDocument, message(), { locale: "en", now });
    assert.equal(english.querySelector(".bc-message__time").textContent, "4 minutes ago");
    const japanese = createMessageElement(fakeDocument, message(), { locale: "ja", now });
    assert.equal(japanese.querySelector(".bc-message__time").textContent, "4 分前");
  });

  it("puts author and text in as text, never as markup", () => {
    const element = createMessageElement(fakeDocument, message({ author: HOSTILE, text: HOSTILE }));
    assert.equal(element.querySelector(".bc-message__author").textContent, HOSTILE);
    const text = element.querySelector(".bc-message__text");
    assert.equal(text.textContent, HOSTILE);
    assert.ok(text.children.every((child) => child instanceof FakeText), "text nodes only");
  });

  it("marks a staff member's message with a badge after the name", () => {
    const element = createMessageElement(fakeDocument, message({ staff: true }), LABELS);
    const meta = element.querySelector(".bc-message__meta");
    assert.deepEqual(meta.children.slice(0, 2).map((child) => child.className), ["bc-message__author", "bc-staff-badge"]);
    assert.equal(element.querySelector(".bc-staff-badge").textContent, "staff");
    assert.equal(createMessageElement(fakeDocument, message()).querySelector(".bc-staff-badge"), null);
  });

  it("draws the text as one text node: links and formatting are the conversation chunk's", () => {
    const element = createMessageElement(fakeDocument, message({ text: "see https://example.com/a. **bold**" }));
    const text = element.querySelector(".bc-message__text");
    assert.equal(text.textContent, "see https://example.com/a. **bold**");
    assert.deepEqual(text.children.map((child) => child.tagName ?? "#text"), ["#text"]);
  });

  it("marks the visitor's own sent messages with their client_id and state", () => {
    const element = createMessageElement(
      fakeDocument,
      message({ own: true, clientId: "c-1", state: "sent" }),
      LABELS,
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
    const element = createMessageElement(fakeDocument, entry, LABELS);
    assert.equal(element.getAttribute("data-seq"), null);
    assert.equal(element.getAttribute("data-state"), "pending");
    assert.equal(element.querySelector(".bc-message__status").textContent, "Sending…");
    assert.equal(element.querySelector(".bc-message__actions"), null);
  });

  it("gives a failed message its reason (its buttons are the conversation chunk's)", () => {
    const entry = message({ key: "cf", seq: undefined, own: true, clientId: "f", state: "failed", code: "text_too_long" });
    const element = createMessageElement(fakeDocument, entry, LABELS);
    assert.equal(element.getAttribute("data-state"), "failed");
    const status = element.querySelector(".bc-message__status");
    assert.equal(status.textContent, "Not sent");
    assert.equal(status.getAttribute("title"), "reason text_too_long");
  });
});

describe("splitLinks", () => {
  const link = (text, href = text) => ({ text, href });
  const cases = [
    ["plain text", "no links here", [{ text: "no links here" }]],
    ["an empty text", "", []],
    ["a bare URL", "https://example.com", [link("https://example.com", "https://example.com/")]],
    ["http too", "http://example.com/x", [link("http://example.com/x")]],
    ["an upper-case scheme", "HTTPS://EXAMPLE.COM/Path", [link("HTTPS://EXAMPLE.COM/Path", "https://example.com/Path")]],
    ["a mixed-case scheme", "Http://a.example/", [link("Http://a.example/", "http://a.example/")]],
    ["a URL in a sentence", "go to https://a.example/x now", [{ text: "go to " }, link("https://a.example/x"), { text: " now" }]],
    ["a full stop after it", "see https://a.example/x.", [{ text: "see " }, link("https://a.example/x"), { text: "." }]],
    ["a comma and more", "https://a.example/x, then", [link("https://a.example/x"), { text: ", then" }]],
    ["several trailing marks", "https://a.example/x?!…", [link("https://a.example/x"), { text: "?!…" }]],
    ["a query and fragment", "https://a.example/p?q=1&r=2#top", [link("https://a.example/p?q=1&r=2#top")]],
    ["a URL in parentheses", "(https://a.example/x)", [{ text: "(" }, link("https://a.example/x"), { text: ")" }]],
    [
      "balanced parentheses in the URL",
      "https://en.wikipedia.org/wiki/Rust_(language)",
      [link("https://en.wikipedia.org/wiki/Rust_(language)")],
    ],
    [
      "balanced parentheses, the URL in parentheses",
      "(https://en.wikipedia.org/wiki/A_(b))",
      [{ text: "(" }, link("https://en.wikipedia.org/wiki/A_(b)"), { text: ")" }],
    ],
    ["square brackets", "[https://a.example/]", [{ text: "[" }, link("https://a.example/"), { text: "]" }]],
    ["javascript:", "javascript:alert(1)", [{ text: "javascript:alert(1)" }]],
    ["JAVASCRIPT: in capitals", "JaVaScRiPt:alert(document.cookie)", [{ text: "JaVaScRiPt:alert(document.cookie)" }]],
    ["javascript: with slashes", "javascript://a.example/%0Aalert(1)", [{ text: "javascript://a.example/%0Aalert(1)" }]],
    ["data:", "data:text/html,<script>alert(1)</script>", [{ text: "data:text/html,<script>alert(1)</script>" }]],
    ["vbscript: and file:", "vbscript:x file:///etc/passwd", [{ text: "vbscript:x file:///etc/passwd" }]],
    ["ftp: and mailto:", "ftp://a.example mailto:a@b.example", [{ text: "ftp://a.example mailto:a@b.example" }]],
    ["a scheme glued to a word", "xhttps://a.example/", [{ text: "xhttps://a.example/" }]],
    ["a scheme without a host", "https:// and http://", [{ text: "https:// and http://" }]],
    [
      "markup around a URL",
      '<script>https://a.example/"onmouseover=alert(1)</script>',
      [{ text: "<script>" }, link("https://a.example/"), { text: '"onmouseover=alert(1)</script>' }],
    ],
    ["a URL stops at <", "https://a.example/<b>", [link("https://a.example/"), { text: "<b>" }]],
    [
      "a unicode host and path",
      "https://例え.jp/パス",
      [link("https://例え.jp/パス", "https://xn--r8jz45g.jp/%E3%83%91%E3%82%B9")],
    ],
    [
      "Japanese punctuation after it",
      "ここ：https://a.example/x。",
      [{ text: "ここ：" }, link("https://a.example/x"), { text: "。" }],
    ],
    ["an emoji in the path", "https://a.example/😀!", [link("https://a.example/😀", "https://a.example/%F0%9F%98%80"), { text: "!" }]],
    ["two URLs", "https://a.example https://b.example", [link("https://a.example", "https://a.example/"), { text: " " }, link("https://b.example", "https://b.example/")]],
    ["a line break ends it", "https://a.example/x\nnext", [link("https://a.example/x"), { text: "\nnext" }]],
  ];
  for (const [label, text, expected] of cases) {
    it(label, () => {
      const parts = splitLinks(text);
      assert.deepEqual(parts, expected);
      assert.equal(parts.map((part) => part.text).join(""), text, "nothing is lost or added");
    });
  }

  it("only ever links http: and https:", () => {
    const texts = ["javascript:https://a.example", "data:https://x", "https://a.example/javascript:alert(1)"];
    for (const part of texts.flatMap(splitLinks)) {
      if (part.href !== undefined) assert.match(part.href, /^https?:\/\//);
    }
  });
});

describe("appendLinkedText", () => {
  it("builds links with createElement and the safe rel and target, and the rest as text nodes", () => {
    const parent = new FakeElement("p");
    appendLinkedText(fakeDocument, parent, "<b>hi</b> https://a.example/?x=<i> end");
    assert.deepEqual(parent.children.map((child) => child.tagName ?? "#text"), ["#text", "A", "#text"]);
    const [before, anchor, after] = parent.children;
    assert.equal(before.textContent, "<b>hi</b> ");
    assert.equal(anchor.textContent, "https://a.example/?x=");
    assert.equal(anchor.getAttribute("href"), "https://a.example/?x=");
    assert.equal(anchor.getAttribute("rel"), "nofollow noopener ugc");
    assert.equal(LINK_REL, "nofollow noopener ugc");
    assert.equal(anchor.getAttribute("target"), "_blank");
    assert.equal(after.textContent, "<i> end");
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
          return createMessageElement(fakeDocument, entry, LABELS);
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

  it("rebuilds an entry whose grouping changed (its neighbour above went or came)", () => {
    const { list, sync } = setUp();
    sync([message({ seq: 1 }), message({ seq: 2, grouped: true })]);
    const second = list.children[2];
    sync([message({ seq: 2, grouped: false })]);
    assert.notEqual(list.children[1], second);
    assert.equal(list.children[1].className, "bc-message");
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
