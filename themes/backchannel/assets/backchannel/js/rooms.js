// The room-name rule and the display-name rule, mirrored from ARCHITECTURE.md and
// backend/chat/rooms.py. The server checks exactly what it receives; the client normalises what a
// visitor types (trim, lower-case) before checking it.

/** 1 to 40 of a-z, 0-9 and "-", starting and ending with a letter or digit. */
export const ROOM_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
export const ROOM_NAME_MAX_CHARS = 40;

export const DISPLAY_NAME_MAX_CHARS = 32;

// Invisible code points, which would let "admin" + U+FE0F pass for "admin": Unicode category C
// (control, format, surrogate, private-use, unassigned), the default-ignorable ones (variation
// selectors, Hangul fillers…), the Braille blank and the line and paragraph separators;
// backend/chat/folding.py refuses the same.
const INVISIBLE_CHARACTER_PATTERN = /[\p{C}\p{Default_Ignorable_Code_Point}\u2800\u2028\u2029]/u;

/** Counts code points, as the Python backend's len() does (an emoji is one, not two). */
export function countCharacters(text) {
  let count = 0;
  for (const _codePoint of text) count += 1; // string iteration yields code points
  return count;
}

export function isValidRoomName(name) {
  return typeof name === "string" && ROOM_NAME_PATTERN.test(name);
}

/** What a visitor typed (or put in ?name=) → the room name to check; never throws. */
export function normalizeRoomName(raw) {
  return typeof raw === "string" ? raw.trim().toLowerCase() : "";
}

/** The display name as it is sent: surrounding white space removed. */
export function normalizeDisplayName(raw) {
  return typeof raw === "string" ? raw.trim() : "";
}

/** 1 to 32 characters once trimmed, and no control or invisible characters. */
export function isValidDisplayName(name) {
  if (typeof name !== "string") return false;
  const trimmed = normalizeDisplayName(name);
  const length = countCharacters(trimmed);
  return length >= 1 && length <= DISPLAY_NAME_MAX_CHARS && !INVISIBLE_CHARACTER_PATTERN.test(trimmed);
}
