// llama.cpp's aborts recorded for JS (abort_hook.h).
#include "abort_hook.h"

#include "ggml.h"

#include <cstdio>
#include <cstring>

namespace plm {
namespace {

CrashRecord g_record;
static_assert(sizeof(CrashRecord) == 1024, "JS reads the flag at +0 and the message at +4 (plm_abi.h)");

void on_abort(const char * message) {
    if (g_record.crashed.load() == 0) {  // the first abort is the cause; later ones are its echoes
        std::strncpy(g_record.message, message ? message : "", sizeof(g_record.message) - 1);
        g_record.crashed.store(1);
    }
    std::fprintf(stderr, "llama.cpp aborted: %s\n", message ? message : "");
}

}  // namespace

void install_abort_hook() { ggml_set_abort_callback(on_abort); }

CrashRecord & crash_record() { return g_record; }

}  // namespace plm
