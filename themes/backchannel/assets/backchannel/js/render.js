// Message DOM, built with createElement and textContent only: text from the network never goes
// through the HTML parser, so a message cannot inject markup (tests/js/render.test.js checks it).

/** The `datetime` value and the local-time labels for a message's ISO 8601 `sent_at`. */
export function formatLocalTime(isoString, locale) {
  const date = new Date(isoString);
  if (Number.isNaN(date.getTime())) return { dateTime: "", label: "", title: "" };
  return {
    // Normalised: HTML's datetime allows at most 3 fraction digits; Python writes 6.
    dateTime: date.toISOString(),
    label: date.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" }),
    title: date.toLocaleString(locale, { dateStyle: "medium", timeStyle: "medium" }),
  };
}

function createElementWithText(document, tagName, className, text) {
  const element = document.createElement(tagName);
  element.className = className;
  element.textContent = text;
  return element;
}

function createActionButton(document, action, label) {
  const button = createElementWithText(document, "button", `bc-button bc-button--quiet bc-message__${action}`, label);
  button.setAttribute("type", "button");
  button.setAttribute("data-action", action);
  return button;
}

/**
 * One timeline entry (timeline.js) as
 * <article class="bc-message [bc-message--own]" data-seq data-client-id data-state>
 *   <header class="bc-message__meta">
 *     <span class="bc-message__author"/> <time class="bc-message__time" datetime title/>
 *     [<span class="bc-message__status"/>]           own pending or failed messages
 *   </header>
 *   <p class="bc-message__text"/>
 *   [<p class="bc-message__actions"> retry and discard buttons </p>]   own failed messages
 * </article>
 * `labels` holds the translated { pending, failed, retry, discard, reason(code) }.
 */
export function createMessageElement(document, entry, { locale, labels = {} } = {}) {
  const article = document.createElement("article");
  article.className = entry.own ? "bc-message bc-message--own" : "bc-message";
  if (entry.seq !== undefined) article.setAttribute("data-seq", String(entry.seq));
  if (entry.own) {
    article.setAttribute("data-client-id", entry.clientId);
    article.setAttribute("data-state", entry.state);
  }

  const meta = document.createElement("header");
  meta.className = "bc-message__meta";
  meta.appendChild(createElementWithText(document, "span", "bc-message__author", entry.author));

  const time = formatLocalTime(entry.sentAt, locale);
  const timeElement = createElementWithText(document, "time", "bc-message__time", time.label);
  timeElement.setAttribute("datetime", time.dateTime);
  timeElement.setAttribute("title", time.title);
  meta.appendChild(timeElement);

  const status = labels[entry.state];
  if (entry.own && entry.state !== "sent" && status) {
    const statusElement = createElementWithText(document, "span", "bc-message__status", status);
    if (entry.code && labels.reason) statusElement.setAttribute("title", labels.reason(entry.code));
    meta.appendChild(statusElement);
  }

  article.appendChild(meta);
  article.appendChild(createElementWithText(document, "p", "bc-message__text", entry.text));

  if (entry.own && entry.state === "failed") {
    const actions = document.createElement("p");
    actions.className = "bc-message__actions";
    actions.appendChild(createActionButton(document, "retry", labels.retry ?? "retry"));
    actions.appendChild(createActionButton(document, "discard", labels.discard ?? "discard"));
    article.appendChild(actions);
  }
  return article;
}

/**
 * Makes the children of `list` after `start` (or all of them, when start is null) the elements of
 * `entries`, in order, reusing the element of an entry whose key and state are unchanged (so the
 * browser keeps focus, selection and scroll anchoring). `rendered` (a Map) remembers them between
 * calls; `create(entry)` builds a new one.
 */
export function syncMessageList(list, entries, { start = null, rendered, create }) {
  const next = new Map();
  let cursor = start === null ? list.firstChild : start.nextSibling;
  for (const entry of entries) {
    const signature = `${entry.state}|${entry.code}|${entry.seq}`;
    const previous = rendered.get(entry.key);
    const element =
      previous !== undefined && previous.signature === signature ? previous.element : create(entry);
    next.set(entry.key, { element, signature });
    if (element === cursor) cursor = cursor.nextSibling;
    else list.insertBefore(element, cursor);
  }
  while (cursor !== null) {
    const stale = cursor;
    cursor = cursor.nextSibling;
    list.removeChild(stale);
  }
  rendered.clear();
  for (const [key, value] of next) rendered.set(key, value);
}
