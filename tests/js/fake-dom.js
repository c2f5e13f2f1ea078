// Just enough DOM for mountChat (chat.js) under node --test: elements with attributes, dataset,
// children, events, simple selectors ("tag", ".class", "tag.class", "[attr]", "tag[attr=value]"),
// and a scrollable box with settable scrollTop. Markup parsing does not exist here, on purpose.

import { buildChatSection } from "../../themes/backchannel/assets/backchannel/js/markup.js";

function toDataAttribute(key) {
  return `data-${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

function parseSelector(selector) {
  const match = selector.match(/^([a-z]*)((?:\.[\w-]+)*)(?:\[([\w-]+)(?:=["']?([^\]"']*)["']?)?\])?$/);
  if (!match) throw new Error(`fake-dom: unsupported selector ${selector}`);
  const [, tag, classes, attribute, value] = match;
  return { tag, classes: classes.split(".").filter(Boolean), attribute, value };
}

export class FakeEvent {
  constructor(type, init = {}) {
    this.type = type;
    this.defaultPrevented = false;
    Object.assign(this, init);
  }

  preventDefault() {
    this.defaultPrevented = true;
  }

  stopPropagation() {
    this.propagationStopped = true;
  }
}

/** A text node: what createTextNode makes (render.js's auto-linking uses them). */
export class FakeText {
  constructor(document, text) {
    this.ownerDocument = document;
    this.nodeType = 3;
    this.textContent = String(text);
    this.parentNode = null;
    this.children = [];
  }

  get nextSibling() {
    if (this.parentNode === null) return null;
    const siblings = this.parentNode.children;
    return siblings[siblings.indexOf(this) + 1] ?? null;
  }

  matches() {
    return false;
  }

  querySelectorAll() {
    return [];
  }
}

export class FakeElement {
  constructor(document, tagName, attributes = {}, children = []) {
    this.ownerDocument = document;
    this.tagName = tagName.toUpperCase();
    this.attributes = new Map();
    this.children = [];
    this.parentNode = null;
    this.ownText = "";
    this.listeners = new Map();
    this.hidden = false;
    this.disabled = false;
    this.value = "";
    this.scrollTop = 0;
    this.clientHeight = 100;
    this.validity = "";
    this.dataset = new Proxy(
      {},
      {
        get: (_target, key) => this.getAttribute(toDataAttribute(String(key))) ?? undefined,
        set: (_target, key, value) => {
          this.setAttribute(toDataAttribute(String(key)), value);
          return true;
        },
      },
    );
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "hidden") this.hidden = Boolean(value);
      else this.setAttribute(name, value);
    }
    for (const child of children) this.appendChild(child);
  }

  get className() {
    return this.getAttribute("class") ?? "";
  }

  set className(value) {
    this.setAttribute("class", value);
  }

  get classList() {
    const names = () => this.className.split(/\s+/).filter(Boolean);
    const write = (list) => (this.className = list.join(" "));
    return {
      contains: (name) => names().includes(name),
      add: (...added) => write([...new Set([...names(), ...added])]),
      remove: (...removed) => write(names().filter((name) => !removed.includes(name))),
      toggle: (name, force = !names().includes(name)) => {
        write(force ? [...new Set([...names(), name])] : names().filter((other) => other !== name));
        return force;
      },
    };
  }

  get textContent() {
    return this.ownText + this.children.map((child) => child.textContent).join("");
  }

  set textContent(value) {
    this.ownText = String(value);
    for (const child of this.children) child.parentNode = null;
    this.children = [];
  }

  set innerHTML(_value) {
    throw new Error("the chat client must not use innerHTML");
  }

  get firstChild() {
    return this.children[0] ?? null;
  }

  get nextSibling() {
    if (this.parentNode === null) return null;
    const siblings = this.parentNode.children;
    return siblings[siblings.indexOf(this) + 1] ?? null;
  }

  /** Every child is laid out 40 px high. */
  get scrollHeight() {
    return Math.max(this.clientHeight, this.children.length * 40);
  }

  // Forms: `elements.namedItem(name)`.
  get elements() {
    return { namedItem: (name) => this.querySelector(`[name=${name}]`) };
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }

  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }

  removeAttribute(name) {
    this.attributes.delete(name);
  }

  appendChild(child) {
    return this.insertBefore(child, null);
  }

  insertBefore(child, reference) {
    if (child.parentNode !== null) child.parentNode.removeChild(child);
    const index = reference === null ? this.children.length : this.children.indexOf(reference);
    if (index === -1) throw new Error("fake-dom: the reference node is not a child");
    this.children.splice(index, 0, child);
    child.parentNode = this;
    return child;
  }

  prepend(...nodes) {
    for (const node of nodes.reverse()) this.insertBefore(node, this.firstChild);
  }

  before(...nodes) {
    for (const node of nodes) this.parentNode.insertBefore(node, this);
  }

  after(...nodes) {
    const reference = this.nextSibling;
    for (const node of nodes) this.parentNode.insertBefore(node, reference);
  }

  removeChild(child) {
    const index = this.children.indexOf(child);
    if (index === -1) throw new Error("fake-dom: removeChild of a node that is not a child");
    this.children.splice(index, 1);
    child.parentNode = null;
    return child;
  }

  matches(selector) {
    const { tag, classes, attribute, value } = parseSelector(selector);
    if (tag && this.tagName !== tag.toUpperCase()) return false;
    const own = this.className.split(" ");
    if (!classes.every((name) => own.includes(name))) return false;
    if (attribute === undefined) return true;
    const actual = this.getAttribute(attribute);
    return value === undefined ? actual !== null : actual === value;
  }

  querySelectorAll(selector) {
    const found = [];
    for (const child of this.children) {
      if (child.matches(selector)) found.push(child);
      found.push(...child.querySelectorAll(selector));
    }
    return found;
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  closest(selector) {
    for (let element = this; element !== null; element = element.parentNode) {
      if (element.matches(selector)) return element;
    }
    return null;
  }

  addEventListener(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(listener);
  }

  removeEventListener(type, listener) {
    this.listeners.set(
      type,
      (this.listeners.get(type) ?? []).filter((candidate) => candidate !== listener),
    );
  }

  /** Dispatches to this element and its ancestors (bubbling), with `target` set. */
  dispatchEvent(event) {
    event.target ??= this;
    // Listeners of the target and its ancestors, in order (no capture phase): enough here.
    for (let element = this; element !== null && !event.propagationStopped; element = element.parentNode) {
      for (const listener of element.listeners.get(event.type) ?? []) listener(event);
    }
    return !event.defaultPrevented;
  }

  click() {
    if (!this.disabled) this.dispatchEvent(new FakeEvent("click"));
  }

  toggleAttribute(name, force) {
    if (force) this.setAttribute(name, "");
    else this.removeAttribute(name);
    return Boolean(force);
  }

  get childElementCount() {
    return this.children.length;
  }

  get firstElementChild() {
    return this.children[0] ?? null;
  }

  remove() {
    this.parentNode?.removeChild(this);
  }

  replaceChildren(...nodes) {
    this.textContent = "";
    for (const node of nodes) this.appendChild(node);
  }

  focus() {
    this.ownerDocument.activeElement = this;
  }

  select() {}

  setCustomValidity(message) {
    this.validity = message;
  }

  reportValidity() {
    return this.validity === "";
  }
}

/** Something with addEventListener/removeEventListener, and `dispatch(type)` for the test. */
function createEventTarget(properties = {}) {
  const listeners = new Map();
  return {
    ...properties,
    addEventListener(type, listener) {
      if (!listeners.has(type)) listeners.set(type, []);
      listeners.get(type).push(listener);
    },
    removeEventListener(type, listener) {
      listeners.set(
        type,
        (listeners.get(type) ?? []).filter((candidate) => candidate !== listener),
      );
    },
    dispatch(type) {
      for (const listener of listeners.get(type) ?? []) listener(new FakeEvent(type));
    },
    listenerCount: () => [...listeners.values()].reduce((sum, list) => sum + list.length, 0),
  };
}

/** A document with `documentElement.lang`, `title`, `visibilityState` and events. */
export function createFakeDocument({ lang = "en" } = {}) {
  const document = createEventTarget({ title: "Room", visibilityState: "visible" });
  document.createElement = (tagName) => new FakeElement(document, tagName);
  document.createTextNode = (text) => new FakeText(document, text);
  document.documentElement = new FakeElement(document, "html", { lang });
  return document;
}

/** A window stand-in, for its `online` and `offline` events. */
export function createFakeWindow() {
  return createEventTarget({ Event: FakeEvent });
}

/** The widget's chat section, built by the real markup.js into a fake document. */
export function createWidget(document, { strings = {} } = {}) {
  return buildChatSection(document, (key) => strings[key] ?? key);
}
