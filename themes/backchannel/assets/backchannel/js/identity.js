// The visitor's identity (ARCHITECTURE.md "Identity"): a signed token from the backend's HTTP API,
// kept in localStorage and shown to the socket as its first frame. The site and the backend are
// different origins, so there are no cookies: every request goes out with credentials "omit".
//
// fetch, crypto and storage are options so that node --test can drive this module with fakes.

import { createIdentityStore } from "./identity-store.js";

export { IDENTITY_STORAGE_KEY } from "./identity-store.js";

// Digests computed at once while solving: one await per batch instead of per hash keeps the
// (about 65,000 hashes at 16 bits) search at a second or two in a browser.
const POW_BATCH_SIZE = 64;
// The nonce is 1–32 characters; a decimal counter stays far below that.
const POW_MAX_NONCE = Number.MAX_SAFE_INTEGER;

/** Refused or failed identity request. `code` picks the UI string (chat_error_<code>). */
export class IdentityError extends Error {
  constructor(code, message, { retryAfterSecs } = {}) {
    super(message);
    this.name = "IdentityError";
    this.code = code;
    this.retryAfterSecs = retryAfterSecs;
  }
}

/** Whether `bytes` starts with `bits` zero bits. */
export function hasLeadingZeroBits(bytes, bits) {
  const fullBytes = Math.floor(bits / 8);
  for (let index = 0; index < fullBytes; index += 1) if (bytes[index] !== 0) return false;
  const rest = bits % 8;
  return rest === 0 || bytes[fullBytes] >> (8 - rest) === 0;
}

/**
 * Finds a nonce (a decimal counter) such that sha256(challenge + ":" + nonce) starts with
 * `difficultyBits` zero bits.
 */
export async function solveChallenge(challenge, difficultyBits, { crypto = globalThis.crypto } = {}) {
  const encoder = new TextEncoder();
  for (let start = 0; start < POW_MAX_NONCE; start += POW_BATCH_SIZE) {
    const nonces = Array.from({ length: POW_BATCH_SIZE }, (_, offset) => String(start + offset));
    const digests = await Promise.all(
      nonces.map((nonce) => crypto.subtle.digest("SHA-256", encoder.encode(`${challenge}:${nonce}`))),
    );
    const index = digests.findIndex((digest) => hasLeadingZeroBits(new Uint8Array(digest), difficultyBits));
    if (index !== -1) return nonces[index];
  }
  throw new Error("backchannel: no proof-of-work nonce found");
}

/**
 * Returns { current, request, requestStaff, renew, storeToken, storeAuthenticated,
 * forget }. `current` is the stored { token, name, visitor, staff } or null.
 */
export function createIdentityClient({
  httpBase,
  fetch = globalThis.fetch?.bind(globalThis),
  crypto = globalThis.crypto,
  storage = null,
  store = createIdentityStore(storage),
}) {
  async function call(method, path, body) {
    let response;
    try {
      response = await fetch(`${httpBase}${path}`, {
        method,
        credentials: "omit",
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new IdentityError("network", `cannot reach ${httpBase}: ${error.message}`);
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      // Not JSON (a proxy's error page): handled below by the status.
    }
    if (!response.ok || answer === null || typeof answer !== "object") {
      const error = answer?.error;
      if (typeof error?.code === "string") {
        throw new IdentityError(error.code, String(error.message ?? error.code), {
          retryAfterSecs: typeof error.retry_after_secs === "number" ? error.retry_after_secs : undefined,
        });
      }
      throw new IdentityError("server_error", `HTTP ${response.status} from ${path}`);
    }
    return answer;
  }

  function keep(answer) {
    const identity = { token: answer.token, name: answer.name, visitor: answer.visitor, staff: answer.staff === true };
    if (!store.isIdentity(identity)) throw new IdentityError("server_error", "the identity answer is malformed");
    return store.write(identity);
  }

  /** A token for `name`: solves the server's proof-of-work first. `previousToken` keeps the visitor id. */
  async function request(name, { website = "", previousToken } = {}) {
    const challenge = await call("GET", "/api/identity/challenge/");
    const nonce = await solveChallenge(challenge.challenge, challenge.difficulty_bits, { crypto });
    const body = { name, challenge: challenge.challenge, nonce, website };
    if (previousToken) body.token = previousToken;
    return keep(await call("POST", "/api/identity/", body));
  }

  return {
    get current() {
      return store.current;
    },
    storeToken: store.storeToken,
    storeAuthenticated: store.storeAuthenticated,
    forget: store.forget,

    request,

    async requestStaff(username, password) {
      return keep(await call("POST", "/api/identity/staff/", { username, password }));
    },

    /**
     * A fresh token for the stored identity after the socket refused it: `expired` (token_expired)
     * sends the old token along to keep the visitor id; a bad_token one is not worth sending.
     */
    renew({ expired }) {
      const identity = store.current;
      if (identity === null) return Promise.reject(new IdentityError("bad_token", "no identity to renew"));
      return request(identity.name, { previousToken: expired ? identity.token : undefined });
    },
  };
}
