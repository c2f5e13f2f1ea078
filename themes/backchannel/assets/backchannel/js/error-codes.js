// The error codes of ARCHITECTURE.md "Error codes" (tests/js/protocol.test.js checks the two
// agree), one export each: a module reads them as `import * as ErrorCode from "./error-codes.js"`,
// and each bundle carries only the codes it uses (a new code for the write chunk costs the
// first-paint script nothing). Not re-exported elsewhere: that would bundle the whole table.

export const BINARY_FRAME = "binary_frame";
export const FRAME_TOO_LARGE = "frame_too_large";
export const BAD_JSON = "bad_json";
export const BAD_EVENT = "bad_event";
export const UNKNOWN_TYPE = "unknown_type";
export const BAD_FIELD = "bad_field";
export const INVALID_ROOM = "invalid_room";
export const NOT_AUTHENTICATED = "not_authenticated";
export const ALREADY_AUTHENTICATED = "already_authenticated";
export const BAD_TOKEN = "bad_token";
export const TOKEN_EXPIRED = "token_expired";
export const AUTH_TIMEOUT = "auth_timeout";
export const BANNED = "banned";
export const MUTED = "muted";
export const ROOM_LOCKED = "room_locked";
export const SLOW_MODE = "slow_mode";
export const RATE_LIMITED = "rate_limited";
export const DUPLICATE_TEXT = "duplicate_text";
export const TOO_MANY_SOCKETS = "too_many_sockets";
export const TEXT_EMPTY = "text_empty";
export const TEXT_TOO_LONG = "text_too_long";
export const NOT_JOINED = "not_joined";
export const TOO_MANY_ROOMS = "too_many_rooms";
export const SERVER_ERROR = "server_error";
export const IDENTITY_RATE_LIMITED = "identity_rate_limited";
export const BLOCKED_WORD = "blocked_word";
export const HELD_FOR_REVIEW = "held_for_review";
export const SEARCH_RATE_LIMITED = "search_rate_limited";
export const NOT_STAFF = "not_staff";
export const NOT_FOUND = "not_found";
export const PROTECTED = "protected";
export const NOT_AUTHOR = "not_author";
export const EDIT_WINDOW_PASSED = "edit_window_passed";
export const BAD_EMOJI = "bad_emoji";
