// What a named visitor does to stored messages (protocol version 3), in the write chunk: reply
// (the composer shows "Replying to Ann" until sent or cancelled), react (the ⋯ menu's row of
// emoji, or a reaction's own button under a message), edit their own message within the server's
// window (the composer takes the text; "Editing your message") and delete it. Every change goes
// through the outbox like a message (sender.js change): kept until acked, resent after a
// reconnect, applied once. The server's `changed` then redraws the message on every page.

const isText = (value) => typeof value === "string";

/**
 * `widget` is chat.js's; `sender` attachSender's. Returns { available, choices(seq),
 * reactionRow(seq, done), toggleReaction(button), submit(text, author) (null: not replying nor
 * editing, a plain message for the caller; else whether the reply or edit took the text),
 * cancel(), close() }.
 */
export function createMessageActions(widget, sender) {
  const { element, document, translate, session, now } = widget;
  const form = element.querySelector("form.bc-composer");
  const textArea = form.elements.namedItem("text");
  // { kind: "reply" | "edit", seq } while the composer replies or edits.
  let composing = null;

  const bar = document.createElement("p");
  bar.className = "bc-composing";
  bar.hidden = true;
  const barText = bar.appendChild(document.createElement("span"));
  barText.className = "bc-composing__text";
  const cancelButton = bar.appendChild(document.createElement("button"));
  cancelButton.type = "button";
  cancelButton.className = "bc-button bc-button--quiet bc-composing__cancel";
  cancelButton.textContent = "✕";
  cancelButton.setAttribute("aria-label", translate("chat_cancel"));
  cancelButton.addEventListener("click", () => {
    cancel();
    textArea.focus();
  });
  form.prepend(bar);
  const onKeydown = (keyEvent) => {
    if (keyEvent.key === "Escape" && composing !== null) cancel();
  };
  textArea.addEventListener("keydown", onKeydown);

  const available = () => session.protocol > 2;
  const entryOf = (seq) => widget.list.entries.find((entry) => entry.seq === seq && entry.message);
  const reactionEmoji = () => (Array.isArray(session.settings.reaction_emoji) ? session.settings.reaction_emoji.filter(isText) : []);

  function editable(entry) {
    const windowSecs = session.settings.edit_window_secs;
    return entry.own && (typeof windowSecs !== "number" || now() - Date.parse(entry.sentAt) < windowSecs * 1000);
  }

  function compose(next, label) {
    composing = next;
    barText.textContent = label;
    bar.hidden = false;
    textArea.focus();
  }

  function cancel() {
    if (composing?.kind === "edit") textArea.value = "";
    composing = null;
    bar.hidden = true;
  }

  function reply(seq) {
    const entry = entryOf(seq);
    if (entry) compose({ kind: "reply", seq }, translate("chat_replying_to", { name: entry.author, text: entry.text.slice(0, 80) }));
  }

  function edit(seq) {
    const entry = entryOf(seq);
    if (!entry) return;
    textArea.value = entry.text;
    compose({ kind: "edit", seq }, translate("chat_editing"));
    textArea.dispatchEvent(new widget.window.Event("input")); // the counter, and the text's height
  }

  // The visitor's own reaction `emoji` on `entry`: their visitor id among its reactors.
  function reacted(entry, emoji) {
    const reactions = entry.message.reactions;
    const reaction = Array.isArray(reactions) ? reactions.find((item) => item?.emoji === emoji) : undefined;
    const visitor = widget.identity?.visitor;
    return Boolean(reaction && (Array.isArray(reaction.visitors) ? reaction.visitors.includes(visitor) : reaction.names?.includes(widget.identity?.name)));
  }

  function react(seq, emoji) {
    const entry = entryOf(seq);
    if (!entry) return;
    try {
      sender.change("react", seq, { emoji, on: !reacted(entry, emoji) });
    } catch (error) {
      widget.showError(error.code);
    }
  }

  function change(kind, seq, fields) {
    try {
      sender.change(kind, seq, fields);
      return true;
    } catch (error) {
      widget.showError(error.code); // e.g. an edit too long: it stays in the composer
      return false;
    }
  }

  return {
    available,
    /** The ⋯ menu's choices on message `seq` beyond reporting and moderating: [[label, act]]. */
    choices(seq) {
      const entry = entryOf(seq);
      if (!available() || !entry) return [];
      const choices = [["chat_reply", () => reply(seq)]];
      if (editable(entry)) choices.push(["chat_edit", () => edit(seq)]);
      if (entry.own) choices.push(["chat_delete_own", () => change("delete", seq)]);
      return choices;
    },
    /** The row of reaction buttons for message `seq` (a menu's first line); `done()` closes it. */
    reactionRow(seq, done) {
      const entry = entryOf(seq);
      const row = document.createElement("p");
      row.className = "bc-menu__reactions";
      if (!available() || !entry) return row;
      for (const emoji of reactionEmoji()) {
        const button = row.appendChild(document.createElement("button"));
        button.type = "button";
        button.className = "bc-button bc-button--quiet bc-emoji";
        button.textContent = emoji;
        button.setAttribute("aria-label", translate("chat_react_with", { emoji }));
        button.setAttribute("aria-pressed", String(reacted(entry, emoji)));
        button.addEventListener("click", () => {
          react(seq, emoji);
          done();
        });
      }
      return row;
    },
    /** A reaction's button under a message (decorations.js, data-action="react"). */
    toggleReaction(button) {
      const seq = Number(button.closest(".bc-message")?.getAttribute("data-seq"));
      react(seq, button.dataset.emoji);
    },
    /** The composer's text: an edit, a reply, or (false) a plain message for the caller to send. */
    submit(text, author) {
      if (composing === null) return null;
      const { kind, seq } = composing;
      const taken = kind === "edit" ? change("edit", seq, { text }) : sendReply(text, author, seq);
      if (taken) {
        composing = null;
        bar.hidden = true;
      }
      return taken;
    },
    get composing() {
      return composing;
    },
    cancel,
    close() {
      textArea.removeEventListener("keydown", onKeydown);
      bar.remove();
    },
  };

  function sendReply(text, author, seq) {
    try {
      sender.submit(text, author, { replyTo: seq });
      return true;
    } catch (error) {
      widget.showError(error.code);
      return false;
    }
  }
}
