// The engine's loader on mutated and cut copies of real GGUF files, every CPU variant:
// each case must end in a typed error, a model that loads and answers, or an abort of
// llama.cpp's (a GGML_ASSERT) that the engine recorded (abort_hook.h: the page's
// client turns it into EngineCrashedError, even from a compute thread). A trap with no
// abort behind it (an out-of-bounds access, a division by zero) or a hang is a defect,
// reported with the case that makes it (a case is a function of the seed and its index:
// PLM_FUZZ_SEED, and loader_fuzz_worker.mjs runs any range again). Aborts are listed
// by their site: those met while loading are patched into load errors
// (recipes/patches/llama-load-guards.patch); the rest happen when the model computes.
//
// PLM_FUZZ_VARIANTS (a comma list) runs only those variants.
// `make test` runs PLM_FUZZ_CASES=100 per variant for SmolLM2 (a third of it for the
// embedding model); `make soak` several thousand. Each variant runs in a worker thread
// that the test watches, so a trap or a hang ends one worker, not the run.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";

import { readCrash } from "../../pyodide_llm/js/binding.mjs";
import { env, VARIANTS } from "./helpers.mjs";

const CASES = Number(process.env.PLM_FUZZ_CASES || 100);
const SEED = Number(process.env.PLM_FUZZ_SEED || 1);
const ONLY = process.env.PLM_FUZZ_VARIANTS ? process.env.PLM_FUZZ_VARIANTS.split(",") : VARIANTS;
const HANG_MS = 60_000; // one case: loading a 100 MB model from memory takes well under a second
const MODELS = [
  { name: "SmolLM2", path: env("PLM_MODEL"), use: "chat", cases: CASES },
  { name: "MiniLM", path: env("PLM_EMBED_MODEL"), use: "embed", cases: Math.ceil(CASES / 3) },
];

/**
 * Run cases [from, cases) in one worker until it ends, traps or hangs. Resolves when
 * the worker has exited: { next } (the first case not run) or { hang } (the case).
 */
function runWorker(variant, m, from, record, seen) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./loader_fuzz_worker.mjs", import.meta.url),
      { workerData: { variant, model: m.path, use: m.use, seed: SEED, from, to: m.cases } });
    let current = null;
    let hung = false;
    let failure = null;
    let timer = null;
    let crashFlag = null;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        worker.terminate();
      }, HANG_MS);
    };
    // As the page's client does: an abort in a compute thread is seen in the crash record.
    const poll = setInterval(() => {
      const said = crashFlag && readCrash(crashFlag);
      if (said && current && !seen.has(current.index)) {
        record({ index: current.index, desc: current.desc, outcome: "abort", message: `${said} (seen in the crash record)` });
        worker.terminate();
      }
    }, 250);
    arm();
    worker.on("message", (msg) => {
      if ("crashFlag" in msg) return void (crashFlag = msg.crashFlag);
      if (msg.done) return void worker.terminate();
      if (msg.started) {
        current = msg;
        return arm();
      }
      record(msg);
    });
    worker.on("error", (e) => {
      failure = e;
    });
    worker.on("exit", () => {
      clearTimeout(timer);
      clearInterval(poll);
      if (!current) {  // it never started a case: a broken set-up, not a finding
        if (failure || hung) return reject(failure || new Error("the fuzz worker did not start"));
      }
      if (hung) return resolve({ hang: current });
      if (current && !seen.has(current.index)) {  // it died inside a case without saying how
        record({ index: current.index, desc: current.desc, outcome: "crash",
          message: failure ? String(failure.message || failure) : "the worker exited" });
      }
      resolve({ next: current ? current.index + 1 : m.cases });
    });
  });
}

for (const variant of VARIANTS.filter((v) => ONLY.includes(v))) {
  for (const m of MODELS) {
    test(`${variant}: ${m.cases} mutated or cut ${m.name} files end in a typed error or a working model`,
      { timeout: m.cases * HANG_MS }, async () => {
        const counts = new Map();
        const defects = [];
        const aborts = new Map(); // llama.cpp's abort site -> [case, ...]
        const seen = new Set();
        const record = (msg) => {
          if (seen.has(msg.index)) return;
          seen.add(msg.index);
          counts.set(msg.outcome, (counts.get(msg.outcome) || 0) + 1);
          if (msg.outcome === "crash") defects.push(`case ${msg.index} (${msg.desc}): trap: ${msg.message}`);
          if (msg.outcome === "abort") {
            const site = msg.message.replace(/^.*llama\.cpp-[0-9a-f]+\//, "");
            aborts.set(site, [...(aborts.get(site) || []), `${msg.index} (${msg.desc})`]);
          }
        };
        const t0 = performance.now();
        for (let next = 0; next < m.cases;) {
          const r = await runWorker(variant, m, next, record, seen);
          if (r.hang) {
            record({ index: r.hang.index, desc: r.hang.desc, outcome: "hang" });
            defects.push(`case ${r.hang.index} (${r.hang.desc}): no answer in ${HANG_MS / 1000} s`);
            next = r.hang.index + 1;
          } else {
            next = Math.max(r.next, next + 1);
          }
        }
        const table = [...counts].sort().map(([k, v]) => `${k}=${v}`).join(" ");
        console.log(`FUZZ ${variant} ${m.name} seed=${SEED}: ${seen.size} cases in ` +
          `${((performance.now() - t0) / 1000).toFixed(0)} s: ${table}`);
        for (const [site, cases] of aborts) {
          console.log(`FUZZ ABORT ${variant} ${m.name}: ${site}: ${cases.length} cases, e.g. ${cases[0]}`);
        }
        for (const d of defects) console.log(`FUZZ DEFECT ${variant} ${m.name}: ${d}`);
        assert.equal(seen.size, m.cases, "every case ran");
        assert.deepEqual(defects, [], "every case ends typed");
      });
  }
}
