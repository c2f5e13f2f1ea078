// Message DOM, built with createElement and textContent only: text from the network never goes
// through the HTML parser, so a message cannot inject markup (tests/js/render.test.js checks it).

import { h } from "./markup.js";
import { formatMessageTime } from "./view.js";

// Links and formatting are the conversation chunk's (links.js, format.js): until it is there a
// message is plain text.
/** The `.bc-staff-badge` after a staff member's name. */
export function createStaffBadge(document, label) {
  return h(document, "span", { class: "bc-staff-badge" }, label);
}

/**
 * What follows a person's name: their `.bc-tag` ("#k3f9", when the server sent one) and, for
 * staff, the `.bc-staff-badge`. Appended to `parent`.
 */
export function appendPersonMarks(document, parent, { tag, staff }, translate) {
  if (tag) parent.appendChild(h(document, "span", { class: "bc-tag" }, `#${tag}`));
  if (staff) parent.appendChild(createStaffBadge(document, translate("chat_staff_badge")));
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

/** A `button[data-action]` (chat.js and writing.js route its clicks by the action). */
export function createActionButton(document, action, label, className = `bc-message__${action}`) {
  return h(document, "button", { class: `bc-button bc-button--quiet ${className}`, type: "button", "data-action": action }, label);
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
 *   <div class="bc-message__text"> the text (the conversation chunk formats it: decorations.js) </div>
 * </article>
 * The conversation chunk adds the rest (a reply's quote, reactions, retry and discard on an own
 * failed message…). `translate(key)` gives the UI strings (chat_message_<state>, chat_staff_badge)
 * and `errorText(code)` a failure's reason. A grouped entry (view.js continuesGroup) keeps its
 * author line for screen readers only.
 */
export function createMessageElement(
  document,
  entry,
  { locale, translate = (key) => key, errorText = translate, now = Date.now() } = {},
) {
  const article = h(document, "article", {
    class: `bc-message${entry.own ? " bc-message--own" : ""}${entry.grouped ? " bc-message--grouped" : ""}`,
  });
  if (entry.seq !== undefined) article.setAttribute("data-seq", entry.seq);
  if (entry.own) {
    article.setAttribute("data-client-id", entry.clientId);
    article.setAttribute("data-state", entry.state);
  }

  const meta = article.appendChild(h(document, "header", { class: "bc-message__meta" }, h(document, "span", { class: "bc-message__author" }, entry.author)));
  appendPersonMarks(document, meta, entry, translate);
  const time = formatMessageTime(entry.sentAt, now, locale);
  meta.appendChild(h(document, "time", { class: "bc-message__time", datetime: time.dateTime, title: time.title }, time.label));
  if (entry.own && entry.state !== "sent") {
    const status = h(document, "span", { class: "bc-message__status" }, translate(`chat_message_${entry.state}`));
    if (entry.code) status.setAttribute("title", errorText(entry.code));
    meta.appendChild(status);
  }

  // Report, or a moderator's delete, mute and ban: the write chunk's menu (writing.js). Not in
  // the meta line, which a grouped message hides. Out of the tab order: the list keeps one of
  // them in it, and the arrow keys move between them (decorations.js).
  if (entry.actions) article.appendChild(createMenuButton(document, translate("chat_message_actions"))).tabIndex = -1;
  // A div: a formatted text may hold a code block (pre).
  article.appendChild(h(document, "div", { class: "bc-message__text" }, entry.text));
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
    // rev: a version-3 change (an edit, a reaction); mark: what the conversation chunk adds.
    const signature = `${entry.state}|${entry.code}|${entry.seq}|${entry.grouped}|${entry.actions}|${entry.message?.rev}|${entry.mark}`;
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
