// The engine: one llama.cpp model + context + sampler, driven step by step.
//
// Every failure is thrown as plm::EngineError carrying a stable code (the
// same codes the Python package maps to exception classes); actions.cpp turns
// them into {"ok": false} replies.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <cstdio>
#include <string>
#include <vector>

#include "chat_tokens.h"
#include "llama.h"

struct llama_model;
struct llama_context;
struct llama_vocab;
struct common_sampler;
struct common_chat_templates;

struct ggml_threadpool;

namespace plm {

// Error codes (kept in sync with protocol.json "error_codes").
namespace code {
constexpr const char * bad_request      = "bad_request";
constexpr const char * no_model         = "no_model";
constexpr const char * not_gguf         = "not_gguf";
constexpr const char * load_failed      = "load_failed";
constexpr const char * unsupported_arch = "unsupported_architecture";
constexpr const char * split_mismatch   = "split_mismatch";
constexpr const char * out_of_memory    = "out_of_memory";
constexpr const char * file_not_found   = "file_not_found";
constexpr const char * context_overflow = "context_overflow";
constexpr const char * not_generating   = "not_generating";
constexpr const char * aborted          = "aborted";
constexpr const char * decode_failed    = "decode_failed";
constexpr const char * template_failed  = "template_failed";
constexpr const char * internal         = "internal";
}  // namespace code

struct EngineError : std::runtime_error {
    std::string code;
    EngineError(std::string c, const std::string & msg) : std::runtime_error(msg), code(std::move(c)) {}
};

struct LoadParams {
    std::string path;             // file in the module's file system, or empty
    // Or: the parts of a split GGUF (gguf-split's -0000i-of-0000N files), in order.
    std::vector<std::string> split_paths;
    const void * data = nullptr;  // or: bytes in linear memory (caller keeps ownership)
    uint64_t     size = 0;
    int32_t n_ctx     = 2048;     // 0 = the model's training context
    int32_t n_threads = 1;
    int32_t n_batch   = 512;
    bool    vocab_only = false;
    // Keep ggml's worker threads for the whole session (true) or let llama.cpp
    // start and join them for every graph (false; kept to measure the difference).
    bool    persistent_threads = true;
    // Map the file instead of reading it (path loads only). The JS worker puts the
    // file's bytes in linear memory, where emscripten's MEMFS mmap hands out a
    // pointer to them: the weights are used in place, never copied.
    bool    mmap = false;
    // Layers for the GPU backend (WebGPU builds): -1 all, 0 none (the model stays
    // on the CPU and no GPU device is used). CPU builds have no GPU to offload to.
    int32_t n_gpu_layers = -1;
    // Keep the offloaded layers' KV cache in GPU memory (llama.cpp's offload_kqv). Off
    // when one layer's cache exceeds the adapter's storage binding limit: the GPU
    // could not run the ops that write it.
    bool offload_kqv = true;
    // A Jinja chat template to use instead of the GGUF's (empty: the GGUF's).
    std::string chat_template;
};

struct SamplingParams {
    float    temperature    = 0.8f;   // <= 0: greedy
    int32_t  top_k          = 40;
    float    top_p          = 0.95f;
    float    min_p          = 0.05f;
    float    repeat_penalty = 1.0f;
    int32_t  repeat_last_n  = 64;
    uint32_t seed           = 0xFFFFFFFF;  // LLAMA_DEFAULT_SEED: random
    std::string grammar;                   // GBNF, empty = none
    bool     ignore_eos     = false;       // bias end-of-generation tokens to -inf (benchmarks, tests)
    float    presence_penalty  = 0.0f;     // llama.cpp's penalty_present (OpenAI's presence_penalty)
    float    frequency_penalty = 0.0f;     // penalty_freq (OpenAI's frequency_penalty)
    // A rendered chat's constraints (chat_io.h: chat_render's "sampling", as JSON
    // text): the tool-call grammar, lazy or not, its triggers, preserved tokens.
    std::string chat;
    // Reuse the longest cached prefix of the prompt (llama-server's cache_prompt). Off:
    // the whole prompt is evaluated, so the result does not depend on what earlier
    // requests left in the cache (llama.cpp's attention rounds a prompt evaluated in
    // one piece differently from one split between cached and new tokens).
    bool cache_prompt = true;
};

struct StepResult {
    int32_t     token = -1;
    std::string piece;          // UTF-8 bytes of the token (may be part of a character)
    bool        eog = false;    // end of generation: token not decoded, not part of the text
    bool        context_full = false;
    std::vector<std::pair<int32_t, float>> top;  // raw logits of the best candidates, if asked
    // With logprobs asked: the token's log-probability under the model (log-softmax of
    // the raw logits, before sampling settings and grammar) and the best alternatives.
    bool  has_logprob = false;
    float logprob = 0;
    std::vector<std::pair<int32_t, float>> top_logprobs;
};

struct ScoreResult {
    std::vector<int32_t> tokens;
    std::vector<float>   logprobs;  // logprobs[i] of tokens[i + 1] given tokens[0..i]
};

// Sequence ids of the generation context: one KV cache (unified: every sequence may
// use all n_ctx cells) holds the default generation (0), sessions and the rows of a
// batched generation, each under its own id. 16 rows of logits per decode.
constexpr int32_t kMaxSeqs = 16;

// One sequence of the context: the tokens whose keys/values it holds, in order, and
// its sampler while it generates.
struct Slot {
    std::vector<int32_t> tokens;
    common_sampler * smpl = nullptr;
    int32_t pending = -1;    // batched generation: the token sampled and not yet decoded
    int32_t row = -1;        // its row of logits in the last batched decode
    uint64_t used = 0;       // when it last ran (least recently used slots are evicted first)
    bool batched = false;    // a row of a running batched generation (never evicted)
};

// A batched row's first token (batch_start) or next one (batch_step).
struct RowStep {
    int32_t seq = 0;
    StepResult step;
    int32_t n_prompt = 0, n_cached = 0;
};

struct Timings {
    int32_t n_prompt = 0, n_cached = 0, n_generated = 0;
    double  prefill_ms = 0, decode_ms = 0, load_ms = 0;
};

class Engine {
  public:
    Engine();
    ~Engine();
    Engine(const Engine &) = delete;
    Engine & operator=(const Engine &) = delete;

    void load(const LoadParams & p);
    void unload();
    bool loaded() const { return model_ != nullptr; }

    std::vector<int32_t> tokenize(const std::string & text, bool add_special, bool parse_special) const;
    std::string detokenize(const std::vector<int32_t> & tokens, bool remove_special, bool unparse_special) const;
    std::string token_piece(int32_t token, bool special) const;

    // The loaded model and its chat template (the load's override, else the GGUF's;
    // null when neither parses). chat_io.h renders and parses chats with them.
    const llama_model * model() const;
    const common_chat_templates * chat_templates() const;
    // The vocabulary's control tokens (chat_tokens.h), read once per load.
    const std::vector<ControlToken> & control_tokens() const;
    // The persistent worker threads (null without them): a second context of the model
    // (embeddings) computes on the same threads, as a wasm engine has no others to start.
    ggml_threadpool * thread_pool() const { return tpool_; }

    // Evaluates the prompt into sequence `seq` (reusing the longest cached prefix, its
    // own or another sequence's) and prepares the sampler.
    void generate_start(const std::vector<int32_t> & prompt, const SamplingParams & s, int32_t seq = 0);
    // Samples one token and, unless it ends generation, feeds it back.
    StepResult step(int32_t n_top, int32_t n_logprobs = -1);
    // Log-probabilities of each token of `tokens` after the ones before it (no sampling).
    ScoreResult score(const std::vector<int32_t> & tokens);
    void generate_end();
    bool generating() const { return generating_; }

    // Batched generation (sequences.cpp): several rows decode together, one token each
    // per llama_decode. batch_start prefills a row into a free sequence (seq < 0) or
    // `seq`, and samples its first token; batch_step decodes the rows' pending tokens
    // in one batch and samples each row's next; batch_end frees a row's sampler (its
    // keys/values stay cached until the room is needed, unless keep trims them).
    RowStep batch_start(const std::vector<int32_t> & prompt, const SamplingParams & s, int32_t seq = -1);
    std::vector<RowStep> batch_step(const std::vector<int32_t> & seqs);
    // keep >= 0 trims the row's cached tokens to that many (the rest of the cache is
    // freed: idle cells still cost every later step's attention a look); -1 keeps them all.
    void batch_end(int32_t seq, int32_t keep = -1);
    void batch_end_all();

    // A sequence's state (llama.cpp's per-sequence KV state) and its tokens; restoring
    // puts both into `seq`, replacing what it held. drop forgets a sequence's cache.
    std::vector<uint8_t> seq_save(int32_t seq, std::vector<int32_t> & tokens);
    void seq_restore(int32_t seq, const uint8_t * data, size_t size, const std::vector<int32_t> & tokens);
    void seq_drop(int32_t seq);
    // The tokens each sequence holds (for "info" and tests).
    std::vector<int32_t> seq_lengths() const;

    // Model description for "info"; keys/values as strings, numbers as numbers by the caller.
    struct Info {
        std::string architecture, name, description, quantization, chat_template;
        uint64_t n_params = 0, size = 0, file_size = 0;
        int32_t n_ctx_train = 0, n_ctx = 0, n_embd = 0, n_layer = 0, n_vocab = 0, n_threads = 0, n_batch = 0;
        int32_t bos = -1, eos = -1;
        // What llama.cpp really did with the GPU, read from its load report: the
        // layers it offloaded (0 on CPU builds), and the device it used.
        int32_t n_gpu_layers = 0;
        std::string gpu_device;
        uint64_t gpu_model_bytes = 0;  // weights in GPU buffers (llama.cpp's report, MiB precision)
        uint64_t gpu_kv_bytes = 0;     // the KV cache in GPU buffers
    };
    Info info() const;
    Timings timings() const { return timings_; }
    void set_threads(int32_t n);

  private:
    void require_model() const;
    void require_context() const;
    void decode_tokens(int32_t seq, const int32_t * tokens, int32_t n, bool is_prompt);
    // llama_decode, evicting idle sequences (least recently used first) while the
    // cache has no room for the batch; `keep` are sequences never evicted.
    int32_t decode_with_room(const llama_batch & batch, int32_t seq_hint);
    bool evict_one(int32_t except);
    Slot & slot(int32_t seq);
    void check_prompt(const std::vector<int32_t> & prompt) const;
    size_t reuse_prefix(int32_t seq, const std::vector<int32_t> & prompt, bool cache_prompt);
    common_sampler * make_sampler(const SamplingParams & s);
    StepResult sample_row(Slot & sl, int32_t row);

    llama_model *   model_ = nullptr;
    llama_context * ctx_   = nullptr;
    const llama_vocab * vocab_ = nullptr;
    Slot slots_[kMaxSeqs];
    int32_t seq_ = 0;        // the sequence of the single generation (generate_start/step)
    uint64_t clock_ = 0;     // stamps Slot::used
    llama_batch batch_{};    // for batch_step and decode_tokens: n_batch tokens, one sequence each
    std::unique_ptr<common_chat_templates, void (*)(common_chat_templates *)> tmpls_;
    std::string chat_template_;  // the load's override, if any
    mutable std::vector<ControlToken> controls_;  // control_tokens(), filled on first use
    mutable bool controls_read_ = false;
    bool generating_ = false;
    void attach_thread_pool(int32_t n);

    int32_t n_gpu_layers_ = 0;   // offloaded by the last load, as llama.cpp reported it
    std::string gpu_device_;     // the GPU backend's device description, when it holds layers
    uint64_t gpu_model_bytes_ = 0;  // weights llama.cpp put in GPU buffers
    uint64_t gpu_kv_bytes_ = 0;     // and the KV cache
    ggml_threadpool * tpool_ = nullptr;  // persistent worker threads, or null for llama.cpp's per-graph ones
    bool persistent_threads_ = true;
    int32_t n_batch_ = 512, n_threads_ = 1;
    uint64_t file_size_ = 0;
    FILE * open_gguf(const std::string & path, const std::string & what);
    Timings timings_;
};

// Allocates `bytes` in chunks, writes every page and reads a checksum back, then frees.
// Returns the highest address touched (proves > 4 GiB addressing in memory64 builds).
uint64_t probe_memory(uint64_t bytes, uint64_t chunk, uint64_t * touched);

// Ring of the most recent llama.cpp log lines at warning level or above.
std::string recent_log_errors();
void clear_log_errors();
void set_log_verbosity(int level);  // 0 quiet (errors kept), 1 warnings to stderr, 2 everything

std::atomic_int32_t & abort_flag_ref();

}  // namespace plm
