// What llama.cpp says in its log, kept: the last warnings and errors (llama.cpp
// explains load failures only there), and its load report of what went to the GPU.
//
// recent_log_errors / clear_log_errors / set_log_verbosity are declared in
// engine.h (actions use them too).
#pragma once

#include <cstdint>

namespace plm {

struct LoadReport {
    int32_t offloaded = -1;      // "offloaded N/M layers to GPU"; -1 until a load reports it
    double gpu_model_mib = 0.0;  // weights in non-CPU buffers ("<buffer> model buffer size = X MiB")
    double gpu_kv_mib = 0.0;     // the KV cache in non-CPU buffers
};

void install_log_capture();  // llama_log_set to our callback (once, before llama_backend_init)
void reset_load_report();    // before a load
LoadReport load_report();    // what the last load reported

}  // namespace plm
