// The chat bundle's entry point (partials/backchannel/script.html bundles it with js.Build, which
// provides "@params": the backend, the widget's stylesheet and the write chunk, each fingerprinted
// with its SRI hash, and the site's color_scheme). Defines <backchannel-chat>; the elements the
// page already has are upgraded at once.

import * as params from "@params";
import { defineChatElement } from "./element.js";

defineChatElement(params);
