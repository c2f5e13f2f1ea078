// element.js's pure parts; the element itself is driven in real Chromium (tests/e2e).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { EMBEDDED_HEIGHT, normalizePath } from "../../themes/backchannel/assets/backchannel/js/element.js";
import { REPO_ROOT } from "./support.js";

describe("normalizePath", () => {
  it("compares page addresses without index.html, trailing slashes or escapes", () => {
    assert.equal(normalizePath("/posts/tea/"), normalizePath("/posts/tea/index.html"));
    assert.equal(normalizePath("/posts/tea"), normalizePath("/posts/tea/"));
    assert.equal(normalizePath("/日記/"), normalizePath("/%E6%97%A5%E8%A8%98/"));
    assert.notEqual(normalizePath("/posts/tea/"), normalizePath("/posts/"));
    assert.equal(normalizePath("/%E0%A4%A/"), "/%E0%A4%A", "a malformed escape is compared as it is");
  });
});

describe("the embedded widget's reserved height", () => {
  it("is the stylesheet's, so nothing moves when the widget shows", () => {
    const css = readFileSync(new URL("themes/backchannel/assets/backchannel/css/backchannel.css", REPO_ROOT), "utf8");
    assert.match(css, new RegExp(`--_height: ${EMBEDDED_HEIGHT.replace(/[()]/g, "\\$&")};`));
  });
});
