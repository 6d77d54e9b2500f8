// llama.cpp's own tokenizer fixtures (models/ggml-vocab-*.gguf with .inp/.out),
// checked exactly as tests/test-tokenizer-0.cpp does: no special tokens added,
// special tokens not parsed, and every expected id sequence matched.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { env, startVariant, VARIANTS } from "./helpers.mjs";

const SEP = "\n__ggml_vocab_test__\n";

function fixtures() {
  const dir = path.join(env("PLM_LLAMA_SRC"), "models");
  return readdirSync(dir)
    .filter((f) => /^ggml-vocab-.*\.gguf$/.test(f) && existsSync(path.join(dir, f + ".inp")))
    .map((f) => path.join(dir, f));
}

function cases(vocab) {
  const raw = readFileSync(vocab + ".inp", "utf8");
  const inputs = [];
  for (let pos = 0; pos < raw.length; ) {
    const next = raw.indexOf(SEP, pos);
    if (next < 0) {
      inputs.push(raw.slice(pos));
      break;
    }
    inputs.push(raw.slice(pos, next));
    pos = next + SEP.length;
  }
  const outputs = readFileSync(vocab + ".out", "utf8").split("\n");
  if (outputs.at(-1) === "") outputs.pop();
  assert.equal(inputs.length, outputs.length, `${vocab}: .inp and .out disagree`);
  return inputs.map((text, i) => [text, outputs[i].trim() === "" ? [] : outputs[i].trim().split(" ").map(Number)]);
}

test("there are tokenizer fixtures to check", () => {
  assert.ok(fixtures().length >= 15, `found ${fixtures().length}`);
});

for (const variant of VARIANTS) {
  test(`${variant}: tokenizes every llama.cpp vocab fixture exactly`, async () => {
    const engine = await startVariant(variant);
    let checked = 0;
    for (const vocab of fixtures()) {
      engine.action("load", { path: engine.hostPath(vocab), vocab_only: true });
      for (const [text, expected] of cases(vocab)) {
        const { tokens } = engine.action("tokenize", { text, add_special: false, parse_special: false });
        assert.deepEqual(tokens, expected, `${path.basename(vocab)}: ${JSON.stringify(text).slice(0, 80)}`);
        checked++;
      }
      engine.action("unload");
    }
    assert.ok(checked > 300, `only ${checked} cases checked`);
  });
}
