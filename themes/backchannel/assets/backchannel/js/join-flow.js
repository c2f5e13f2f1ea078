// The join flow, in the write chunk (write.js): the name picker and staff sign-in forms, and the
// identity requests behind them (identity.js: the HTTP API and its proof of work). writing.js
// sets it up and hands it what it needs of the widget.

import { createIdentityClient } from "./identity.js";
import { buildJoinForms } from "./markup.js";
import * as ErrorCode from "./error-codes.js";

import { isValidDisplayName, normalizeDisplayName } from "./rooms.js";

/**
 * Builds the forms into `container` and returns { renew(expired), focusName(), close() }.
 * `currentIdentity()` is the widget's identity (or null); `adopt(identity)` takes a new one;
 * `onRefused(IdentityError)` shows a refusal; `focusComposer()` after a name was taken.
 */
export function createJoinFlow({
  document,
  translate,
  container,
  httpBase,
  fetch,
  crypto,
  store,
  currentIdentity,
  adopt,
  onRefused,
  clearError,
  focusComposer,
  setTimeout,
  clearTimeout,
}) {
  const identities = createIdentityClient({ httpBase, fetch, crypto, store });
  const [nameForm, staffDetails] = buildJoinForms(document, translate);
  container.appendChild(nameForm);
  container.appendChild(staffDetails);
  const staffForm = staffDetails.querySelector("form");
  const nameInput = nameForm.elements.namedItem("name");
  const nameSubmit = nameForm.querySelector("button");
  nameInput.value = currentIdentity()?.name ?? "";
  // A staff token comes from a password, which is not kept: staff sign in again.
  if (currentIdentity()?.staff) staffDetails.open = true;
  let requesting = false;
  let retryTimer = null;

  function renderBusy() {
    nameSubmit.disabled = requesting;
    nameSubmit.textContent = translate(requesting ? "chat_name_working" : "chat_name_submit");
  }

  /** Runs one identity request (`request` returns a promise of the identity) and adopts its answer. */
  async function obtain(request) {
    if (requesting) return false;
    requesting = true;
    clearError();
    renderBusy();
    let next;
    try {
      next = await request();
    } catch (error) {
      if (error?.name !== "IdentityError") throw error;
      onRefused(error);
      if (error.code === ErrorCode.IDENTITY_RATE_LIMITED) retryLater(request, error.retryAfterSecs);
      return false;
    } finally {
      requesting = false;
      renderBusy();
    }
    nameInput.value = next.name;
    adopt(next);
    return true;
  }

  // Too many new names from this address just now (a classroom, an office): the server says when
  // it takes one again; ask then, once, with the countdown in the error line meanwhile.
  function retryLater(request, retryAfterSecs = 1) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => obtain(request), Math.max(1, retryAfterSecs) * 1000);
  }

  nameInput.addEventListener("input", () => nameInput.setCustomValidity(""));
  nameForm.addEventListener("submit", async (submitEvent) => {
    submitEvent.preventDefault();
    const name = normalizeDisplayName(nameInput.value);
    if (!isValidDisplayName(name)) {
      nameInput.setCustomValidity(translate("chat_name_invalid"));
      nameInput.reportValidity();
      return;
    }
    const website = nameForm.elements.namedItem("website").value;
    // The previous token keeps the visitor id (and the server's memory of this visitor).
    const previousToken = currentIdentity()?.token;
    if (await obtain(() => identities.request(name, { website, previousToken }))) focusComposer();
  });
  staffForm.addEventListener("submit", async (submitEvent) => {
    submitEvent.preventDefault();
    const fields = staffForm.elements;
    const password = fields.namedItem("password");
    const username = fields.namedItem("username").value.trim();
    if (await obtain(() => identities.requestStaff(username, password.value))) {
      password.value = "";
      staffDetails.open = false;
      focusComposer();
    }
  });

  return {
    /** A fresh token for the stored identity (the socket refused it); false when refused. */
    renew: (expired) => obtain(() => identities.renew({ expired })),
    focusName() {
      nameInput.focus();
      nameInput.select();
    },
    close: () => clearTimeout(retryTimer),
  };
}
