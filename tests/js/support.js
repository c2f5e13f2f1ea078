// Helpers shared by the node --test files (not a test file itself: no ".test.js").

import { readFileSync } from "node:fs";
import { attachSender } from "../../themes/backchannel/assets/backchannel/js/sender.js";
import { createRoomSession } from "../../themes/backchannel/assets/backchannel/js/session.js";

export const REPO_ROOT = new URL("../../", import.meta.url);
export const THEME_JS_DIR = new URL("themes/backchannel/assets/backchannel/js/", REPO_ROOT);

export function readRoomNameTable() {
  return JSON.parse(readFileSync(new URL("tests/fixtures/room_names.json", REPO_ROOT), "utf8"));
}

export function readArchitecture() {
  return readFileSync(new URL("ARCHITECTURE.md", REPO_ROOT), "utf8");
}

/** The first column (`name`) of the Markdown table that follows the heading `heading`. */
export function readTableNames(markdown, heading) {
  const start = markdown.indexOf(heading);
  if (start === -1) throw new Error(`ARCHITECTURE.md has no heading ${heading}`);
  const names = [];
  let inTable = false;
  for (const line of markdown.slice(start + heading.length).split("\n")) {
    if (line.startsWith("|")) {
      inTable = true;
      const match = line.match(/^\|\s*`([a-z_]+)`\s*\|/);
      if (match) names.push(match[1]);
    } else if (inTable) {
      break;
    }
  }
  return names;
}

/** Timers that only run when the test says so. */
export function createFakeTimers() {
  let nowMs = 0;
  let nextId = 1;
  const pending = new Map();
  return {
    setTimeout(callback, delayMs) {
      const id = nextId++;
      pending.set(id, { callback, dueMs: nowMs + delayMs, delayMs });
      return id;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    now: () => nowMs,
    /** Delays of the timers still pending, in the order they were set. */
    pendingDelaysMs() {
      return [...pending.values()].map((timer) => timer.delayMs);
    },
    /** Moves the clock on, running every timer that falls due (and those they set). */
    advance(ms) {
      const targetMs = nowMs + ms;
      for (;;) {
        const due = [...pending.entries()]
          .filter(([, timer]) => timer.dueMs <= targetMs)
          .sort((a, b) => a[1].dueMs - b[1].dueMs);
        if (due.length === 0) break;
        const [id, timer] = due[0];
        pending.delete(id);
        nowMs = timer.dueMs;
        timer.callback();
      }
      nowMs = targetMs;
    },
  };
}

/** Stands in for the browser's WebSocket; the test drives its events. */
export class FakeWebSocket {
  static instances = [];

  static reset() {
    FakeWebSocket.instances = [];
  }

  static get latest() {
    return FakeWebSocket.instances.at(-1);
  }

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closeCode = null;
    FakeWebSocket.instances.push(this);
  }

  send(data) {
    this.sent.push(data);
  }

  close(code) {
    this.closeCode = code;
  }

  // Test controls.
  serverOpens() {
    this.onopen?.({});
  }

  serverSends(event) {
    this.serverSendsRaw(JSON.stringify(event));
  }

  serverSendsRaw(data) {
    this.onmessage?.({ data });
  }

  connectionDrops() {
    this.onerror?.({});
    this.onclose?.({ code: 1006, wasClean: false });
  }

  /** The server closes the connection with `code` (4003: banned, 4001: auth timeout, …). */
  serverCloses(code) {
    this.onclose?.({ code, wasClean: true });
  }
}

/** Stands in for localStorage; `failing` makes every call throw, like disabled storage. */
export class FakeStorage {
  constructor({ failing = false } = {}) {
    this.values = new Map();
    this.failing = failing;
  }

  getItem(key) {
    if (this.failing) throw new Error("storage is disabled");
    return this.values.has(key) ? this.values.get(key) : null;
  }

  setItem(key, value) {
    if (this.failing) throw new Error("storage is disabled");
    this.values.set(key, String(value));
  }

  removeItem(key) {
    if (this.failing) throw new Error("storage is disabled");
    this.values.delete(key);
  }
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same run. */
export function createRandom(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    /** An integer in [0, n). */
    below: (n) => Math.floor(next() * n),
    chance: (probability) => next() < probability,
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}

/**
 * A room session with its sender plugged in, as on a page where the visitor writes: one object
 * with the session's methods and getters and the sender's (submit, retry, discard, notifyTyping).
 */
export function createWritingSession({ outbox, ...options }) {
  const session = createRoomSession(options);
  const { room, timeline, send, now } = options;
  return Object.assign(Object.create(session), attachSender(session, { room, timeline, outbox, send, now }));
}
