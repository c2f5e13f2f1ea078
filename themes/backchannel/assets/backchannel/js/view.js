// What the message list shows, without DOM: which messages run together under one author line,
// the time label of each, and how many messages from others the visitor has not seen yet.
// chat.js and render.js draw it; tests/js/view.test.js covers it.

// A message continues the one before it (no author line of its own) when the same person sent it
// within this long, on the same day.
export const GROUP_WINDOW_MS = 5 * 60 * 1000;
const MINUTE_MS = 60 * 1000;

const sameDay = (a, b) => a.toDateString() === b.toDateString();

/** Whether `entry` (timeline.js entries()) runs on from `previous` under the same author line. */
export function continuesGroup(previous, entry) {
  if (!previous) return false;
  const before = new Date(previous.sentAt);
  const at = new Date(entry.sentAt);
  const gapMs = at - before;
  // Own messages are one person's, whatever the name was; others' are told apart by visitor id
  // (two visitors may pick the same name).
  const samePerson = entry.own ? previous.own : !previous.own && previous.visitor === entry.visitor;
  return samePerson && gapMs >= 0 && gapMs < GROUP_WINDOW_MS && sameDay(before, at);
}

/**
 * The `time` element's parts for an ISO 8601 `sent_at`, seen at `nowMs`, in `locale`:
 * `label` is relative within the hour ("now", "5 minutes ago", "5 分前"; a clock a minute ahead
 * of the server's still says "now"), then the local time, with the date when not today;
 * `title` is the full local date and time.
 */
export function formatMessageTime(isoString, nowMs, locale) {
  // Always a valid date: the protocol decoder checks sent_at (and `until`), the outbox writes it.
  const date = new Date(isoString);
  const minutes = Math.floor((nowMs - date) / MINUTE_MS);
  return {
    // Normalised: HTML's datetime allows at most 3 fraction digits; Python writes 6.
    dateTime: date.toISOString(),
    label:
      minutes < 60 && minutes >= -1
        ? new Intl.RelativeTimeFormat(locale, { numeric: "auto" }).format(-Math.max(0, minutes), minutes > 0 ? "minute" : "second")
        : date.toLocaleString(locale, { dateStyle: sameDay(date, new Date(nowMs)) ? undefined : "medium", timeStyle: "short" }),
    title: date.toLocaleString(locale, { dateStyle: "full", timeStyle: "short" }),
  };
}

/** The highest seq among `entries` (0 when there is none). */
export function latestSeq(entries) {
  return entries.reduce((latest, entry) => Math.max(latest, entry.seq ?? 0), 0);
}

/** The messages from others after `seenSeq`: the visitor has not seen them yet. */
export function unseenEntries(entries, seenSeq) {
  return entries.filter((entry) => !entry.own && entry.seq > seenSeq);
}

/** The tab title with the number of unseen messages in front: "(3) #lobby · Backchannel". */
export function titleWithUnseen(title, count, formatNumber = String, mentions = 0) {
  // "(@1 · 3) ": 3 unseen messages, 1 of them mentions the visitor (conversation.js counts them).
  return count > 0 ? `(${mentions > 0 ? `@${formatNumber(mentions)} · ` : ""}${formatNumber(count)}) ${title}` : title;
}

/**
 * The character counter near the composer's limit: null while far from it (more than a tenth
 * of `maxChars`, and at least 20, left), else { key, count } for the "left" or "over" string.
 */
export function describeRemaining(usedChars, maxChars) {
  const left = maxChars - usedChars;
  if (!(maxChars > 0) || left > Math.max(20, maxChars / 10)) return null;
  return left < 0 ? { key: "chat_chars_over", count: -left } : { key: "chat_chars_left", count: left };
}
