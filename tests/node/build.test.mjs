// Each variant instantiates in node 24 and reports the build it claims to be.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { env, startVariant, VARIANTS } from "./helpers.mjs";

// V8 compiles a hot function with its optimizing tier in memory that grows with the
// function's size; a 320 KB ggml_graph_compute_thread (every op inlined by Binaryen)
// once cost 125 MiB of renderer memory for seconds, the tab's peak (emscripten.toml).
const MAX_FUNCTION_BYTES = 128 << 10;

function leb128(bytes, at) {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) return [value, at];
  }
}

/** Byte sizes of every function body in a wasm binary (its code section). */
function functionSizes(bytes) {
  let at = 8; // magic + version
  while (at < bytes.length) {
    const id = bytes[at++];
    let size;
    [size, at] = leb128(bytes, at);
    if (id === 10) {
      let count;
      let p;
      [count, p] = leb128(bytes, at);
      const sizes = [];
      for (let i = 0; i < count; i++) {
        let body;
        [body, p] = leb128(bytes, p);
        sizes.push(body);
        p += body;
      }
      return sizes;
    }
    at += size;
  }
  throw new Error("no code section");
}

for (const variant of VARIANTS) {
  test(`${variant}: ABI version, pointer width and threading match the variant`, async () => {
    const engine = await startVariant(variant);
    const b = engine.action("build_info");
    assert.equal(b.abi, "1");
    assert.equal(b.pointer_bits, variant.startsWith("wasm64") ? 64 : 32);
    assert.equal(b.threads, variant.endsWith("-mt"));
    assert.match(b.system_info, /WASM_SIMD = 1/);
  });

  test(`${variant}: malformed requests come back as errors, never traps`, async () => {
    const engine = await startVariant(variant);
    const cases = [
      ["no_such_action", {}, "bad_request"],
      ["tokenize", "{not json", "bad_request"],
      ["tokenize", "[1, 2]", "bad_request"],
      ["tokenize", { text: "hi" }, "no_model"],
      ["step", {}, "no_model"],
      ["load", {}, "bad_request"],
      ["load", { path: "/nope.gguf" }, "file_not_found"],
      ["load", { path: "/nope.gguf", n_threads: 0 }, "bad_request"],
    ];
    for (const [name, req, code] of cases) {
      const r = engine.actionRaw(name, req);
      assert.equal(r.ok, false, `${name} ${JSON.stringify(req)} should fail`);
      assert.equal(r.code, code, `${name}: ${r.message}`);
      assert.ok(r.message.length > 10);
    }
    assert.equal(engine.action("build_info").ok, true, "module still answers after the errors");
  });
}

for (const variant of VARIANTS) {
  test(`${variant}: no function is big enough to make V8's optimizing compile a memory peak`, () => {
    const sizes = functionSizes(readFileSync(path.join(env("PLM_WASM_DIR"), variant, "plm-engine.wasm")));
    const largest = Math.max(...sizes);
    assert.ok(sizes.length > 1000, `${sizes.length} functions: not the engine?`);
    assert.ok(largest <= MAX_FUNCTION_BYTES, `the largest function is ${largest} bytes: check Binaryen's ` +
      "inlining limits in emscripten.toml (--one-caller-inline-max-function-size)");
  });
}
