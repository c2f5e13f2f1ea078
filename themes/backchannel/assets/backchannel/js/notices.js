// What the visitor must know that lasts: their own sanctions (muted, banned, with the reason and
// the end) and the room's state (locked, slow mode), as `.bc-notice`s. Part of the widget
// (chat.js); no socket, no session.

import { ModerationAction } from "./protocol.js";
import { formatMessageTime } from "./view.js";

// setTimeout's longest delay (about 24.8 days); a mute's end further away is not waited for.
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Binds `.bc-notices` in `section`. Returns { muted, banned, setMuted(sanction), ban(sanction),
 * handleModerated(event), render(roomState) }; a sanction is { reason, until } (until: ISO 8601
 * or null). `onExpired()` is told when a mute ends by itself.
 */
export function createNotices(section, { translate, locale, now, setTimeout, clearTimeout, onExpired }) {
  const document = section.ownerDocument;
  const noticeList = section.querySelector(".bc-notices");
  let muted = null;
  let banned = null;
  let muteTimer = null;
  let shown = null;

  function describeSanction(kind, { reason, until }) {
    const text = [translate(`chat_notice_${kind}`)];
    if (until !== null) text.push(translate("chat_notice_until", { time: formatMessageTime(until, now(), locale).title }));
    if (reason) text.push(translate("chat_notice_reason", { reason }));
    return text.join(" ");
  }

  function setMuted(sanction) {
    muted = sanction;
    clearTimeout(muteTimer);
    muteTimer = null;
    // A mute ends by itself at `until` (the server sends `unmuted` only when it is lifted early).
    const remainingMs = sanction?.until ? Date.parse(sanction.until) - now() : Infinity;
    if (remainingMs <= MAX_TIMER_DELAY_MS) {
      muteTimer = setTimeout(() => {
        muteTimer = null;
        muted = null;
        onExpired();
      }, Math.max(0, remainingMs));
    }
  }

  return {
    get muted() {
      return muted;
    },
    get banned() {
      return banned;
    },
    setMuted,
    /** Banned (the server closes the socket next, 4003); a ban without details keeps any known one. */
    ban(sanction = { reason: "", until: null }) {
      banned ??= sanction;
    },
    /** The server accepted this visitor again (the ban was lifted). */
    unban() {
      banned = null;
    },
    handleModerated(event) {
      const sanction = { reason: event.reason, until: event.until };
      switch (event.action) {
        case ModerationAction.MUTED:
          setMuted(sanction);
          break;
        case ModerationAction.UNMUTED:
          setMuted(null);
          break;
        case ModerationAction.BANNED:
          banned = sanction;
          break;
        default:
          throw new Error(`backchannel: unhandled moderation action ${event.action}`);
      }
    },
    /** Shows the notices for `roomState` ({ locked, slow_mode_secs }); rebuilt only on change. */
    render({ locked, slow_mode_secs: slowModeSecs }) {
      const notices = [];
      if (banned !== null) notices.push(["banned", describeSanction("banned", banned)]);
      else {
        if (muted !== null) notices.push(["muted", describeSanction("muted", muted)]);
        if (locked) notices.push(["locked", translate("chat_notice_locked")]);
        if (slowModeSecs > 0) notices.push(["slow_mode", translate("chat_notice_slow_mode", { seconds: slowModeSecs })]);
      }
      const signature = JSON.stringify(notices);
      if (signature === shown) return;
      shown = signature;
      noticeList.textContent = "";
      for (const [kind, text] of notices) {
        const notice = document.createElement("p");
        notice.className = "bc-notice";
        notice.setAttribute("data-kind", kind);
        notice.textContent = text;
        noticeList.appendChild(notice);
      }
    },
    close() {
      clearTimeout(muteTimer);
    },
  };
}
