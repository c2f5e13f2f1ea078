// The write chunk, loaded by a widget only when the visitor starts to write (or the room's outbox
// holds messages from an earlier visit, or a stored token must be renewed): writing.js, with the
// composer's counter, the outbox and its sender, the name picker, staff sign-in and the identity API
// with its proof of work. Built as its own fingerprinted file (partials/backchannel/script.html);
// element.js loads it with SRI and takes what it leaves on `backchannelWrite`.

import { createWriting } from "./writing.js";

globalThis.backchannelWrite = { createWriting };
