// scheme.js: which colour scheme the widget takes from its host page. The browser tests
// (tests/e2e/test_embedded_in_browser.py) follow a real host theme's toggle; these cover the rules.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  backdropColor,
  detectScheme,
  parseColor,
  readSetting,
  relativeLuminance,
} from "../../themes/backchannel/assets/backchannel/js/scheme.js";

/** A chain of fake elements, innermost first, each with a computed background and classes. */
function fakePage(backgrounds, { rootColorScheme = "normal", htmlMatches = () => false, prefersDark = false } = {}) {
  const styles = new Map();
  const documentElement = { matches: htmlMatches, parentElement: null };
  styles.set(documentElement, { backgroundColor: "rgba(0, 0, 0, 0)", colorScheme: rootColorScheme });
  let parent = documentElement;
  const chain = [];
  for (const background of [...backgrounds].reverse()) {
    const node = { parentElement: parent, matches: () => false, closest: () => null };
    styles.set(node, { backgroundColor: background });
    chain.unshift(node);
    parent = node;
  }
  const widget = { parentElement: chain[0] ?? documentElement, closest: () => null };
  const window = {
    document: { documentElement, body: chain.at(-1) ?? null, createElement: () => ({}) },
    getComputedStyle: (node) => styles.get(node),
    matchMedia: () => ({ matches: prefersDark }),
  };
  return { widget, window };
}

describe("parseColor and relativeLuminance", () => {
  it("reads the rgb() forms browsers compute", () => {
    assert.deepEqual(parseColor("rgb(29, 30, 32)"), { r: 29, g: 30, b: 32, a: 1 });
    assert.deepEqual(parseColor("rgba(0, 0, 0, 0)"), { r: 0, g: 0, b: 0, a: 0 });
    assert.deepEqual(parseColor("rgb(255 248 231 / 50%)"), { r: 255, g: 248, b: 231, a: 0.5 });
    assert.deepEqual(parseColor("transparent"), { r: 0, g: 0, b: 0, a: 0 });
  });

  it("measures white as 1 and black as 0", () => {
    assert.equal(relativeLuminance({ r: 255, g: 255, b: 255 }), 1);
    assert.equal(relativeLuminance({ r: 0, g: 0, b: 0 }), 0);
  });
});

describe("detectScheme", () => {
  it("auto: dark on a dark page background, light on a light one", () => {
    const dark = fakePage(["rgba(0, 0, 0, 0)", "rgb(29, 30, 32)"]); // PaperMod's dark body
    assert.equal(detectScheme("auto", dark.widget, dark.window), "dark");
    const light = fakePage(["rgb(255, 248, 231)"]);
    assert.equal(detectScheme("auto", light.widget, light.window), "light");
  });

  it("auto: the nearest opaque background wins (a light card on a dark page is light)", () => {
    const page = fakePage(["rgb(250, 250, 250)", "rgb(18, 18, 18)"]);
    assert.equal(backdropColor(page.widget, page.window).r, 250);
    assert.equal(detectScheme("auto", page.widget, page.window), "light");
  });

  it("auto: with every background transparent, the canvas is dark only where the page asks for it", () => {
    const plain = fakePage(["rgba(0, 0, 0, 0)"], { prefersDark: true });
    assert.equal(detectScheme("auto", plain.widget, plain.window), "light");
    const optedIn = fakePage(["rgba(0, 0, 0, 0)"], { rootColorScheme: "light dark", prefersDark: true });
    assert.equal(detectScheme("auto", optedIn.widget, optedIn.window), "dark");
  });

  it("light and dark are taken as they are; a selector asks the page", () => {
    const page = fakePage(["rgb(0, 0, 0)"], { htmlMatches: (selector) => selector === "[data-theme=dark]" });
    assert.equal(detectScheme("light", page.widget, page.window), "light");
    assert.equal(detectScheme("dark", page.widget, page.window), "dark");
    assert.equal(detectScheme("[data-theme=dark]", page.widget, page.window), "dark");
    assert.equal(detectScheme(".dark", page.widget, page.window), "light");
  });

  it("reads the setting's keywords in any case and spacing, and a selector as it is", () => {
    assert.equal(readSetting(" Dark "), "dark");
    assert.equal(readSetting("AUTO"), "auto");
    assert.equal(readSetting(" [data-theme=dark] "), "[data-theme=dark]");
  });

  it("a selector the browser refuses falls back to the page's background", () => {
    const page = fakePage(["rgb(0, 0, 0)"], {
      htmlMatches: () => {
        throw new SyntaxError("not a valid selector");
      },
    });
    assert.equal(detectScheme("[data-theme=dark", page.widget, page.window), "dark");
  });
});
