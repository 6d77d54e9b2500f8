// Cross-origin isolation for pages on static hosts that cannot send COOP/COEP: a classic
// script, first in the page's <head>, before Pyodide starts downloading:
//   <script src="./pyodide_llm/js/isolation.js" data-sw="./pyodide_llm-sw.js"></script>
// On the first visit it registers pyodide_llm's service worker (isolation-sw.js, copied to
// the site's root by `python -m pyodide_llm bundle`) and reloads the page once; from then
// on the worker adds the headers and the page is isolated. It never reloads twice in a row
// (sessionStorage), and where service workers are unavailable (not a secure context, a
// private window that refuses them, disabled by policy) the page goes on unisolated: the
// engine runs single-threaded and says so. `window.pyodideLLMIsolation` tells the page
// what happened: {state: "isolated" | "reloading" | "unavailable" | "failed", reason}.
"use strict";

(() => {
  const RELOADED = "pyodide_llm-isolation-reload";
  const script = document.currentScript;
  const report = (state, reason = "") => {
    window.pyodideLLMIsolation = { state, reason };
  };
  const once = (() => {
    try {
      return window.sessionStorage;
    } catch {
      return null; // storage refused: no reload at all rather than a possible loop
    }
  })();
  if (window.crossOriginIsolated) {
    once?.removeItem(RELOADED);
    report("isolated");
    return;
  }
  if (!window.isSecureContext || !("serviceWorker" in navigator)) {
    report("unavailable", window.isSecureContext ? "this browser offers no service workers here"
      : "not a secure context (https or localhost)");
    return;
  }
  if (!once) {
    report("unavailable", "sessionStorage is refused, so a reload could not be limited to one");
    return;
  }
  if (once.getItem(RELOADED)) {
    // Reloaded once already and still not isolated: the worker cannot help here
    // (a host that overrides its headers, or the browser bypassed it: a hard reload).
    once.removeItem(RELOADED);
    report("failed", "reloaded under the service worker and still not cross-origin isolated");
    return;
  }
  const url = new URL(script?.dataset.sw || "./pyodide_llm-sw.js", document.baseURI);
  report("reloading");
  navigator.serviceWorker.register(url).then(async (registration) => {
    const worker = registration.installing || registration.waiting || registration.active;
    if (worker && worker.state !== "activated") {
      await new Promise((resolve) => worker.addEventListener("statechange", () => {
        if (worker.state === "activated" || worker.state === "redundant") resolve();
      }));
    }
    once.setItem(RELOADED, "1");
    window.location.reload();
  }, (error) => report("failed", `the service worker was not registered: ${error}`));
})();
