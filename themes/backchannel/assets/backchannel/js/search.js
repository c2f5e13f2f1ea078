// Search in a room's history, in the conversation chunk: a 🔍 button in the widget's header opens
// `form.bc-search`; results (newest first, 20 at a time, "More results" for the next page) come
// from the backend's `GET /api/rooms/<room>/search/?q=` (ARCHITECTURE.md "Search") and open the
// message in context: the list scrolls to it, loading older pages if it is before them.

import { plainText } from "./format.js";

export const SEARCH_QUERY_MAX_CHARS = 100;

/** The header's group of buttons (`.bc-chat__tools`: search, notifications), made once. */
export function headerTools(element, document) {
  const header = element.querySelector(".bc-chat__header");
  let tools = header.querySelector(".bc-chat__tools");
  if (tools === null) {
    tools = header.appendChild(document.createElement("span"));
    tools.className = "bc-chat__tools";
  }
  return tools;
}

/** The search API's URL for `query` in `room`, from `beforeSeq` (the next page) when given. */
export function searchUrl(httpBase, room, query, beforeSeq) {
  const params = new URLSearchParams({ q: query });
  if (beforeSeq !== undefined) params.set("before_seq", String(beforeSeq));
  return `${httpBase}/api/rooms/${encodeURIComponent(room)}/search/?${params}`;
}

/**
 * Sets search up in the widget (chat.js's `widget`); `jumpTo(seq)` opens a result in the list
 * (decorations.js). Returns { close() }.
 */
export function createSearch(widget, { jumpTo }) {
  const { element, document, room, translate } = widget;
  const header = element.querySelector(".bc-chat__header");
  const tools = headerTools(element, document);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const toggle = tools.appendChild(el("button", "bc-button bc-button--quiet bc-search-toggle", "🔍"));
  toggle.type = "button";
  toggle.setAttribute("aria-label", translate("chat_search"));
  toggle.title = translate("chat_search");
  toggle.setAttribute("aria-expanded", "false");

  const form = el("form", "bc-search");
  form.setAttribute("role", "search");
  form.hidden = true;
  const label = form.appendChild(el("label", "bc-search__label"));
  label.appendChild(el("span", "bc-visually-hidden", translate("chat_search")));
  const input = label.appendChild(el("input", "bc-search__query"));
  input.type = "search";
  input.name = "q";
  input.maxLength = SEARCH_QUERY_MAX_CHARS;
  input.autocomplete = "off";
  input.placeholder = translate("chat_search_placeholder");
  const submit = form.appendChild(el("button", "bc-button", translate("chat_search_submit")));
  submit.type = "submit";
  const status = form.appendChild(el("p", "bc-search__status"));
  status.setAttribute("role", "status");
  const results = form.appendChild(el("ol", "bc-search__results"));
  const more = form.appendChild(el("button", "bc-button bc-button--quiet bc-search__more", translate("chat_search_more")));
  more.type = "button";
  more.hidden = true;
  header.after(form);

  // The query shown, and the seq the next page starts before.
  let query = "";
  let nextBefore;
  let searching = false;

  function open(shown) {
    form.hidden = !shown;
    toggle.setAttribute("aria-expanded", String(shown));
    if (shown) input.focus();
    else toggle.focus();
  }

  async function search(beforeSeq) {
    if (searching || query === "") return;
    searching = true;
    status.textContent = translate("chat_search_working");
    let answer;
    try {
      const response = await widget.fetch(searchUrl(widget.httpBase, room, query, beforeSeq), { credentials: "omit" });
      answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        const code = answer.error?.code ?? "server_error";
        status.textContent = widget.errorText(code, { seconds: Math.ceil(answer.error?.retry_after_secs ?? 1) });
        return;
      }
    } catch {
      status.textContent = widget.errorText("network");
      return;
    } finally {
      searching = false;
    }
    const found = Array.isArray(answer.results) ? answer.results.filter((result) => Number.isSafeInteger(result?.seq)) : [];
    if (beforeSeq === undefined) results.replaceChildren();
    for (const result of found) {
      const item = results.appendChild(el("li", "bc-search__item"));
      const button = item.appendChild(el("button", "bc-search__result"));
      button.type = "button";
      button.dataset.seq = String(result.seq);
      button.appendChild(el("span", "bc-search__author", String(result.author ?? "")));
      button.appendChild(el("span", "bc-search__text", plainText(String(result.text ?? "").slice(0, 300))));
      button.addEventListener("click", () => jumpTo(result.seq));
    }
    nextBefore = found.at(-1)?.seq;
    more.hidden = !(answer.has_more === true && nextBefore !== undefined);
    const count = results.childElementCount ?? results.children.length;
    status.textContent = count === 0 ? translate("chat_search_none") : widget.translateCount("chat_search_found", count);
  }

  toggle.addEventListener("click", () => open(form.hidden));
  form.addEventListener("submit", (submitEvent) => {
    submitEvent.preventDefault();
    query = input.value.trim();
    search();
  });
  form.addEventListener("keydown", (keyEvent) => {
    if (keyEvent.key === "Escape") open(false);
  });
  more.addEventListener("click", () => search(nextBefore));

  return {
    close() {
      toggle.remove();
      form.remove();
    },
  };
}
