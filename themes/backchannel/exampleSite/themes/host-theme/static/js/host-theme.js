// The host theme's own dark mode: <html data-theme="dark" | "light">, the visitor's choice kept in
// localStorage ("host-theme"), otherwise the system's prefers-color-scheme. Loaded in <head>
// without defer, so the attribute is set before the page is drawn; the header's button is wired
// once the document is parsed.
(function () {
  "use strict";
  var KEY = "host-theme";
  var root = document.documentElement;
  var system = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (error) {
      return null; // storage blocked
    }
  }

  function apply(theme) {
    root.setAttribute("data-theme", theme);
    var button = document.getElementById("theme-toggle");
    if (button) button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
  }

  apply(stored() || (system && system.matches ? "dark" : "light"));

  if (system && system.addEventListener) {
    system.addEventListener("change", function (event) {
      if (!stored()) apply(event.matches ? "dark" : "light");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    apply(root.getAttribute("data-theme") === "dark" ? "dark" : "light");
    button.addEventListener("click", function () {
      var next = root.getAttribute("data-theme") === "dark" ? "light" : "dark";
      apply(next);
      try {
        window.localStorage.setItem(KEY, next);
      } catch (error) {
        // storage blocked: the choice lasts for this page only
      }
    });
  });
})();
