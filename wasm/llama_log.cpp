// llama.cpp's log, captured (llama_log.h).
#include "llama_log.h"
#include "engine.h"

#include "llama.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>

namespace plm {
namespace {

// Log capture: llama.cpp explains load failures only in its log, so the last
// warning/error lines are kept and put into error messages.
std::mutex              g_log_mu;
std::deque<std::string> g_log_lines;
std::string             g_log_partial;
int                     g_log_verbosity = 0;

// Layers llama.cpp reported offloading to the GPU during the last load (its
// "offloaded N/M layers to GPU" line); -1 until a load reports it.
std::atomic_int32_t g_offloaded{-1};
// Weights llama.cpp placed in GPU buffers during the last load, in MiB (its
// "<buffer> model buffer size = X MiB" lines whose buffer is not a CPU one). A
// layer counts as offloaded even when its tensors exceed the adapter's limits and
// stay in CPU memory; this is what the GPU really holds.
std::atomic<double> g_gpu_model_mib{0.0};
std::atomic<double> g_gpu_kv_mib{0.0};  // the KV cache in GPU buffers ("<buffer> KV buffer size = X MiB")

// "<name> <what> buffer size = X MiB" from llama.cpp's log; true for a non-CPU buffer.
bool gpu_buffer_line(const char * text, const char * what, double & mib) {
    const char * at = strstr(text, what);
    const char * colon = strstr(text, ": ");
    char name[64] = {0};
    std::string fmt = std::string("%63s") + what + "= %lf";
    return at && colon && colon < at && sscanf(colon + 2, fmt.c_str(), name, &mib) == 2 && strncmp(name, "CPU", 3) != 0;
}

void log_callback(ggml_log_level level, const char * text, void *) {
    if (const char * at = strstr(text, "offloaded "); at && strstr(at, "layers to GPU")) {
        int n = 0, of = 0;
        if (sscanf(at, "offloaded %d/%d", &n, &of) == 2) {
            g_offloaded = n;
        }
    }
    double mib = 0;
    if (gpu_buffer_line(text, " model buffer size ", mib)) {
        g_gpu_model_mib = g_gpu_model_mib.load() + mib;
    } else if (gpu_buffer_line(text, " KV buffer size ", mib)) {
        g_gpu_kv_mib = g_gpu_kv_mib.load() + mib;
    }
    if (g_log_verbosity >= 2 || (g_log_verbosity >= 1 && level >= GGML_LOG_LEVEL_WARN)) {
        fputs(text, stderr);
    }
    static ggml_log_level last_level = GGML_LOG_LEVEL_NONE;
    if (level == GGML_LOG_LEVEL_CONT) {
        level = last_level;
    } else {
        last_level = level;
    }
    if (level < GGML_LOG_LEVEL_WARN) {
        return;
    }
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_partial += text;
    size_t nl;
    while ((nl = g_log_partial.find('\n')) != std::string::npos) {
        std::string line = g_log_partial.substr(0, nl);
        g_log_partial.erase(0, nl + 1);
        if (!line.empty()) {
            g_log_lines.push_back(line);
            if (g_log_lines.size() > 16) {
                g_log_lines.pop_front();
            }
        }
    }
}

}  // namespace

void install_log_capture() { llama_log_set(log_callback, nullptr); }

void reset_load_report() {
    g_offloaded = -1;
    g_gpu_model_mib = 0.0;
    g_gpu_kv_mib = 0.0;
}

LoadReport load_report() { return LoadReport{g_offloaded.load(), g_gpu_model_mib.load(), g_gpu_kv_mib.load()}; }

std::string recent_log_errors() {
    std::lock_guard<std::mutex> lock(g_log_mu);
    std::string out;
    for (const auto & l : g_log_lines) {
        out += (out.empty() ? "" : " | ") + l;
    }
    return out;
}

void clear_log_errors() {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines.clear();
    g_log_partial.clear();
}

void set_log_verbosity(int level) { g_log_verbosity = level; }

}  // namespace plm
