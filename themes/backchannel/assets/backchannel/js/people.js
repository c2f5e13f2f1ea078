// Who is in the room: the presence line ("3 online · Ann · Bob") and who else is typing
// ("Ann is typing…"). Part of the widget (chat.js); no socket, no session.

import { appendPersonMarks, createMenuButton } from "./render.js";

// How long one `typing` notice shows "Ann is typing…" (the sender repeats it while typing).
export const TYPING_NOTICE_MS = 5000;

/** The `.bc-typing` text for the names of the people typing, in the order they started. */
export function describeTyping(names, translate) {
  if (names.length === 0) return "";
  if (names.length === 1) return translate("chat_typing_one", { name: names[0] });
  if (names.length === 2) return translate("chat_typing_two", { name: names[0], other: names[1] });
  return translate("chat_typing_many");
}

/**
 * Binds `.bc-presence` and `.bc-typing` in `section`. Returns { renderPresence(presence, staff),
 * showTyping(event), dropTypist(visitor), clearTypists() }. For staff, each person has a button
 * (`.bc-menu-button[data-visitor]`, render.js createMenuButton) that opens the write chunk's moderation menu (writing.js).
 */
export function createPeopleView(section, { translate, formatNumber, setTimeout, clearTimeout }) {
  const document = section.ownerDocument;
  const presenceLine = section.querySelector(".bc-presence");
  const presenceCount = section.querySelector(".bc-presence__count");
  const presencePeople = section.querySelector(".bc-presence__people");
  const typingLine = section.querySelector(".bc-typing");
  // visitor → { name, timer }: the others typing, in the order they started.
  const typists = new Map();
  // Rebuilt only when it changes, so that a screen reader is not told it again.
  let shownPresence = null;

  /** `presence` is the session's { online_count, people } while joined, else null. */
  function renderPresence(presence, staff) {
    presenceLine.hidden = presence === null;
    const signature = JSON.stringify([presence, staff]);
    if (presence === null || signature === shownPresence) return;
    shownPresence = signature;
    presenceCount.textContent = translate("chat_presence_count", { count: formatNumber(presence.online_count) });
    presencePeople.textContent = "";
    // Over presence_list_limit the server sends only the count.
    presencePeople.hidden = presence.people === null;
    for (const person of presence.people ?? []) {
      const item = document.createElement("li");
      item.className = "bc-presence__person";
      item.textContent = person.name;
      appendPersonMarks(document, item, person, translate);
      if (staff && !person.staff) {
        item.appendChild(createMenuButton(document, translate("chat_person_actions", { name: person.name }), { visitor: person.visitor }));
      }
      presencePeople.appendChild(item);
    }
  }

  function renderTyping() {
    typingLine.textContent = describeTyping([...typists.values()].map((typist) => typist.name), translate);
  }

  function dropTypist(visitor) {
    const typist = typists.get(visitor);
    if (typist === undefined) return;
    clearTimeout(typist.timer);
    typists.delete(visitor);
    renderTyping();
  }

  return {
    renderPresence,
    dropTypist,
    /** Someone else's `typing` event: shown for TYPING_NOTICE_MS, renewed by the next. */
    showTyping({ visitor, name }) {
      const typist = typists.get(visitor);
      if (typist !== undefined) clearTimeout(typist.timer);
      typists.set(visitor, { name, timer: setTimeout(() => dropTypist(visitor), TYPING_NOTICE_MS) });
      renderTyping();
    },
    clearTypists() {
      for (const typist of typists.values()) clearTimeout(typist.timer);
      typists.clear();
      renderTyping();
    },
  };
}
