// pyodide_llm's service worker for static hosts that cannot send headers (GitHub Pages,
// `python -m http.server`, a plain S3 bucket): it adds COOP/COEP to this site's pages and
// worker scripts, so a page becomes cross-origin isolated (SharedArrayBuffer: threads and
// the memory64 engine) after one reload. `python -m pyodide_llm bundle` copies it to the
// site's root as pyodide_llm-sw.js (its scope is its folder and below); isolation.js
// registers it. A host that sends the headers itself never needs it: the page is already
// isolated and isolation.js does nothing.
"use strict";

const ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  // Same-origin resources are allowed under require-corp anyway; stating it costs nothing.
  "Cross-Origin-Resource-Policy": "same-origin",
};

// Documents decide their isolation from their own response; a dedicated worker from a
// same-origin URL from its script's response. Everything else is fetched as usual.
const REWRAPPED = new Set(["document", "iframe", "worker", "sharedworker"]);

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (new URL(request.url).origin !== self.location.origin) return; // CORS responses pass COEP as they are
  if (request.mode !== "navigate" && !REWRAPPED.has(request.destination)) return;
  event.respondWith(fetch(request).then(withIsolation));
});

/** The response with the isolation headers added (an opaque or error response as it is). */
function withIsolation(response) {
  if (response.status === 0 || response.type === "opaqueredirect") return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
