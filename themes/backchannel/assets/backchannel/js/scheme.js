// Which colour scheme the widget takes: the host page's, whatever way its theme sets it (a
// data-theme or data-scheme attribute, a .dark class, prefers-color-scheme), found from the
// background the widget is actually drawn on, and followed live when the page's toggle flips it.

export const ColorScheme = Object.freeze({ AUTO: "auto", LIGHT: "light", DARK: "dark" });

// A backdrop darker than this relative luminance (WCAG; 0 black, 1 white) is a dark page. Mid-grey
// (#777, 0.18) is the point where white and black text have the same contrast.
const DARK_BELOW_LUMINANCE = 0.18;
// Themes fade their background when toggled: look again once such a transition is over.
const SETTLE_MS = 400;

/** { r, g, b, a } (0–255, alpha 0–1) of a CSS colour, through a canvas for forms like oklch(). */
export function parseColor(text, document = globalThis.document) {
  const match = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+)(%?))?\s*\)$/.exec(text.trim());
  if (match) {
    const alpha = match[4] === undefined ? 1 : Number(match[4]) / (match[5] ? 100 : 1);
    return { r: Number(match[1]), g: Number(match[2]), b: Number(match[3]), a: alpha };
  }
  if (text === "transparent") return { r: 0, g: 0, b: 0, a: 0 };
  const context = document?.createElement("canvas").getContext?.("2d", { willReadFrequently: true });
  if (!context) return null;
  context.clearRect(0, 0, 1, 1);
  context.fillStyle = text;
  context.fillRect(0, 0, 1, 1);
  const [r, g, b, a] = context.getImageData(0, 0, 1, 1).data;
  return { r, g, b, a: a / 255 };
}

/** WCAG relative luminance of { r, g, b }. */
export function relativeLuminance({ r, g, b }) {
  const linear = (channel) => {
    const value = channel / 255;
    return value <= 0.04045 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/**
 * The colour the element is drawn on: the background of its nearest ancestor that paints one
 * (across shadow roots), else the canvas: dark where the root asks for a dark color-scheme.
 */
export function backdropColor(element, window = globalThis) {
  const style = (node) => window.getComputedStyle(node);
  for (let node = element.parentElement ?? element.getRootNode?.().host; node; node = node.parentElement ?? node.getRootNode?.().host) {
    const color = parseColor(style(node).backgroundColor, window.document);
    if (color && color.a >= 0.5) return color;
  }
  const rootScheme = style(window.document.documentElement).colorScheme ?? "";
  const canvasIsDark = rootScheme.includes("dark") && (!rootScheme.includes("light") || window.matchMedia?.("(prefers-color-scheme: dark)").matches);
  return canvasIsDark ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 };
}

/**
 * "light" or "dark" for the widget `element` under `setting`: "light", "dark", "auto" (the
 * host's backdrop) or a selector that matches the page's <html> or <body>, or an ancestor of the
 * widget, in the dark scheme (e.g. `[data-theme="dark"]`, `.dark`).
 */
export function detectScheme(setting, element, window = globalThis) {
  if (setting === ColorScheme.LIGHT || setting === ColorScheme.DARK) return setting;
  if (setting && setting !== ColorScheme.AUTO) {
    const { documentElement, body } = window.document;
    try {
      return documentElement.matches(setting) || body?.matches(setting) || element.closest(setting) ? ColorScheme.DARK : ColorScheme.LIGHT;
    } catch {
      // Not a selector (the build checks only that it is a string): the host page decides.
    }
  }
  return relativeLuminance(backdropColor(element, window)) < DARK_BELOW_LUMINANCE ? ColorScheme.DARK : ColorScheme.LIGHT;
}

/** A color_scheme as written (" Dark", "auto", a selector): its keywords in lower case, trimmed. */
export function readSetting(text) {
  const setting = text.trim();
  return /^(auto|light|dark)$/i.test(setting) ? setting.toLowerCase() : setting;
}

/**
 * Keeps `apply(scheme)` told of the scheme: now, and whenever the page's <html> or <body>
 * attributes (a theme toggle) or the OS preference change. Returns a function that stops.
 */
export function followScheme(rawSetting, element, apply, window = globalThis) {
  const setting = readSetting(rawSetting);
  let settleTimer = null;
  const check = () => apply(detectScheme(setting, element, window));
  const checkNowAndSettled = () => {
    check();
    window.clearTimeout(settleTimer);
    settleTimer = window.setTimeout(check, SETTLE_MS);
  };
  check();
  if (setting === ColorScheme.LIGHT || setting === ColorScheme.DARK) return () => {};
  const observer = new window.MutationObserver(checkNowAndSettled);
  const { documentElement, body } = window.document;
  for (const node of [documentElement, body]) if (node) observer.observe(node, { attributes: true });
  const media = window.matchMedia?.("(prefers-color-scheme: dark)");
  media?.addEventListener("change", checkNowAndSettled);
  return () => {
    observer.disconnect();
    media?.removeEventListener("change", checkNowAndSettled);
    window.clearTimeout(settleTimer);
  };
}
