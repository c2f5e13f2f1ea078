// The conversation chunk (conversation.js): what a reader sees of a conversation beyond plain
// text, drawn over the list main renders (list-view.js calls annotate, decorate and rendered).
// - formatting, links and @mentions (format.js);
// - a reply's one-line quote of its original, which scrolls to it (loading older pages if need
//   be); "edited"; reactions, whose buttons the write chunk toggles (data-action="react");
// - day separators, the unread divider at the first message after the visitor's last visit
//   (kept in localStorage) with a jump to it, and "show more" on long messages;
// - browser notifications and a sound for mentions while the tab is hidden, after an opt-in
//   click (never on page load), per room; the mention count in the tab title;
// - search in the room's history (search.js).
// Contract: ARCHITECTURE.md "Widget markup". The fields drawn come from the network and are
// checked here (protocol.js keeps version 3's fields as sent): text only, never markup.

import { appendFormattedText, mentionsName, plainText } from "./format.js";
import { createActionButton } from "./render.js";
import { createSearch, headerTools } from "./search.js";
import { formatMessageTime } from "./view.js";

export const SEEN_KEY_PREFIX = "backchannel:seen:";
export const NOTIFY_KEY_PREFIX = "backchannel:notify:";
// A message over either is folded behind "Show more" (a 2,000-character message would fill a phone).
export const SHOW_MORE_CHARS = 500;
export const SHOW_MORE_LINES = 8;
// How long a message that was jumped to stays highlighted.
const HIGHLIGHT_MS = 2000;
// A reply to a message this many pages back is still looked for; further, the quote says so.
const JUMP_MAX_PAGES = 20;
// Relative times ("5 minutes ago") are brought up to date this often.
const TIME_REFRESH_MS = 30_000;

const isText = (value) => typeof value === "string";

function readStorage(storage, key) {
  try {
    return storage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function writeStorage(storage, key, value) {
  try {
    storage?.setItem(key, value);
  } catch {
    // Full or disabled storage: the divider and the choice last for this page only.
  }
}

/** The calendar day of an ISO time in the visitor's time zone: "2026-12-07". */
export function localDay(isoTime) {
  const date = new Date(isoTime);
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

/** "Today", "Yesterday", or the date in the page's language. */
export function describeDay(isoTime, nowMs, locale, translate) {
  const day = localDay(isoTime);
  if (day === localDay(nowMs)) return translate("chat_day_today");
  if (day === localDay(nowMs - 86_400_000)) return translate("chat_day_yesterday");
  return new Date(isoTime).toLocaleDateString(locale, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

/** A message's reactions as sent, keeping only well-formed ones: [{ emoji, count, names, visitors }]. */
export function readReactions(message) {
  if (!Array.isArray(message?.reactions)) return [];
  return message.reactions
    .filter((reaction) => isText(reaction?.emoji) && Number.isSafeInteger(reaction.count) && reaction.count > 0)
    .map(({ emoji, count, names, visitors }) => ({
      emoji,
      count,
      names: Array.isArray(names) ? names.filter(isText) : [],
      visitors: Array.isArray(visitors) ? visitors.filter(isText) : [],
    }));
}

/** A reply's quote as sent, or null: { seq, author, excerpt, deleted }. */
export function readReplyQuote(message) {
  const quote = message?.reply_to;
  if (typeof quote !== "object" || quote === null || !Number.isSafeInteger(quote.seq)) return null;
  return { seq: quote.seq, author: isText(quote.author) ? quote.author : "", excerpt: isText(quote.excerpt) ? quote.excerpt : "", deleted: quote.deleted === true };
}

/** Whether a text is long enough to fold behind "Show more". */
export function isLongText(text) {
  return text.length > SHOW_MORE_CHARS || text.split("\n").length > SHOW_MORE_LINES;
}

/**
 * Sets the conversation drawing up in `widget` (chat.js mountChat's). Returns { annotate(entries),
 * decorate(article, entry), rendered(entries), mentions(entries, seenSeq), jumpTo(seq), close() }.
 */
export function createConversation(widget) {
  const { element, document, room, translate, session, timeline, storage, now } = widget;
  const window = document.defaultView ?? globalThis;
  const locale = document.documentElement.lang || undefined;
  const messageList = element.querySelector(".bc-messages");
  const seenKey = SEEN_KEY_PREFIX + room;
  const notifyKey = NOTIFY_KEY_PREFIX + room;
  // The newest seq seen on the last visit: the divider goes before the first message after it.
  // Read once: it stays where it was for the whole visit.
  const storedSeen = Number(readStorage(storage, seenKey));
  const lastVisitSeq = Number.isSafeInteger(storedSeen) && storedSeen > 0 ? storedSeen : null;
  let dividerSeq = null;
  let dividerPlaced = false;
  let dividerShown = false;
  // A message asked for (a reply's original, a search result) that is on an older page.
  let pendingJump = null;
  let jumpPages = 0;
  // The newest seq whose mentions were considered for a notification: history is not news.
  let notifiedSeq = null;
  // "off", "on" (a notification) or "sound" (and a sound), per room.
  let notify = readStorage(storage, notifyKey) ?? "off";

  const jumpButton = element.querySelector(".bc-unread-jump") ?? createUnreadJump();

  // Relative times move on: "now" becomes "1 minute ago".
  let timeTimer = null;
  function refreshTimes() {
    for (const time of messageList.querySelectorAll("time")) {
      const label = formatMessageTime(time.getAttribute("datetime"), now(), locale).label;
      if (time.textContent !== label) time.textContent = label;
    }
    timeTimer = widget.setTimeout(refreshTimes, TIME_REFRESH_MS);
  }
  timeTimer = widget.setTimeout(refreshTimes, TIME_REFRESH_MS);

  // Up and Down move between the messages' ⋯ buttons; one of them is in the tab order (rendered).
  messageList.addEventListener("keydown", (keyEvent) => {
    const step = { ArrowUp: -1, ArrowDown: 1 }[keyEvent.key];
    const menus = [...messageList.querySelectorAll(".bc-menu-button")];
    const next = menus[menus.indexOf(keyEvent.target) + step];
    if (!step || !next || !menus.includes(keyEvent.target)) return;
    keyEvent.preventDefault();
    keyEvent.target.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  });
  const [notifyButton, soundButton] = createNotifyButtons();

  function createUnreadJump() {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "bc-button bc-unread-jump";
    button.hidden = true;
    button.textContent = `${translate("chat_unread_jump")} ↑`;
    button.addEventListener("click", () => {
      messageList.querySelector(".bc-unread")?.scrollIntoView({ block: "start" });
      button.hidden = true;
    });
    messageList.before(button);
    // Hidden for good once the visitor has scrolled up to the divider.
    messageList.addEventListener("scroll", () => {
      const divider = messageList.querySelector(".bc-unread");
      if (divider !== null && divider.offsetTop >= messageList.scrollTop) button.hidden = true;
    });
    return button;
  }

  function createNotifyButtons() {
    const tools = headerTools(element, document);
    return ["notify", "notify_sound"].map((name) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `bc-button bc-button--quiet bc-${name.replace("_", "-")}`;
      button.textContent = name === "notify" ? "🔔" : "🔊";
      button.setAttribute("aria-label", translate(`chat_${name}`));
      button.title = translate(`chat_${name}`);
      button.addEventListener("click", () => toggleNotify(name));
      tools.appendChild(button);
      return button;
    });
  }

  function renderNotify() {
    notifyButton.setAttribute("aria-pressed", String(notify !== "off"));
    soundButton.setAttribute("aria-pressed", String(notify === "sound"));
    soundButton.hidden = notify === "off";
  }

  // Only from a click: the browser asks the visitor for the permission then, never on page load.
  async function toggleNotify(name) {
    if (name === "notify_sound") notify = notify === "sound" ? "on" : "sound";
    else if (notify !== "off") notify = "off";
    else {
      const permission = await window.Notification?.requestPermission?.();
      // Without the permission the sound alone still tells of a mention.
      notify = permission === "granted" ? "on" : "sound";
    }
    writeStorage(storage, notifyKey, notify);
    renderNotify();
  }

  const ownName = () => widget.identity?.name ?? null;

  // Names @-mentions may name: people online and the authors shown.
  let namesThisRender = [];
  function mentionNames() {
    const names = new Set((session.presence?.people ?? []).map((person) => person.name));
    for (const entry of widget.list.entries) names.add(entry.author);
    return [...names].filter(Boolean);
  }

  const mentionsMe = (entry) => !entry.own && ownName() !== null && mentionsName(entry.text, ownName());

  function playSound() {
    try {
      const audio = new window.AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.1, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.3);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.3);
    } catch {
      // No audio (an old browser, or none allowed yet): the title still counts the mention.
    }
  }

  function notifyOfMentions(entries) {
    const fresh = entries.filter((entry) => entry.seq > (notifiedSeq ?? Infinity) && mentionsMe(entry));
    const latest = entries.reduce((max, entry) => Math.max(max, entry.seq ?? 0), 0);
    if (session.joined) notifiedSeq = Math.max(notifiedSeq ?? latest, latest);
    if (fresh.length === 0 || notify === "off" || document.visibilityState !== "hidden") return;
    const entry = fresh.at(-1);
    if (window.Notification?.permission === "granted") {
      const title = translate("chat_notification_title", { name: entry.author, room });
      const notification = new window.Notification(title, { body: entry.text.slice(0, 200), tag: `backchannel-${room}` });
      notification.onclick = () => {
        window.focus();
        jumpTo(entry.seq);
      };
    }
    if (notify === "sound") playSound();
  }

  renderNotify();
  const search = createSearch(widget, { jumpTo: (seq) => jumpTo(seq) });

  /** Scrolls to the message `seq`, loading older pages when it is before them. */
  function jumpTo(seq) {
    const target = messageList.querySelector(`.bc-message[data-seq="${Number(seq)}"]`);
    if (target !== null) {
      pendingJump = null;
      target.scrollIntoView({ block: "center" });
      target.classList.add("bc-message--highlight");
      target.tabIndex = -1;
      target.focus({ preventScroll: true });
      widget.setTimeout(() => target.classList.remove("bc-message--highlight"), HIGHLIGHT_MS);
      return;
    }
    if (pendingJump !== seq) jumpPages = 0;
    pendingJump = seq;
    const before = timeline.olderBefore;
    // Not on any page there is (pruned, or never stored): nothing to scroll to.
    if (before === null || seq >= before || jumpPages >= JUMP_MAX_PAGES) {
      pendingJump = null;
      widget.showError("not_found");
      return;
    }
    jumpPages += 1;
    session.loadOlder();
  }

  function appendElement(parent, tagName, className, text) {
    const child = parent.appendChild(document.createElement(tagName));
    child.className = className;
    if (text !== undefined) child.textContent = text;
    return child;
  }

  function decorateText(article, entry) {
    const text = article.querySelector(".bc-message__text");
    text.replaceChildren();
    appendFormattedText(document, text, entry.text, { mentionNames: namesThisRender, ownName: ownName() });
    if (mentionsMe(entry)) article.classList.add("bc-message--mention");
    if (!isLongText(entry.text)) return;
    article.classList.add("bc-message--long", "bc-message--folded");
    const more = document.createElement("button");
    more.type = "button";
    more.className = "bc-button bc-button--quiet bc-show-more";
    const renderMore = (folded) => {
      article.classList.toggle("bc-message--folded", folded);
      more.textContent = translate(folded ? "chat_show_more" : "chat_show_less");
      more.setAttribute("aria-expanded", String(!folded));
    };
    renderMore(true);
    more.addEventListener("click", () => renderMore(!article.classList.contains("bc-message--folded")));
    text.after(more);
  }

  function decorateReply(article, quote) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "bc-reply-quote";
    button.dataset.seq = String(quote.seq);
    if (quote.deleted) {
      button.classList.add("bc-reply-quote--removed");
      button.textContent = translate("chat_reply_removed");
    } else {
      appendElement(button, "span", "bc-reply-quote__author", quote.author);
      appendElement(button, "span", "bc-reply-quote__excerpt", plainText(quote.excerpt));
    }
    button.setAttribute("aria-label", translate("chat_reply_to", { name: quote.deleted ? "" : quote.author }));
    button.addEventListener("click", () => jumpTo(quote.seq));
    article.querySelector(".bc-message__text").before(button);
  }

  function decorateReactions(article, entry, reactions) {
    const row = document.createElement("div");
    row.className = "bc-reactions";
    const visitor = widget.identity?.visitor;
    for (const { emoji, count, names, visitors } of reactions) {
      const button = appendElement(row, "button", "bc-button bc-button--quiet bc-reaction");
      appendElement(button, "span", "bc-emoji", emoji);
      button.appendChild(document.createTextNode(` ${count}`));
      button.type = "button";
      button.dataset.action = "react";
      button.dataset.emoji = emoji;
      const mine = visitor !== undefined && (visitors.includes(visitor) || (visitors.length === 0 && names.includes(ownName())));
      button.setAttribute("aria-pressed", String(mine));
      // Who reacted: on hover (title) and to screen readers (the label).
      const who = names.join(", ") + (count > names.length ? ` +${count - names.length}` : "");
      button.title = who;
      button.setAttribute("aria-label", translate("chat_reaction_label", { emoji, count, names: who }));
    }
    article.appendChild(row);
  }

  return {
    /** Sets each entry's `mark` (what decorate adds beyond the message: a day, the divider). */
    annotate(entries) {
      // Once per render, not once per message drawn (a full redraw draws them all).
      namesThisRender = mentionNames();
      let day = null;
      // Placed once, with the first page joined: a message that arrives while the visitor is
      // here is not "since the last visit".
      if (!dividerPlaced && session.joined && entries.length > 0) {
        dividerPlaced = true;
        dividerSeq = lastVisitSeq === null ? null : (entries.find((entry) => entry.seq > lastVisitSeq && !entry.own)?.seq ?? null);
      }
      for (const entry of entries) {
        const entryDay = localDay(entry.sentAt);
        entry.mark = `${entryDay === day ? "" : entryDay}|${entry.seq === dividerSeq}`;
        if (entryDay !== day || entry.seq === dividerSeq) entry.grouped = false;
        day = entryDay;
      }
    },

    /**
     * Draws the rest of `entry` on `article`. Returns a wrapper (`div.bc-entry`, display: contents)
     * holding the day separator and the unread divider before the article, when it has either.
     */
    decorate(article, entry) {
      const message = entry.message;
      const [dayMark, divider] = entry.mark?.split("|") ?? [];
      const wrapper = document.createElement("div");
      wrapper.className = "bc-entry";
      if (dayMark) appendElement(wrapper, "p", "bc-day", describeDay(entry.sentAt, now(), locale, translate));
      if (divider === "true") appendElement(wrapper, "p", "bc-unread", translate("chat_unread_divider"));
      if (message?.edited === true) {
        appendElement(article.querySelector(".bc-message__meta"), "span", "bc-message__edited", translate("chat_message_edited"));
      }
      const quote = readReplyQuote(message);
      if (quote !== null) decorateReply(article, quote);
      decorateText(article, entry);
      const reactions = readReactions(message);
      if (reactions.length > 0) decorateReactions(article, entry, reactions);
      // A message that could not be sent: try again, or give it up (writing.js does either).
      if (entry.own && entry.state === "failed") {
        const actions = appendElement(article, "p", "bc-message__actions");
        for (const action of ["retry", "discard"]) {
          actions.appendChild(createActionButton(document, action, translate(`chat_message_${action}`)));
        }
      }
      if (wrapper.firstChild === null) return undefined;
      wrapper.appendChild(article);
      return wrapper;
    },

    /** After each render: the tab stop, the visit's last seen message, a pending jump, notifications. */
    rendered(entries) {
      // One ⋯ of the list in the tab order (the one last moved to, else the newest), so that a
      // keyboard user does not tab through every message.
      const menus = [...messageList.querySelectorAll(".bc-menu-button")];
      if (!menus.some((menu) => menu.tabIndex === 0) && menus.length > 0) menus.at(-1).tabIndex = 0;
      if (document.visibilityState !== "hidden") {
        const latest = entries.reduce((max, entry) => Math.max(max, entry.seq ?? 0), 0);
        if (latest > 0) writeStorage(storage, seenKey, String(latest));
      }
      // Shown once, when the divider is first drawn above what the list shows.
      const divider = messageList.querySelector(".bc-unread");
      if (divider !== null && !dividerShown) {
        dividerShown = true;
        jumpButton.hidden = divider.offsetTop >= messageList.scrollTop;
      }
      if (pendingJump !== null && !session.loadingOlder) jumpTo(pendingJump);
      notifyOfMentions(entries);
    },

    /** How many of the messages after `seenSeq` mention the visitor (the tab title says so). */
    mentions(entries, seenSeq) {
      return entries.filter((entry) => entry.seq > (seenSeq ?? Infinity) && mentionsMe(entry)).length;
    },

    jumpTo,
    close() {
      widget.clearTimeout(timeTimer);
      search.close();
    },
  };
}
