// The real engine against protocol.json: it implements every engine action of the
// table, its replies carry only the fields the table lists, and its guards reject
// exactly the values outside `limits` (the bounds Python validates with).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { env, startVariant } from "./helpers.mjs";

const MODEL = env("PLM_MODEL");
const TABLE = JSON.parse(readFileSync(path.join(env("PLM_REPO"), "pyodide_llm/protocol.json"), "utf8"));
const LIMITS = TABLE.limits;

function assertFields(name, reply, allowed) {
  const extra = Object.keys(reply).filter((k) => k !== "ok" && !allowed.includes(k));
  assert.deepEqual(extra, [], `${name} replied with fields protocol.json does not list`);
}

/** Values just inside and just outside a limit. */
function probes(lim) {
  const step = lim.integer ? 1 : 1e-3;
  const inside = [];
  const outside = [];
  if ("min" in lim) {
    inside.push(lim.min);
    outside.push(lim.min - step);
  }
  if ("above" in lim) {
    inside.push(lim.above + step);
    outside.push(lim.above);
  }
  if ("max" in lim) {
    inside.push(lim.max);
    outside.push(lim.max + step);
  }
  return { inside, outside };
}

test("every engine action of the table exists, and replies carry only its fields", async () => {
  const engine = await startVariant("wasm32-st");
  for (const name of Object.keys(TABLE.engine_actions)) {
    const r = engine.actionRaw(name, {});
    assert.ok(r.ok || !/unknown action/.test(r.message), `${name}: ${r.message}`);
  }
  assert.equal(engine.actionRaw("no_such_action", {}).code, "bad_request");
  const acts = TABLE.engine_actions;
  assertFields("build_info", engine.action("build_info"), acts.build_info.reply);
  const loaded = engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 256 });
  assertFields("load", loaded, acts.load.reply);
  assert.deepEqual(Object.keys(loaded.info).sort(), [...TABLE.records.info].sort());
  assertFields("tokenize", engine.action("tokenize", { text: "Hello" }), acts.tokenize.reply);
  assertFields("chat_format", engine.action("chat_format", { messages: [{ role: "user", content: "Hi" }] }),
    acts.chat_format.reply);
  assertFields("generate_start", engine.action("generate_start", { prompt: "Hi", sampling: { temperature: 0 } }),
    acts.generate_start.reply);
  assertFields("step", engine.action("step", { n_top: 2 }), acts.step.reply);
  assertFields("generate_end", engine.action("generate_end"), acts.generate_end.reply);
  const { timings } = engine.action("timings");
  assert.deepEqual(Object.keys(timings).sort(), [...TABLE.records.timings].sort());
  assertFields("heap_stats", engine.action("heap_stats"), acts.heap_stats.reply);
});

test("the engine's load guards are protocol.json's limits", async () => {
  const engine = await startVariant("wasm32-st");
  for (const name of ["n_ctx", "n_threads", "n_batch"]) {
    for (const value of probes(LIMITS[name]).outside) {
      const r = engine.actionRaw("load", { path: engine.hostPath(MODEL), n_ctx: 256, [name]: value });
      assert.equal(r.code, "bad_request", `load with ${name}=${value} should be refused: ${r.message}`);
    }
  }
  // Inside the bounds (n_threads only at 1: a pool of 256 threads is not started in a test).
  for (const req of [{ n_ctx: LIMITS.n_ctx.min }, { n_threads: LIMITS.n_threads.min }, { n_batch: LIMITS.n_batch.min }]) {
    const r = engine.actionRaw("load", { path: engine.hostPath(MODEL), n_ctx: 256, ...req });
    assert.equal(r.ok, true, `load with ${JSON.stringify(req)}: ${r.message}`);
  }
});

test("the engine's sampling guards are protocol.json's limits", async () => {
  const engine = await startVariant("wasm32-st");
  engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 256 });
  for (const name of TABLE.sampling.filter((n) => n in LIMITS)) {
    const { inside, outside } = probes(LIMITS[name]);
    for (const value of inside) {
      const r = engine.actionRaw("generate_start", { prompt: "Hi", sampling: { [name]: value } });
      assert.equal(r.ok, true, `${name}=${value} is inside the limits but was refused: ${r.message}`);
      engine.action("generate_end");
    }
    for (const value of outside) {
      const r = engine.actionRaw("generate_start", { prompt: "Hi", sampling: { [name]: value } });
      assert.equal(r.code, "bad_request", `${name}=${value} is outside the limits but was accepted`);
    }
  }
});
