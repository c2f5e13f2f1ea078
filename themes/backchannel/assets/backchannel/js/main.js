// The chat bundle's entry point (partials/backchannel/script.html bundles it with js.Build, which
// also provides "@params" from the site configuration). Loaded on pages with a chat widget only.

import * as params from "@params";
import { mountChat } from "./chat.js";

function mountAll() {
  // partials/backchannel/assets.html includes this script once per page, so each widget is
  // mounted once.
  for (const element of document.querySelectorAll(".bc-chat")) mountChat(element, { backendUrl: params.backendUrl });
}

// The script is deferred, so the DOM is usually parsed already.
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", mountAll);
} else {
  mountAll();
}
