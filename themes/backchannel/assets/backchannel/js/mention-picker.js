// @mentions in the composer, in the write chunk: typing "@" and the start of a name lists the
// matching people (online now, and the authors shown), a listbox under the text; Up and Down
// choose, Enter or Tab puts "@Name " in, Escape closes. Highlighting and notifying are the
// conversation chunk's (format.js, decorations.js).

// At most this many names are offered at once.
export const MENTION_CHOICES_MAX = 6;

/**
 * The mention being typed at `caret` in `text`: { start, query } ("@an|" → { start: 0, query: "an" }),
 * or null when the caret is not in a word that starts with "@" (after a space, or at the start).
 */
export function findMentionQuery(text, caret) {
  const match = /(?:^|\s)@([^\s@]{0,40})$/u.exec(text.slice(0, caret));
  return match === null ? null : { start: caret - match[1].length - 1, query: match[1] };
}

/** `names` (deduplicated, in order) that start with `query`, ignoring case; `ownName` left out. */
export function matchNames(names, query, ownName = null) {
  const wanted = query.toLocaleLowerCase();
  const seen = new Set();
  const matches = [];
  for (const name of names) {
    const folded = name.toLocaleLowerCase();
    if (seen.has(folded) || name === ownName || !folded.startsWith(wanted)) continue;
    seen.add(folded);
    matches.push(name);
    if (matches.length === MENTION_CHOICES_MAX) break;
  }
  return matches;
}

/** `text` with the mention at `start` (up to `caret`) replaced by "@name ": { text, caret }. */
export function insertMention(text, start, caret, name) {
  const inserted = `@${name} `;
  return { text: text.slice(0, start) + inserted + text.slice(caret), caret: start + inserted.length };
}

/**
 * Binds the picker to the composer of `widget` (chat.js's). `names()` lists who may be named,
 * most relevant first. Returns { close() }.
 */
export function createMentionPicker(widget, { names }) {
  const { element, document, translate } = widget;
  const form = element.querySelector("form.bc-composer");
  const textArea = form.elements.namedItem("text");
  const list = document.createElement("ul");
  list.className = "bc-mentions";
  list.id = "bc-mentions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", translate("chat_mention_choices"));
  list.hidden = true;
  form.appendChild(list);
  // A textarea is a textbox, which takes aria-autocomplete, aria-controls and
  // aria-activedescendant but not aria-expanded (a combobox's; a textarea may not be one).
  textArea.setAttribute("aria-autocomplete", "list");
  textArea.setAttribute("aria-controls", list.id);

  let choices = [];
  let active = 0;
  let mention = null;

  function close() {
    choices = [];
    mention = null;
    list.hidden = true;
    list.replaceChildren();
    textArea.removeAttribute("aria-activedescendant");
  }

  function render() {
    list.replaceChildren();
    choices.forEach((name, index) => {
      const option = list.appendChild(document.createElement("li"));
      option.id = `bc-mention-${index}`;
      option.className = "bc-mentions__option";
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", String(index === active));
      option.textContent = `@${name}`;
      // mousedown, not click: the textarea keeps the focus (and its caret).
      option.addEventListener("mousedown", (mouseEvent) => {
        mouseEvent.preventDefault();
        choose(index);
      });
    });
    list.hidden = false;
    textArea.setAttribute("aria-activedescendant", `bc-mention-${active}`);
  }

  function update() {
    mention = findMentionQuery(textArea.value, textArea.selectionStart ?? textArea.value.length);
    choices = mention === null ? [] : matchNames(names(), mention.query, widget.identity?.name ?? null);
    active = 0;
    if (choices.length === 0) close();
    else render();
  }

  function choose(index) {
    const { text, caret } = insertMention(textArea.value, mention.start, textArea.selectionStart ?? textArea.value.length, choices[index]);
    textArea.value = text;
    textArea.setSelectionRange?.(caret, caret);
    close();
    textArea.dispatchEvent(new widget.window.Event("input"));
  }

  // Capture, on the form: before the composer's own Enter (send) sees the key.
  const onKeydown = (keyEvent) => {
    if (keyEvent.target !== textArea || choices.length === 0) return;
    const step = { ArrowDown: 1, ArrowUp: -1 }[keyEvent.key];
    if (step !== undefined) {
      active = (active + step + choices.length) % choices.length;
      render();
    } else if (keyEvent.key === "Enter" || keyEvent.key === "Tab") {
      if (keyEvent.isComposing) return;
      choose(active);
    } else if (keyEvent.key === "Escape") {
      close();
    } else {
      return;
    }
    keyEvent.preventDefault();
    keyEvent.stopPropagation();
  };
  form.addEventListener("keydown", onKeydown, true);
  textArea.addEventListener("input", update);
  textArea.addEventListener("blur", close);

  return {
    close() {
      form.removeEventListener("keydown", onKeydown, true);
      textArea.removeEventListener("input", update);
      textArea.removeEventListener("blur", close);
      list.remove();
    },
  };
}
