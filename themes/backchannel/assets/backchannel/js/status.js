// The connection status line (`.bc-status[data-state]`): connecting, connected, waking, a
// countdown while waiting to reconnect, offline. Part of the widget (chat.js).

import { ConnectionState } from "./socket.js";

/**
 * The `.bc-status[data-state]` to show: the socket's state, except that a connection that is not
 * up while the browser says it has no network is "offline".
 */
export function displayedState(socketState, isOnline) {
  return socketState !== ConnectionState.CONNECTED && !isOnline ? ConnectionState.OFFLINE : socketState;
}

/**
 * Binds `.bc-status` in `section`. Returns { show({ state, reconnectAtMs, banned }), close() };
 * while reconnecting it counts the seconds down by itself.
 */
export function createStatusLine(section, { translate, navigator, now, setTimeout, clearTimeout }) {
  const statusLine = section.querySelector(".bc-status");
  let countdownTimer = null;

  function show({ state: socketState, reconnectAtMs, banned }, isTick = false) {
    clearTimeout(countdownTimer);
    countdownTimer = null;
    const state = displayedState(socketState, navigator?.onLine !== false);
    const remainingMs = Math.max(0, reconnectAtMs - now());
    statusLine.dataset.state = state;
    // A ban notice says why the widget is offline; "offline" would promise a reconnect.
    statusLine.hidden = banned;
    statusLine.textContent = translate(`chat_status_${state}`, { seconds: Math.max(1, Math.ceil(remainingMs / 1000)) });
    // A screen reader announces the state, not every tick of the countdown.
    if (isTick) statusLine.setAttribute("aria-live", "off");
    else statusLine.removeAttribute("aria-live");
    if (state === ConnectionState.RECONNECTING && remainingMs > 1000) {
      countdownTimer = setTimeout(() => show({ state: socketState, reconnectAtMs, banned }, true), remainingMs % 1000 || 1000);
    }
  }

  return { show, close: () => clearTimeout(countdownTimer) };
}
