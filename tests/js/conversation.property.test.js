// "Every page ends with the log's current state": seeded property tests of the version-3 client
// (session, timeline, sender, outbox, encoder, decoder) against the model server, as
// test_conversation_properties.py is for the backend (ARCHITECTURE.md "Protocol version 3").
//
// 1. Several pages (one of them a moderator's) send messages (some replying), edit their own,
//    delete their own (the moderator anyone's), react and take reactions back, while an admin
//    deletes too, live frames are dropped, duplicated and delayed, connections drop and come
//    back, the channel layer restarts, pages reload and load older pages. Then the network
//    heals, and every page shows exactly the server's current state of every message (text,
//    edited, reply_to, reactions; deleted ones not at all), each once and in order; each change a
//    visitor made was applied at most once and answered, and each message stored exactly once.
// 2. One timeline gets the same `message` and `changed` events in any order (duplicated too), and
//    always ends with the same state: the server's.
// A failure prints its seed; rerun one with BC_SEED=<seed>.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { decodeServerEvent } from "../../themes/backchannel/assets/backchannel/js/protocol.js";
import { createTimeline } from "../../themes/backchannel/assets/backchannel/js/timeline.js";
import { REACTION_EMOJI, createModelClient, createModelServer } from "./model-server.js";
import { FakeStorage, createRandom } from "./support.js";

const ROOM = "lobby";
const RUNS = 120;
const STEPS = 220;
const SHUFFLE_RUNS = 150;
const MAX_TEXT_CHARS = 60;
// Few emoji, so that reactions meet and are taken back.
const EMOJI = REACTION_EMOJI.slice(0, 2);
// The refusals a change meets in a fair run: the message was deleted meanwhile (not_found), the
// edit came too late (edit_window_passed). Anything else is a bug of the client or the model.
const EXPECTED_CHANGE_REFUSALS = new Set(["not_found", "edit_window_passed"]);

/** What a page shows of a message, and what the server holds: its current state. */
function stateOf(message) {
  return {
    seq: message.seq,
    author: message.author,
    text: message.text,
    edited: message.edited ?? false,
    reply_to: message.reply_to ?? null,
    reactions: message.reactions ?? [],
  };
}

function serverState(server) {
  return server.log(ROOM).filter((message) => !message.deleted).map(stateOf);
}

function shownState(page) {
  return page.timeline.entries().map((entry) => {
    assert.ok(entry.message, `entry ${entry.key} is not a server message`);
    return stateOf(entry.message);
  });
}

function checkInvariants(page) {
  const entries = page.timeline.entries();
  assert.equal(new Set(entries.map((entry) => entry.key)).size, entries.length, "an entry is shown twice");
  const seqs = entries.filter((entry) => entry.key.startsWith("s")).map((entry) => entry.seq);
  for (let index = 1; index < seqs.length; index += 1) assert.ok(seqs[index - 1] < seqs[index], `seqs out of order: ${seqs}`);
}

function run(seed) {
  const random = createRandom(seed);
  let faults = true;
  const server = createModelServer({
    historyLimit: 1 + random.below(8),
    // Mostly resumes (changes since after_rev), now and then a view replaced.
    resumeLimit: random.below(40),
    maxTextChars: MAX_TEXT_CHARS,
    editWindowSecs: 10 + random.below(60),
    shouldFailSend: () => faults && random.chance(0.05),
    shouldFailChange: () => faults && random.chance(0.08),
  });
  const people = ["ann", "bob", "staff-sue"].map((name) => {
    let nextId = 0;
    const page = createModelClient({
      server,
      storage: new FakeStorage(),
      room: ROOM,
      newClientId: () => `${name.replace("staff-", "")}-${seed}-${(nextId += 1)}`,
      token: name,
      protocol: 3,
    });
    page.connect();
    // What this person wrote into the outbox: message texts, and changes by client_id.
    return { name, visitor: `v-${name}`, page, written: [], changes: new Map() };
  });
  let typed = 0;
  let posted = 0;

  const shownLive = (page) => page.timeline.entries().filter((entry) => entry.message && !entry.message.deleted);

  function write(person) {
    typed += 1;
    const live = shownLive(person.page);
    const replyTo = live.length > 0 && random.chance(0.4) ? random.pick(live).seq : undefined;
    const text = `${person.name} ${typed}`;
    person.page.session.submit(text, person.name, { replyTo });
    person.written.push(text);
  }

  function queueChange(person, kind, seq, fields = {}) {
    const item = person.page.session.change(kind, seq, fields);
    person.changes.set(item.client_id, { kind, seq, ...fields });
  }

  function edit(person) {
    const mine = shownLive(person.page).filter((entry) => entry.message.visitor === person.visitor);
    if (mine.length === 0) return;
    typed += 1;
    queueChange(person, "edit", random.pick(mine).seq, { text: `${person.name} edit ${typed}` });
  }

  function remove(person) {
    const staff = person.name.startsWith("staff");
    const candidates = shownLive(person.page).filter((entry) => staff || entry.message.visitor === person.visitor);
    if (candidates.length > 0) queueChange(person, "delete", random.pick(candidates).seq);
  }

  function react(person) {
    const live = shownLive(person.page);
    if (live.length === 0) return;
    const { seq, message } = random.pick(live);
    const emoji = random.pick(EMOJI);
    const mine = (message.reactions ?? []).some((reaction) => reaction.emoji === emoji && reaction.visitors.includes(person.visitor));
    // Mostly a toggle of what the page shows; now and then one that changes nothing.
    queueChange(person, "react", seq, { emoji, on: random.chance(0.85) ? !mine : mine });
  }

  const actions = [
    [2, () => server.post(ROOM, "dan", `dan ${(posted += 1)}`, `dan-${posted}`, { replyTo: server.log(ROOM).length > 0 && random.chance(0.3) ? 1 + random.below(server.log(ROOM).length) : null })],
    [3, (person) => write(person)],
    [4, (person) => edit(person)],
    [0.8, (person) => remove(person)],
    [3, (person) => react(person)],
    [
      0.3,
      () => {
        const log = server.log(ROOM);
        if (log.length > 0) server.deleteMessage(ROOM, 1 + random.below(log.length));
      },
    ],
    [0.5, () => server.tick(5000)],
    [5, (person) => person.page.pump()],
    [
      5,
      (person) =>
        person.page.connection()?.flushLayer(() => {
          const roll = random.next();
          if (roll < 0.12) return "drop";
          if (roll < 0.2) return "duplicate";
          if (roll < 0.35) return "later";
          return "deliver";
        }),
    ],
    [
      10,
      (person) => {
        for (let count = 1 + random.below(5); count > 0; count -= 1) person.page.deliver();
      },
    ],
    [0.5, (person) => person.page.disconnect()],
    [1.5, (person) => person.page.connection() === null && person.page.connect()],
    [1, (person) => person.page.ping()],
    [1, (person) => person.page.timers.advance(2000)],
    [0.2, (person) => person.page.connection()?.forgetGroups()],
    [0.15, (person) => person.page.reload()],
    [0.5, (person) => person.page.session.loadOlder()],
  ];
  const totalWeight = actions.reduce((sum, [weight]) => sum + weight, 0);

  for (let step = 0; step < STEPS; step += 1) {
    let roll = random.next() * totalWeight;
    const [, action] = actions.find(([weight]) => (roll -= weight) < 0) ?? actions.at(-1);
    const person = random.pick(people);
    action(person);
    checkInvariants(person.page);
  }

  // The network heals: no more faults; everyone reconnects, delivers everything, pings, pages back.
  faults = false;
  for (const { page } of people) if (page.connection() === null) page.connect();
  for (let round = 0; ; round += 1) {
    assert.ok(round < 100, "never settled");
    for (const { page } of people) page.settle();
    for (const { page } of people) {
      while (page.session.loadOlder()) page.settle();
      page.ping();
      page.settle();
    }
    const quiet = people.every(
      ({ page }) =>
        page.outbox.items().length === 0 &&
        page.timeline.olderBefore === null &&
        !page.timeline.isBehind(server.log(ROOM).length, server.lastRev(ROOM)) &&
        page.connection().stream.length === 0 &&
        page.connection().layer.length === 0,
    );
    if (quiet) break;
  }

  const expected = serverState(server);
  const revs = server.changes(ROOM).map((change) => change.rev);
  assert.deepEqual(revs, Array.from({ length: revs.length }, (_, index) => index + 1), "the rev log has gaps");
  const totals = { messages: server.log(ROOM).length, changes: revs.length, replies: 0, edited: 0, reacted: 0, deleted: 0, resent: 0 };
  for (const message of server.log(ROOM)) {
    if (message.deleted) totals.deleted += 1;
    if (message.reply_to) totals.replies += 1;
    if (message.edited) totals.edited += 1;
    if (message.reactions.length > 0) totals.reacted += 1;
  }
  for (const person of people) {
    const { page, name } = person;
    assert.deepEqual(page.decodeErrors, [], `${name} dropped frames it could not read`);
    checkInvariants(page);
    assert.deepEqual(shownState(page), expected, `${name} shows something else than the server's current state`);
    assert.deepEqual(page.outbox.items(), [], `${name}'s outbox is not empty`);

    // Each message stored exactly once.
    const stored = server.log(ROOM).filter((message) => message.client_id.startsWith(`${name.replace("staff-", "")}-`));
    assert.equal(stored.length, person.written.length, `${name}: messages written and stored differ`);

    // Each change applied at most once, answered, and every answer to it the same.
    const rows = server.changes(ROOM).filter((change) => change.visitor === person.visitor);
    assert.equal(new Set(rows.map((row) => row.client_id)).size, rows.length, `${name}: a change applied twice`);
    const answers = new Map();
    for (const frame of page.wire) {
      const event = frame.in;
      if (event === undefined || !person.changes.has(event.client_id)) continue;
      if (event.type === "ack") {
        const first = answers.get(event.client_id);
        if (first !== undefined) assert.deepEqual(["ack", event.rev], first, `${name}: ${event.client_id} acked with another rev`);
        answers.set(event.client_id, ["ack", event.rev]);
      } else if (event.type === "error" && event.code !== "server_error") {
        assert.ok(EXPECTED_CHANGE_REFUSALS.has(event.code), `${name}: ${event.client_id} refused with ${event.code}`);
        answers.set(event.client_id, ["error", event.code]);
      }
    }
    const sends = new Map();
    for (const event of page.sent) if (person.changes.has(event.client_id)) sends.set(event.client_id, (sends.get(event.client_id) ?? 0) + 1);
    totals.resent += [...sends.values()].filter((count) => count > 1).length;
    for (const [clientId, change] of person.changes) {
      const row = rows.find((each) => each.client_id === clientId);
      const answer = answers.get(clientId);
      // Page reloads keep the outbox: an answer may have come on an earlier page's wire only if
      // the same page object; the wire spans reloads, so every change has its answer here.
      assert.ok(answer, `${name}: ${clientId} (${change.kind} ${change.seq}) never answered`);
      if (row) assert.deepEqual(answer, ["ack", row.rev], `${name}: ${clientId} applied at ${row.rev}, answered ${answer}`);
      else assert.ok(answer[0] === "error" || change.kind !== "edit", `${name}: edit ${clientId} acked but not applied`);
    }
  }
  return totals;
}

describe("conversation property (version 3)", () => {
  it(`${RUNS} random runs end with every page showing the server's current state`, () => {
    const seeds = process.env.BC_SEED ? [Number(process.env.BC_SEED)] : Array.from({ length: RUNS }, (_, i) => i + 1);
    const totals = {};
    for (const seed of seeds) {
      let result;
      try {
        result = run(seed);
      } catch (error) {
        error.message = `seed ${seed}: ${error.message}`;
        throw error;
      }
      for (const [key, value] of Object.entries(result)) totals[key] = (totals[key] ?? 0) + value;
    }
    // The runs must exercise something: messages, and every kind of change (one seed may not).
    if (process.env.BC_SEED) return;
    const enough = (key, perRun) => assert.ok(totals[key] >= seeds.length * perRun, `${key}: ${JSON.stringify(totals)}`);
    enough("messages", 10);
    enough("changes", 5);
    enough("replies", 1);
    enough("edited", 1);
    enough("reacted", 1);
    enough("deleted", 1);
    enough("resent", 1); // changes sent again (a lost ack, a reload): applied once all the same
  });
});

// ------------------------------------------------------------------------------------------------
// Order of arrival

/** A raw version-3 socket of `name`, authenticated and joined; `say(event)` writes one frame. */
function rawSocket(server, name) {
  const connection = server.connect("/ws/?protocol=3");
  const say = (event) => connection.receive(JSON.stringify({ room: ROOM, ...event }));
  say({ type: "auth", token: name });
  say({ type: "join" });
  return { connection, say };
}

function shuffled(random, items) {
  const copy = items.slice();
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = random.below(index + 1);
    [copy[index], copy[other]] = [copy[other], copy[index]];
  }
  return copy;
}

function arrivalRun(seed) {
  const random = createRandom(seed);
  const server = createModelServer({ maxTextChars: MAX_TEXT_CHARS });
  const recorder = rawSocket(server, "rita");
  const people = ["ann", "bob", "staff-sue"].map((name) => ({ name, ...rawSocket(server, name) }));
  let count = 0;
  let deletions = 0;
  for (let step = 0; step < 40; step += 1) {
    const person = random.pick(people);
    const log = server.log(ROOM);
    const live = log.filter((message) => !message.deleted);
    const clientId = `${person.name.replace("staff-", "")}-${(count += 1)}`;
    const roll = random.next();
    if (roll < 0.35 || live.length === 0) {
      const replyTo = live.length > 0 && random.chance(0.4) ? random.pick(live).seq : undefined;
      person.say({ type: "send", text: `${person.name} ${count}`, client_id: clientId, reply_to: replyTo });
    } else if (roll < 0.55) {
      const mine = live.filter((message) => message.visitor === `v-${person.name}`);
      if (mine.length > 0) person.say({ type: "edit", seq: random.pick(mine).seq, text: `edit ${count}`, client_id: clientId });
    } else if (roll < 0.65) {
      deletions += 1;
      person.say({ type: "delete", seq: random.pick(live).seq, client_id: clientId }); // refused unless own or staff
    } else {
      person.say({ type: "react", seq: random.pick(live).seq, emoji: random.pick(EMOJI), on: random.chance(0.7), client_id: clientId });
    }
  }
  // Everything the room's sockets were told live: `message` and `changed` events.
  const frames = recorder.connection.layer.filter((frame) => /^\{"type":"(message|changed)"/.test(frame));
  const expected = serverState(server);
  const deleted = server.log(ROOM).some((message) => message.deleted);
  for (let order = 0; order < 4; order += 1) {
    const timeline = createTimeline();
    timeline.expectJoined();
    timeline.applyJoined(
      decodeServerEvent(
        JSON.stringify({
          type: "joined",
          room: ROOM,
          latest_seq: 0,
          resumed: false,
          history: [],
          has_older: false,
          locked: false,
          slow_mode_secs: 0,
          presence: { online_count: 0, people: [] },
          latest_rev: 0,
        }),
      ),
    );
    // Some frames twice: the layer may duplicate them.
    const arrivals = shuffled(random, [...frames, ...frames.filter(() => random.chance(0.2))]);
    for (const frame of arrivals) {
      const event = decodeServerEvent(frame);
      if (event.type === "changed") timeline.applyChanged(event);
      else timeline.applyMessage(event);
    }
    assert.deepEqual(
      timeline.entries().map((entry) => stateOf(entry.message)),
      expected,
      `arrival order ${order}: another state than the server's`,
    );
    assert.equal(timeline.lastSeq, server.log(ROOM).length);
    // Every seq and rev arrived: nothing to fetch. A deletion's rev also changed the replies
    // quoting it, which a page cannot count: it asks the server once more.
    if (!deleted) assert.equal(timeline.isBehind(server.log(ROOM).length, server.lastRev(ROOM)), false, "behind after every event");
  }
  return { frames: frames.length, deletions };
}

describe("timeline: the order of arrival does not matter (version 3)", () => {
  it(`${SHUFFLE_RUNS} logs, each applied in shuffled orders, give the server's state`, () => {
    const seeds = process.env.BC_SEED ? [Number(process.env.BC_SEED)] : Array.from({ length: SHUFFLE_RUNS }, (_, i) => i + 1);
    let frames = 0;
    for (const seed of seeds) {
      try {
        frames += arrivalRun(seed).frames;
      } catch (error) {
        error.message = `seed ${seed}: ${error.message}`;
        throw error;
      }
    }
    assert.ok(frames > seeds.length * 20, `only ${frames} frames`);
  });
});
