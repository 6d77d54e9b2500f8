// Shared by the benchmark pages: the prompt and the result hand-off to the driver.
export const PROMPT =
  "The history of the old harbour town is long. Fishermen built the first houses near the water, " +
  "traders followed with salt and grain, and a small market grew around the church. In the winter " +
  "storms the boats stayed in the bay while the families mended nets and told stories about the sea. " +
  "Later a railway reached the town, bringing visitors from the capital who came for the beaches, " +
  "the fresh fish and the light of the long summer evenings. Today the town is quiet again, but the " +
  "market still opens every Saturday morning and the old stories are still told by the fire.";
export const N_PREDICT = 128;
// The warm-up generation's prompt (the engine's code tiers up on any tokens): its first
// sentence, so the warm-up costs the 3B shape seconds, not a 128-token prefill.
export const PROMPT_WARM = PROMPT.slice(0, PROMPT.indexOf(".") + 1);
// The long prompt (prefill's rate depends on the prompt's length): four variations of PROMPT,
// 512 tokens with the SmolLM2 tokenizer that every benchmark model uses (bench/models.py).
export const PROMPT_LONG = ["first", "second", "third", "fourth"]
  .map((n) => `The ${n} chapter, as the town's ${n} keeper wrote it down. ` + PROMPT).join("\n\n");

/** The page's URL parameters: ``n`` tokens decoded in the measured run, ``long=1`` adds a run
 *  with PROMPT_LONG (one token decoded: only its prefill counts), ``warm`` warm-up tokens. */
export function params() {
  const q = new URLSearchParams(location.search);
  return { threads: Number(q.get("threads") || 1), model: q.get("model") || "./models/smollm2.gguf",
           variant: q.get("variant") || "wasm32-relaxed-mt", n: Number(q.get("n") || N_PREDICT),
           long: q.get("long") === "1", warm: Number(q.get("warm") || 16) };
}

/** Epoch milliseconds of a ``performance.now()`` stamp: the driver's clock (bench/cpu.py). */
export const epochMs = (t) => performance.timeOrigin + t;

export function report(result) {
  window.benchResult = result;
}
