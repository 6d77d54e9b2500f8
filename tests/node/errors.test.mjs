// Bad input to a loaded engine: each case is an error reply with a stable code,
// and afterwards the module and (where it was loaded) the model still work.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

import { env, startVariant } from "./helpers.mjs";

const MODEL = env("PLM_MODEL");
const tmp = mkdtempSync(path.join(os.tmpdir(), "plm-node-"));

function expectError(engine, name, req, code) {
  const r = engine.actionRaw(name, req);
  assert.equal(r.ok, false, `${name} should fail`);
  assert.equal(r.code, code, r.message);
  return r.message;
}

test("non-GGUF and truncated files are load errors, not traps", async () => {
  const engine = await startVariant("wasm32-st");
  const html = path.join(tmp, "page.gguf");
  writeFileSync(html, "<!doctype html><html><body>Not found</body></html>\n");
  assert.match(expectError(engine, "load", { path: engine.hostPath(html) }, "not_gguf"), /not a GGUF/);

  const whole = readFileSync(MODEL);
  for (const keep of [6, 4096, Math.floor(whole.length / 2), whole.length - 1]) {
    const cut = path.join(tmp, `cut-${keep}.gguf`);
    writeFileSync(cut, whole.subarray(0, keep));
    const msg = expectError(engine, "load", { path: engine.hostPath(cut), n_ctx: 256 }, "load_failed");
    assert.ok(msg.length > 20, msg);
  }
  // The module survived every failure: the real model loads and generates.
  engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 256 });
  engine.action("generate_start", { prompt: "Hello", sampling: { temperature: 0 } });
  assert.ok(engine.action("step", {}).token >= 0);
});

test("generation errors leave the loaded model usable", async () => {
  const engine = await startVariant("wasm32-st");
  engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 64 });
  const nCtx = engine.action("info").info.n_ctx;  // llama.cpp may round n_ctx up
  assert.ok(nCtx >= 64 && nCtx <= 512, `n_ctx ${nCtx}`);
  expectError(engine, "step", {}, "not_generating");
  const long = "word ".repeat(nCtx + 10);
  assert.match(expectError(engine, "generate_start", { prompt: long }, "context_overflow"), /larger n_ctx/);
  expectError(engine, "generate_start", { prompt: "" , add_special: false }, "bad_request");
  expectError(engine, "generate_start", { tokens: [1, 2, 99999999] }, "bad_request");
  expectError(engine, "generate_start", { prompt: "Hi", sampling: { temperature: -1 } }, "bad_request");
  expectError(engine, "generate_start", { prompt: "Hi", sampling: { top_p: 0 } }, "bad_request");
  expectError(engine, "generate_start", { prompt: "Hi", sampling: { top_k: "ten" } }, "bad_request");
  expectError(engine, "detokenize", { tokens: [-1] }, "bad_request");
  expectError(engine, "chat_format", { messages: [{ role: "user" }] }, "bad_request");
  expectError(engine, "set_threads", { n_threads: 0 }, "bad_request");

  // Context fills up: generation stops with context_full instead of failing.
  const nearlyFull = engine.action("tokenize", { text: "word ".repeat(nCtx) }).tokens.slice(0, nCtx - 4);
  engine.action("generate_start", { tokens: nearlyFull, sampling: { temperature: 0, ignore_eos: true } });
  let steps = 0, last;
  do {
    last = engine.action("step", {});
    steps++;
  } while (!last.context_full && steps < 10);
  assert.ok(last.context_full, "generation stops when the context is full");
  assert.equal(steps, 5, "the last free cell is used, then one token is returned without room to feed it back");
  expectError(engine, "step", {}, "not_generating");

  // And the model still answers.
  engine.action("generate_start", { prompt: "The capital of France is", sampling: { temperature: 0 } });
  const text = [];
  for (let i = 0; i < 4; i++) text.push(...engine.action("step", {}).bytes);
  assert.ok(text.length > 0);
});

test("the abort flag stops a step and the next generation works", async () => {
  const engine = await startVariant("wasm32-st");
  engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 256 });
  engine.action("generate_start", { prompt: "Count: one, two,", sampling: { temperature: 0 } });
  engine.action("step", {});
  engine.setAbort(true);
  expectError(engine, "step", {}, "aborted");
  expectError(engine, "step", {}, "not_generating");  // the aborted generation is over
  // The flag stays set until its owner (the worker) clears it: a cancel that arrives
  // before a prefill begins must stop that prefill too.
  expectError(engine, "generate_start", { prompt: "Count: one, two,", sampling: { temperature: 0 } }, "aborted");
  engine.setAbort(false);
  const r = engine.action("generate_start", { prompt: "Count: one, two,", sampling: { temperature: 0 } });
  assert.ok(r.n_cached > 0, "the prompt prefix is reused from the KV cache");
  assert.ok(engine.action("step", {}).token >= 0);
});
