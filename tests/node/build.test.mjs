// Each variant instantiates in node 24 and reports the build it claims to be.
import assert from "node:assert/strict";
import { test } from "node:test";

import { startVariant, VARIANTS } from "./helpers.mjs";

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
