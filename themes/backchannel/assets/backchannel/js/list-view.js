// The message list: the room's messages in order (render.js draws each one), older pages on top,
// following new messages while at the bottom, "N new messages ↓" while scrolled up, what a
// screen reader is told and the unseen count in the tab title. The conversation chunk
// (decorations.js) draws over it once loaded: formatting, replies, reactions, day separators,
// the list's keyboard moves and relative times kept up to date.
// Part of the widget (chat.js); the retry and discard buttons of a message that could not be sent
// are writing.js's.

import { createMessageElement, syncMessageList } from "./render.js";
import { continuesGroup, latestSeq, titleWithUnseen, unseenEntries } from "./view.js";

// Within this many pixels of the bottom the list counts as "at the bottom" and follows new messages.
const STICK_TO_BOTTOM_THRESHOLD_PX = 48;
// Scrolled this close to the top, the list asks for older messages.
const LOAD_OLDER_THRESHOLD_PX = 48;
// Of many new messages at once (a resume after a reconnect), only the newest are read out.
const ANNOUNCE_MAX = 3;

/**
 * Binds `.bc-log` and `.bc-announcer` in `section` to `session` and its `timeline`. `text` holds
 * the page's { translate, translateCount, errorText, formatNumber, locale }; `pageTitle` is the
 * tab's title without the unseen count. `viewer` (render's) is the identity or null: it says
 * which messages get an actions menu. Returns { render({ prepended, ownVisitor, viewer }),
 * renderUnseen(), scrollToEnd(), close() }.
 */
export function createListView(section, { session, timeline, text, pageTitle, now }) {
  const document = section.ownerDocument;
  const { translate, translateCount, errorText, formatNumber, locale } = text;
  const messageList = section.querySelector(".bc-messages");
  const loadOlderButton = section.querySelector(".bc-load-older");
  const jumpButton = section.querySelector(".bc-jump");
  const emptyLine = section.querySelector(".bc-empty");
  const announcer = section.querySelector(".bc-announcer");
  const rendered = new Map();
  // The conversation chunk's drawing (conversation.js), once loaded: until then, plain text.
  let conversation = null;
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
      // A named visitor reports others' messages (and replies and reacts); staff moderate any stored one.
      // Version 3: own messages too (reply, react, edit, delete).
      entry.actions = viewer !== null && entry.seq !== undefined && (viewer.staff || !entry.own || session.protocol > 2);
    });
    conversation?.annotate(entries);
    syncMessageList(messageList, entries, {
      start: loadOlderButton,
      rendered,
      create: (entry) => {
        const article = createMessageElement(document, entry, { locale, translate, errorText, now: now() });
        // The chunk may wrap it (a day separator, the unread divider before it).
        return conversation?.decorate(article, entry) ?? article;
      },
    });
    loadOlderButton.hidden = timeline.olderBefore === null || !session.joined;
    emptyLine.hidden = !session.joined || entries.length > 0 || timeline.olderBefore !== null;
    if (prepended) messageList.scrollTop = messageList.scrollHeight - fromBottom; // keep what was on screen
    else if (wasAtBottom) messageList.scrollTop = messageList.scrollHeight;
    // Once the list is where it will stay: a jump to a message scrolls from there.
    conversation?.rendered(entries);
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
    document.title = titleWithUnseen(pageTitle, visible ? 0 : unseen, formatNumber, conversation?.mentions(entries, seenSeq));
  }


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
  messageList.addEventListener("scroll", () => {
    if (messageList.scrollTop < LOAD_OLDER_THRESHOLD_PX && !loadOlderButton.hidden) loadOlder();
    renderUnseen();
  });

  return {
    render,
    renderUnseen,
    /** The messages shown (timeline entries), as last rendered. */
    get entries() {
      return entries;
    },
    /** The conversation chunk is there: every message is drawn again by it. */
    enhance(drawing) {
      conversation = drawing;
      rendered.clear();
    },
    /** After the visitor sent: their message is the newest, in view. */
    scrollToEnd() {
      messageList.scrollTop = messageList.scrollHeight;
    },
    close: () => conversation?.close(),
  };
}
