// The landing page's "enter a room" form (form.bc-enter). Without JavaScript it still submits
// ?name=<what was typed>, which the room page normalises; with it, the room name is normalised
// and checked before navigating, so the address bar shows the canonical name.

import { isValidRoomName, normalizeRoomName } from "backchannel/js/rooms.js";

export function enhanceRoomForm(form, { location = globalThis.location } = {}) {
  const input = form.elements.namedItem("name");
  input.addEventListener("input", () => input.setCustomValidity(""));
  form.addEventListener("submit", (submitEvent) => {
    submitEvent.preventDefault();
    const room = normalizeRoomName(input.value);
    if (!isValidRoomName(room)) {
      input.setCustomValidity(form.dataset.bcInvalidMessage || "invalid room name");
      input.reportValidity();
      return;
    }
    const target = new URL(form.action, location.href);
    target.search = new URLSearchParams({ name: room }).toString();
    location.assign(target.href);
  });
}
