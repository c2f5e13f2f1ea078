// The composer (`form.bc-composer`): what the visitor writes, Enter or Send to send it (on a touch
// keyboard Enter breaks the line), and the characters left near the server's limit
// (`.bc-counter`). What sending means (a name first, the outbox) is the widget's (chat.js).

import { countCharacters } from "./rooms.js";
import { describeRemaining } from "./view.js";

/**
 * Binds the composer in `section`. `send(text)` is told the text to send (trailing white space
 * off) and returns whether it took it (the field is then emptied); `wrote()` follows each change
 * of a text that is not blank; `focused()` follows the focus; `maxTextChars()` is the server's
 * limit (undefined before it is known). Returns { send(), focus(), setReadOnly(readOnly) }.
 */
export function createComposer(section, { translate, translateCount, touch, maxTextChars, send, wrote, focused }) {
  const form = section.querySelector("form.bc-composer");
  const textArea = form.elements.namedItem("text");
  const submitButton = form.querySelector("button");
  const counter = section.querySelector(".bc-counter");
  textArea.setAttribute("placeholder", translate(touch ? "chat_message_placeholder_touch" : "chat_message_placeholder"));
  // On a touch keyboard Enter is the only way to break a line: it does that, and Send sends.
  textArea.setAttribute("enterkeyhint", touch ? "enter" : "send");

  function renderCounter() {
    const remaining = describeRemaining(countCharacters(textArea.value), maxTextChars());
    const over = remaining?.key === "chat_chars_over";
    counter.hidden = remaining === null;
    counter.textContent = remaining === null ? "" : translateCount(remaining.key, remaining.count);
    textArea.toggleAttribute("aria-invalid", over);
    counter.toggleAttribute("data-over", over);
  }

  function submit() {
    const text = textArea.value.replace(/\s+$/u, "");
    if (text.trim() === "" || !send(text)) return; // nothing to send is not worth an error
    textArea.value = "";
    renderCounter();
  }

  form.addEventListener("submit", (submitEvent) => {
    submitEvent.preventDefault();
    submit();
  });
  textArea.addEventListener("keydown", (keyEvent) => {
    if (touch || keyEvent.key !== "Enter" || keyEvent.shiftKey) return;
    // Enter also confirms an IME conversion (Japanese, Chinese…), which is not "send". Safari
    // reports that keydown with isComposing false but the legacy keyCode 229.
    if (keyEvent.isComposing || keyEvent.keyCode === 229) return;
    keyEvent.preventDefault();
    submit();
  });
  textArea.addEventListener("input", () => {
    renderCounter();
    if (textArea.value.trim() !== "") wrote();
  });
  textArea.addEventListener("focus", focused);

  return {
    send: submit,
    focus: () => textArea.focus(),
    /** A locked room (staff excepted): the visitor reads, and cannot write. */
    setReadOnly(readOnly) {
      textArea.disabled = readOnly;
      submitButton.disabled = readOnly;
    },
  };
}
