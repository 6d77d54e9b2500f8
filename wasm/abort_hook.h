// What llama.cpp said when it aborted, kept where JS can read it.
//
// Why: a GGML_ASSERT ends in abort(), which in wasm is a trap. On the engine's own
// thread JS sees a RuntimeError ("unreachable") and nothing else; in a compute
// thread (threaded variants) the engine's thread may never see anything, waiting at
// ggml's barrier for a thread that is gone. ggml's abort callback runs first, in
// the thread that failed: it keeps the message and raises a flag in linear memory,
// which the worker (for the message) and the client (shared memory: for an engine
// stuck at the barrier) read.
#pragma once

#include <atomic>
#include <cstdint>

namespace plm {

struct CrashRecord {
    std::atomic_int32_t crashed{0};  // set (to 1) once llama.cpp aborted, in any thread
    char message[1020] = {};          // its message ("file:line: GGML_ASSERT(...) failed"), NUL-terminated
};

// ggml_set_abort_callback to our hook (once, before llama.cpp runs).
void install_abort_hook();
CrashRecord & crash_record();

}  // namespace plm
