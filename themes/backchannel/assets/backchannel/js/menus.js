// The actions menus, in the write chunk (write.js): on another person's message a visitor may
// report it; staff may delete any message, and mute (an hour, a day) or ban its author or anyone
// in the online list, by identity or (an explicit choice, with how many people it would hit) by
// address. Each action asks for an optional reason and takes effect live for everyone (the
// server's moderation API: ARCHITECTURE.md "Moderating from the page"). The menu opens in place,
// under the ⋯ button chat.js routes here, and closes with Escape or Cancel.

export const REASON_MAX_CHARS = 200;
const HOUR_SECS = 3600;
const DAY_SECS = 24 * HOUR_SECS;

// What each action sends (besides room, the target and the reason).
const STAFF_ACTIONS = [
  ["chat_moderate_mute_hour", { action: "mute", duration_secs: HOUR_SECS }],
  ["chat_moderate_mute_day", { action: "mute", duration_secs: DAY_SECS }],
  ["chat_moderate_ban", { action: "ban", duration_secs: null }],
  ["chat_moderate_ban_address", { action: "ban", duration_secs: null, scope: "address" }],
];

/** An error of the moderation or report API: `code` as in ARCHITECTURE.md's error table. */
class ActionError extends Error {
  constructor(code, retryAfterSecs) {
    super(code);
    this.code = code;
    this.retryAfterSecs = retryAfterSecs;
  }
}

/**
 * The moderation and report API for one visitor: `token()` is their current token.
 * Resolves to the answer's JSON; throws ActionError.
 */
export function createActionsClient({ httpBase, fetch, token }) {
  async function call(path, { method = "POST", body } = {}) {
    let response;
    try {
      response = await fetch(`${httpBase}${path}`, {
        method,
        credentials: "omit",
        headers: { Authorization: `Bearer ${token()}`, ...(body && { "Content-Type": "application/json" }) },
        body: body && JSON.stringify(body),
      });
    } catch {
      throw new ActionError("network");
    }
    const answer = await response.json().catch(() => ({}));
    // Refusals have the identity API's shape: { error: { code, message, retry_after_secs? } }.
    if (!response.ok) throw new ActionError(answer.error?.code ?? "server_error", answer.error?.retry_after_secs);
    return answer;
  }
  return {
    moderate: (body) => call("/api/moderation/actions/", { body }),
    onlineFromAddress: (target) => call(`/api/moderation/address/?${new URLSearchParams(target)}`, { method: "GET" }),
    report: (body) => call("/api/reports/", { body }),
  };
}

/**
 * The menus of one widget. `staff()` says whether the viewer moderates; `client` is
 * createActionsClient's; `showError(code, details)` shows a refusal in the widget's error line;
 * `messageList` gets the focus when the message a menu was on is deleted; `actions`
 * (message-actions.js) adds reply, react, edit and delete own on a message. Returns
 * { toggle(button), refresh(), close() }.
 */
export function createMenus({ actions, document, room, translate, translateCount, staff, client, showError, messageList }) {
  // { button, panel, seq (of a message's menu), focused (the panel's element last focused) }
  let open = null;

  function el(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function button(text, onClick, className = "bc-button bc-button--quiet") {
    const element = el("button", className, text);
    element.type = "button";
    element.addEventListener("click", onClick);
    return element;
  }

  function close({ focus = true } = {}) {
    if (open === null) return;
    const { button: toggleButton, panel } = open;
    open = null;
    panel.remove();
    toggleButton.setAttribute("aria-expanded", "false");
    if (focus) toggleButton.focus();
  }

  /**
   * The choices for `target` ({ seq } of a message, or { visitor } of a person); `own`: the
   * visitor's own message (nothing to report; staff keep their tools on their own too).
   */
  function showChoices(panel, target, isMessage, own) {
    panel.replaceChildren();
    if (isMessage && actions?.available()) {
      panel.appendChild(actions.reactionRow(target.seq, () => close()));
      for (const [label, act] of actions.choices(target.seq)) {
        panel.appendChild(button(translate(label), () => {
          close({ focus: false });
          act();
        }));
      }
    }
    const choices = [];
    if (staff()) {
      if (isMessage) choices.push(["chat_moderate_delete", { action: "delete" }]);
      choices.push(...STAFF_ACTIONS);
    } else if (!own) {
      choices.push(["chat_report", null]);
    }
    for (const [label, request] of choices) {
      panel.appendChild(button(translate(label), () => confirm(panel, target, label, request)));
    }
    panel.appendChild(button(translate("chat_cancel"), () => close()));
    panel.querySelector("button")?.focus();
  }

  /** Asks for the reason (and, for an address ban, says how many it would hit), then acts. */
  async function confirm(panel, target, label, request) {
    panel.replaceChildren(el("p", "bc-menu__title", translate(label)));
    if (request?.scope === "address") {
      const warning = panel.appendChild(el("p", "bc-menu__warning", "…"));
      try {
        const { online_from_address: count } = await client.onlineFromAddress({ room, ...target });
        warning.textContent = translateCount("chat_moderate_address_count", count);
      } catch (error) {
        close();
        showError(error.code, { retryAfterSecs: error.retryAfterSecs });
        return;
      }
    }
    const form = panel.appendChild(el("form", "bc-menu__form"));
    const labelElement = form.appendChild(el("label", "bc-menu__label"));
    labelElement.appendChild(el("span", "", translate(request ? "chat_moderate_reason" : "chat_report_reason")));
    const reason = labelElement.appendChild(el("input", "bc-menu__reason"));
    reason.name = "reason";
    reason.maxLength = REASON_MAX_CHARS;
    reason.autocomplete = "off";
    const confirmButton = form.appendChild(button(translate("chat_moderate_confirm"), () => {}, "bc-button"));
    confirmButton.type = "submit";
    const controls = [reason, confirmButton, form.appendChild(button(translate("chat_cancel"), () => close()))];
    form.addEventListener("submit", async (submitEvent) => {
      submitEvent.preventDefault();
      const body = { room, ...target, ...request, reason: reason.value.trim() };
      for (const control of controls) control.disabled = true;
      try {
        if (request) await client.moderate(body);
        else await client.report(body);
      } catch (error) {
        close();
        showError(error.code, { retryAfterSecs: error.retryAfterSecs });
        return;
      }
      if (request?.action === "delete") {
        // The message, and its menu with it, leaves every page: the keyboard stays in the list.
        close({ focus: false });
        messageList.focus();
        return;
      }
      // Said where the visitor is looking, and to screen readers.
      const done = el("p", "bc-menu__done", translate(request ? "chat_moderate_done" : "chat_report_sent"));
      done.setAttribute("role", "status");
      panel.replaceChildren(done, button(translate("chat_close"), () => close()));
    });
    reason.focus();
  }

  return {
    /** The ⋯ button (render.js createMenuButton) of a message, or of a person (data-visitor). */
    toggle(toggleButton) {
      const wasOpen = open?.button === toggleButton;
      close({ focus: wasOpen });
      if (wasOpen) return;
      const message = toggleButton.closest(".bc-message");
      const target = message ? { seq: Number(message.getAttribute("data-seq")) } : { visitor: toggleButton.dataset.visitor };
      const panel = el("div", "bc-menu");
      panel.setAttribute("role", "group");
      panel.setAttribute("aria-label", toggleButton.getAttribute("aria-label"));
      panel.addEventListener("keydown", (keyEvent) => {
        if (keyEvent.key === "Escape") close();
      });
      (message ?? toggleButton.parentNode).appendChild(panel);
      toggleButton.setAttribute("aria-expanded", "true");
      open = { button: toggleButton, panel, seq: message?.getAttribute("data-seq"), focused: null };
      panel.addEventListener("focusin", (focusEvent) => {
        if (open?.panel === panel) open.focused = focusEvent.target;
      });
      showChoices(panel, target, Boolean(message), message?.classList.contains("bc-message--own") ?? false);
    },
    /**
     * After the list is drawn again: a message that changed (a reaction, an edit) is a new
     * element, which would drop its open menu and the focus in it. The menu moves to it as it
     * was (what was typed, the focus); the menu of a message that is gone closes.
     */
    refresh() {
      if (open === null || open.button.isConnected || open.seq === undefined) return;
      const { panel, focused } = open;
      const root = messageList.getRootNode();
      const focusLost = !root.activeElement && (document.activeElement === null || document.activeElement === document.body);
      const button = messageList.querySelector(`.bc-message[data-seq="${open.seq}"] > .bc-menu-button`);
      if (button === null) {
        open = null;
        if (focusLost) messageList.focus();
        return;
      }
      button.setAttribute("aria-expanded", "true");
      button.parentNode.appendChild(panel);
      open.button = button;
      if (focusLost && focused !== null && panel.contains(focused)) focused.focus();
    },
    close: () => close({ focus: false }),
  };
}
