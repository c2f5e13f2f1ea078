// The message list: the room's messages in order (render.js draws each one), older pages on top,
// following new messages while at the bottom, "N new messages ↓" while scrolled up, what a
// screen reader is told, the unseen count in the tab title and relative times kept up to date.
// Part of the widget (chat.js); the retry and discard buttons of a message that could not be sent
// are writing.js's.

import { createMessageElement, syncMessageList } from "./render.js";
import { continuesGroup, formatMessageTime, latestSeq, titleWithUnseen, unseenEntries } from "./view.js";

// Within this many pixels of the bottom the list counts as "at the bottom" and follows new messages.
const STICK_TO_BOTTOM_THRESHOLD_PX = 48;
// Scrolled this close to the top, the list asks for older messages.
const LOAD_OLDER_THRESHOLD_PX = 48;
// Relative times ("5 minutes ago") are brought up to date this often.
const TIME_REFRESH_MS = 30_000;
// Of many new messages at once (a resume after a reconnect), only the newest are read out.
const ANNOUNCE_MAX = 3;

/**
 * Binds `.bc-log` and `.bc-announcer` in `section` to `session` and its `timeline`. `text` holds
 * the page's { translate, translateCount, errorText, formatNumber, locale }; `pageTitle` is the
 * tab's title without the unseen count. `viewer` (render's) is the identity or null: it says
 * which messages get an actions menu. Returns { render({ prepended, ownVisitor, viewer }),
 * renderUnseen(), scrollToEnd(), close() }.
 */
export function createListView(section, { session, timeline, text, pageTitle, now, setTimeout, clearTimeout }) {
  const document = section.ownerDocument;
  const { translate, translateCount, errorText, formatNumber, locale } = text;
  const messageList = section.querySelector(".bc-messages");
  const loadOlderButton = section.querySelector(".bc-load-older");
  const jumpButton = section.querySelector(".bc-jump");
  const emptyLine = section.querySelector(".bc-empty");
  const announcer = section.querySelector(".bc-announcer");
  const rendered = new Map();
  // The newest seq the visitor has seen (list at the bottom, page visible), and the newest one
  // told to the announcer; null until the first `joined`: history is neither unseen nor news.
  let seenSeq = null;
  let announcedSeq = null;
  let entries = [];

  const isAtBottom = () =>
    messageList.scrollHeight - messageList.scrollTop - messageList.clientHeight < STICK_TO_BOTTOM_THRESHOLD_PX;

  function render({ prepended = false, ownVisitor, viewer = null } = {}) {
    const wasAtBottom = isAtBottom();
    const fromBottom = messageList.scrollHeight - messageList.scrollTop;
    entries = timeline.entries(ownVisitor);
    entries.forEach((entry, index) => {
      entry.grouped = continuesGroup(entries[index - 1], entry);
      // A named visitor reports others' messages; staff moderate any stored one.
      entry.actions = viewer !== null && entry.seq !== undefined && (viewer.staff || !entry.own);
    });
    syncMessageList(messageList, entries, {
      start: loadOlderButton,
      rendered,
      create: (entry) => createMessageElement(document, entry, { locale, translate, errorText, now: now() }),
    });
    loadOlderButton.hidden = timeline.olderBefore === null || !session.joined;
    emptyLine.hidden = !session.joined || entries.length > 0 || timeline.olderBefore !== null;
    if (prepended) messageList.scrollTop = messageList.scrollHeight - fromBottom; // keep what was on screen
    else if (wasAtBottom) messageList.scrollTop = messageList.scrollHeight;
    // One ⋯ of the list in the tab order (the one last moved to, else the newest), so that a
    // keyboard user does not tab through every message.
    const menus = [...messageList.querySelectorAll(".bc-menu-button")];
    if (!menus.some((menu) => menu.tabIndex === 0) && menus.length > 0) menus.at(-1).tabIndex = 0;
    renderUnseen();
  }

  /**
   * What is new since the last call goes to the screen reader's announcer; then the "N new
   * messages" button (while scrolled up) and the count in the tab title (while hidden).
   */
  function renderUnseen() {
    const latest = latestSeq(entries);
    const visible = document.visibilityState !== "hidden";
    if (seenSeq === null) {
      if (!session.joined) return;
      seenSeq = announcedSeq = latest;
    }
    const fresh = unseenEntries(entries, announcedSeq);
    announcedSeq = latest;
    // Added lines are read out, the ones taken away are not: only the latest are kept. Many at
    // once (a resume after a reconnect): the newest few.
    if (fresh.length > 0) announcer.textContent = "";
    for (const entry of fresh.slice(-ANNOUNCE_MAX)) {
      announcer.appendChild(document.createElement("p")).textContent = `${entry.author}: ${entry.text}`;
    }

    if (visible && isAtBottom()) seenSeq = latest;
    const unseen = unseenEntries(entries, seenSeq).length;
    jumpButton.hidden = unseen === 0;
    jumpButton.textContent = `${translateCount("chat_new_messages", unseen)} ↓`;
    document.title = titleWithUnseen(pageTitle, visible ? 0 : unseen, formatNumber);
  }

  // Relative times move on: "now" becomes "1 minute ago".
  let timeTimer = null;
  function refreshTimes() {
    for (const time of messageList.querySelectorAll("time")) {
      const label = formatMessageTime(time.getAttribute("datetime"), now(), locale).label;
      if (time.textContent !== label) time.textContent = label;
    }
    timeTimer = setTimeout(refreshTimes, TIME_REFRESH_MS);
  }
  timeTimer = setTimeout(refreshTimes, TIME_REFRESH_MS);

  // Never disabled while a page loads (session.loadOlder asks once at a time): a disabled button
  // would drop the keyboard focus of someone who tabbed to it.
  const loadOlder = () => session.loadOlder();
  loadOlderButton.addEventListener("click", loadOlder);
  // The scroll event that follows hides the button (renderUnseen): the keyboard stays in the
  // list, which now shows the new messages.
  jumpButton.addEventListener("click", () => {
    messageList.scrollTop = messageList.scrollHeight;
    messageList.focus();
  });
  // Up and Down move between the messages' ⋯ buttons.
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
  messageList.addEventListener("scroll", () => {
    if (messageList.scrollTop < LOAD_OLDER_THRESHOLD_PX && !loadOlderButton.hidden) loadOlder();
    renderUnseen();
  });

  return {
    render,
    renderUnseen,
    /** After the visitor sent: their message is the newest, in view. */
    scrollToEnd() {
      messageList.scrollTop = messageList.scrollHeight;
    },
    close: () => clearTimeout(timeTimer),
  };
}
