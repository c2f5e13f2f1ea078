// The join chunk, loaded by a widget only when a visitor without a name starts to write (or a
// stored token must be renewed): the join flow (join-flow.js: the name picker, staff sign-in and
// the identity API with its proof of work). Built as its own fingerprinted file
// (partials/backchannel/script.html); element.js loads it with SRI and takes what it leaves on
// `backchannelJoin`.

import { createJoinFlow } from "./join-flow.js";

globalThis.backchannelJoin = { createJoinFlow };
