// identity.js against a fake fetch (the backend's identity API) and the real WebCrypto of node.
import assert from "node:assert/strict";
import { createHash, webcrypto } from "node:crypto";
import { describe, it } from "node:test";

import {
  IDENTITY_STORAGE_KEY,
  IdentityError,
  createIdentityClient,
  hasLeadingZeroBits,
  solveChallenge,
} from "../../themes/backchannel/assets/backchannel/js/identity.js";
import { resolveHttpBase } from "../../themes/backchannel/assets/backchannel/js/chat.js";
import { FakeStorage } from "./support.js";

const HTTP_BASE = "http://127.0.0.1:8000";

function leadingZeroBits(challenge, nonce) {
  const digest = createHash("sha256").update(`${challenge}:${nonce}`).digest();
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    bits += Math.clz32(byte) - 24;
    break;
  }
  return bits;
}

function respond(status, body) {
  return {
    ok: status >= 200 && status < 300,
    status,
    json: async () => {
      if (typeof body === "string") throw new SyntaxError("not JSON");
      return body;
    },
  };
}

/**
 * The identity API, faked: a challenge, then tokens "t<n>" for visitor "v1" (or the visitor of
 * the previous token), or whatever `answers` (path → response) says.
 */
function createFakeApi({ difficultyBits = 6, answers = {} } = {}) {
  const requests = [];
  let issued = 0;
  async function fetch(url, init) {
    const path = url.slice(HTTP_BASE.length);
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    requests.push({ url, path, method: init.method, credentials: init.credentials, headers: init.headers, body });
    if (answers[path] !== undefined) return typeof answers[path] === "function" ? answers[path]() : answers[path];
    switch (path) {
      case "/api/identity/challenge/":
        return respond(200, { challenge: `ch${requests.length}`, difficulty_bits: difficultyBits, expires_in_secs: 60 });
      case "/api/identity/":
        assert.ok(leadingZeroBits(body.challenge, body.nonce) >= difficultyBits, "the proof of work holds");
        issued += 1;
        return respond(200, { token: `t${issued}`, name: body.name, visitor: "v1", staff: false, expires_in_secs: 3600 });
      case "/api/identity/staff/":
        return respond(200, { token: "staff-token", name: body.username, visitor: "v9", staff: true, expires_in_secs: 3600 });
      default:
        return respond(404, { error: { code: "not_found", message: "no" } });
    }
  }
  return { fetch, requests };
}

function createClient({ storage = new FakeStorage(), ...apiOptions } = {}) {
  const api = createFakeApi(apiOptions);
  const client = createIdentityClient({ httpBase: HTTP_BASE, fetch: api.fetch, crypto: webcrypto, storage });
  return { client, api, storage };
}

describe("resolveHttpBase", () => {
  const cases = [
    ["ws://localhost:8000", "http:", "http://localhost:8000"],
    ["ws://127.0.0.1:8000/", "http:", "http://127.0.0.1:8000"],
    ["wss://chat.example.com", "https:", "https://chat.example.com"],
    ["wss://chat.example.com/prefix/", "https:", "https://chat.example.com/prefix"],
    // Like the socket: ws on an https page is upgraded, except for a local backend.
    ["ws://chat.example.com", "https:", "https://chat.example.com"],
    ["ws://chat.example.com", "http:", "http://chat.example.com"],
    ["ws://localhost:8000", "https:", "http://localhost:8000"],
    ["wss://chat.example.com:8443", "http:", "https://chat.example.com:8443"],
  ];
  for (const [backendUrl, pageProtocol, expected] of cases) {
    it(`${backendUrl} on an ${pageProtocol} page → ${expected}`, () => {
      assert.equal(resolveHttpBase(backendUrl, pageProtocol), expected);
    });
  }
});

describe("proof of work", () => {
  it("counts leading zero bits", () => {
    assert.equal(hasLeadingZeroBits(new Uint8Array([0, 0, 0xff]), 16), true);
    assert.equal(hasLeadingZeroBits(new Uint8Array([0, 0, 0xff]), 17), false);
    assert.equal(hasLeadingZeroBits(new Uint8Array([0, 0x0f]), 12), true);
    assert.equal(hasLeadingZeroBits(new Uint8Array([0, 0x0f]), 13), false);
    assert.equal(hasLeadingZeroBits(new Uint8Array([0x80]), 0), true);
    assert.equal(hasLeadingZeroBits(new Uint8Array([0x7f]), 1), true);
    assert.equal(hasLeadingZeroBits(new Uint8Array([0x80]), 1), false);
  });

  it("finds a decimal nonce with sha256(challenge:nonce) under the difficulty", async () => {
    for (const bits of [0, 1, 8, 12]) {
      const nonce = await solveChallenge("abc.def:123", bits, { crypto: webcrypto });
      assert.match(nonce, /^\d{1,32}$/);
      assert.ok(leadingZeroBits("abc.def:123", nonce) >= bits, `${bits} bits`);
    }
  });

  it("hashes challenge + ':' + nonce, exactly", async () => {
    const seen = [];
    const crypto = {
      subtle: {
        digest: async (algorithm, data) => {
          seen.push([algorithm, new TextDecoder().decode(data)]);
          return new Uint8Array(32).buffer; // all zero: the first nonce wins
        },
      },
    };
    assert.equal(await solveChallenge("c", 20, { crypto }), "0");
    assert.deepEqual(seen[0], ["SHA-256", "c:0"]);
  });
});

describe("createIdentityClient", () => {
  it("asks for a challenge, solves it and posts the name without cookies", async () => {
    const { client, api, storage } = createClient();
    const identity = await client.request("Ann", { website: "" });
    assert.deepEqual(identity, { token: "t1", name: "Ann", visitor: "v1", staff: false });
    const [challenge, post] = api.requests;
    assert.deepEqual([challenge.method, challenge.path], ["GET", "/api/identity/challenge/"]);
    assert.deepEqual([post.method, post.path], ["POST", "/api/identity/"]);
    assert.deepEqual(Object.keys(post.body).sort(), ["challenge", "name", "nonce", "website"]);
    assert.deepEqual([post.body.name, post.body.challenge, post.body.website], ["Ann", "ch1", ""]);
    assert.equal(post.headers["Content-Type"], "application/json");
    for (const request of api.requests) assert.equal(request.credentials, "omit");
    assert.deepEqual(JSON.parse(storage.getItem(IDENTITY_STORAGE_KEY)), identity);
    assert.deepEqual(client.current, identity);
  });

  it("passes the honeypot on as it is (the server judges it)", async () => {
    const { client, api } = createClient();
    await client.request("Ann", { website: "http://spam.example" });
    assert.equal(api.requests[1].body.website, "http://spam.example");
  });

  it("sends a previous token along to keep the visitor id", async () => {
    const { client, api } = createClient();
    await client.request("Ann");
    await client.request("Annie", { previousToken: "t1" });
    assert.equal(api.requests[3].body.token, "t1");
    assert.equal(client.current.name, "Annie");
  });

  it("renews an expired token with a new proof of work and the old token", async () => {
    const { client, api } = createClient();
    await client.request("Ann");
    const renewed = await client.renew({ expired: true });
    assert.deepEqual(renewed, { token: "t2", name: "Ann", visitor: "v1", staff: false });
    assert.deepEqual(api.requests.map((request) => request.path).slice(2), ["/api/identity/challenge/", "/api/identity/"]);
    assert.equal(api.requests[3].body.token, "t1");
    assert.equal(api.requests[3].body.name, "Ann");
  });

  it("renews a bad token without presenting it again", async () => {
    const { client, api } = createClient();
    await client.request("Ann");
    await client.renew({ expired: false });
    assert.equal("token" in api.requests[3].body, false);
  });

  it("cannot renew without an identity", async () => {
    const { client } = createClient();
    await assert.rejects(client.renew({ expired: true }), { name: "IdentityError", code: "bad_token" });
  });

  it("signs staff in with username and password", async () => {
    const { client, api } = createClient();
    const identity = await client.requestStaff("sue", "secret");
    assert.deepEqual(identity, { token: "staff-token", name: "sue", visitor: "v9", staff: true });
    assert.deepEqual(api.requests[0].body, { username: "sue", password: "secret" });
    assert.equal(api.requests[0].path, "/api/identity/staff/");
    assert.equal(api.requests[0].credentials, "omit");
  });

  it("stores the fresh token of a `token` event and what `authenticated` says", async () => {
    const { client, storage } = createClient();
    await client.request("Ann");
    client.storeToken("fresh");
    client.storeAuthenticated({ name: "Ann", visitor: "v1", staff: false });
    assert.deepEqual(JSON.parse(storage.getItem(IDENTITY_STORAGE_KEY)), { token: "fresh", name: "Ann", visitor: "v1", staff: false });
    client.forget();
    assert.equal(storage.getItem(IDENTITY_STORAGE_KEY), null);
    assert.equal(client.current, null);
  });

  it("ignores a malformed stored identity", () => {
    for (const value of ["not json", "null", '{"token":"","name":"a","visitor":"v","staff":false}', '{"token":"t"}']) {
      const storage = new FakeStorage();
      storage.setItem(IDENTITY_STORAGE_KEY, value);
      assert.equal(createClient({ storage }).client.current, null, value);
    }
  });

  it("keeps the identity in memory when storage is disabled", async () => {
    const { client } = createClient({ storage: new FakeStorage({ failing: true }) });
    assert.equal(client.current, null);
    await client.request("Ann");
    assert.equal(client.current.token, "t1");
  });

  const refusals = [
    [400, { error: { code: "invalid_name", message: "bad name" } }, "invalid_name", undefined],
    [400, { error: { code: "reserved_name", message: "reserved" } }, "reserved_name", undefined],
    [400, { error: { code: "bad_challenge", message: "stale" } }, "bad_challenge", undefined],
    [403, { error: { code: "banned", message: "until tomorrow" } }, "banned", undefined],
    [429, { error: { code: "rate_limited", message: "slow down", retry_after_secs: 30 } }, "rate_limited", 30],
    [502, "<html>Bad gateway</html>", "server_error", undefined],
    [500, { detail: "oops" }, "server_error", undefined],
  ];
  for (const [status, body, code, retryAfterSecs] of refusals) {
    it(`turns HTTP ${status} ${code} into an IdentityError`, async () => {
      const { client, storage } = createClient({ answers: { "/api/identity/": respond(status, body) } });
      await assert.rejects(client.request("Ann"), (error) => {
        assert.ok(error instanceof IdentityError);
        assert.deepEqual([error.code, error.retryAfterSecs], [code, retryAfterSecs]);
        return true;
      });
      assert.equal(storage.getItem(IDENTITY_STORAGE_KEY), null, "nothing stored");
    });
  }

  it("a refused challenge request is an IdentityError too", async () => {
    const { client, api } = createClient({
      answers: { "/api/identity/challenge/": respond(429, { error: { code: "rate_limited", message: "m", retry_after_secs: 5 } }) },
    });
    await assert.rejects(client.request("Ann"), { code: "rate_limited", retryAfterSecs: 5 });
    assert.equal(api.requests.length, 1, "no POST without a challenge");
  });

  it("an unreachable server is a network error", async () => {
    const storage = new FakeStorage();
    const client = createIdentityClient({
      httpBase: HTTP_BASE,
      fetch: async () => {
        throw new TypeError("Failed to fetch");
      },
      crypto: webcrypto,
      storage,
    });
    await assert.rejects(client.request("Ann"), { name: "IdentityError", code: "network" });
  });

  it("refuses a malformed answer", async () => {
    const { client } = createClient({ answers: { "/api/identity/": respond(200, { token: 5 }) } });
    await assert.rejects(client.request("Ann"), { code: "server_error" });
  });
});
