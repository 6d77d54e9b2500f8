// `make bench-numerics` (bench/numerics.py): each CPU variant's log-probabilities of a
// 2,000-token text against native llama.cpp's, from the same engine code.
//
// The engine's score action decodes one token at a time (the path generation takes:
// matrix x vector kernels, the F16 KV cache growing) and returns log p(token | the ones
// before). One JSON line per variant: the largest and mean |difference| to native, where
// the largest falls, and both perplexities.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { env, runNative, startVariant, threadsFor, VARIANTS } from "../tests/node/helpers.mjs";

const { values } = parseArgs({ options: { tokens: { type: "string", default: "2000" },
                                          variants: { type: "string", default: VARIANTS.join(",") } } });
const N = Number(values.tokens);
const MODEL = env("PLM_MODEL");
// The pinned llama.cpp source's README: prose, code, tables and links, read at run time
// (nothing of it is in this repository).
const TEXT = readFileSync(path.join(env("PLM_LLAMA_SRC"), "README.md"), "utf8");
const LOAD = { path: MODEL, n_ctx: N + 16, n_threads: 2 };

const [, tok] = runNative([["load", LOAD], ["tokenize", { text: TEXT }]]);
if (tok.tokens.length < N) throw new Error(`the text has ${tok.tokens.length} tokens, fewer than ${N}`);
const tokens = tok.tokens.slice(0, N);
const t0 = performance.now();
const [, native] = runNative([["load", LOAD], ["score", { tokens }]]);
console.error(`native: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
const ppl = (lps) => Math.exp(-lps.reduce((a, b) => a + b, 0) / lps.length);
const pplNative = ppl(native.logprobs);

for (const variant of values.variants.split(",")) {
  const t1 = performance.now();
  const engine = await startVariant(variant);
  await engine.action("load", { ...LOAD, path: engine.hostPath(MODEL), n_threads: threadsFor(variant) });
  const r = await engine.action("score", { tokens });
  const dev = r.logprobs.map((lp, i) => Math.abs(lp - native.logprobs[i]));
  const at = dev.indexOf(Math.max(...dev));
  const p = ppl(r.logprobs);
  console.log(JSON.stringify({
    variant, n: r.logprobs.length, max_dev: dev[at], max_at: at + 1, mean_dev: dev.reduce((a, b) => a + b, 0) / dev.length,
    ppl: p, ppl_native: pplNative, ppl_rel: p / pplNative - 1, seconds: (performance.now() - t1) / 1000,
  }));
  await engine.action("unload");
}
process.exit(0);
