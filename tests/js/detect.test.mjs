// client.mjs's feature detection: capabilities()["webgpu"] from a stand-in for
// navigator.gpu (node has none), each way WebGPU can be unusable, and a
// requestAdapter() that never answers. detectWebGPU() is given the page's
// features, so a test can state a page node is not (isolated, with JSPI).
import assert from "node:assert/strict";
import { test } from "node:test";

import { ADAPTER_TIMEOUT_MS, detect, detectPage, detectWebGPU } from "../../pyodide_llm/js/client.mjs";

/** A page that runs the WebGPU engine, but for the GPU. */
const READY = { memory64: true, simd: true, relaxed_simd: true, threads: true, cross_origin_isolated: true,
  jspi: true, hardware_concurrency: 4 };
const WEBGPU_KEYS = ["adapter", "available", "max_buffer_size", "max_storage_buffer_binding_size", "reason",
  "shader_f16"];
const NO_ADAPTER = "no adapter: requestAdapter() returned null (Chromium needs --enable-unsafe-webgpu or a " +
  "supported GPU)";
const NO_F16 = "the adapter lacks shader-f16, which llama.cpp's WebGPU kernels need";

/** An adapter as a browser returns it: info, features, limits. */
function adapter({ f16 = true, fallback = false, legacyFallback } = {}) {
  return {
    info: { vendor: "acme", architecture: "rdna-9", device: "", description: "Acme GPU",
      ...(legacyFallback === undefined ? { isFallbackAdapter: fallback } : {}) },
    ...(legacyFallback === undefined ? {} : { isFallbackAdapter: legacyFallback }),
    features: new Set(f16 ? ["shader-f16", "timestamp-query"] : ["timestamp-query"]),
    limits: { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 2 ** 30, maxComputeWorkgroupSizeX: 256 },
  };
}

/** A navigator.gpu whose requestAdapter() answers `answer` (a value, or a function of nothing). */
function gpu(answer) {
  const calls = [];
  return {
    calls,
    requestAdapter(options) {
      calls.push(options);
      return typeof answer === "function" ? answer() : Promise.resolve(answer);
    },
  };
}

test("a good adapter on a ready page: available, with the adapter, f16 and the limits", async () => {
  const g = gpu(adapter());
  const w = await detectWebGPU(READY, { gpu: g });
  assert.deepEqual(w, {
    available: true, reason: "",
    adapter: { vendor: "acme", architecture: "rdna-9", description: "Acme GPU", is_fallback: false },
    shader_f16: true, max_buffer_size: 2 ** 31, max_storage_buffer_binding_size: 2 ** 30,
  });
  assert.deepEqual(g.calls, [undefined], "the default adapter, as ggml-webgpu asks for it");
});

test("a fallback (software) adapter is usable, and says so; the legacy adapter.isFallbackAdapter too", async () => {
  for (const a of [adapter({ fallback: true }), adapter({ legacyFallback: true })]) {
    const w = await detectWebGPU(READY, { gpu: gpu(a) });
    assert.deepEqual([w.available, w.reason, w.adapter.is_fallback], [true, "", true]);
  }
});

test("no navigator.gpu, no adapter, an adapter without shader-f16: unusable, and the reason says which", async () => {
  const cases = [
    [undefined, "navigator.gpu is missing (no WebGPU in this browser, or the page is not a secure context)"],
    [gpu(null), NO_ADAPTER],
    [gpu(() => Promise.reject(new Error("GPU process crashed"))),
      "no adapter: requestAdapter() failed (GPU process crashed)"],
    [gpu(() => {
      throw new TypeError("not allowed");
    }), "no adapter: requestAdapter() failed (not allowed)"],
    [gpu(adapter({ f16: false })), NO_F16],
  ];
  for (const [g, reason] of cases) {
    const w = await detectWebGPU(READY, { gpu: g });
    assert.deepEqual(Object.keys(w).sort(), WEBGPU_KEYS);
    assert.deepEqual([w.available, w.reason], [false, reason]);
  }
  const noF16 = await detectWebGPU(READY, { gpu: gpu(adapter({ f16: false })) });
  assert.deepEqual([noF16.shader_f16, noF16.adapter.vendor, noF16.max_buffer_size], [false, "acme", 2 ** 31],
    "the adapter is still described");
  const none = await detectWebGPU(READY, { gpu: gpu(null) });
  assert.deepEqual([none.adapter, none.shader_f16, none.max_buffer_size, none.max_storage_buffer_binding_size],
    [null, false, null, null]);
});

test("a requestAdapter() that never answers times out instead of hanging detection", async () => {
  const started = Date.now();
  const w = await detectWebGPU(READY, { gpu: gpu(() => new Promise(() => {})), timeoutMs: 50 });
  assert.deepEqual([w.available, w.reason, w.adapter],
    [false, "no adapter: requestAdapter() did not answer within 50 ms", null]);
  assert.ok(Date.now() - started < 2000);
  assert.ok(ADAPTER_TIMEOUT_MS >= 1000 && ADAPTER_TIMEOUT_MS <= 10000, "the default is seconds, not minutes");
});

test("the page's side: JSPI, isolation, memory64, relaxed SIMD and the shipped engine each block, all named",
  async () => {
    const isolation = "the page is not cross-origin isolated (the WebGPU engine is threaded)";
    const cases = [
      [{ jspi: false }, "no JSPI (WebAssembly.Suspending) in this browser"],
      [{ cross_origin_isolated: false, threads: false }, isolation],
      [{ threads: false }, isolation],
      [{ memory64: false }, "no WebAssembly memory64 in this browser (the WebGPU engine is a memory64 build)"],
      [{ relaxed_simd: false }, "no WebAssembly relaxed SIMD in this browser (the WebGPU engine uses it)"],
    ];
    for (const [change, reason] of cases) {
      const w = await detectWebGPU({ ...READY, ...change }, { gpu: gpu(adapter()) });
      assert.deepEqual([w.available, w.reason, w.shader_f16], [false, reason, true], JSON.stringify(change));
    }
    const unshipped = await detectWebGPU(READY, { gpu: gpu(adapter()), shipped: false });
    assert.equal(unshipped.reason, "this pyodide_llm package does not ship the WebGPU engine");
    const several = await detectWebGPU({ ...READY, jspi: false }, { gpu: gpu(adapter({ f16: false })) });
    assert.equal(several.reason, `${NO_F16}; no JSPI (WebAssembly.Suspending) in this browser`);
  });

test("detect(): the page's features as before, and webgpu as a dict; probeGpu: false requests no adapter",
  async () => {
    const g = gpu(adapter());
    const caps = await detect({ gpu: g, timeoutMs: 50 });
    const page = detectPage();
    assert.deepEqual(Object.keys(caps).sort(), [...Object.keys(page), "webgpu"].sort());
    assert.deepEqual(Object.keys(page).sort(), ["cross_origin_isolated", "hardware_concurrency", "jspi", "memory64",
      "relaxed_simd", "simd", "threads"]);
    for (const [k, v] of Object.entries(page)) assert.equal(caps[k], v, k);
    assert.equal(caps.webgpu.adapter.vendor, "acme");
    // node is not a cross-origin isolated page: the reason says so, whatever else it lacks
    assert.equal(caps.webgpu.available, false);
    assert.match(caps.webgpu.reason, /not cross-origin isolated/);

    const untouched = gpu(adapter());
    const off = await detect({ probeGpu: false, gpu: untouched });
    assert.deepEqual(untouched.calls, [], "gpu=False never touches the GPU");
    assert.deepEqual(off.webgpu, { available: false, reason: "not probed (gpu=False)", adapter: null,
      shader_f16: false, max_buffer_size: null, max_storage_buffer_binding_size: null });
  });

test("detect() with node's own navigator: no navigator.gpu, said in words", async () => {
  const caps = await detect({ timeoutMs: 50 });
  assert.equal(caps.webgpu.available, false);
  assert.match(caps.webgpu.reason, /^navigator\.gpu is missing/);
});
