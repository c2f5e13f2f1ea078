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

/**
 * <article class="bc-message" data-seq>
 *   <header class="bc-message__meta">
 *     <span class="bc-message__author"/> <time class="bc-message__time" datetime title/>
 *   </header>
 *   <p class="bc-message__text"/>
 * </article>
 */
export function createMessageElement(document, message, { locale, isOwn = false } = {}) {
  const article = document.createElement("article");
  article.className = isOwn ? "bc-message bc-message--own" : "bc-message";
  article.setAttribute("data-seq", String(message.seq));

  const meta = document.createElement("header");
  meta.className = "bc-message__meta";
  meta.appendChild(createElementWithText(document, "span", "bc-message__author", message.author));

  const time = formatLocalTime(message.sent_at, locale);
  const timeElement = createElementWithText(document, "time", "bc-message__time", time.label);
  timeElement.setAttribute("datetime", time.dateTime);
  timeElement.setAttribute("title", time.title);
  meta.appendChild(timeElement);

  article.appendChild(meta);
  article.appendChild(createElementWithText(document, "p", "bc-message__text", message.text));
  return article;
}

/** Inserts a message element into the list so that the list stays ordered by data-seq. */
export function insertMessageElement(list, element) {
  const seq = Number(element.getAttribute("data-seq"));
  // Messages nearly always arrive in order, so search from the end.
  let nextSibling = null;
  for (let index = list.children.length - 1; index >= 0; index -= 1) {
    const child = list.children[index];
    if (Number(child.getAttribute("data-seq")) <= seq) break;
    nextSibling = child;
  }
  list.insertBefore(element, nextSibling);
}
