// What writing needs, in the write chunk (write.js): the composer's counter
// (composer.js), the outbox (outbox.js) and its sender (sender.js), the retry and discard buttons
// of a message that could not be sent, the actions menus (menus.js: report, and staff's delete,
// mute and ban), and the identity: the name picker, staff sign-in and token renewal (join-flow.js). A visitor who only reads never loads it. chat.js loads it when the
// visitor starts to write (focus, typing, Send), when the room's outbox holds messages from an
// earlier visit, or when the stored token must be renewed, and hands createWriting the widget.

import { createComposer } from "./composer.js";
import { createMentionPicker } from "./mention-picker.js";
import { createMessageActions } from "./message-actions.js";
import { createJoinFlow } from "./join-flow.js";
import { createActionsClient, createMenus } from "./menus.js";
import { createOutbox } from "./outbox.js";
import * as ErrorCode from "./error-codes.js";
import { ProtocolError } from "./protocol.js";
import { attachSender } from "./sender.js";

/**
 * Sets writing up in the widget `widget` (chat.js mountChat: its parts, its session and timeline,
 * its identity as a property it can set, and what it can do: send(event), restartSocket(), ban(),
 * showError(code, details), clearError(), render()). Returns { isChoosingName, submit(),
 * act(button), renew(code), changeName(), render(), close() }.
 */
export function createWriting(widget) {
  const { element, document, room, translate, session, timeline, list, showError, clearError } = widget;
  const joinBox = element.querySelector(".bc-join");
  const textArea = element.querySelector("form.bc-composer").elements.namedItem("text");
  let isChoosingName = false;
  // The visitor pressed Send before having a name: send once they have one.
  let sendWhenNamed = false;

  const sender = attachSender(session, {
    room,
    timeline,
    outbox: createOutbox({ room, storage: widget.storage }),
    send: widget.send,
    now: widget.now,
  });

  const joinFlow = createJoinFlow({
    document,
    translate,
    container: joinBox,
    httpBase: widget.httpBase,
    fetch: widget.fetch,
    crypto: widget.crypto,
    store: widget.store,
    currentIdentity: () => widget.identity,
    adopt: adoptIdentity,
    onRefused: (error) => {
      if (error.code === ErrorCode.BANNED) widget.ban();
      showError(error.code, { retryAfterSecs: error.retryAfterSecs });
    },
    clearError,
    focusComposer: () => composer.focus(),
    setTimeout: widget.setTimeout,
    clearTimeout: widget.clearTimeout,
  });

  /** The visitor has a (new) identity: the socket authenticates with it. */
  function adoptIdentity(next) {
    widget.identity = next;
    isChoosingName = false;
    // A socket authenticates once: one that did (or is about to) under the old identity is
    // replaced; one reading anonymously (or still waiting) authenticates with this one.
    const mustReconnect = session.authenticated || session.authenticating;
    session.setToken(next.token);
    if (mustReconnect) widget.restartSocket();
    widget.render();
    if (sendWhenNamed) {
      sendWhenNamed = false;
      composer.send();
    }
  }

  // The stored identity stays: its token, even expired, keeps the visitor id for the next request.
  function askForName(code) {
    isChoosingName = true;
    if (code !== undefined) showError(code);
    widget.render();
  }

  /** What the composer sends: queued in the outbox (sent once joined), or kept until there is a name. */
  function sendMessage(text) {
    const { identity } = widget;
    if (identity === null || isChoosingName) {
      // Kept in the composer, and sent once the visitor has a name.
      sendWhenNamed = true;
      askForName();
      joinFlow.focusName();
      return false;
    }
    try {
      // Replying or editing (message-actions.js), else a message of its own.
      const composed = actions.submit(text, identity.name);
      if (composed === false) return false;
      if (composed === null) sender.submit(text, identity.name);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      showError(error.code); // e.g. too long: the text stays in the composer to be shortened
      return false;
    }
    clearError();
    list.scrollToEnd();
    return true;
  }

  // Writing without a name: the name picker comes up beside the composer.
  const wrote = () => (widget.identity === null && !isChoosingName ? askForName() : sender.notifyTyping());

  const composer = createComposer(element, {
    translateCount: widget.translateCount,
    maxTextChars: () => session.maxTextChars,
    send: sendMessage,
    wrote,
  });

  const messageList = element.querySelector(".bc-messages");
  messageList.addEventListener("click", (clickEvent) => {
    const button = clickEvent.target.closest?.("button[data-action]");
    const clientId = button?.closest(".bc-message")?.getAttribute("data-client-id");
    if (!clientId || button.dataset.action === "menu") return;
    if (button.dataset.action === "retry") sender.retry(clientId);
    else sender.discard(clientId);
  });

  // Reply, react, edit and delete own (version 3).
  const actions = createMessageActions(widget, sender);
  // @mentions: people online first, then the authors shown, newest first.
  const mentions = createMentionPicker(widget, {
    names: () => [
      ...(session.presence?.people ?? []).map((person) => person.name),
      ...list.entries.map((entry) => entry.author).reverse(),
    ],
  });

  // Report, and staff's delete, mute and ban (chat.js routes the ⋯ buttons here).
  const menus = createMenus({
    actions,
    document,
    room,
    translate,
    translateCount: widget.translateCount,
    staff: () => widget.identity?.staff === true,
    client: createActionsClient({ httpBase: widget.httpBase, fetch: widget.fetch, token: () => widget.identity?.token }),
    showError,
    messageList,
  });

  // The typing that loaded this chunk happened before the composer listened.
  if (textArea.value.trim() !== "") wrote();
  const stopViewport = widget.pageLayout ? keepComposerInView(element, widget.window) : () => {};

  return {
    get isChoosingName() {
      return isChoosingName;
    },
    submit: () => composer.send(),
    /** A button chat.js routes here (WRITE_ACTIONS): a ⋯ menu, or a reaction under a message. */
    act(button) {
      if (button.dataset.action === "menu") menus.toggle(button);
      else if (widget.identity === null) askForName();
      else actions.toggleReaction(button);
    },
    /** The socket refused the token (bad_token, token_expired): get a new one and authenticate. */
    async renew(code) {
      const { identity } = widget;
      // A staff token comes from a password, which is not kept: staff sign in again.
      if (identity === null || identity.staff) askForName(code);
      // A refusal is shown by the flow (its code says more than the socket's).
      else if (!(await joinFlow.renew(code === ErrorCode.TOKEN_EXPIRED))) askForName();
    },
    changeName() {
      askForName();
      joinFlow.focusName();
    },
    render() {
      joinBox.hidden = !isChoosingName || widget.banned;
      menus.refresh();
    },
    close() {
      joinFlow.close();
      menus.close();
      actions.close();
      mentions.close();
      stopViewport();
    },
  };
}

/**
 * The room page on a phone: when the on-screen keyboard takes part of the screen (the visual
 * viewport shrinks, and iOS does not resize the layout for it), the composer being typed in is
 * scrolled back into what is left. Set up with the write chunk, which focusing the composer (what
 * opens the keyboard) loads. Returns a function that stops.
 */
function keepComposerInView(section, window) {
  const viewport = window?.visualViewport;
  const textArea = section.querySelector("textarea");
  if (!viewport || !textArea) return () => {};
  const follow = () => {
    if (section.getRootNode().activeElement === textArea) textArea.scrollIntoView({ block: "nearest" });
  };
  viewport.addEventListener("resize", follow);
  return () => viewport.removeEventListener("resize", follow);
}
