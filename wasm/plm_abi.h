/*
 * pyodide_llm engine ABI, version 1.
 *
 * The whole surface JavaScript (and the native reference tool) sees of the
 * engine. No llama.cpp struct crosses it: requests and replies are UTF-8 JSON,
 * and every feature is a named action of plm_action(). The action names, their
 * request fields and reply fields are listed in ../pyodide_llm/protocol.json
 * ("engine_actions", and "limits" for the bounds of request values), which
 * tests/host/test_protocol.py and tests/node/protocol.test.mjs check this engine,
 * the JS shim and the Python package against.
 *
 * One engine per module instance: a Web Worker instantiates one module and
 * holds at most one loaded model in it.
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version string, e.g. "1". Static storage: do not free. */
const char * plm_version(void);

/*
 * Run the action `name` with the JSON object `request` (NULL means "{}").
 * Both arguments stay owned by the caller.
 *
 * Returns a newly allocated, NUL-terminated UTF-8 JSON object that the caller
 * must release with plm_result_free(). It is always one of
 *   {"ok": true, ...reply fields...}
 *   {"ok": false, "code": "<error code>", "message": "<what happened, what to do>"}
 * Never returns NULL except when even the error reply cannot be allocated.
 * Errors are reported, never trapped: bad JSON, unknown actions, files that are
 * not GGUF, truncated files and C++ exceptions all come back as {"ok": false}.
 */
char * plm_action(const char * name, const char * request);

/*
 * WebGPU builds only: plm_action, exported as a JSPI "promising" function, so it
 * returns a Promise of the reply pointer. Every action of such a build must go
 * through it: one that reaches the GPU (loading, decoding, the first use of
 * ggml's backend registry) suspends while it waits, which a plain export cannot.
 */
char * plm_action_async(const char * name, const char * request);

/* Release a reply of plm_action(). Passing NULL is a no-op. */
void plm_result_free(char * reply);

/*
 * Address of the 32-bit abort flag. Non-zero asks the running action to stop:
 * it is read between decode steps and, through llama.cpp's abort callback,
 * between graph nodes inside a decode. In threaded builds the memory is a
 * SharedArrayBuffer, so another thread (the JS client) may store to it with
 * Atomics.store while an action runs. The caller clears it (the worker, when a
 * generation ends); no action does, so a flag stored before a prefill begins stops it.
 * Static storage: do not free.
 */
int32_t * plm_abort_flag(void);

/*
 * What llama.cpp said when it aborted (a GGML_ASSERT), in any thread: an int32 that
 * becomes 1, then 1020 bytes of NUL-terminated message (abort_hook.h). A client that
 * shares the memory reads it to see an engine that will never answer again.
 * Static storage: do not free.
 */
int32_t * plm_crash_record(void);

#ifdef __cplusplus
}
#endif
