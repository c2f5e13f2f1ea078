import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import {
  appendFormattedText,
  hasFormatting,
  mentionsName,
  parseFormatting,
} from "../../themes/backchannel/assets/backchannel/js/format.js";
import { LINK_REL, appendLinkedText } from "../../themes/backchannel/assets/backchannel/js/links.js";
import { createFakeDocument } from "./fake-dom.js";
import { REPO_ROOT, createRandom } from "./support.js";

const document = createFakeDocument();

function render(text, options) {
  const parent = document.createElement("p");
  appendFormattedText(document, parent, text, options);
  return parent;
}

// The DOM as markup, for reading the tests (a link's rel and target are checked on their own).
function serialize(node) {
  if (node.nodeType === 3) return node.textContent;
  const tag = node.tagName.toLowerCase();
  const attributes = [...node.attributes]
    .filter(([name]) => tag !== "a" || name === "href")
    .map(([name, value]) => ` ${name}="${value}"`)
    .join("");
  return `<${tag}${attributes}>${node.ownText}${node.children.map(serialize).join("")}</${tag}>`;
}

const html = (text, options) => render(text, options).children.map(serialize).join("");

// What the source was: every node with the markers it used, so nothing is lost or added.
const toSource = (nodes) =>
  nodes
    .map((node) => {
      if (typeof node === "string") return node;
      if (node.type === "pre") return node.marker + node.info + node.text + node.marker;
      if (node.type === "code") return node.marker + node.text + node.marker;
      return node.children ? node.marker + toSource(node.children) + node.marker : node.text;
    })
    .join("");
// What is shown: the source minus those markers.
const shown = (nodes) => nodes.map((node) => (typeof node === "string" ? node : node.children ? shown(node.children) : node.text)).join("");

function* elementsOf(node) {
  for (const child of node.children) {
    if (child.nodeType === 3) continue;
    yield child;
    yield* elementsOf(child);
  }
}

const ALLOWED_ATTRIBUTES = { CODE: [], PRE: [], STRONG: [], EM: [], S: [], A: ["href", "rel", "target"], SPAN: ["class"] };

/** Only the elements and attributes formatting makes; every link http(s), rel and target set. */
function assertSafe(parent, source) {
  for (const element of elementsOf(parent)) {
    const allowed = ALLOWED_ATTRIBUTES[element.tagName];
    assert.ok(allowed, `${element.tagName} from ${source}`);
    for (const name of element.attributes.keys()) assert.ok(allowed.includes(name), `${element.tagName} ${name} from ${source}`);
    if (element.tagName === "A") {
      assert.match(element.getAttribute("href"), /^https?:\/\/[^\s<>"`]+$/, source);
      assert.ok(["http:", "https:"].includes(new URL(element.getAttribute("href")).protocol), source);
      assert.equal(element.getAttribute("rel"), LINK_REL);
      assert.equal(element.getAttribute("target"), "_blank");
      assert.equal(element.children.length, 0, "a link holds text only");
    }
    if (element.tagName === "SPAN") assert.match(element.getAttribute("class"), /^bc-mention( bc-mention--self)?$/);
    if (element.tagName === "PRE") assert.deepEqual(element.children.map((child) => child.tagName), ["CODE"]);
    if (element.tagName === "CODE") assert.equal(element.children.length, 0, "nothing is formatted inside code");
  }
}

/** `shownText` is `source` with only marker characters taken out. */
function assertOnlyMarkersRemoved(source, shownText) {
  let s = 0;
  for (const character of shownText) {
    while (source[s] !== character) {
      assert.match(source[s] ?? "(end)", /^[`*_~]$/, `"${shownText}" is "${source}" minus markers only`);
      s += 1;
    }
    s += 1;
  }
  assert.match(source.slice(s), /^[`*_~]*$/, `"${shownText}" is "${source}" minus markers only`);
}

/** The shown text is the source minus the markers the tree says it used, in the tree and the DOM. */
function assertSourceKept(text, options) {
  const nodes = parseFormatting(text, options);
  assert.equal(toSource(nodes), text, "the tree keeps every character of the source");
  const parent = render(text, options);
  assert.equal(parent.textContent, shown(nodes));
  return parent;
}

describe("parseFormatting and appendFormattedText", () => {
  const cases = [
    ["inline code", "run `npm test` now", "run <code>npm test</code> now"],
    ["double backticks hold a backtick", "``a ` b``", "<code>a ` b</code>"],
    ["a code block keeps line breaks and spaces", "```\n  a\n\tb  \n```", "<pre><code>  a\n\tb  \n</code></pre>"],
    ["a code block's language word is dropped", "```js\nlet a = 1;\n```", "<pre><code>let a = 1;\n</code></pre>"],
    ["a one-line code block", "see ```x = 1``` there", "see <pre><code>x = 1</code></pre> there"],
    ["a language word alone is the content", "```js\n```", "<pre><code>js\n</code></pre>"],
    ["bold", "a **b c** d", "a <strong>b c</strong> d"],
    ["italic with stars", "an *odd* day", "an <em>odd</em> day"],
    ["italic with underscores", "an _odd_ day", "an <em>odd</em> day"],
    ["strikethrough", "a ~~gone~~ b", "a <s>gone</s> b"],
    ["bold and italic in one run", "***both***", "<strong><em>both</em></strong>"],
    ["markers around punctuation", "(**b**), *i*!", "(<strong>b</strong>), <em>i</em>!"],
    ["Japanese, without spaces", "これは**太字**と*斜体*です", "これは<strong>太字</strong>と<em>斜体</em>です"],
    ["line breaks stay text", "a\n**b\nc**\n", "a\n<strong>b\nc</strong>\n"],
    // Not formatting.
    ["snake_case", "snake_case_name and __init__", "snake_case_name and __init__"],
    ["arithmetic", "2*3*4 = 24, a * b * c", "2*3*4 = 24, a * b * c"],
    ["markers inside words", "foo**bar**baz un_der_score", "foo**bar**baz un_der_score"],
    ["markers before a space", "** not bold ** and * not * and _ no _", "** not bold ** and * not * and _ no _"],
    ["a single tilde and four", "~a~ ~~~~", "~a~ ~~~~"],
    ["four stars", "****x****", "****x****"],
    // Unclosed.
    ["an unclosed bold", "a **b c", "a **b c"],
    ["an unclosed italic", "_a b", "_a b"],
    ["an unclosed code", "a `b c", "a `b c"],
    ["an unclosed code block", "```js\nlet a", "```js\nlet a"],
    ["backticks of another length do not close", "``a`", "``a`"],
    ["an unclosed marker inside a closed one", "**a *b**", "<strong>a *b</strong>"],
    ["crossed markers: the first to close wins", "*a **b* c**", "<em>a **b</em> c**"],
    ["a closer without an opener", "a** b", "a** b"],
    // Nesting.
    ["italic in bold", "**a *b* c**", "<strong>a <em>b</em> c</strong>"],
    ["bold in italic", "_a **b** c_", "<em>a <strong>b</strong> c</em>"],
    ["strike in bold in italic", "*a **b ~~c~~** d*", "<em>a <strong>b <s>c</s></strong> d</em>"],
    ["code in bold", "**see `x`**", "<strong>see <code>x</code></strong>"],
    // Code protects its content.
    ["no formatting in code", "`**a** _b_ ~~c~~`", "<code>**a** _b_ ~~c~~</code>"],
    ["no link in code", "`https://a.example/`", "<code>https://a.example/</code>"],
    ["no link in a code block", "```\nhttps://a.example/\n```", "<pre><code>https://a.example/\n</code></pre>"],
    ["code wins over a marker that spans it", "*a `b*` c*", "<em>a <code>b*</code> c</em>"],
    // Links.
    ["a link in bold", "**https://a.example/x**", '<strong><a href="https://a.example/x">https://a.example/x</a></strong>'],
    ["a link in italic", "_https://a.example/x_", '<em><a href="https://a.example/x">https://a.example/x</a></em>'],
    ["a link in strike", "~~https://a.example~~", '<s><a href="https://a.example/">https://a.example</a></s>'],
    ["markers inside a URL", "https://a.example/a_b_c/~d/*e*f", '<a href="https://a.example/a_b_c/~d/*e*f">https://a.example/a_b_c/~d/*e*f</a>'],
    ["a link then a full stop", "see https://a.example/x.", 'see <a href="https://a.example/x">https://a.example/x</a>.'],
    ["javascript: stays text", "**javascript:alert(1)**", "<strong>javascript:alert(1)</strong>"],
  ];
  for (const [label, text, expected] of cases) {
    it(label, () => {
      assert.equal(html(text), expected);
      assertSourceKept(text);
    });
  }

  it("returns plain data: strings and nodes with their markers", () => {
    assert.deepEqual(parseFormatting("a **b `c`** https://a.example/"), [
      "a ",
      { type: "strong", marker: "**", children: ["b ", { type: "code", marker: "`", text: "c" }] },
      " ",
      { type: "a", href: "https://a.example/", text: "https://a.example/" },
    ]);
    assert.deepEqual(parseFormatting("```py\nx\n```"), [{ type: "pre", marker: "```", info: "py\n", text: "x\n" }]);
    assert.deepEqual(parseFormatting(""), []);
  });

  it("makes links as appendLinkedText does, with its rel and target", () => {
    const texts = [
      "go to https://a.example/x now",
      "HTTPS://EXAMPLE.COM/Path, (https://en.wikipedia.org/wiki/A_(b)) [https://a.example/]",
      "ここ：https://a.example/x。 https://例え.jp/パス",
      "xhttps://a.example/ https:// javascript:alert(1) data:text/html,x https://a.example/<b>",
      "https://[::1 https://a.example/x.https://b.example/ 1https://c.example/",
    ];
    for (const text of texts) {
      const linked = document.createElement("p");
      appendLinkedText(document, linked, text);
      const formatted = render(text);
      assert.equal(formatted.children.map(serialize).join(""), linked.children.map(serialize).join(""), text);
      for (const [index, element] of formatted.children.entries()) {
        if (element.tagName === "A") assert.deepEqual(element.attributes, linked.children[index].attributes);
      }
    }
    assert.equal(render("https://a.example/").children[0].getAttribute("rel"), "nofollow noopener ugc");
  });
});

describe("mentions", () => {
  const names = ["Alice", "Alice Smith", "Bob", "山田"];

  it("wraps a known name after @ in a bc-mention span, and the reader's own in bc-mention--self", () => {
    assert.equal(
      html("hi @Bob and @Alice!", { mentionNames: names, ownName: "Alice" }),
      'hi <span class="bc-mention">@Bob</span> and <span class="bc-mention bc-mention--self">@Alice</span>!',
    );
  });

  it("takes the longest known name, in any case, also one with a space", () => {
    assert.equal(
      html("@alice smith, @ALICE, @Alice Smithers", { mentionNames: names, ownName: "Alice" }),
      '<span class="bc-mention">@alice smith</span>, <span class="bc-mention bc-mention--self">@ALICE</span>, <span class="bc-mention bc-mention--self">@Alice</span> Smithers',
    );
  });

  it("needs a known name, whole, at the start of a word", () => {
    const options = { mentionNames: names };
    assert.equal(html("@Bobby @Carol mail@Bob.example @ Bob", options), "@Bobby @Carol mail@Bob.example @ Bob");
    assert.equal(html("@山田さん", options), '<span class="bc-mention">@山田</span>さん');
    assert.equal(html("@Bob", {}), "@Bob", "no names, no mentions");
  });

  it("mentions the reader by their own name even when it is not in the list", () => {
    assert.equal(html("@Zoe?", { ownName: "Zoe" }), '<span class="bc-mention bc-mention--self">@Zoe</span>?');
  });

  it("works inside formatting, never inside code", () => {
    assert.equal(
      html("**@Bob** `@Bob` _@Bob_", { mentionNames: names }),
      '<strong><span class="bc-mention">@Bob</span></strong> <code>@Bob</code> <em><span class="bc-mention">@Bob</span></em>',
    );
  });

  it("takes a name with markers or pattern characters as it is", () => {
    const odd = ["*star*", "a.b(c", "[x]+"];
    assert.equal(
      html("@*star* @a.b(c @aXb(c @[x]+", { mentionNames: odd }),
      '<span class="bc-mention">@*star*</span> <span class="bc-mention">@a.b(c</span> @aXb(c <span class="bc-mention">@[x]+</span>',
    );
    assertSourceKept("@*star* **@a.b(c**", { mentionNames: odd });
    // Any printable ASCII character in a name (display names may have them all).
    const every = Array.from({ length: 95 }, (_, i) => `a${String.fromCharCode(32 + i)}b`);
    const nodes = parseFormatting(every.map((name) => `@${name}`).join(" "), { mentionNames: every });
    assert.equal(nodes.filter((node) => node.type === "mention").length, every.length);
  });

  it("mentionsName tells whether a text mentions a name, for notifications", () => {
    assert.equal(mentionsName("hey @alice, look", "Alice"), true);
    assert.equal(mentionsName("hey **@Alice**", "Alice"), true);
    assert.equal(mentionsName("hey Alice", "Alice"), false);
    assert.equal(mentionsName("`@Alice`", "Alice"), false, "not in code");
    assert.equal(mentionsName("@Alicette", "Alice"), false);
    assert.equal(mentionsName("@Alice Smith", "Alice", names), false, "another, longer name");
    assert.equal(mentionsName("@Alice Smith", "Alice"), true, "without the other names, it reads as Alice");
    assert.equal(mentionsName("@Alice", null), false);
    assert.equal(mentionsName("@Alice", ""), false);
  });
});

describe("hasFormatting", () => {
  it("tells whether a text needs the formatting at all", () => {
    for (const text of ["`x`", "**x**", "*x*", "_x_", "~~x~~", "@Bob"]) assert.equal(hasFormatting(text), true, text);
    for (const text of ["plain text", "https://a.example/x", "", "a < b & c"]) assert.equal(hasFormatting(text), false, text);
  });
});

describe("the source kept", () => {
  it("shows any text as its source minus the markers used, with only the allowed elements", () => {
    const random = createRandom(18);
    const pieces = ["*", "**", "***", "_", "__", "~", "~~", "`", "``", "```", "a", "b", "2", " ", " ", "\n", "js\n", "@Al", "@Al Bo", "https://a.example/x", "https://", "<", ".", "こ"];
    for (let run = 0; run < 3000; run += 1) {
      const length = random.below(24);
      const text = Array.from({ length }, () => random.pick(pieces)).join("");
      const options = { mentionNames: ["Al", "Al Bo"], ownName: "Al" };
      assertSafe(assertSourceKept(text, options), text);
    }
  });

  it("stays linear on hostile text of 20,000 characters", () => {
    const n = 20_000;
    const hostile = [
      "*".repeat(n),
      "* ".repeat(n / 2),
      "*a".repeat(n / 2),
      "`".repeat(n),
      "` ".repeat(n / 2),
      "`` ` ".repeat(n / 5),
      Array.from({ length: n / 10 }, (_, i) => "`".repeat((i % 9) + 1) + " ").join("").slice(0, n),
      "_a ".repeat(n / 3),
      "~~a ".repeat(n / 4),
      "*a _b ~~c **d ".repeat(n / 14),
      "*a ".repeat(n / 6) + "a* ".repeat(n / 6),
      "@".repeat(n),
      "@Al ".repeat(n / 4),
      "https://".repeat(n / 8),
      "https://[".repeat(n / 9),
      "https://a.example/_".repeat(n / 19),
      "**https://a.example/ ".repeat(n / 21),
    ];
    // Work done, counted without a clock: pattern matches run and characters copied.
    const { exec } = RegExp.prototype;
    const { slice } = String.prototype;
    for (const text of hostile) {
      let work = 0;
      RegExp.prototype.exec = function countedExec(...args) {
        work += 1;
        return exec.apply(this, args);
      };
      String.prototype.slice = function countedSlice(...args) {
        const part = slice.apply(this, args);
        work += part.length;
        return part;
      };
      let nodes;
      try {
        nodes = parseFormatting(text, { mentionNames: ["Al", "Al Bo"] });
      } finally {
        RegExp.prototype.exec = exec;
        String.prototype.slice = slice;
      }
      assert.ok(work < 10 * text.length, `${work} steps for ${text.length} characters of ${slice.call(text, 0, 12)}…`);
      assert.equal(toSource(nodes), text);
      render(text, { mentionNames: ["Al"] });
    }
  });

  it("nests at most 32 deep", () => {
    const text = "*a _b ".repeat(100) + " b_ a*".repeat(100);
    let depth = 0;
    for (let nodes = parseFormatting(text); nodes.some((node) => node.children); depth += 1) {
      nodes = nodes.find((node) => node.children).children;
    }
    assert.equal(depth, 32);
    assertSourceKept(text);
  });
});

describe("the XSS payloads (tests/fixtures/xss_payloads.txt)", () => {
  const payloads = readFileSync(new URL("tests/fixtures/xss_payloads.txt", REPO_ROOT), "utf8")
    .split("\n")
    .filter((line) => line.trim());
  const options = { mentionNames: ["<b>x</b>", "Mallory"], ownName: "Mallory" };

  it("render as the source minus markers, with only the allowed elements and http(s) links", () => {
    for (const payload of payloads) {
      const parent = assertSourceKept(payload, options);
      assertSafe(parent, payload);
      assertOnlyMarkersRemoved(payload, parent.textContent);
    }
  });

  it("include formatting-based ones that are formatted", () => {
    const formatted = payloads.filter((payload) => render(payload, options).children.some((child) => child.nodeType !== 3 && child.tagName !== "A"));
    assert.ok(formatted.length >= 20, `${formatted.length} payloads formatted`);
    assert.equal(html("`<img src=x onerror=alert(1)>`"), "<code><img src=x onerror=alert(1)></code>");
    const script = render("**<script>alert(1)</script>**").children[0];
    assert.equal(script.tagName, "STRONG");
    assert.equal(script.children[0].nodeType, 3, "the tag is a text node");
    assert.equal(html("[x](javascript:alert(1))"), "[x](javascript:alert(1))");
    assert.equal(html("@<b>x</b>", options), '<span class="bc-mention">@<b>x</b></span>');
  });
});
