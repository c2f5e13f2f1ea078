// Entry point, bundled by Hugo's js.Build (partials/backchannel/script.html), which also
// provides "@params" from the site configuration.

import * as params from "@params";
import { mountChat } from "./chat.js";
import { enhanceRoomForm } from "./room-form.js";

function mountAll() {
  for (const element of document.querySelectorAll(".bc-chat")) {
    mountChat(element, { backendUrl: params.backendUrl });
  }
  for (const form of document.querySelectorAll("form.bc-enter")) {
    enhanceRoomForm(form);
  }
}

// The script is deferred, so the DOM is usually parsed already.
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", mountAll);
} else {
  mountAll();
}
