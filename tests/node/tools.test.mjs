// Tool calls and reasoning through llama.cpp's common chat code in the engine
// (chat_format, generate's syntax and deltas, chat_parse), against native llama.cpp.
//
// 1. SmolLM2's weights with a Hermes-style tool template of ours (tests/fixtures), a few-shot
//    conversation and tool_choice "required": greedy output is a call that parses,
//    whose arguments validate, the same call native llama.cpp makes, and the same
//    parse native llama.cpp gives of this output; the streamed deltas add up to it.
// 2. Template families: real templates from the llama.cpp source (models/templates)
//    render an assistant tool call (and a reasoning turn), and the parser the same
//    template yields reads it back; wasm and native agree on prompt, syntax and parse.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { env, runNative, startVariant, threadsFor, VARIANTS } from "./helpers.mjs";

const MODEL = env("PLM_MODEL");
const TEMPLATES = path.join(env("PLM_LLAMA_SRC"), "models", "templates");
const N_MAX = 64;

// Hermes-style: tools listed in the system turn, calls in <tool_call> tags, results in a
// "tool" turn (tests/fixtures: the browser tier uses the same template).
const TEMPLATE = readFileSync(new URL("../fixtures/tool_template.jinja", import.meta.url), "utf8");

const WEATHER = { type: "function", function: { name: "get_weather", description: "Current weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } },
    required: ["city"], additionalProperties: false } } };

const asked = (city, id) => [
  { role: "user", content: `Weather in ${city}?` },
  { role: "assistant", content: null, tool_calls: [{ id, type: "function",
    function: { name: "get_weather", arguments: JSON.stringify({ city }) } }] },
];
// Two worked examples: a 135M model follows the pattern (it would not call a tool cold).
const FEWSHOT = [
  ...asked("London", "call_1"), { role: "tool", tool_call_id: "call_1", content: "15 C" },
  { role: "assistant", content: "It is 15 C in London." },
  ...asked("Rome", "call_2"), { role: "tool", tool_call_id: "call_2", content: "22 C" },
  { role: "assistant", content: "It is 22 C in Rome." },
  { role: "user", content: "Weather in Paris?" },
];

// The serialised parser is one PEG arena, its nodes numbered in the order the C++ built
// them: clang (wasm) and gcc (native) evaluate some arguments in different orders, so the
// text differs while the parser is the same (and a grammar rule named after a node id
// differs by its number). The parser is compared by what it parses instead.
function comparable({ syntax, sampling, ...rest }) {
  delete rest.ok;
  return { ...rest, ...(syntax && { syntax: { ...syntax, parser: "" } }),
    ...(sampling && { sampling: { ...sampling, grammar: sampling.grammar.replace(/\b(until-)\d+/g, "$1N") } }) };
}

function checkArguments(call) {
  const args = JSON.parse(call.arguments);
  const { properties, required } = WEATHER.function.parameters;
  for (const key of required) assert.ok(key in args, `missing ${key} in ${call.arguments}`);
  for (const [key, value] of Object.entries(args)) {
    assert.ok(key in properties, `unexpected ${key}`);
    if (properties[key].enum) assert.ok(properties[key].enum.includes(value), `${key}=${value}`);
    else assert.equal(typeof value, "string");
  }
  return args;
}

const LOAD = { n_ctx: 1024, n_threads: 2, chat_template: TEMPLATE };
const FORMAT = { messages: FEWSHOT, tools: [WEATHER], tool_choice: "required" };

function nativeCall() {
  const fmt = runNative([["load", { path: MODEL, ...LOAD }], ["chat_format", FORMAT]])[1];
  assert.ok(fmt.ok, fmt.message);
  const replies = runNative([
    ["load", { path: MODEL, ...LOAD }],
    ["generate_start", { prompt: fmt.prompt, parse_special: true,
      sampling: { temperature: 0, chat: fmt.sampling }, syntax: fmt.syntax }],
    ...Array.from({ length: N_MAX }, () => ["step", {}]),
  ]).slice(2);
  const bytes = [];
  for (const s of replies) {
    if (!s.ok || s.eog) break;
    bytes.push(...s.bytes);
  }
  const text = Buffer.from(bytes).toString("utf8");
  const parsed = runNative([["chat_parse", { text, syntax: fmt.syntax }]])[0];
  return { fmt, text, message: parsed.message };
}

const native = nativeCall();

for (const variant of VARIANTS) {
  test(`${variant}: tool_choice=required makes a call that parses and validates, as native llama.cpp's`, async () => {
    const engine = await startVariant(variant);
    await engine.action("load", { path: engine.hostPath(MODEL), ...LOAD, n_threads: threadsFor(variant) });
    const fmt = await engine.action("chat_format", FORMAT);
    assert.deepEqual(comparable(fmt), comparable(native.fmt), "prompt, grammar and syntax as native's");
    assert.ok(fmt.sampling.grammar.length > 0 && fmt.sampling.preserved_tokens.includes("<tool_call>"));
    await engine.action("generate_start", { prompt: fmt.prompt, parse_special: true,
      sampling: { temperature: 0, chat: fmt.sampling }, syntax: fmt.syntax });
    const bytes = [];
    const deltas = [];
    for (let i = 0; i < N_MAX; i++) {
      const s = await engine.action("step", {});
      if (s.eog) break;
      bytes.push(...s.bytes);
      deltas.push(s.delta);
    }
    await engine.action("generate_end");
    const text = Buffer.from(bytes).toString("utf8");
    const { message } = await engine.action("chat_parse", { text, syntax: fmt.syntax });
    assert.equal(message.tool_calls.length, 1, `one call in ${JSON.stringify(text)}`);
    const [call] = message.tool_calls;
    assert.equal(call.name, "get_weather");
    const args = checkArguments(call);
    console.log(`${variant}: ${JSON.stringify(text)} -> get_weather(${JSON.stringify(args)})`);
    // The parse is llama.cpp's: native reads this very output the same way.
    assert.deepEqual(runNative([["chat_parse", { text, syntax: fmt.syntax }]])[0].message, message);
    assert.deepEqual(message, native.message, `native generated ${JSON.stringify(native.text)}`);
    // The deltas streamed while it generated add up to the final parse: no markup as content.
    const content = deltas.map((d) => d.content || "").join("");
    assert.equal(content, message.content);
    const streamed = deltas.flatMap((d) => d.tool_calls || []);
    assert.equal(streamed.filter((d) => d.name).map((d) => d.name).join(), "get_weather");
    assert.equal(JSON.stringify(JSON.parse(streamed.map((d) => d.arguments).join(""))),
      JSON.stringify(JSON.parse(call.arguments)));
  });
}

// Families checked: each renders a call (and, if it reasons, a <think> turn) that its own
// parser reads back. The names are files of llama.cpp's models/templates.
const FAMILIES = {
  "Hermes 2 Pro": "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use",
  "Hermes 3": "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",
  "Qwen 2.5": "Qwen-Qwen2.5-7B-Instruct",
  "Qwen 3 (reasons)": "Qwen-Qwen3-0.6B",
  "Llama 3.1": "meta-llama-Llama-3.1-8B-Instruct",
  "Llama 3.2": "meta-llama-Llama-3.2-3B-Instruct",
  "Llama 3.3": "meta-llama-Llama-3.3-70B-Instruct",
  "Mistral Nemo": "mistralai-Mistral-Nemo-Instruct-2407",
  "Functionary v3.1": "meetkai-functionary-medium-v3.1",
  "Functionary v3.2": "meetkai-functionary-medium-v3.2",
  "DeepSeek V3.1 (reasons)": "deepseek-ai-DeepSeek-V3.1",
  "gpt-oss (reasons)": "openai-gpt-oss-120b",
  "Gemma 4 (reasons)": "google-gemma-4-31B-it",
  "Granite 4.0": "ibm-granite-granite-4.0",
  "Kimi K2": "moonshotai-Kimi-K2",
};
// What ends a turn in these templates: the model's end-of-generation token, never text it emits.
const TURN_ENDS = ["<|im_end|>", "<|eot_id|>", "<|eom_id|>", "</s>", "<|end|>", "<|end_of_text|>", "<|return|>",
  "<｜end▁of▁sentence｜>", "<turn|>", "<|endoftext|>"];

function assistantText(before, after) {
  assert.ok(after.startsWith(before), "the template renders the history the same with one more turn");
  let text = after.slice(before.length);
  for (let cut = true; cut;) {
    const trimmed = text.trimEnd();
    const end = TURN_ENDS.find((e) => trimmed.endsWith(e));
    cut = end !== undefined || trimmed !== text;
    text = end ? trimmed.slice(0, -end.length) : trimmed;
  }
  return text;
}

test("template families: a rendered tool call parses back, wasm and native alike", async () => {
  const engine = await startVariant(VARIANTS[0]);
  const user = [{ role: "user", content: "Weather in Paris?" }];
  const callTurn = { role: "assistant", content: null, tool_calls: [{ id: "abcDEF123", type: "function",
    function: { name: "get_weather", arguments: "{\"city\": \"Paris\"}" } }] };
  const thinkTurn = { role: "assistant", content: "It is sunny.", reasoning_content: "The user asks about Paris." };
  for (const [family, file] of Object.entries(FAMILIES)) {
    const template = readFileSync(path.join(TEMPLATES, `${file}.jinja`), "utf8");
    const script = [
      ["load", { path: MODEL, vocab_only: true, chat_template: template }],
      ["chat_format", { messages: user, tools: [WEATHER] }],
      ["chat_format", { messages: [...user, callTurn], tools: [WEATHER], add_generation_prompt: false }],
      ["chat_format", { messages: user }],
      ["chat_format", { messages: [...user, thinkTurn], add_generation_prompt: false }],
    ];
    const ref = runNative(script);
    await engine.action("load", { path: engine.hostPath(MODEL), vocab_only: true, chat_template: template });
    const mine = [];
    for (const [name, req] of script.slice(1)) mine.push({ ok: true, ...(await engine.action(name, req)) });
    assert.deepEqual(mine.map(comparable), ref.slice(1).map(comparable), `${family}: wasm renders as native`);
    const [withTools, withCall, plain, withThought] = mine;
    const text = assistantText(withTools.prompt, withCall.prompt);
    const { message } = await engine.action("chat_parse", { text, syntax: withTools.syntax });
    assert.deepEqual(message, runNative([["chat_parse", { text, syntax: withTools.syntax }]])[0].message);
    assert.equal(message.tool_calls.length, 1, `${family}: ${JSON.stringify(text)}`);
    assert.equal(message.tool_calls[0].name, "get_weather");
    assert.deepEqual(JSON.parse(message.tool_calls[0].arguments), { city: "Paris" });
    let reasoning = "";
    const thought = withThought.prompt.startsWith(plain.prompt) && assistantText(plain.prompt, withThought.prompt);
    // Some templates drop a past turn's reasoning from the history (DeepSeek V3.1): nothing to read back.
    if (plain.supports_thinking && thought && thought.includes(thinkTurn.reasoning_content)) {
      const m = (await engine.action("chat_parse", { text: thought, syntax: plain.syntax })).message;
      assert.deepEqual([m.reasoning_content.trim(), m.content.trim()], ["The user asks about Paris.", "It is sunny."],
        `${family}: ${JSON.stringify(thought)}`);
      reasoning = ", reasoning parsed apart";
    }
    console.log(`${family}: ${withTools.syntax.format_name}, ${JSON.stringify(text).slice(0, 90)}${reasoning}`);
  }
});

test("chat: bad requests are bad_request, a broken chat_template is template_failed and loads nothing", async () => {
  const engine = await startVariant(VARIANTS[0]);
  await engine.action("load", { path: engine.hostPath(MODEL), vocab_only: true });
  const bad = async (name, req, pattern) => assert.rejects(async () => engine.action(name, req),
    (e) => e.code === "bad_request" && pattern.test(e.message));
  await bad("chat_format", { messages: [] }, /non-empty list 'messages'/);
  await bad("chat_format", { messages: [{ role: "user", content: "x" }], tools: "nope" }, /'tools' must be a list/);
  await bad("chat_format", { messages: [{ role: "user", content: "x" }], tools: [WEATHER], tool_choice: "maybe" },
    /Invalid tool_choice/);
  await bad("chat_parse", { text: "x" }, /needs a string 'text' and an object 'syntax'/);
  await bad("chat_parse", { text: "x", syntax: { format: 999 } }, /not a chat format/);
  await bad("chat_parse", { text: "x", syntax: { format: 1, parser: "not a parser" } }, /not a parser of this build/);
  await assert.rejects(async () => engine.action("load", { path: engine.hostPath(MODEL), vocab_only: true,
    chat_template: "{% for %}" }), (e) => e.code === "template_failed" && /chat_template does not parse/.test(e.message));
  await assert.rejects(async () => engine.action("tokenize", { text: "x" }), (e) => e.code === "no_model");
});
