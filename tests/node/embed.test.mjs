// Embeddings ("embed"): all-MiniLM-L6-v2 (recipes/embedmodel.py: llama.cpp's own converter)
// in every CPU variant, against native llama.cpp's llama-embedding from the same source and
// against the original model as its authors run it (tests/fixtures/minilm_reference.json).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { env, runNative, startVariant, threadsFor, VARIANTS } from "./helpers.mjs";

const MODEL = env("PLM_EMBED_MODEL");
const CHAT_MODEL = env("PLM_MODEL");
const REF = JSON.parse(readFileSync(new URL("../fixtures/minilm_reference.json", import.meta.url), "utf8"));
const TEXTS = [REF.query, ...REF.candidates];
const MIN_COSINE = 0.9999;

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const cosine = (a, b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
const ranking = (sims) => sims.map((s, i) => [s, i]).sort((x, y) => y[0] - x[0]).map(([, i]) => i);

/** llama-embedding's vectors of TEXTS (one prompt per line; the model's pooling; L2-normalised).
 *
 * Why the retries: llama-embedding prints its JSON through common_log, whose writer thread is
 * never joined at exit in this llama.cpp (the logger is a leaked singleton), so a run can exit 0
 * with its stdout cut short (3 in 20 runs through a pipe on a 2-core machine). A cut run is
 * detected by its JSON not parsing; the vectors of a whole run are deterministic. */
function llamaEmbedding() {
  const bin = path.join(path.dirname(env("PLM_NATIVE")), "llama-embedding");
  const cut = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = spawnSync(bin, ["-m", MODEL, "-p", TEXTS.join("\n"), "--embd-normalize", "2",
      "--embd-output-format", "json", "-t", "2"], { encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`llama-embedding failed (${r.status}): ${r.stderr.slice(-1500)}`);
    try {
      return JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))).data.map((d) => d.embedding);
    } catch {
      cut.push(r.stdout.length);
    }
  }
  throw new Error(`llama-embedding's JSON was cut short 5 times (stdout lengths ${cut})`);
}

// Computed on first use, inside a test: a failing native run then shows its message in the
// runner's summary of failing tests (at module level it is only "test failed" for the file).
let referenceMemo = null;
const reference = () => (referenceMemo ??= llamaEmbedding());

test("native: our embed action gives llama-embedding's vectors; the ranking is the original model's", () => {
  const nativeOurs = runNative([["load", { path: MODEL, n_ctx: 512, n_threads: 2 }], ["embed", { texts: TEXTS }]])[1];
  assert.equal(nativeOurs.pooling, 1, "all-MiniLM's GGUF says mean pooling");
  nativeOurs.embeddings.forEach((v, i) => assert.ok(cosine(v, reference()[i]) >= MIN_COSINE, `text ${i}`));
  const sims = nativeOurs.embeddings.slice(1).map((v) => dot(v, nativeOurs.embeddings[0]));
  assert.deepEqual(ranking(sims), ranking(REF.cosine));
  sims.forEach((s, i) => assert.ok(Math.abs(s - REF.cosine[i]) < 2e-3, `cosine ${i}: ${s} vs ${REF.cosine[i]}`));
  console.log(`native: cosines ${sims.map((s) => s.toFixed(5))} vs the original model's ${REF.cosine}`);
});

for (const variant of VARIANTS) {
  test(`${variant}: MiniLM vectors equal native llama.cpp's (cosine >= ${MIN_COSINE}), batched or not`, async () => {
    const engine = await startVariant(variant);
    await engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 512, n_threads: threadsFor(variant) });
    const r = await engine.action("embed", { texts: TEXTS });
    assert.deepEqual([r.pooling, r.embeddings.length, r.embeddings[0].length], [1, TEXTS.length, 384]);
    const worst = Math.min(...r.embeddings.map((v, i) => cosine(v, reference()[i])));
    assert.ok(worst >= MIN_COSINE, `worst cosine to llama-embedding ${worst}`);
    r.embeddings.forEach((v) => assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4, "unit length"));
    const one = await engine.action("embed", { texts: [TEXTS[2]] });
    assert.ok(cosine(one.embeddings[0], r.embeddings[2]) > 0.999999, "a text alone = the same text in a batch");
    const sims = r.embeddings.slice(1).map((v) => dot(v, r.embeddings[0]));
    assert.deepEqual(ranking(sims), ranking(REF.cosine), `${sims}`);
    console.log(`${variant}: worst cosine to llama-embedding ${worst.toFixed(7)}; similarities ` +
      `${sims.map((s) => s.toFixed(4))}`);
  });
}

test("embed: pooling override, raw vectors, truncation, bad requests; a chat model pools by mean", async () => {
  const engine = await startVariant(VARIANTS[0]);
  await engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 512, n_threads: 1 });
  const cls = await engine.action("embed", { texts: ["Hello world"], pooling: 2 });
  assert.equal(cls.pooling, 2);
  const raw = await engine.action("embed", { texts: ["Hello world"], normalize: false });
  assert.ok(Math.hypot(...raw.embeddings[0]) > 1.5, "not normalised");
  const long = "word ".repeat(700);
  const cut = await engine.action("embed", { texts: [long] });
  assert.deepEqual([cut.truncated, cut.n_tokens[0] > 512], [[true], true]);
  await assert.rejects(async () => engine.action("embed", { texts: [long], truncate: false }),
    (e) => e.code === "context_overflow" && /does not fit the embedding context of 512/.test(e.message));
  for (const [req, pattern] of [[{ texts: [] }, /empty/], [{ texts: [3] }, /list of strings/],
    [{ texts: ["x"], pooling: 7 }, /pooling must be/], [{}, /needs a list 'texts'/]]) {
    await assert.rejects(async () => engine.action("embed", req), (e) => e.code === "bad_request" &&
      pattern.test(e.message));
  }
  await engine.action("load", { path: engine.hostPath(CHAT_MODEL), n_ctx: 256, n_threads: 1 });
  const chat = await engine.action("embed", { texts: ["Hello", "Bonjour"] });
  assert.deepEqual([chat.pooling, chat.embeddings[0].length], [1, 576]);
});
