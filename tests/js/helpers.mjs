// Shared set-up of the JS tests: where the modules under test are, the protocol
// table, and the checks of messages against it.
//
// This tier runs in node's own test runner (`make test-js`), without a browser
// and without the wasm build: download.mjs, store.mjs, client.mjs and worker.mjs
// are the real modules; the engine under them is a fake (fixtures/).
import { readFileSync } from "node:fs";

export const JS_DIR = new URL("../../pyodide_llm/js/", import.meta.url);
export const FIXTURES = new URL("./fixtures/", import.meta.url);

/** protocol.json, the one definition of every message and field. */
export const PROTOCOL = JSON.parse(readFileSync(new URL("../protocol.json", JS_DIR), "utf8"));

const extra = (obj, allowed) => Object.keys(obj).filter((k) => !allowed.includes(k));

/** Fields of `obj` that `allowed` does not list, as problem strings. */
function unlisted(what, obj, allowed) {
  return extra(obj, allowed).map((k) => `${what} has field ${k}, not in protocol.json`);
}

/** Why a reply to a `type` request breaks the table ([] if it does not). */
export function replyProblems(type, reply) {
  const spec = PROTOCOL.requests[type];
  const stats = type === "generate_batch" ? PROTOCOL.records.batch_stats : PROTOCOL.records.timings;
  if (!spec) return [`a reply to ${type}, which is no request of protocol.json`];
  if (reply.ok) {
    return [
      ...unlisted(`${type} reply`, reply, ["id", "ok", ...spec.reply]),
      ...(reply.info ? unlisted(`${type} reply's info`, reply.info, PROTOCOL.records.info) : []),
      ...(reply.stats ? unlisted(`${type} reply's stats`, reply.stats, stats) : []),
    ];
  }
  return [
    ...unlisted(`${type} error reply`, reply, ["id", "ok", ...PROTOCOL.error_reply]),
    ...(reply.code in PROTOCOL.error_codes ? [] : [`${type} error reply has code ${reply.code}, not in protocol.json`]),
    ...(reply.stats ? unlisted(`${type} error's stats`, reply.stats, stats) : []),
  ];
}

/** Why an event message ({id, event, data}) of a `type` request breaks the table. */
export function eventProblems(type, msg) {
  const names = msg.id === 0 ? PROTOCOL.worker_events : PROTOCOL.events;
  const allowed = msg.id === 0 ? Object.keys(PROTOCOL.worker_events) : PROTOCOL.requests[type]?.events || [];
  if (!allowed.includes(msg.event)) return [`event ${msg.event} of ${type || "the worker"} is not in protocol.json`];
  return [...unlisted(`${msg.event} event`, msg, ["id", "event", "data"]),
    ...unlisted(`${msg.event} event's data`, msg.data, names[msg.event])];
}

/**
 * Watches both directions of a client/worker exchange and collects every
 * departure from protocol.json in `problems` (a test asserts it stays empty).
 */
export class Wire {
  constructor() {
    this.types = new Map(); // request id -> type
    this.sent = [];
    this.received = [];
    this.problems = [];
  }

  onSend(msg) {
    this.sent.push(msg);
    this.types.set(msg.id, msg.type);
    this.problems.push(...unlisted("request message", msg, ["id", "type", "payload"]));
  }

  onReceive(msg) {
    this.received.push(msg);
    const type = this.types.get(msg.id);
    if (msg.event) this.problems.push(...eventProblems(type, msg));
    else if (!type) this.problems.push(`a reply to id ${msg.id}, which no request had`);
    else this.problems.push(...replyProblems(type, msg));
  }

  /** The replies (not events) the worker sent. */
  replies() {
    return this.received.filter((m) => !m.event);
  }
}

/** Why an engine action call or its reply breaks protocol.json's engine_actions. */
export function engineCallProblems(name, request, reply) {
  const spec = PROTOCOL.engine_actions[name];
  if (!spec) return [`engine action ${name} is not in protocol.json`];
  return [...unlisted(`engine ${name} request`, request, spec.request),
    ...(reply ? unlisted(`engine ${name} reply`, reply, ["ok", ...spec.reply]) : [])];
}

/** The rejection of `promise`, which must reject. */
export async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}
