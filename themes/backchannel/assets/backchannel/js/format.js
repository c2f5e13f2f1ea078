// Message formatting, as in Slack and Discord: `code`, ```code blocks```, **bold**, *italic* or
// _italic_, ~~strike~~, http(s) links and @mentions of known names. Built with createElement and
// textContent only, never markup; the text shown is the source minus the markers it used (copying
// it keeps its content), and a marker that does not close stays text. One pass, linear time.

import { LINK_REL, splitLinks } from "./links.js";

// A letter or digit, in the sense that "snake_case" and "2*3*4" are words: a marker inside one is
// text. Chinese and Japanese write words without spaces, so their letters do not count.
const LETTER = "(?![\\p{scx=Han}\\p{scx=Hira}\\p{scx=Kana}])[\\p{L}\\p{N}";
const WORD = new RegExp(`${LETTER}]`, "u");
const isWord = (character = " ") => WORD.test(character);
const isSpace = (character = " ") => /\s/.test(character);
const TICKS = /`+/y;
const MARKERS = /([*_~])\1*/y;
const URL_AT = /https?:\/\/[^\s<>"`]*/iy;
// What a run of markers may be: anything else ("****", "__init__", "~") is text.
const KINDS = { "*": ["*"], "**": ["**"], "***": ["**", "*"], _: ["_"], "~~": ["~~"] };
const TYPES = { "*": "em", _: "em", "**": "strong", "~~": "s" };

/** True when `text` has something this module formats beyond links (render.js does those). */
export const hasFormatting = (text) => /[`*_~@]/.test(text);

// Adjacent strings joined, empty ones dropped.
const merge = (nodes) =>
  nodes.reduce((all, node) => {
    if (typeof node === "string" && typeof all.at(-1) === "string") all[all.length - 1] += node;
    else if (node !== "") all.push(node);
    return all;
  }, []);

/**
 * `text` as a list of nodes: strings (plain text) and
 *   { type: "code", marker, text }            `x` (marker: its backticks)
 *   { type: "pre", marker, info, text }       ```info\nx``` (info: a language word and the line break)
 *   { type: "strong" | "em" | "s", marker, children }
 *   { type: "a", href, text }                  an http(s) URL, as render.js's splitLinks finds it
 *   { type: "mention", name, text }            "@" and the longest of `mentionNames` or `ownName`
 */
export function parseFormatting(text, { mentionNames = [], ownName = null } = {}) {
  const names = [...mentionNames, ownName].filter(Boolean).sort((a, b) => b.length - a.length);
  const mention = names.length
    ? new RegExp(`(?:${names.map((name) => name.replace(/[$()*+.?[\\\]^{|}/]/g, "\\$&")).join("|")})(?!_?${LETTER}])`, "iuy")
    : null;
  // Where each run of n backticks starts, by n: a run closes at the next one of the same length.
  const runs = {};
  const passed = {};
  for (const run of text.matchAll(/`+/g)) (runs[run[0].length] ||= []).push(run.index);
  const out = [];
  const stack = [];
  const open = {};
  let linkless = 0;
  let end = 0;
  const special = /[`*_~@]|https?:\/\//giu;
  for (let match; (match = special.exec(text)); special.lastIndex = end) {
    const at = match.index;
    const character = match[0][0];
    const previous = text[at - 1];
    out.push(text.slice(end, at));
    end = at + match[0].length;
    let node = match[0];
    if (character === "`") {
      TICKS.lastIndex = at;
      const marker = TICKS.exec(text)[0];
      const n = marker.length;
      const starts = runs[n] ?? [];
      let p = passed[n] ?? 0;
      while (starts[p] <= at) p++;
      passed[n] = p;
      node = marker;
      end = at + n;
      if (starts[p] !== undefined) {
        const body = text.slice(end, starts[p]);
        // A block's first line may name its language ("```js"): dropped, unless nothing follows.
        const info = /^[\w+#.-]*\n(?=[^]*\S)/.exec(body)?.[0] ?? "";
        node = n > 2 ? { type: "pre", marker, info, text: body.slice(info.length) } : { type: "code", marker, text: body };
        end = starts[p] + n;
      }
    } else if (character === "@") {
      if (mention && !isWord(previous)) {
        mention.lastIndex = end;
        const name = mention.exec(text)?.[0];
        if (name) {
          node = { type: "mention", name, text: `@${name}` };
          end += name.length;
        }
      }
    } else if (/[*_~]/.test(character)) {
      MARKERS.lastIndex = at;
      const run = MARKERS.exec(text)[0];
      end = at + run.length;
      node = run;
      const kinds = KINDS[run];
      if (kinds) {
        const next = text[end];
        const canOpen = !isSpace(next) && !isWord(previous);
        const canClose = !isSpace(previous) && !isWord(next);
        node = "";
        for (const kind of canClose ? [...kinds].reverse() : kinds) {
          if (canClose && open[kind]) {
            let entry;
            do {
              entry = stack.pop();
              open[entry.kind]--;
            } while (entry.kind !== kind);
            out[entry.at] = { type: TYPES[kind], marker: kind, children: merge(out.splice(entry.at + 1)) };
          } else {
            // At most 32 open: deeper nesting is text (a browser lays out deep trees slowly).
            if (canOpen && stack.length < 32) {
              stack.push({ kind, at: out.length });
              open[kind] = (open[kind] ?? 0) + 1;
            }
            out.push(kind);
          }
        }
      }
    } else if (at >= linkless && !/[a-z\d]/i.test(previous ?? " ")) {
      // A URL, up to what splitLinks cuts off and the _ or ~ that ends italic or strike around it.
      URL_AT.lastIndex = at;
      let candidate = URL_AT.exec(text)[0];
      linkless = at + candidate.length;
      let part;
      while ((part = splitLinks(candidate)[0])?.href && (candidate = part.text.replace(/[_~]+$/, "")) !== part.text);
      if (part?.href) {
        node = { type: "a", href: part.href, text: part.text };
        end = at + part.text.length;
      }
    }
    out.push(node);
  }
  out.push(text.slice(end));
  return merge(out);
}

function appendNodes(document, parent, nodes, ownName) {
  for (const node of nodes) {
    let child;
    if (typeof node === "string") child = document.createTextNode(node);
    else {
      const { type, text } = node;
      child = document.createElement(type === "mention" ? "span" : type);
      if (type === "pre") child.appendChild(document.createElement("code")).textContent = text;
      else if (text === undefined) appendNodes(document, child, node.children, ownName);
      else child.textContent = text;
      if (type === "a") {
        child.setAttribute("href", node.href);
        child.setAttribute("rel", LINK_REL);
        child.setAttribute("target", "_blank");
      }
      if (type === "mention") {
        child.setAttribute("class", `bc-mention${node.name.toLowerCase() === ownName ? " bc-mention--self" : ""}`);
      }
    }
    parent.appendChild(child);
  }
}

/**
 * Appends `text` to `parent`, formatted: code, pre, strong, em, s, links as render.js's
 * appendLinkedText makes them, and <span class="bc-mention"> around "@name" for a name of
 * `mentionNames` (people online, recent authors) or `ownName` (then also bc-mention--self).
 * `options`: { mentionNames = [], ownName = null }, as parseFormatting takes them.
 */
export function appendFormattedText(document, parent, text, options = {}) {
  appendNodes(document, parent, parseFormatting(text, options), options.ownName?.toLowerCase());
}

/**
 * True when `text` mentions `name` ("@name", not inside code, not merely the start of a longer
 * name of `otherNames`): for notifications.
 */
export function mentionsName(text, name, otherNames = []) {
  const own = name?.toLowerCase();
  const found = (nodes) =>
    nodes.some((node) => (node.type === "mention" ? node.name.toLowerCase() === own : node.children && found(node.children)));
  return Boolean(name) && hasFormatting(text) && found(parseFormatting(text, { mentionNames: otherNames, ownName: name }));
}

/** A text without its formatting marks ("**hi** `x`" → "hi x"): quotes and search results are one line. */
export function plainText(text) {
  const flatten = (nodes) => nodes.map((node) => (typeof node === "string" ? node : node.children ? flatten(node.children) : node.text)).join("");
  return flatten(parseFormatting(text)).replace(/\s+/g, " ");
}
