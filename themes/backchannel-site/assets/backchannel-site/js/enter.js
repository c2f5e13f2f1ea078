// The landing page's bundle entry point: its "enter a room" form (room-form.js) and the online
// count on each room card, without the chat.

import * as params from "@params";
import { resolveHttpBase } from "backchannel/js/chat.js";
import { enhanceRoomForm } from "./room-form.js";

for (const form of document.querySelectorAll("form.bc-enter")) enhanceRoomForm(form);

/** Writes "3 online" on each `.bc-room-list__item[data-bc-room]`, from one request. */
async function showOnlineCounts() {
  const list = document.querySelector(".bc-room-list[data-bc-online]");
  if (!list) return;
  const items = [...list.querySelectorAll(".bc-room-list__item[data-bc-room]")];
  const rooms = items.map((item) => item.dataset.bcRoom);
  const httpBase = resolveHttpBase(params.backendUrl, location.protocol);
  let counts = {};
  try {
    const response = await fetch(`${httpBase}/api/rooms/online/?rooms=${rooms.join(",")}`, { credentials: "omit" });
    if (response.ok) counts = (await response.json()).rooms ?? {};
  } catch {
    return; // the backend is asleep or unreachable: the cards stay as they are
  }
  const locale = document.documentElement.lang || undefined;
  for (const item of items) {
    const count = counts[item.dataset.bcRoom];
    if (typeof count !== "number") continue;
    const label = item.querySelector(".bc-room-list__online");
    label.textContent = list.dataset.bcOnline.replace("{count}", count.toLocaleString(locale));
    label.hidden = false;
  }
}

showOnlineCounts();
