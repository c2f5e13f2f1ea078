// The composer (`form.bc-composer`) once the visitor writes, in the write chunk: the text to send,
// and the characters left near the server's limit (`.bc-counter`). The form, its placeholder and
// its keys (Enter or Send) are chat.js's, there from first paint; what sending means (a name
// first, the outbox) is writing.js's.

import { countCharacters } from "./rooms.js";
import { describeRemaining } from "./view.js";

/**
 * Binds the composer in `section`. `send(text)` is told the text to send (trailing white space
 * off) and returns whether it took it (the field is then emptied); `wrote()` follows each change
 * of a text that is not blank; `maxTextChars()` is the server's limit (undefined before it is
 * known). Returns { send(), focus() }: chat.js calls send() on Enter or Send.
 */
export function createComposer(section, { translateCount, maxTextChars, send, wrote }) {
  const form = section.querySelector("form.bc-composer");
  const textArea = form.elements.namedItem("text");
  const counter = section.querySelector(".bc-counter");

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

  textArea.addEventListener("input", () => {
    renderCounter();
    if (textArea.value.trim() !== "") wrote();
  });
  // Near the limit already (a text kept across the chunk's loading, or restored by the browser).
  renderCounter();

  return {
    send: submit,
    focus: () => textArea.focus(),
  };
}
