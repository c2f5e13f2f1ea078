import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  OUTBOX_KEY_PREFIX,
  createOutbox,
  generateClientId,
} from "../../themes/backchannel/assets/backchannel/js/outbox.js";
import { CLIENT_ID_PATTERN } from "../../themes/backchannel/assets/backchannel/js/protocol.js";
import { FakeStorage } from "./support.js";

function counter() {
  let next = 0;
  return () => `id-${(next += 1)}`;
}

function openOutbox(storage, room = "lobby") {
  return createOutbox({ room, storage, newClientId: counter(), now: () => new Date("2024-05-01T12:00:00Z") });
}

describe("generateClientId", () => {
  it("is 22 random characters of the client_id alphabet", () => {
    const ids = new Set();
    for (let index = 0; index < 200; index += 1) {
      const id = generateClientId();
      assert.match(id, CLIENT_ID_PATTERN);
      assert.equal(id.length, 22);
      ids.add(id);
    }
    assert.equal(ids.size, 200);
  });
});

describe("outbox", () => {
  it("keeps items under a namespaced key per room", () => {
    const storage = new FakeStorage();
    const outbox = openOutbox(storage);
    const item = outbox.add({ text: "hello", author: "ann" });
    assert.deepEqual(item, {
      client_id: "id-1",
      text: "hello",
      author: "ann",
      created_at: "2024-05-01T12:00:00.000Z",
      state: "pending",
    });
    assert.equal(OUTBOX_KEY_PREFIX, "backchannel:outbox:");
    assert.deepEqual(JSON.parse(storage.getItem("backchannel:outbox:lobby")), [item]);
    assert.deepEqual(openOutbox(storage, "help").items(), [], "another room has its own");
  });

  it("survives a reload: a new outbox on the same storage has the same items, in order", () => {
    const storage = new FakeStorage();
    const before = openOutbox(storage);
    before.add({ text: "one", author: "ann" });
    before.add({ text: "two", author: "ann" });
    before.markFailed("id-2", "text_too_long");
    const after = openOutbox(storage);
    assert.deepEqual(
      after.items().map((item) => [item.client_id, item.text, item.state, item.code]),
      [
        ["id-1", "one", "pending", undefined],
        ["id-2", "two", "failed", "text_too_long"],
      ],
    );
  });

  it("removes an item (on ack) and forgets the key when empty", () => {
    const storage = new FakeStorage();
    const outbox = openOutbox(storage);
    outbox.add({ text: "one", author: "ann" });
    outbox.add({ text: "two", author: "ann" });
    outbox.remove("id-1");
    assert.deepEqual(outbox.items().map((item) => item.client_id), ["id-2"]);
    outbox.remove("unknown");
    outbox.remove("id-2");
    assert.deepEqual(outbox.items(), []);
    assert.equal(storage.getItem("backchannel:outbox:lobby"), null);
  });

  it("retries a failed item", () => {
    const outbox = openOutbox(new FakeStorage());
    outbox.add({ text: "one", author: "ann" });
    outbox.markFailed("id-1", "bad_field");
    outbox.markPending("id-1");
    assert.deepEqual(outbox.get("id-1").state, "pending");
    assert.equal("code" in outbox.get("id-1"), false);
  });

  it("sees what another tab on the same room wrote", () => {
    const storage = new FakeStorage();
    const tabA = createOutbox({ room: "lobby", storage, newClientId: () => "a" });
    const tabB = createOutbox({ room: "lobby", storage, newClientId: () => "b" });
    tabA.add({ text: "from a", author: "ann" });
    tabB.add({ text: "from b", author: "ann" });
    assert.deepEqual(tabA.items().map((item) => item.client_id), ["a", "b"]);
    tabB.remove("a");
    assert.deepEqual(tabA.items().map((item) => item.client_id), ["b"]);
  });

  it("ignores unreadable or foreign stored values", () => {
    const storage = new FakeStorage();
    storage.setItem("backchannel:outbox:lobby", "{not json");
    assert.deepEqual(openOutbox(storage).items(), []);
    storage.setItem(
      "backchannel:outbox:lobby",
      JSON.stringify([{ client_id: "bad id", text: "x", state: "pending" }, { client_id: "ok", text: "y", state: "pending" }, 5]),
    );
    assert.deepEqual(openOutbox(storage).items().map((item) => item.client_id), ["ok"]);
  });

  it("works in memory when storage is disabled", () => {
    for (const storage of [new FakeStorage({ failing: true }), null]) {
      const outbox = openOutbox(storage);
      outbox.add({ text: "one", author: "ann" });
      outbox.add({ text: "two", author: "ann" });
      outbox.remove("id-1");
      assert.deepEqual(outbox.items().map((item) => item.text), ["two"]);
    }
  });

  it("falls back to memory when storage fills up, losing nothing", () => {
    const storage = new FakeStorage();
    const outbox = openOutbox(storage);
    outbox.add({ text: "one", author: "ann" });
    storage.setItem = () => {
      throw new Error("QuotaExceededError");
    };
    outbox.add({ text: "two", author: "ann" });
    assert.deepEqual(outbox.items().map((item) => item.text), ["one", "two"]);
  });
});
