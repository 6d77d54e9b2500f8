// For pages with a strict Content-Security-Policy (no 'unsafe-eval', no blob: scripts).
//
// The page serves the package's files itself (`python -m pyodide_llm bundle` puts them in
// pyodide_llm/, this file in pyodide_llm/js/) and loads this module from its own origin:
//   <script type="module" src="./pyodide_llm/js/assets.mjs"></script>
// The package (pyodide_llm/_browser/files.py) then takes every JS and wasm file from
// that folder, and imports its modules through the function below: an import() written
// in a script of the page's own origin, which script-src 'self' allows, where the
// default (JS eval of an import of a Blob URL) needs 'unsafe-eval' and blob:.
globalThis.pyodideLLM = {
  assets: new URL("../", import.meta.url).href,
  import: (url) => import(url),
};
