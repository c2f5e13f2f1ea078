// Message DOM, built with createElement and textContent only: text from the network never goes
// through the HTML parser, so a message cannot inject markup (tests/js/render.test.js checks it).

import { formatMessageTime } from "./view.js";

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

/** The `.bc-staff-badge` after a staff member's name. */
export function createStaffBadge(document, label) {
  return createElementWithText(document, "span", "bc-staff-badge", label);
}

/**
 * What follows a person's name: their `.bc-tag` ("#k3f9", when the server sent one) and, for
 * staff, the `.bc-staff-badge`. Appended to `parent`.
 */
export function appendPersonMarks(document, parent, { tag, staff }, translate) {
  if (tag) parent.appendChild(createElementWithText(document, "span", "bc-tag", `#${tag}`));
  if (staff) parent.appendChild(createStaffBadge(document, translate("chat_staff_badge")));
}

function createElementWithText(document, tagName, className, text) {
  const element = document.createElement(tagName);
  element.className = className;
  element.textContent = text;
  return element;
}

/**
 * A ⋯ button (`.bc-menu-button[data-action=menu]`) that opens the actions menu of what it sits in
 * (a message, a person of the online list): chat.js routes its clicks to the write chunk.
 */
export function createMenuButton(document, label, data = {}) {
  const button = createActionButton(document, "menu", "⋯", "bc-menu-button");
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-expanded", "false");
  for (const [name, value] of Object.entries(data)) button.dataset[name] = value;
  return button;
}

function createActionButton(document, action, label, className = `bc-message__${action}`) {
  const button = createElementWithText(document, "button", `bc-button bc-button--quiet ${className}`, label);
  button.setAttribute("type", "button");
  button.setAttribute("data-action", action);
  return button;
}

/**
 * One timeline entry (timeline.js) as
 * <article class="bc-message [bc-message--own] [bc-message--grouped]" data-seq data-client-id data-state>
 *   <header class="bc-message__meta">
 *     <span class="bc-message__author"/> [<span class="bc-tag"/>] [<span class="bc-staff-badge"/>]
 *     <time class="bc-message__time" datetime title/>
 *     [<span class="bc-message__status"/>]           own pending, held or failed messages
 *   </header>
 *   [<button class="bc-menu-button" data-action="menu"/>]       what the viewer may do (entry.actions)
 *   <p class="bc-message__text"> text nodes and <a href rel target> for http(s) URLs </p>
 *   [<p class="bc-message__actions"> retry and discard buttons </p>]   own failed messages
 * </article>
 * `translate(key)` gives the UI strings (chat_message_<state or action>, chat_staff_badge) and
 * `errorText(code)` a failure's reason. A grouped entry (view.js continuesGroup) keeps its author
 * line for screen readers only.
 */
export function createMessageElement(
  document,
  entry,
  { locale, translate = (key) => key, errorText = translate, now = Date.now() } = {},
) {
  const article = document.createElement("article");
  article.className = `bc-message${entry.own ? " bc-message--own" : ""}${entry.grouped ? " bc-message--grouped" : ""}`;
  if (entry.seq !== undefined) article.setAttribute("data-seq", String(entry.seq));
  if (entry.own) {
    article.setAttribute("data-client-id", entry.clientId);
    article.setAttribute("data-state", entry.state);
  }

  const meta = document.createElement("header");
  meta.className = "bc-message__meta";
  meta.appendChild(createElementWithText(document, "span", "bc-message__author", entry.author));
  appendPersonMarks(document, meta, entry, translate);

  const time = formatMessageTime(entry.sentAt, now, locale);
  const timeElement = createElementWithText(document, "time", "bc-message__time", time.label);
  timeElement.setAttribute("datetime", time.dateTime);
  timeElement.setAttribute("title", time.title);
  meta.appendChild(timeElement);

  if (entry.own && entry.state !== "sent") {
    const statusElement = createElementWithText(document, "span", "bc-message__status", translate(`chat_message_${entry.state}`));
    if (entry.code) statusElement.setAttribute("title", errorText(entry.code));
    meta.appendChild(statusElement);
  }

  article.appendChild(meta);
  // Report, or a moderator's delete, mute and ban: the write chunk's menu (writing.js). Not in
  // the meta line, which a grouped message hides. Out of the tab order: the list keeps one of
  // them in it, and the arrow keys move between them (list-view.js).
  if (entry.actions) article.appendChild(createMenuButton(document, translate("chat_message_actions"))).tabIndex = -1;
  const text = createElementWithText(document, "p", "bc-message__text", "");
  appendLinkedText(document, text, entry.text);
  article.appendChild(text);

  if (entry.own && entry.state === "failed") {
    const actions = document.createElement("p");
    actions.className = "bc-message__actions";
    for (const action of ["retry", "discard"]) {
      actions.appendChild(createActionButton(document, action, translate(`chat_message_${action}`)));
    }
    article.appendChild(actions);
  }
  return article;
}

/**
 * Makes the children of `list` after `start` (or all of them, when start is null) the elements of
 * `entries`, in order, reusing the element of an entry whose key and state are unchanged (so the
 * browser keeps focus, selection and scroll anchoring). `rendered` (a Map) remembers them between
 * calls; `create(entry)` builds a new one.
 */
export function syncMessageList(list, entries, { start = null, rendered, create }) {
  const next = new Map();
  let cursor = start === null ? list.firstChild : start.nextSibling;
  for (const entry of entries) {
    const signature = `${entry.state}|${entry.code}|${entry.seq}|${entry.grouped}|${entry.actions}`;
    const previous = rendered.get(entry.key);
    const element =
      previous !== undefined && previous.signature === signature ? previous.element : create(entry);
    next.set(entry.key, { element, signature });
    if (element === cursor) cursor = cursor.nextSibling;
    else list.insertBefore(element, cursor);
  }
  while (cursor !== null) {
    const stale = cursor;
    cursor = cursor.nextSibling;
    list.removeChild(stale);
  }
  rendered.clear();
  for (const [key, value] of next) rendered.set(key, value);
}
