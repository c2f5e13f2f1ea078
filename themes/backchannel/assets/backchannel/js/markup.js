// The widget's parts, built in its shadow root (element.js). The page's own HTML carries none of
// them (nor any UI text): summaries, feeds, search indexes and tables of contents of the host
// site see only the element and its link. The class names are the contract of ARCHITECTURE.md
// "Widget markup"; chat.js binds them.

/** An element with attributes (`hidden: true` sets the property) and children (nodes or text). */
export function h(document, tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "hidden") element.hidden = value;
    else element.setAttribute(name, value);
  }
  for (const child of children) {
    element.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

/**
 * The chat section for one room. `translate(key)` gives a UI string; `heading` is "h1" or "h2"
 * (default) for the room's title, or null when the host page provides the title itself (the
 * room page's h1, in a slot). Everything interactive starts hidden: chat.js shows what applies.
 */
export function buildChatSection(document, translate, { heading = "h2" } = {}) {
  const el = (tag, attributes, ...children) => h(document, tag, attributes, ...children);
  const button = (className, text, attributes = {}) =>
    el("button", { class: `bc-button ${className}`.trim(), type: "button", ...attributes }, text);
  const title = heading === null ? el("slot", { name: "title" }) : el(heading, { class: "bc-chat__title" });
  return el(
    "section",
    { class: "bc-chat", part: "chat", "aria-label": translate("chat_region_label") },
    el(
      "header",
      { class: "bc-chat__header" },
      title,
      el("p", { class: "bc-status", "data-state": "connecting", role: "status", hidden: true }),
    ),
    el(
      "div",
      { class: "bc-chat__problem", hidden: true },
      el("p", { class: "bc-chat__problem-text" }),
      el("p", {}, el("a", { class: "bc-chat__back", href: "/" }, translate("chat_back_home"))),
    ),
    el("p", { class: "bc-error", "data-code": "", role: "alert", hidden: true }),
    el("div", { class: "bc-notices", role: "status" }),
    el(
      "div",
      { class: "bc-presence", "aria-label": translate("chat_presence_label"), hidden: true },
      el("span", { class: "bc-presence__count" }),
      el("ul", { class: "bc-presence__people" }),
    ),
    el(
      "div",
      { class: "bc-log" },
      // Focusable, so that keyboard users can scroll it. Not a live region itself: history, older
      // pages and a resume would all be read out; chat.js tells .bc-announcer what is new.
      el(
        "div",
        { class: "bc-messages", part: "messages", role: "region", "aria-label": translate("chat_messages_label"), tabindex: "0" },
        button("bc-load-older bc-button--quiet", translate("chat_load_older"), { hidden: true }),
      ),
      // Over the empty list (not in it: the list holds only messages).
      el("p", { class: "bc-empty", hidden: true }, translate("chat_empty")),
      button("bc-jump", "", { hidden: true }),
    ),
    el("div", { class: "bc-announcer bc-visually-hidden", role: "log", "aria-live": "polite" }),
    // Not a live region: announcing every keystroke pause of every member would drown the log.
    el("p", { class: "bc-typing" }),
    el("p", { class: "bc-identity", hidden: true }, el("span", { class: "bc-identity__name" }), button("bc-identity__change bc-button--quiet", translate("chat_change_name"))),
    el(
      "form",
      { class: "bc-composer", part: "composer", hidden: true },
      el(
        "label",
        { class: "bc-composer__label" },
        el("span", { class: "bc-visually-hidden" }, translate("chat_message_label")),
        el("textarea", { class: "bc-composer__text", name: "text", rows: "1", required: "", "aria-describedby": "bc-counter" }),
      ),
      el("button", { class: "bc-button", type: "submit" }, translate("chat_send")),
    ),
    // Characters left, shown near the server's limit (chat.js renderCounter).
    el("p", { class: "bc-counter", id: "bc-counter", hidden: true }),
    // The name picker and the staff sign-in: filled in by the write chunk (write.js) when the
    // visitor first writes.
    el("div", { class: "bc-join", hidden: true }),
  );
}

/**
 * The name picker (shown when a visitor without a name writes) and, beside it (forms cannot
 * nest), the staff sign-in. Appended to `.bc-join` by the write chunk.
 */
export function buildJoinForms(document, translate) {
  const el = (tag, attributes, ...children) => h(document, tag, attributes, ...children);
  const field = (label, attributes) => el("label", { class: "bc-name__label" }, el("span", {}, label), el("input", { type: "text", required: "", spellcheck: "false", ...attributes }));
  return [
    el(
      "form",
      { class: "bc-name" },
      el("p", { class: "bc-name__hint" }, translate("chat_name_prompt")),
      field(translate("chat_name_label"), { class: "bc-name__input", name: "name", autocomplete: "nickname" }),
      // The honeypot: people never see it (nor do screen readers); form-filling bots do.
      el(
        "label",
        { class: "bc-visually-hidden", "aria-hidden": "true" },
        translate("chat_website_label"),
        el("input", { name: "website", type: "text", tabindex: "-1", autocomplete: "off", "aria-hidden": "true" }),
      ),
      el("button", { class: "bc-button", type: "submit" }, translate("chat_name_submit")),
    ),
    el(
      "details",
      { class: "bc-staff" },
      el("summary", {}, translate("chat_staff_summary")),
      el(
        "form",
        { class: "bc-staff-login" },
        field(translate("chat_staff_username"), { name: "username", autocomplete: "username" }),
        field(translate("chat_staff_password"), { name: "password", type: "password", autocomplete: "current-password" }),
        el("button", { class: "bc-button", type: "submit" }, translate("chat_staff_submit")),
      ),
    ),
  ];
}
