// ESLint for the JS shim and its tests: `make lint` (recipes/lint.py) runs it with
// the ESLint that lint/package-lock.json pins, installed outside the repository.
// @eslint/js and globals are loaded with require() because require() is what reads
// NODE_PATH, where the recipe names that installation; import would not find them.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const js = require("@eslint/js");
const globals = require("globals");

export default [
  js.configs.recommended,
  {
    rules: {
      // `try { await stream.cancel(); } catch {}`: cleanup of something that may already
      // be closed or errored is best effort on purpose; any other empty block is a finding.
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
  {
    // The shim runs where Pyodide runs (a page or a worker: client.mjs) and in the
    // engine worker (worker, binding, store, download); it uses nothing node-only,
    // although the node tests import it.
    files: ["pyodide_llm/js/**/*.mjs"],
    languageOptions: { globals: { ...globals.browser, ...globals.worker } },
  },
  {
    // Classic scripts of static sites (isolation.js in the page, isolation-sw.js the service worker).
    files: ["pyodide_llm/js/**/*.js"],
    languageOptions: { sourceType: "script", globals: { ...globals.browser, ...globals.serviceworker } },
  },
  {
    // Pages: `python -m pyodide_llm bench-page`'s and the benchmark's (bench/pages).
    files: ["pyodide_llm/_host/benchpage/**/*.mjs", "bench/pages/**/*.mjs"],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // bench/gpu_node.mjs runs in node 26 on the software GPU rig.
    files: ["tests/js/**/*.mjs", "tests/node/**/*.mjs", "tests/gpu/**/*.mjs", "bench/*.mjs"],
    languageOptions: { globals: { ...globals.node } },
  },
];
