// The conversation chunk, loaded by a widget once its list has a message to show (chat.js):
// decorations.js, with formatting and links (format.js), replies, reactions, the edited marker,
// day separators, the unread divider, "show more" and mention notifications. Built as its own
// fingerprinted file (partials/backchannel/script.html); element.js loads it with SRI and takes
// what it leaves on `backchannelConversation`. Until it is there, messages are plain text.

import { createConversation } from "./decorations.js";

globalThis.backchannelConversation = { createConversation };
