// client.mjs and worker.mjs talking over a MessageChannel, both the real code:
// EngineClient.start() gets a spawn() that returns a Worker-like object over
// port1, and serve(port2) runs worker.mjs in this thread. The worker imports the
// real store.mjs and download.mjs and a fake binding (fixtures/) from the URLs
// "hello" names, and fetches a data: URL as its wasm. Every message in either
// direction is checked against protocol.json (Wire), and every engine action
// against its engine_actions. client.mjs keeps closed workers idle in a
// module-wide table keyed by variant and engine URL: every start here has its own
// engine URL, unless a test shares one on purpose, and idle workers end after each test.
import assert from "node:assert/strict";
import { test } from "node:test";

import { endIdleEngines, EngineClient, IDLE_MAX_MEMORY, idleEngines } from "../../pyodide_llm/js/client.mjs";
import { PROTOCOL_VERSION } from "../../pyodide_llm/js/worker.mjs";
import { ABORT, ABORT_IN_THREAD, ABORT_MESSAGE, GPU_LOST, TRAP } from "./fixtures/fake_binding.mjs";
import { CLEAN, sha256Of } from "./fixtures/fake_memory.mjs";
import { FIXTURES, JS_DIR, PROTOCOL, replyProblems, Wire } from "./helpers.mjs";
import { sendFile, startServer } from "./server.mjs";

const WASM = `data:application/wasm;base64,${Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]).toString("base64")}`;
const LOAD = { n_ctx: 64, n_threads: 1, n_batch: 32 };
const encode = (s) => new TextEncoder().encode(s);
const decode = (chunks) => new TextDecoder().decode(Buffer.concat(chunks));
let instances = 0;

/** A Worker-like object over a MessagePort, as spawn() must return; `wire` sees both directions. */
function workerLike(port, wire) {
  const worker = {
    terminated: false,
    onerror: null,
    postMessage(msg, transfer) {
      wire.onSend(msg);
      port.postMessage(msg, transfer);
    },
    set onmessage(handler) {
      port.onmessage = handler && ((e) => {
        wire.onReceive(e.data);
        handler(e);
      });
    },
    terminate() {
      worker.terminated = true;
      port.close();
    },
  };
  return worker;
}

/**
 * A fresh instance of worker.mjs (its state is per module instance), and the URLs
 * of hello: the fake binding's instance is the worker's, the engine URL `engine`'s.
 * `build` is the fake binding's query: "jspi&gpu_layers=N" fakes a WebGPU build.
 */
async function freshWorker(engine, build = "") {
  const tag = `?instance=${++instances}${build && `&${build}`}`;
  return {
    worker: await import(new URL(`worker.mjs${tag}`, JS_DIR).href),
    files: {
      worker: new URL("worker.mjs", JS_DIR).href,
      binding: new URL(`fake_binding.mjs${tag}`, FIXTURES).href,
      engine: new URL(`fake_plm_engine.mjs?engine=${engine ?? instances}`, FIXTURES).href,
      wasm: WASM,
      store: new URL("store.mjs", JS_DIR).href,
      download: new URL("download.mjs", JS_DIR).href,
    },
  };
}

/**
 * Start the real client (and, unless an idle one is taken over, the real worker);
 * returns start()'s result with the wire, what was spawned, and the fake engine
 * the worker made. After the test the client ends, idle workers too.
 */
async function startEngine(t, { protocol = PROTOCOL, variant = "wasm32-st", nThreads = 1, engine, build } = {}) {
  const { worker, files } = await freshWorker(engine, build);
  const wire = new Wire();
  const { port1, port2 } = new MessageChannel();
  const spawned = [];
  const spawn = (url, name) => {
    worker.serve(port2);
    spawned.push({ url, name, worker: workerLike(port1, wire) });
    return spawned.at(-1).worker;
  };
  const started = await EngineClient.start(files, protocol, variant, nThreads, spawn);
  t.after(() => {
    started.client?.terminate();
    endIdleEngines();
    port1.close();
  });
  const { engines } = await import(files.binding);
  return { ...started, wire, spawned, files, engine: engines[0] };
}

/** Send a request through the client; the reply is checked against the table like every message. */
async function ask(s, type, payload = {}, onEvent = null) {
  const reply = await s.client.request(type, payload, onEvent).promise;
  s.wire.problems.push(...replyProblems(type, reply));
  return reply;
}

/** Load `text` (a "GGUF..." model of the fake engine) from bytes. */
async function loadBytes(s, text = "GGUFecho", options = {}) {
  return ask(s, "load", { bytes: encode(text), ...LOAD, ...options });
}

/** Nothing departed from protocol.json, in messages or in engine actions. */
function assertTableKept(s) {
  assert.deepEqual(s.wire.problems, []);
  if (s.engine) assert.deepEqual(s.engine.problems, []);
}

test("hello: the worker starts the variant and replies exactly protocol.json's hello fields", async (t) => {
  assert.equal(PROTOCOL_VERSION, PROTOCOL.version, "worker.mjs speaks the table's protocol version");
  const s = await startEngine(t);
  assert.equal(s.ok, true);
  const [hello] = s.wire.replies();
  assert.deepEqual(Object.keys(hello).filter((k) => k !== "id" && k !== "ok").sort(),
    [...PROTOCOL.requests.hello.reply].sort());
  assert.equal(hello.version, PROTOCOL.version);
  assert.equal(hello.variant, "wasm32-st");
  assert.equal(s.build.system_info, "fake engine");
  assert.deepEqual(s.spawned.map(({ url, name }) => ({ url, name })),
    [{ url: s.files.worker, name: "pyodide_llm wasm32-st" }]);
  const arg = s.engine.module.moduleArg;
  assert.deepEqual([...new Uint8Array(arg.wasmBinary)], [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0], "wasm_url was fetched");
  assert.equal(arg.locateFile("plm-engine.wasm"), WASM);
  assert.equal(arg.mainScriptUrlOrBlob, s.files.engine);
  assert.equal(arg.plmPoolSize, 0);
  assert.ok(s.engine.module.FS.dirs.has("/models"));
  assertTableKept(s);
});

test("hello: a threaded variant gets its pool, and cancel sets the shared abort flag at once", async (t) => {
  const s = await startEngine(t, { variant: "wasm32-mt", nThreads: 3 });
  assert.equal(s.engine.module.moduleArg.plmPoolSize, 2, "ggml's 2 pthreads beside the calling thread");
  assert.ok(s.client.abortFlag.buffer instanceof SharedArrayBuffer);
  const flag = () => Atomics.load(s.engine.module.HEAP32, s.engine.abortFlag.index);
  assert.equal(flag(), 0);
  const cancel = s.client.request("cancel", { target: 12345 }).promise;
  assert.equal(flag(), 1, "set before the worker saw the request");
  assert.equal((await cancel).ok, true);
  await loadBytes(s);
  const r = await ask(s, "generate", { prompt: "go", max_tokens: 5 });
  assert.equal(r.finish_reason, "stop", "a new generation clears the flag");
  assertTableKept(s);
});

test("hello: a client of another protocol version is refused with protocol_mismatch", async (t) => {
  const s = await startEngine(t, { protocol: { ...PROTOCOL, version: PROTOCOL.version + 1 } });
  assert.equal(s.ok, false);
  assert.equal(s.code, "protocol_mismatch");
  assert.match(s.message, new RegExp(`speaks protocol ${PROTOCOL.version}, the client ${PROTOCOL.version + 1}`));
  assert.equal(s.spawned[0].worker.terminated, true, "the client ended the worker");
  assert.equal(s.engine, undefined, "no engine was started");
  assert.deepEqual(s.wire.problems, []);
});

test("the worker refuses a second hello, max_tokens below 1, requests before hello and unknown types",
  async (t) => {
    const s = await startEngine(t);
    const again = await ask(s, "hello", { version: PROTOCOL.version, variant: "wasm32-st", n_threads: 1,
      binding_url: s.files.binding, engine_url: s.files.engine, wasm_url: WASM, store_url: s.files.store,
      download_url: s.files.download });
    assert.equal(again.code, "bad_request");
    assert.match(again.message, /hello was already sent/);
    await loadBytes(s);
    const none = await ask(s, "generate", { prompt: "x", max_tokens: 0 }); // the client checks fields, not limits
    assert.deepEqual([none.code, none.message], ["bad_request", "max_tokens must be an integer >= 1, got 0"]);
    assertTableKept(s);

    // Straight onto a port: the client would not send these.
    const { worker } = await freshWorker();
    const { port1, port2 } = new MessageChannel();
    t.after(() => port1.close());
    worker.serve(port2);
    const replies = [];
    port1.onmessage = (e) => replies.push(e.data);
    port1.postMessage({ id: 1, type: "tokenize", payload: { text: "hi" } });
    port1.postMessage({ id: 2, type: "frobnicate", payload: {} });
    port1.postMessage({ id: 3, type: "info" });
    while (replies.length < 3) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(replies.map((r) => [r.id, r.code]), [[1, "no_model"], [2, "bad_request"], [3, "no_model"]]);
  });

test("requests outside the table get bad_request from the client and never reach the worker", async (t) => {
  const s = await startEngine(t);
  const sent = s.wire.sent.length;
  const cases = [
    ["frobnicate", {}, /unknown request frobnicate/],
    ["tokenize", { text: "hi", temperature: 1 }, /unknown fields \[temperature\]/],
    ["tokenize", {}, /missing fields \[text\]/],
    ["generate", { prompt: "x" }, /missing fields \[max_tokens\]/],
    ["load", { parts: [{ url: "models/m.gguf" }], ...LOAD }, /model URLs must be absolute, got "models\/m.gguf"/],
  ];
  for (const [type, payload, message] of cases) {
    const r = await s.client.request(type, payload).promise;
    assert.equal(r.code, "bad_request", type);
    assert.match(r.message, message);
    assert.deepEqual(Object.keys(r).sort(), ["code", "message", "ok"]);
  }
  assert.equal(s.wire.sent.length, sent, "nothing was posted to the worker");
  assertTableKept(s);
});

test("load from bytes, then tokenize, detokenize, chat_format and info; close frees the model", async (t) => {
  const s = await startEngine(t);
  const bytes = encode("GGUFtiny echo");
  const events = [];
  const r = await ask(s, "load", { bytes, ...LOAD }, (name, data) => events.push([name, data]));
  assert.equal(r.ok, true, r.message);
  assert.equal(r.info.name, "tiny echo", "the engine was shown the bytes sent");
  assert.deepEqual([r.sources, r.notices, r.fetched], [["bytes"], [], []]);
  assert.equal(bytes.byteLength, 0, "the bytes were transferred, not copied");
  assert.deepEqual(events, [["progress", { loaded: 0, total: 13, stage: "load" }],
    ["progress", { loaded: 13, total: 13, stage: "load" }]]);
  assert.equal(s.engine.memory.audit().blocks, 1, "the model's region stays while it is loaded");
  assert.deepEqual([...s.engine.module.FS.files.keys()], [], "the file names are gone, not the bytes");

  const { tokens } = await ask(s, "tokenize", { text: "hé", add_special: true });
  assert.deepEqual(tokens, [104, 195, 169]);
  assert.equal((await ask(s, "detokenize", { tokens })).text, "hé");
  const chat = await ask(s, "chat_format", { messages: [{ role: "user", content: "hi" }],
    add_generation_prompt: true });
  assert.deepEqual([chat.prompt, chat.stops], ["<user>hi</user><assistant>", ["</assistant>"]]);
  assert.equal((await ask(s, "info")).info.n_ctx, LOAD.n_ctx);

  const closed = await ask(s, "close");
  assert.equal(closed.memory_bytes, s.engine.memory.buffer.byteLength);
  assert.deepEqual(s.engine.audit(), CLEAN);
  const after = await s.client.request("info").promise;
  assert.deepEqual([after.code, after.message], ["engine_crashed", "the engine was closed"]);
  assertTableKept(s);
});

test("close parks the worker; the next start of its variant takes it over without a hello", async (t) => {
  const s = await startEngine(t, { engine: "parked" });
  await loadBytes(s, "GGUFfirst");
  await ask(s, "close");
  const parked = s.spawned[0].worker;
  assert.deepEqual([parked.terminated, idleEngines()], [false, 1]);

  const again = await startEngine(t, { engine: "parked" });
  assert.deepEqual([again.ok, again.reused, again.spawned.length, idleEngines()], [true, true, 0, 0]);
  assert.equal(again.client.worker, parked);
  assert.deepEqual(again.build, s.build);
  const hellos = () => s.wire.sent.filter((m) => m.type === "hello").length;
  assert.equal(hellos(), 1);
  const reused = { ...again, wire: s.wire }; // its messages pass through the parked worker, on s's wire
  const r = await ask(reused, "load", { bytes: encode("GGUFsecond"), ...LOAD });
  assert.equal(r.info.name, "second", "the same engine loads the next model");
  assert.equal(new Set(s.wire.sent.map((m) => m.id)).size, s.wire.sent.length, "request ids are not reused");

  assert.equal((await ask(reused, "close", { keep_engine: false })).ok, true);
  assert.deepEqual([parked.terminated, idleEngines()], [true, 0]);
  assert.deepEqual(s.engine.audit(), CLEAN);
  assertTableKept(s);
});

test("close ends the worker when its memory is big, another idle one has the variant, or the pool is too small",
  async (t) => {
    const big = await startEngine(t);
    // Linear memory never shrinks: what a model over 1 GiB leaves behind.
    big.engine.module.wasmMemory = { buffer: { byteLength: IDLE_MAX_MEMORY + 65536 } };
    await ask(big, "close");
    assert.deepEqual([big.spawned[0].worker.terminated, idleEngines()], [true, 0]);

    const [a, b] = [await startEngine(t, { engine: "twice" }), await startEngine(t, { engine: "twice" })];
    assert.equal(b.reused, false);
    await ask(a, "close");
    await ask(b, "close");
    assert.deepEqual([a.spawned[0].worker.terminated, b.spawned[0].worker.terminated], [false, true],
      "one idle worker per variant");
    endIdleEngines();
    assert.deepEqual([a.spawned[0].worker.terminated, idleEngines()], [true, 0]);

    const small = await startEngine(t, { variant: "wasm32-mt", nThreads: 2, engine: "pool" });
    await ask(small, "close");
    const larger = await startEngine(t, { variant: "wasm32-mt", nThreads: 4, engine: "pool" });
    assert.deepEqual([larger.reused, small.spawned[0].worker.terminated], [false, true]);
    assert.equal(larger.engine.module.moduleArg.plmPoolSize, 3, "4 threads: 3 pthreads beside the calling one");
  });

test("a load that fails frees its bytes; a new load replaces the old model and frees it", async (t) => {
  const s = await startEngine(t);
  const bad = await loadBytes(s, "not a model");
  assert.deepEqual([bad.ok, bad.code], [false, "not_gguf"]);
  assert.deepEqual(s.engine.audit(), CLEAN);
  assert.deepEqual([...s.engine.module.FS.files.keys()], []);
  assert.equal((await ask(s, "tokenize", { text: "x" })).code, "no_model");

  assert.equal((await loadBytes(s, "GGUFfirst")).info.name, "first");
  assert.equal((await loadBytes(s, "GGUFsecond")).info.name, "second");
  assert.equal(s.engine.memory.audit().blocks, 1, "the first model's region was freed");
  assert.ok(s.engine.calls.some((c) => c.name === "unload"));
  assertTableKept(s);
});

test("load from a Blob, and from URLs through download.mjs in the worker", async (t) => {
  const s = await startEngine(t);
  const stages = [];
  const onEvent = (name, data) => stages.push(data.stage);
  const blob = await ask(s, "load", { blob: new Blob([encode("GGUFfrom a file")]), ...LOAD }, onEvent);
  assert.deepEqual([blob.info.name, blob.sources], ["from a file", ["blob"]]);
  assert.deepEqual([...new Set(stages)], ["read", "load"]);

  const parts = [encode("GGUFsplit "), encode("GGUFin two")];
  const server = await startServer((req, res) => sendFile(req, res, parts[Number(req.url.at(-1))]));
  t.after(() => server.close());
  const urls = [server.url("/m-0"), server.url("/m-1")];
  stages.length = 0;
  const r = await ask(s, "load", { parts: [{ url: urls[0], sha256: sha256Of(parts[0]) }, { url: urls[1] }],
    cache: true, ...LOAD }, onEvent); // no store in node: cache=true downloads uncached
  assert.equal(r.ok, true, r.message);
  assert.deepEqual([r.info.name, r.sources, r.notices], ["split in two", ["network", "network"], []]);
  assert.deepEqual([...new Set(stages)], ["download", "load"]);
  for (const f of r.fetched) assert.ok(urls.includes(f.url), `fetched lists only model URLs: ${f.url}`);
  assert.equal(s.engine.memory.audit().blocks, 2);

  const opfs = await ask(s, "load", { parts: [{ url: urls[0] }], cache: "opfs", ...LOAD });
  assert.equal(opfs.code, "unsupported_environment");
  const wrong = await ask(s, "load", { parts: [{ url: urls[0], sha256: sha256Of(parts[1]) }], ...LOAD });
  assert.equal(wrong.code, "checksum_mismatch");
  assert.deepEqual(s.engine.audit(), CLEAN, "the failed loads freed the model before them and their own bytes");
  assertTableKept(s);
});

test("generate streams token events and ends with stats and a finish_reason", async (t) => {
  const s = await startEngine(t);
  await loadBytes(s, "GGUFecho", { n_ctx: 5 });
  const run = async (payload) => {
    const events = [];
    const r = await ask(s, "generate", payload, (name, data) => events.push([name, data]));
    assert.ok(events.every(([name, data]) => name === "token" && data.bytes instanceof Uint8Array));
    return [r.finish_reason, decode(events.map(([, data]) => data.bytes)), r.stats.n_generated];
  };
  assert.deepEqual(await run({ prompt: "ok", max_tokens: 10 }), ["stop", "ok", 2]);
  assert.deepEqual(await run({ prompt: "ok", max_tokens: 1 }), ["length", "o", 1]);
  assert.deepEqual(await run({ prompt: "abc", max_tokens: 10, sampling: { temperature: 0 } }),
    ["context_full", "ab", 2]);
  assert.deepEqual(s.engine.calls.filter((c) => c.name === "generate_start").at(-1).request,
    { prompt: "abc", sampling: { temperature: 0 }, seq: 0 });
  assertTableKept(s);
});

test("generate_batch: rows decode together, each a row event as it ends; stops end a row", async (t) => {
  const s = await startEngine(t);
  await loadBytes(s, "GGUFecho", { n_ctx: 256 });
  const rows = [];
  const items = ["long row", "ab", "stop HERE and not after", "xyz"];
  const r = await ask(s, "generate_batch", { items, max_tokens: 20, concurrency: 3, stops: ["HERE"] },
    (name, data) => rows.push([name, data]));
  assert.equal(r.ok, true);
  assert.deepEqual(rows.map(([name]) => name), ["row", "row", "row", "row"]);
  const byIndex = Object.fromEntries(rows.map(([, d]) => [d.index, [decode([d.bytes]), d.finish_reason]]));
  assert.deepEqual(byIndex, { 0: ["long row", "stop"], 1: ["ab", "stop"], 2: ["stop HERE", "stop"], 3: ["xyz", "stop"] });
  assert.deepEqual(rows.map(([, d]) => d.index).slice(0, 2), [1, 3], "the short rows end first");
  assert.deepEqual([r.peak, r.limited, r.stats.rows], [3, false, 4]);
  assert.ok(Math.max(...s.engine.batchSizes) === 3, "three rows in one batch_step");
  const short = await ask(s, "generate_batch", { items: ["abcdef"], max_tokens: 2 }, () => {});
  assert.equal(short.stats.n_generated, 2);
  assertTableKept(s);
});

test("generate_batch: a finished row keeps only the prefix the next rows share", async (t) => {
  const s = await startEngine(t);
  await loadBytes(s, "GGUFecho", { n_ctx: 512 });
  const shared = "A shared instruction, 31 bytes:"; // one token a byte in the fake engine
  const items = [shared + "a", shared + "bbbb", shared + "cc", "short", "tiny"];
  const r = await ask(s, "generate_batch", { items, max_tokens: 64, concurrency: 2 }, () => {});
  assert.equal(r.ok, true);
  const keeps = s.engine.calls.filter((c) => c.name === "batch_end" && !c.request.all)
    .map((c) => [items[0].length, c.request.keep]);
  // Row 0 ends first while row 2 (same 31-byte prefix) waits: it keeps those 31 tokens.
  // Later rows share under 16 tokens with what is left, or nothing is left: they keep none.
  assert.deepEqual(keeps.map(([, k]) => k), [31, 0, 0, 0, 0]);
  assertTableKept(s);
});

test("generate_batch: admission by context room, bad requests, a row too long, cancel", async (t) => {
  const s = await startEngine(t);
  await loadBytes(s, "GGUFecho", { n_ctx: 24 });
  const notices = [];
  const r = await ask(s, "generate_batch", { items: ["aaaa", "bbbb", "cccc", "dddd"], max_tokens: 6, concurrency: 4 },
    (name, data) => name === "notice" && notices.push(data.message));
  assert.deepEqual([r.peak, r.limited], [2, true]);
  assert.match(notices[0], /holds only 2 of these rows at once/);
  for (const [payload, pattern] of [[{ items: [], max_tokens: 1 }, /non-empty list/],
    [{ items: ["x"], max_tokens: 0 }, /max_tokens/], [{ items: ["x"], max_tokens: 1, concurrency: 17 }, /1 to 16/]]) {
    const bad = await ask(s, "generate_batch", payload);
    assert.equal(bad.code, "bad_request");
    assert.match(bad.message, pattern);
  }
  const long = await ask(s, "generate_batch", { items: ["ok", "x".repeat(30)], max_tokens: 2 });
  assert.equal(long.code, "context_overflow");
  assert.match(long.message, /row 1 has 30 tokens/);
  const events = [];
  const call = s.client.request("generate_batch", { items: ["a".repeat(20), "b".repeat(20)], max_tokens: 20 },
    (name) => events.push(name));
  s.client.request("cancel", { target: call.id });
  const cancelled = await call.promise;
  assert.equal(cancelled.code, "aborted");
  const after = await ask(s, "generate", { prompt: "ok", max_tokens: 5 });
  assert.equal(after.ok, true);
  assertTableKept(s);
});

test("cancel mid-generation ends it with code aborted and its stats; a second generate is busy", async (t) => {
  const s = await startEngine(t);
  await loadBytes(s);
  let tokens = 0;
  let cancel = null;
  let busy = null;
  const gen = s.client.request("generate", { prompt: "abc", max_tokens: 100000, sampling: { ignore_eos: true } },
    () => {
      if (++tokens === 3) {
        busy = ask(s, "generate", { prompt: "x", max_tokens: 1 });
        cancel = ask(s, "cancel", { target: gen.id });
      }
    });
  const r = await gen.promise;
  s.wire.problems.push(...replyProblems("generate", r));
  assert.deepEqual([r.ok, r.code], [false, "aborted"]);
  assert.ok(r.stats.n_generated >= 3 && r.stats.n_generated < 100, `stopped after ${r.stats.n_generated}`);
  assert.equal((await busy).code, "busy");
  assert.equal((await cancel).ok, true);
  assert.deepEqual(s.engine.calls.slice(-2).map((c) => c.name), ["generate_end", "timings"]);
  assert.equal((await ask(s, "generate", { prompt: "yes", max_tokens: 9 })).finish_reason, "stop",
    "the engine generates again after a cancel");
  assertTableKept(s);
});

test("a trap in the engine: the worker says crashed, every pending request ends engine_crashed", async (t) => {
  const s = await startEngine(t);
  await loadBytes(s);
  let trap = null;
  const gen = s.client.request("generate", { prompt: "abc", max_tokens: 50, sampling: { ignore_eos: true } },
    () => {
      trap ??= ask(s, "tokenize", { text: TRAP });
    });
  const [r, t1] = [await gen.promise, await trap];
  assert.deepEqual([t1.code, t1.message], ["engine_crashed", "the engine crashed: unreachable"]);
  assert.deepEqual([r.code, r.message], ["engine_crashed", "the engine crashed: unreachable"]);
  assert.deepEqual(s.wire.received.filter((m) => m.id === 0), [{ id: 0, event: "crashed",
    data: { message: "unreachable" } }]);
  assert.equal(s.spawned[0].worker.terminated, true);
  assert.equal((await s.client.request("info").promise).code, "engine_crashed");
  assertTableKept(s);
});

test("llama.cpp aborting (GGML_ASSERT): engine_crashed says what it asserted, not just 'unreachable'", async (t) => {
  const s = await startEngine(t);
  await loadBytes(s);
  const r = await ask(s, "tokenize", { text: ABORT });
  assert.deepEqual([r.code, r.message], ["engine_crashed", `the engine crashed: llama.cpp aborted: ${ABORT_MESSAGE}`]);
  assert.equal((await ask(s, "info")).message, `the engine crashed: llama.cpp aborted: ${ABORT_MESSAGE}`);
  assert.equal(s.spawned[0].worker.terminated, true);
  assertTableKept(s);
});

test("an abort in a compute thread leaves the worker silent: the client sees the crash record and ends it",
  async (t) => {
    const s = await startEngine(t, { variant: "wasm32-mt", nThreads: 2 });
    assert.ok(s.client.crashFlag.buffer instanceof SharedArrayBuffer, "the record is handed over in shared memory");
    await loadBytes(s);
    // Without the poll this request would wait forever (the runner's timeout ends the test).
    const r = await ask(s, "tokenize", { text: ABORT_IN_THREAD });
    assert.deepEqual([r.code, r.message], ["engine_crashed", `the engine crashed: llama.cpp aborted: ${ABORT_MESSAGE}`]);
    assert.equal((await ask(s, "info")).code, "engine_crashed", "the engine is gone for the requests after it");
    assert.equal(s.spawned[0].worker.terminated, true);
    assert.equal(s.client.crashTimer, null, "the poll stops with the client");
  });

test("a client with no pending request stops looking at the crash record", async (t) => {
  const s = await startEngine(t, { variant: "wasm32-mt", nThreads: 2 });
  await loadBytes(s);
  assert.notEqual(s.client.crashTimer, null);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(s.client.crashTimer, null);
});

test("after terminate(), pending and new requests resolve with engine_crashed", async (t) => {
  const s = await startEngine(t);
  await loadBytes(s);
  const gen = s.client.request("generate", { prompt: "abc", max_tokens: 200, sampling: { ignore_eos: true } });
  s.client.terminate();
  const r = await gen.promise;
  assert.deepEqual([r.ok, r.code, r.message], [false, "engine_crashed", "the engine was closed"]);
  for (const [type, payload] of [["info", {}], ["tokenize", { text: "x" }], ["cancel", { target: gen.id }]]) {
    assert.equal((await ask(s, type, payload)).code, "engine_crashed", type);
  }
  assert.equal(s.spawned[0].worker.terminated, true);
  assertTableKept(s);
});

test("a cancel sent right after generate stops the prefill (the worker does not clear the flag)", async (t) => {
  const s = await startEngine(t, { variant: "wasm32-mt", nThreads: 2 });
  await loadBytes(s);
  const tokens = [];
  const gen = s.client.request("generate", { prompt: "a long prompt", max_tokens: 50 }, (name) => tokens.push(name));
  s.client.request("cancel", { target: gen.id });
  const r = await gen.promise;
  assert.equal(r.code, "aborted", JSON.stringify(r));
  assert.deepEqual(tokens, [], "not one token: the prefill itself was stopped");
  const again = await ask(s, "generate", { prompt: "go", max_tokens: 3 });
  assert.equal(again.ok, true, "the spent cancel does not stop the next generation");
  assertTableKept(s);
});

test("hello: a single-thread variant hands over no abort flag (its memory is not shared)", async (t) => {
  const s = await startEngine(t, { variant: "wasm32-st" });
  assert.equal(s.client.abortFlag, null);
  assert.equal(s.client.parking.hello.abort_flag, null, "a plain ArrayBuffer would be copied whole by postMessage");
  assert.equal("ok" in s.build, false, "the build record is build_info without the reply's ok");
});

test("load forwards n_gpu_layers to the engine (0 when absent); a CPU build offloads nothing", async (t) => {
  const s = await startEngine(t);
  assert.equal(s.build.webgpu, false);
  const plain = await loadBytes(s);
  const all = await loadBytes(s, "GGUFecho", { n_gpu_layers: -1 });
  const loads = s.engine.calls.filter((c) => c.name === "load").map((c) => c.request.n_gpu_layers);
  assert.deepEqual(loads, [0, -1]);
  for (const r of [plain, all]) {
    assert.deepEqual([r.info.backend, r.info.n_gpu_layers, r.info.gpu_device], ["cpu", 0, ""]);
  }
  assertTableKept(s);
});

test("a WebGPU build (JSPI): every action is a Promise the worker awaits; info says what was offloaded",
  async (t) => {
    const s = await startEngine(t, { variant: "wasm64-webgpu", nThreads: 2, build: "jspi&gpu_layers=2" });
    assert.equal(s.build.webgpu, true, "build_info was awaited");
    const r = await loadBytes(s, "GGUFecho", { n_gpu_layers: -1 });
    assert.equal(r.ok, true, r.message);
    assert.deepEqual([r.info.backend, r.info.n_gpu_layers, r.info.gpu_device], ["webgpu", 2, "WebGPU (fake adapter)"],
      "the device held 2 of the 3 layers asked for: the engine's count, not the request's");
    assert.deepEqual((await ask(s, "tokenize", { text: "hi" })).tokens, [104, 105]);
    const events = [];
    const gen = await ask(s, "generate", { prompt: "ok", max_tokens: 10 }, (name) => events.push(name));
    assert.deepEqual([gen.finish_reason, events.length], ["stop", 2]);
    const again = await loadBytes(s, "GGUFsecond", { n_gpu_layers: 0 });
    assert.deepEqual([again.info.name, again.info.backend], ["second", "cpu"]);
    assert.equal(s.engine.memory.audit().blocks, 1, "the first model was unloaded (after idle()) and freed");
    await ask(s, "close");
    assert.deepEqual(s.engine.audit(), CLEAN);
    assertTableKept(s);
  });

test("a lost GPU device: gpu_device_lost for the request that met it, engine_crashed for the rest", async (t) => {
  const s = await startEngine(t, { variant: "wasm64-webgpu", nThreads: 2, build: "jspi" });
  await loadBytes(s, "GGUFecho", { n_gpu_layers: -1 });
  const [lost, after] = [await ask(s, "tokenize", { text: GPU_LOST }), await ask(s, "info")];
  assert.equal(lost.code, "gpu_device_lost");
  assert.match(lost.message, /the GPU device was lost \(unknown: device reset\).*gpu=False/);
  assert.equal(after.code, "engine_crashed");
  assert.deepEqual(s.wire.received.filter((m) => m.id === 0).map((m) => m.event), ["crashed"]);
  assertTableKept(s);
});
