// The visitor's stored identity, { token, name, visitor, staff } in localStorage: what a returning
// visitor's widget needs at first paint to authenticate. Asking the backend for an identity (proof
// of work, the HTTP API) is identity.js, in the write chunk, loaded only when a visitor writes.

export const IDENTITY_STORAGE_KEY = "backchannel:v1:identity";

function isIdentity(value) {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof value.token === "string" &&
    value.token !== "" &&
    typeof value.name === "string" &&
    typeof value.visitor === "string" &&
    typeof value.staff === "boolean"
  );
}

/**
 * Returns { current, write, storeToken, storeAuthenticated, forget } over `storage` (null, or a
 * storage that throws, as in some private modes: the identity then lives in memory only).
 */
export function createIdentityStore(storage) {
  let memory = null;

  function read() {
    let text = null;
    try {
      text = storage?.getItem(IDENTITY_STORAGE_KEY) ?? null;
    } catch {
      return memory;
    }
    if (text === null) return memory;
    try {
      const value = JSON.parse(text);
      return isIdentity(value) ? value : memory;
    } catch {
      return memory; // a hand-edited value: ask for a name again rather than fail for good
    }
  }

  function write(identity) {
    memory = identity;
    try {
      if (identity === null) storage?.removeItem(IDENTITY_STORAGE_KEY);
      else storage?.setItem(IDENTITY_STORAGE_KEY, JSON.stringify(identity));
    } catch {
      // Full or forbidden storage: the identity lasts as long as the page.
    }
    return identity;
  }

  return {
    get current() {
      return read();
    },
    write,
    /** The server's `token` event: the same identity, a fresher token. */
    storeToken(token) {
      const identity = read();
      if (identity !== null) write({ ...identity, token });
    },
    /** What the server's `authenticated` says the token is: { name, visitor, staff, tag }. */
    storeAuthenticated(who) {
      const identity = read();
      if (identity !== null) write({ ...identity, ...who });
    },
    forget() {
      write(null);
    },
    isIdentity,
  };
}
