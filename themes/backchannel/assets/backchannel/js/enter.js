// The landing page's bundle entry point: its "enter a room" form (room-form.js), without the chat.

import { enhanceRoomForm } from "./room-form.js";

for (const form of document.querySelectorAll("form.bc-enter")) enhanceRoomForm(form);
