// One variant of the engine loading mutated copies of one model, in a worker thread
// (loader_fuzz.test.mjs watches it: a case that traps the engine ends this worker, one
// that hangs gets it terminated, and the next worker starts after that case).
//
// The model's bytes sit once in the engine's memory, shown as a file (as the page's
// worker does with a download) and loaded with mmap; each case edits them in place,
// loads, uses what loaded (a few greedy tokens, or an embedding) and puts them back.
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";

import { makeCase } from "./fuzz_cases.mjs";
import { headerFields } from "./gguf_fields.mjs";
import { startVariant } from "./helpers.mjs";

const { variant, model, use, seed, from, to } = workerData;
const file = readFileSync(model);
const layout = headerFields(new Uint8Array(file.buffer, file.byteOffset, file.length));
const engine = await startVariant(variant);
const region = engine.allocRegion(file.length);
engine.heapU8.set(file, region.ptr);
// The crash record in shared memory (threaded variants): an abort in a compute thread
// leaves this thread at ggml's barrier, and only the test's thread can still see it.
parentPort.postMessage({ crashFlag: engine.crashFlag.buffer instanceof SharedArrayBuffer ? engine.crashFlag : null });

function exercise() {
  if (use === "embed") {
    engine.action("embed", { texts: ["a fuzzed model", "still answers"] });
    return;
  }
  engine.action("generate_start", { prompt: "The capital of France is", sampling: { temperature: 0 } });
  for (let i = 0; i < 3 && !engine.action("step").eog; i++);
  engine.action("generate_end");
}

for (let index = from; index < to; index++) {
  const c = makeCase(seed, index, file, layout);
  const saved = c.edits.map((e) => engine.heapU8.slice(region.ptr + e.off, region.ptr + e.off + e.bytes.length));
  for (const e of c.edits) engine.heapU8.set(e.bytes, region.ptr + e.off);
  parentPort.postMessage({ index, desc: c.desc, started: true });
  const t0 = performance.now();
  let outcome;
  let loaded = false;
  try {
    engine.exposeAsFile("/fuzz.gguf", { ptr: region.ptr, size: c.size });
    try {
      engine.action("load", { path: "/fuzz.gguf", n_ctx: 128, n_threads: engine.threads, mmap: true });
      loaded = true;
      try {
        exercise();
        outcome = "loaded";
      } finally {
        engine.action("unload");
      }
    } finally {
      engine.module.FS.unlink("/fuzz.gguf");
    }
  } catch (e) {
    if (typeof e.code !== "string") {  // a trap: the module is gone, the test starts another worker
      const said = engine.crashMessage();  // llama.cpp's abort (a GGML_ASSERT), or a bare trap
      parentPort.postMessage({ index, desc: c.desc, outcome: said ? "abort" : "crash",
        message: said ?? String(e && e.message) });
      process.exit(0);
    }
    outcome = `${loaded ? "loaded, then " : ""}error:${e.code}`;
  }
  for (let i = c.edits.length - 1; i >= 0; i--) engine.heapU8.set(saved[i], region.ptr + c.edits[i].off);
  parentPort.postMessage({ index, desc: c.desc, outcome, ms: performance.now() - t0 });
}
parentPort.postMessage({ done: true });
