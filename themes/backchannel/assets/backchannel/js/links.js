// Links in message text: http(s) URLs become `a` elements, everything else stays text nodes.
// Drawn by the conversation chunk (format.js, with the rest of the formatting); first paint shows
// plain text (render.js). tests/js/render.test.js covers it.

// An http(s) URL in running text: up to white space or a character that cannot be in one. The
// scheme may be upper case; "\b" keeps "xhttp://" out. Everything else (javascript:, data:, …)
// never matches, so it stays text.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"`]+/giu;
// Punctuation that ends a sentence rather than the URL ("see https://a.example/.").
const TRAILING_PUNCTUATION = new Set([...".,;:!?'*»”’」』】。、，．！？…"]);
const CLOSING_BRACKETS = new Map([
  [")", "("],
  ["]", "["],
  ["）", "（"],
]);
export const LINK_REL = "nofollow noopener ugc";

function count(text, character) {
  return text.split(character).length - 1;
}

// "(see https://a.example/x)" ends before ")", "https://en.wikipedia.org/wiki/A_(b)" keeps it.
function trimUrl(candidate) {
  let url = candidate;
  for (;;) {
    const last = url.at(-1);
    const opening = CLOSING_BRACKETS.get(last);
    if (TRAILING_PUNCTUATION.has(last)) url = url.slice(0, -1);
    else if (opening !== undefined && count(url, opening) < count(url, last)) url = url.slice(0, -1);
    else return url;
  }
}

function parseHttpUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** `text` cut into [{ text }] and [{ text, href }] parts; href only for http: and https: URLs. */
export function splitLinks(text) {
  const parts = [];
  let start = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = trimUrl(match[0]);
    const href = parseHttpUrl(url);
    if (href === null) continue;
    if (match.index > start) parts.push({ text: text.slice(start, match.index) });
    parts.push({ text: url, href });
    start = match.index + url.length;
  }
  if (start < text.length) parts.push({ text: text.slice(start) });
  return parts;
}

/** Appends `text` to `parent` as text nodes and `a` elements for its URLs. */
export function appendLinkedText(document, parent, text) {
  for (const part of splitLinks(text)) {
    if (part.href === undefined) {
      parent.appendChild(document.createTextNode(part.text));
      continue;
    }
    const link = document.createElement("a");
    link.setAttribute("href", part.href);
    link.setAttribute("rel", LINK_REL);
    link.setAttribute("target", "_blank");
    link.textContent = part.text;
    parent.appendChild(link);
  }
}

