// The visitor's unsent messages for one room, kept in localStorage (so they survive a reload or a
// closed tab) until the server acknowledges them. Every read goes to storage, so two tabs on one
// room see each other's items; sending an item twice is harmless (its client_id makes the server
// store it once). Without storage (disabled, full), the items live in memory.

import { CLIENT_ID_PATTERN } from "./protocol.js";

export const OUTBOX_KEY_PREFIX = "backchannel:outbox:";
// Version 3's changes to a stored message, queued and resent like messages (the client_id makes
// a resent change apply once).
const CHANGE_KINDS = new Set(["edit", "delete", "react"]);

/**
 * Whether `room` has messages waiting in storage (from an earlier visit, or another tab): chat.js
 * asks at first paint, to load the write chunk that sends them.
 */
export function hasOutbox(storage, room) {
  try {
    return Boolean(storage?.getItem(OUTBOX_KEY_PREFIX + room));
  } catch {
    return false;
  }
}

/** A random client_id: 22 characters of [A-Za-z0-9_-] (128 bits, base64url). */
export function generateClientId(crypto = globalThis.crypto) {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function isItem(item) {
  return (
    typeof item === "object" &&
    item !== null &&
    typeof item.client_id === "string" &&
    CLIENT_ID_PATTERN.test(item.client_id) &&
    // A change (edit, delete, react: `kind`, `seq`) needs no text; a message does.
    (typeof item.text === "string" || CHANGE_KINDS.has(item.kind)) &&
    (item.state === "pending" || item.state === "failed")
  );
}

/**
 * Items: { client_id, text, author, created_at, state: "pending" | "failed", code?, reply_to? } for
 * messages, and { client_id, kind, seq, text?, emoji?, on?, created_at, state } for changes (edit,
 * delete, react), oldest first.
 */
export function createOutbox({ room, storage, newClientId = generateClientId, now = () => new Date() }) {
  const key = OUTBOX_KEY_PREFIX + room;
  let memory = [];
  let useStorage = Boolean(storage);

  function read() {
    if (useStorage) {
      try {
        const items = JSON.parse(storage.getItem(key) ?? "[]");
        return Array.isArray(items) ? items.filter(isItem) : [];
      } catch {
        // Unreadable: a hand-edited or foreign value. Start over rather than fail for good.
        return [];
      }
    }
    return memory.slice();
  }

  function write(items) {
    memory = items;
    if (!useStorage) return;
    try {
      if (items.length > 0) storage.setItem(key, JSON.stringify(items));
      else storage.removeItem(key);
    } catch {
      useStorage = false; // quota or disabled storage: keep going in memory
    }
  }

  function update(clientId, change) {
    write(read().map((item) => (item.client_id === clientId ? change(item) : item)));
  }

  return {
    items: read,

    get(clientId) {
      return read().find((item) => item.client_id === clientId);
    },

    /** A message ({ text, author, reply_to? }) or a change ({ kind, seq, … }). */
    add(fields) {
      const item = { client_id: newClientId(), ...fields, created_at: now().toISOString(), state: "pending" };
      write([...read(), item]);
      return item;
    },

    markFailed(clientId, code) {
      update(clientId, (item) => ({ ...item, state: "failed", code }));
    },

    markPending(clientId) {
      update(clientId, ({ code: _code, ...item }) => ({ ...item, state: "pending" }));
    },

    remove(clientId) {
      const items = read();
      const kept = items.filter((item) => item.client_id !== clientId);
      if (kept.length !== items.length) write(kept);
    },
  };
}
