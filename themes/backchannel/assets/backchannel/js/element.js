// <backchannel-chat>: the widget as a custom element with its own shadow root, so the host
// theme's rules cannot restyle it and its rules cannot leak out. Written by the chat shortcode:
//
//   <backchannel-chat room="tea" page="/posts/tea/" strings="/backchannel/strings.en.<hash>.json"
//     strings-integrity="sha384-…" home="/"><a href="/posts/tea/">#tea</a></backchannel-chat>
//
// On its own page (`page`) it is the live chat; anywhere else the same HTML turns up (a summary
// on a list page, a feed) it is only a link to that page, with the room's online count. The room
// page writes `room-param="name"` and `layout="page"` instead of `room`, and its own heading as
// `<h1 slot="title">`. Attributes: ARCHITECTURE.md "Widget markup".

import { formatString, mountChat, resolveHttpBase } from "./chat.js";
import { buildChatSection } from "./markup.js";
import { followScheme } from "./scheme.js";

export const ELEMENT_NAME = "backchannel-chat";
// The embedded widget's height before its stylesheet is there: the stylesheet's own (:host).
export const EMBEDDED_HEIGHT = "var(--bc-height, min(40em, 85vh))";

// The UI strings of one language, fetched once per page whatever the number of widgets; null
// when they cannot be had.
const stringFiles = new Map();
function loadStrings(url, integrity, fetch) {
  if (!stringFiles.has(url)) {
    const strings = fetch(url, { integrity, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : null))
      .catch(() => null);
    stringFiles.set(url, strings);
  }
  return stringFiles.get(url);
}

/** A path compared as a page address: without "index.html" and the trailing slash. */
export function normalizePath(path) {
  let decoded = path;
  try {
    decoded = decodeURI(path);
  } catch {
    // a malformed escape: compare as it is
  }
  return decoded.replace(/index\.html?$/, "").replace(/\/+$/, "");
}

/**
 * The rooms' online counts for link-only widgets: the rooms asked for in one turn of the event
 * loop go in one request (a list page's links all show at once); a room asked for once that
 * request is on its way starts the next.
 */
function createCountsClient(httpBase, fetch) {
  let pending = null;
  return (room) => {
    if (pending === null) {
      const rooms = new Set();
      const answer = Promise.resolve().then(() => {
        pending = null;
        return fetch(`${httpBase}/api/rooms/online/?rooms=${[...rooms].join(",")}`, { credentials: "omit" })
          .then((response) => (response.ok ? response.json() : { rooms: {} }))
          .catch(() => ({ rooms: {} }));
      });
      pending = { rooms, answer };
    }
    pending.rooms.add(room);
    return pending.answer.then((body) => body.rooms?.[room]);
  };
}

/** A <script> with SRI, appended to the page: resolves once it ran. */
export function loadScript(document, { url, integrity }) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.integrity = integrity;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`backchannel: could not load ${url}`));
    document.head.appendChild(script);
  });
}

/**
 * Defines <backchannel-chat> (once, however many times the bundle runs on a page: a list page
 * may carry several summaries, each with the script). `stylesheet`, `writeScript` and
 * `conversationScript` are { url, integrity } of the fingerprinted files; `colorScheme` the site's
 * color_scheme param.
 */
export function defineChatElement({ backendUrl, stylesheet, writeScript, conversationScript, colorScheme = "auto", window = globalThis }) {
  const { customElements, document, location } = window;
  if (customElements.get(ELEMENT_NAME)) return;
  const fetch = window.fetch.bind(window);
  const httpBase = resolveHttpBase(backendUrl, location.protocol);
  const countOnline = createCountsClient(httpBase, fetch);
  // One live widget per room per page: a second one for the same room is a link to the first
  // (room → the live element).
  const liveRooms = new Map();
  // An on-demand chunk (write.js, conversation.js), loaded once per page: what it leaves on
  // `window[name]` once it has run, a promise of it while it loads.
  const chunkLoader = (script, name) => {
    let loading = null;
    return () => {
      if (window[name]) return window[name];
      loading ??= loadScript(document, script)
        .then(() => window[name])
        .catch((error) => {
          loading = null;
          throw error;
        });
      return loading;
    };
  };
  const loadWrite = chunkLoader(writeScript, "backchannelWrite");
  const loadConversation = chunkLoader(conversationScript, "backchannelConversation");

  class BackchannelChat extends window.HTMLElement {
    async connectedCallback() {
      // Put back after a removal (a client-side navigation): it starts afresh.
      if (this.shadowRoot && !this.stopped) return;
      this.stopped = false;
      const shadow = this.shadowRoot ?? this.attachShadow({ mode: "open" });
      shadow.replaceChildren();
      const room = this.getAttribute("room");
      const page = this.getAttribute("page");
      const elsewhere = page !== null && normalizePath(page) !== normalizePath(location.pathname);
      // The live chat's space, held from now on while its stylesheet and strings load, so that
      // the host page below it does not move when it shows (layout shift). The room page's
      // layout gives the widget its size.
      const placeholder = shadow.appendChild(document.createElement("div"));
      if (!elsewhere && this.getAttribute("layout") !== "page") {
        placeholder.style.height = EMBEDDED_HEIGHT;
        placeholder.style.margin = "1.5em 0";
      }
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = stylesheet.url;
      link.integrity = stylesheet.integrity;
      const styled = new Promise((resolve) => {
        link.onload = link.onerror = resolve;
      });
      shadow.appendChild(link);
      this.stopScheme = followScheme(this.getAttribute("color-scheme") || colorScheme, this, (scheme) => {
        if (this.dataset.bcScheme !== scheme) this.dataset.bcScheme = scheme;
      }, window);
      const strings = await loadStrings(this.getAttribute("strings"), this.getAttribute("strings-integrity"), fetch);
      await styled;
      if (this.stopped) return; // taken out of the page meanwhile
      placeholder.remove();
      if (strings === null) {
        // Without its words the widget would show key names: the page's own link stays instead.
        shadow.appendChild(document.createElement("slot"));
        console.error(`backchannel: cannot load ${this.getAttribute("strings")}; a Content-Security-Policy must allow connect-src 'self'`);
        return;
      }
      const translate = (key, values) => formatString(strings[key] ?? key, values);
      const live = liveRooms.get(room);
      if (live) {
        // Scrolls to the live one; the id is given only where the host set none.
        live.id ||= `backchannel-${room}`;
        this.showLink(shadow, translate, room, `#${live.id}`);
      } else if (elsewhere) this.showLink(shadow, translate, room, page);
      else this.showChat(shadow, translate, strings, room);
    }

    /** Only a link to the chat's page (and its online count, when the backend says). */
    showLink(shadow, translate, room, page) {
      const anchor = document.createElement("a");
      anchor.className = "bc-link";
      anchor.setAttribute("part", "link");
      anchor.href = page ?? "#";
      anchor.append(translate("chat_link", { room }));
      shadow.appendChild(anchor);
      countOnline(room).then((count) => {
        if (typeof count !== "number") return;
        const label = document.createElement("span");
        label.className = "bc-link__count";
        label.textContent = translate("chat_presence_count", { count: count.toLocaleString(document.documentElement.lang || undefined) });
        anchor.appendChild(label);
      });
    }

    showChat(shadow, translate, strings, room) {
      if (room !== null) liveRooms.set(room, this);
      this.liveRoom = room;
      const title = this.querySelector('[slot="title"]');
      const section = buildChatSection(document, translate, { heading: title ? null : "h2" });
      shadow.appendChild(section);
      this.chat = mountChat(section, {
        backendUrl,
        room: room ?? undefined,
        roomParam: this.getAttribute("room-param") ?? undefined,
        strings,
        loadWrite,
        loadConversation,
        titleElement: title,
        homeUrl: this.getAttribute("home") ?? "/",
        // Touch keyboards have no Shift+Enter: there Enter breaks the line, Send sends.
        touch: window.matchMedia?.("(pointer: coarse)").matches ?? false,
        // The room page: the composer is kept in view when a phone's keyboard opens (writing.js).
        pageLayout: this.getAttribute("layout") === "page",
      });
    }

    disconnectedCallback() {
      // Removed from the page (a client-side navigation): stop talking to the backend.
      this.stopped = true;
      this.stopScheme?.();
      this.chat?.close();
      if (liveRooms.get(this.liveRoom) === this) liveRooms.delete(this.liveRoom);
    }
  }

  customElements.define(ELEMENT_NAME, BackchannelChat);
}
