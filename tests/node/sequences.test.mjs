// Several sequences in one context (wasm/sequences.cpp): batched rows, prefix sharing,
// eviction, and a sequence's state saved and restored, in every CPU variant and natively.
import assert from "node:assert/strict";
import { test } from "node:test";

import { env, runNative, startVariant, threadsFor, VARIANTS } from "./helpers.mjs";

const MODEL = env("PLM_MODEL");
const QUESTIONS = ["What is the capital of France?", "Name a primary colour.", "Is the sea salty? Answer briefly.",
  "Give one word for happy.", "What is 2 + 2?", "Which planet is red?", "Say hello in Spanish.",
  "What do bees make?", "Label this ticket: 'my invoice is wrong'. Label:", "How many legs has a spider?"];
const GREEDY = { temperature: 0 };
// Every prompt evaluated whole: what an earlier request left in the cache cannot change the
// rounding (a prompt split between cached and new tokens takes llama.cpp's attention through
// other kernels), so rows together and rows one at a time must agree token for token. The
// cache is emptied between the runs: past 512 cells llama.cpp's CPU attention takes a lone
// query through a KV-split kernel that rounds differently (README: map).
const FRESH = { temperature: 0, cache_prompt: false };
const COMPLETIONS = ["The capital of France is", "My favourite colour is", "The sea is salty because",
  "Two plus two equals", "Bees make", "The red planet is called", "In Spanish, hello is", "A spider has"];

async function dropAll(engine) {
  for (let seq = 0; seq < 16; seq++) await engine.action("seq_drop", { seq });
}
const N = 24;

const text = (chunks) => Buffer.concat(chunks.map((b) => Buffer.from(b))).toString("utf8");

async function prompts(engine) {
  const out = [];
  for (const q of QUESTIONS) {
    out.push((await engine.action("chat_format", { messages: [{ role: "user", content: q }] })).prompt);
  }
  return out;
}

/** One row at a time, in sequence 0 (what LLM.chat does). */
async function oneAtATime(engine, items, sampling = GREEDY, n = N) {
  const out = [];
  for (const prompt of items) {
    await engine.action("generate_start", { prompt, sampling });
    const chunks = [];
    for (let i = 0; i < n; i++) {
      const s = await engine.action("step");
      if (s.eog) break;
      chunks.push(s.bytes);
    }
    await engine.action("generate_end");
    out.push(text(chunks));
  }
  return out;
}

/** Rows together, `concurrency` at a time, as the worker's generate_batch drives them. */
async function batched(engine, items, concurrency, sampling = GREEDY, n = N) {
  const out = new Array(items.length);
  const active = new Map();
  let next = 0;
  let peak = 0;
  const take = (row, s) => {
    if (s.eog) return true;
    row.chunks.push(s.bytes);
    return row.chunks.length >= n || s.context_full;
  };
  const end = async (seq) => {
    const row = active.get(seq);
    out[row.index] = text(row.chunks);
    active.delete(seq);
    await engine.action("batch_end", { seq });
  };
  while (next < items.length || active.size) {
    while (next < items.length && active.size < concurrency) {
      const s = await engine.action("batch_start", { prompt: items[next], sampling });
      active.set(s.seq, { index: next++, chunks: [] });
      if (take(active.get(s.seq), s)) await end(s.seq);
    }
    peak = Math.max(peak, active.size);
    if (!active.size) continue;
    const { rows } = await engine.action("batch_step", { seqs: [...active.keys()] });
    for (const s of rows) if (take(active.get(s.seq), s)) await end(s.seq);
  }
  return { texts: out, peak };
}

for (const variant of VARIANTS) {
  test(`${variant}: greedy rows decoded together equal the rows one at a time`, async () => {
    const engine = await startVariant(variant);
    await engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 2048, n_threads: threadsFor(variant) });
    for (const [items, n] of [[COMPLETIONS, 16], [(await prompts(engine)).slice(0, 4), N]]) {
      await dropAll(engine);
      const single = await oneAtATime(engine, items, FRESH, n);
      for (const c of items.length > 4 ? [4, 8] : [4]) {
        await dropAll(engine);
        const { texts, peak } = await batched(engine, items, c, FRESH, n);
        assert.equal(peak, c);
        texts.forEach((t, i) => assert.equal(t, single[i], `row ${i} at concurrency ${c}`));
      }
      assert.ok(single.every((t) => t.length > 0) && new Set(single).size === items.length, JSON.stringify(single));
      console.log(`${variant}: ${items.length} rows equal together and one at a time, e.g. ${JSON.stringify(single[0])}`);
    }
  });
}

test("native: batched rows equal one at a time there too (the same engine code, x86 kernels)", () => {
  const sampling = { ...FRESH, ignore_eos: true }; // every row runs all N steps: a fixed script
  const items = COMPLETIONS.slice(0, 4);
  const load = ["load", { path: MODEL, n_ctx: 2048, n_threads: 2 }];
  const script = [load];
  items.forEach((prompt) => script.push(["batch_start", { prompt, sampling }]));
  for (let i = 1; i < N; i++) script.push(["batch_step", { seqs: [0, 1, 2, 3] }]);
  const replies = runNative(script);
  const chunks = items.map((_, i) => [replies[1 + i].bytes]);
  for (const r of replies.slice(1 + items.length)) for (const row of r.rows) chunks[row.seq].push(row.bytes);
  const batchedTexts = chunks.map(text);
  items.forEach((prompt, i) => {
    const single = runNative([load, ["generate_start", { prompt, sampling }],
      ...Array.from({ length: N }, () => ["step", {}])]);
    assert.equal(text(single.slice(2).map((s) => s.bytes)), batchedTexts[i], `native row ${i}`);
  });
});

test("a row's prefix is shared with the sequence that holds it, and idle sequences give way", async () => {
  const engine = await startVariant(VARIANTS[0]);
  await engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 512, n_threads: threadsFor(VARIANTS[0]) });
  const doc = "A long shared instruction for every row of the table. ".repeat(12);
  await engine.action("generate_start", { prompt: doc + "Row one:", sampling: GREEDY, seq: 3 });
  await engine.action("generate_end");
  const s = await engine.action("batch_start", { prompt: doc + "Row two:", sampling: GREEDY });
  assert.notEqual(s.seq, 3);
  assert.ok(s.n_cached > 100, `the shared instruction came from sequence 3: ${s.n_cached} cached`);
  // A finished row can keep just the shared part (what LLM.map keeps for the rows to come).
  await assert.rejects(async () => engine.action("batch_end", { seq: s.seq, keep: -2 }), (e) => e.code === "bad_request");
  await engine.action("batch_end", { seq: s.seq, keep: 40 });
  assert.equal((await engine.action("sequences")).lengths[s.seq], 40, "the row was trimmed to 40 tokens");
  const again = await engine.action("batch_start", { prompt: doc + "Row three:", sampling: GREEDY });
  assert.ok(again.n_cached > 100, "the instruction is still cached (sequence 3 holds it)");
  await engine.action("batch_end", { seq: again.seq, keep: 0 });
  assert.equal((await engine.action("sequences")).lengths[again.seq], 0, "keep 0 frees the row's cells");
  // Fill the 512 cells with idle sequences, then ask for more room: the least recently used go.
  for (const seq of [5, 6, 7]) {
    await engine.action("generate_start", { prompt: `Sequence ${seq}: ` + "filler words ".repeat(40),
      sampling: GREEDY, seq });
    await engine.action("generate_end");
  }
  const big = await engine.action("generate_start", { prompt: "fresh text ".repeat(120), sampling: GREEDY, seq: 9 });
  assert.equal(big.n_cached, 0);
  const step = await engine.action("step");
  assert.ok(step.token >= 0);
  await engine.action("generate_end");
  const { lengths } = await engine.action("sequences");
  assert.ok(lengths[9] > 240, JSON.stringify(lengths));
  assert.ok(lengths.reduce((a, b) => a + b, 0) <= 512 + 200, "evicted sequences hold nothing");
});

test("a saved sequence restored elsewhere continues exactly as the one never saved", async () => {
  const engine = await startVariant(VARIANTS[0]);
  await engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 1024, n_threads: threadsFor(VARIANTS[0]) });
  const [first] = await prompts(engine);
  const turn = async (prompt, seq) => {
    const r = await engine.action("generate_start", { prompt, sampling: GREEDY, seq });
    const chunks = [];
    for (let i = 0; i < 16; i++) {
      const s = await engine.action("step");
      if (s.eog) break;
      chunks.push(s.bytes);
    }
    await engine.action("generate_end");
    return { text: text(chunks), cached: r.n_cached };
  };
  const a = await turn(first, 1);
  const next = first + a.text + "<|im_end|>\n<|im_start|>user\nAnd why?<|im_end|>\n<|im_start|>assistant\n";
  const saved = await engine.action("seq_save", { seq: 1 });
  assert.ok(saved.size > 100_000 && saved.tokens.length > 10, `${saved.size} bytes, ${saved.tokens.length} tokens`);
  const state = engine.heapU8.slice(saved.ptr, saved.ptr + saved.size);
  engine.freeBytes({ ptr: saved.ptr });
  const unsaved = await turn(next, 1);
  // A fresh engine (another page): restore into sequence 4, ask the same next turn.
  const other = await startVariant(VARIANTS[0]);
  await other.action("load", { path: other.hostPath(MODEL), n_ctx: 1024, n_threads: threadsFor(VARIANTS[0]) });
  const at = other.alloc(state.length);
  other.heapU8.set(state, at);
  await other.action("seq_restore", { seq: 4, ptr: at, size: state.length, tokens: saved.tokens });
  const r = await other.action("generate_start", { prompt: next, sampling: GREEDY, seq: 4 });
  assert.ok(r.n_cached >= saved.tokens.length - 2, `restored tokens reused: ${r.n_cached}`);
  const chunks = [];
  for (let i = 0; i < 16; i++) {
    const s = await other.action("step");
    if (s.eog) break;
    chunks.push(s.bytes);
  }
  await other.action("generate_end");
  assert.equal(text(chunks), unsaved.text);
  // Damaged or foreign states are refused; the model goes on.
  other.heapU8.fill(7, at, at + 64);
  await assert.rejects(async () => other.action("seq_restore", { seq: 5, ptr: at, size: state.length,
    tokens: saved.tokens }), (e) => e.code === "bad_request" && /refused the saved state/.test(e.message));
  other.freeBytes({ ptr: at });
  await assert.rejects(async () => other.action("seq_restore", { seq: 5, ptr: 8, size: 10, tokens: [99999999] }),
    (e) => e.code === "bad_request" && /outside this model's vocabulary/.test(e.message));
  await assert.rejects(async () => other.action("seq_save", { seq: 11 }), (e) => e.code === "bad_request");
  await assert.rejects(async () => other.action("batch_step", { seqs: [2] }), (e) => /no pending token/.test(e.message));
  await assert.rejects(async () => other.action("generate_start", { prompt: "x", seq: 16 }),
    (e) => /seq must be in 0..15/.test(e.message));
  assert.ok((await other.action("generate_start", { prompt: next, sampling: GREEDY, seq: 4 })).n_cached > 10);
  assert.ok((await other.action("step")).token >= 0);
});

test("sessions share the weights and the one KV cache: an extra session costs no new memory", async () => {
  const engine = await startVariant(VARIANTS[0]);
  await engine.action("load", { path: engine.hostPath(MODEL), n_ctx: 2048, n_threads: threadsFor(VARIANTS[0]) });
  const inUse = async () => (await engine.action("heap_stats")).in_use;
  const turn = async (seq) => {
    await engine.action("generate_start", { prompt: `Session ${seq}: ` + "a conversation turn ".repeat(70),
      sampling: GREEDY, seq });
    for (let i = 0; i < 8; i++) await engine.action("step");
    await engine.action("generate_end");
  };
  await turn(1);
  const one = await inUse();
  for (const seq of [2, 3, 4]) await turn(seq);
  const four = await inUse();
  const { lengths } = await engine.action("sequences");
  const held = lengths.slice(1, 5);
  assert.ok(held.every((n) => n > 200), JSON.stringify(lengths));
  // The cache of n_ctx cells was allocated at load; three more sessions only fill its cells.
  assert.ok(Math.abs(four - one) < 2 << 20, `heap in use grew ${(four - one) / 2 ** 20} MiB`);
  const kvPerToken = 2 * 30 * 192 * 2; // K and V, F16, 30 layers of 3 KV heads x 64 (SmolLM2)
  console.log(`# sessions: heap in use ${(one / 2 ** 20).toFixed(1)} MiB with one session, ` +
    `${(four / 2 ** 20).toFixed(1)} MiB with four (${held.join("+")} tokens cached, ` +
    `${(held.reduce((a, b) => a + b, 0) * kvPerToken / 2 ** 20).toFixed(1)} MiB of the load's KV buffer)`);
});
