// Engine implementation over llama.h and llama.cpp's common library.
//
// Why this shape: the JS worker calls one action per decode step so that it can
// look at its message queue (cancel, close) between tokens; the abort flag covers
// the long calls (prompt prefill) through llama.cpp's abort callback.
#include "engine.h"

#include "abort_hook.h"
#include "chat_io.h"
#include "llama_log.h"

#include "chat.h"
#include "common.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "llama.h"
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace plm {

namespace {

std::atomic_int32_t g_abort{0};

bool abort_callback(void *) { return g_abort.load(std::memory_order_relaxed) != 0; }

std::string meta_str(const llama_model * m, const char * key) {
    char buf[512];
    int32_t n = llama_model_meta_val_str(m, key, buf, sizeof buf);
    if (n < 0) {
        return "";
    }
    if ((size_t) n < sizeof buf) {
        return std::string(buf, n);
    }
    std::string big(n + 1, '\0');
    llama_model_meta_val_str(m, key, big.data(), big.size());
    big.resize(n);
    return big;
}

bool contains(const std::string & hay, const char * needle) { return hay.find(needle) != std::string::npos; }

struct BackendInit {
    BackendInit() {
        install_log_capture();
        install_abort_hook();
        llama_backend_init();
    }
};


// Check the magic first: llama.cpp's own message for a non-GGUF file is vague.
void check_magic(FILE * f, const std::string & what) {
    char magic[4] = {0, 0, 0, 0};
    size_t got = fread(magic, 1, 4, f);
    if (got != 4 || memcmp(magic, "GGUF", 4) != 0) {
        fclose(f);
        throw EngineError(code::not_gguf, what + "is not a GGUF file (it starts with " + std::to_string(got) +
                                              " bytes that are not 'GGUF'); check the URL points at a .gguf "
                                              "file, not an HTML page");
    }
    fseek(f, 0, SEEK_SET);
}

}  // namespace

// Open a model file of the module's file system, add its size to file_size_, check its magic.
FILE * Engine::open_gguf(const std::string & path, const std::string & what) {
    FILE * f = fopen(path.c_str(), "rb");
    if (!f) {
        throw EngineError(code::file_not_found, what + "'" + path + "' is not in the engine's file system");
    }
    fseek(f, 0, SEEK_END);
    file_size_ += (uint64_t) ftell(f);
    fseek(f, 0, SEEK_SET);
    check_magic(f, what.empty() ? "the model file " : what);
    return f;
}

std::atomic_int32_t & abort_flag_ref() { return g_abort; }

Engine::Engine() : tmpls_(nullptr, common_chat_templates_free) { static BackendInit once; }

Engine::~Engine() { unload(); }

void Engine::unload() {
    generate_end();
    tmpls_.reset();
    chat_template_.clear();
    controls_.clear();
    controls_read_ = false;
    batch_end_all();
    for (Slot & sl : slots_) {
        sl = Slot{};
    }
    seq_ = 0;
    if (batch_.token) {
        llama_batch_free(batch_);
        batch_ = llama_batch{};
    }
    if (ctx_) {
        llama_free(ctx_);
        ctx_ = nullptr;
    }
    if (tpool_) {
        ggml_threadpool_free(tpool_);
        tpool_ = nullptr;
    }
    if (model_) {
        llama_model_free(model_);
        model_ = nullptr;
    }
    vocab_ = nullptr;
    timings_ = Timings{};
}

void Engine::load(const LoadParams & p) {
    if (model_) {
        unload();
    }
    if (p.n_ctx < 0 || p.n_threads < 1 || p.n_threads > 256 || p.n_batch < 1) {
        throw EngineError(code::bad_request, "n_ctx must be >= 0, n_threads in 1..256 and n_batch >= 1");
    }
    llama_model_params mp = llama_model_default_params();
    // Read the tensors into buffers of their own, unless the caller asked for the
    // file to be mapped (memory-backed streams have no descriptor to map).
    mp.load_mode  = (p.mmap && !p.data) ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    mp.vocab_only = p.vocab_only;
    mp.n_gpu_layers = p.n_gpu_layers < 0 ? -1 : p.n_gpu_layers;
#ifdef PLM_WEBGPU
    static ggml_backend_dev_t cpu_only[] = { nullptr };
    if (p.n_gpu_layers == 0) {
        mp.devices = cpu_only;  // an empty list: no GPU device holds weights or runs ops
    }
#endif
    reset_load_report();
    clear_log_errors();
    const int64_t t0 = ggml_time_us();
    if (!p.split_paths.empty()) {
        file_size_ = 0;
        std::vector<const char *> names;
        for (size_t i = 0; i < p.split_paths.size(); i++) {
            FILE * part = open_gguf(p.split_paths[i], "split part " + std::to_string(i + 1) + " ");
            fclose(part);
            names.push_back(p.split_paths[i].c_str());
        }
        model_ = llama_model_load_from_splits(names.data(), names.size(), mp);
    } else {
        FILE * f = nullptr;
        if (p.data) {
            if (p.size < 8) {
                throw EngineError(code::not_gguf, "the model data is only " + std::to_string(p.size) +
                                                      " bytes; a GGUF file starts with an 8-byte header");
            }
            f = fmemopen(const_cast<void *>(p.data), p.size, "rb");
            if (!f) {
                throw EngineError(code::out_of_memory, "cannot open the model data");
            }
            file_size_ = p.size;
            check_magic(f, "the model data ");
        } else {
            file_size_ = 0;
            f = open_gguf(p.path, "");
        }
        model_ = llama_model_load_from_file_ptr(f, mp);
        fclose(f);
    }
    if (!model_) {
        const std::string why = recent_log_errors();
        const char * c = code::load_failed;
        if (contains(why, "unknown model architecture")) {
            c = code::unsupported_arch;
        } else if (contains(why, "split")) {  // wrong part order or count, a part of another model
            c = code::split_mismatch;
        } else if (contains(why, "failed to allocate") || contains(why, "out of memory") ||
                   contains(why, "bad_alloc") || contains(why, "unable to allocate")) {
            c = code::out_of_memory;
        }
        throw EngineError(c, "llama.cpp could not load the model: " + (why.empty() ? "no reason given" : why));
    }
    vocab_     = llama_model_get_vocab(model_);
    n_gpu_layers_ = std::max<int32_t>(0, load_report().offloaded);
    gpu_model_bytes_ = (uint64_t) (load_report().gpu_model_mib * 1048576.0);
    gpu_device_.clear();
    gpu_kv_bytes_ = 0;
    for (size_t d = 0; n_gpu_layers_ > 0 && d < ggml_backend_dev_count(); d++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(d);
        if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_GPU) {
            gpu_device_ = std::string(ggml_backend_dev_name(dev)) + " (" + ggml_backend_dev_description(dev) + ")";
            break;
        }
    }
    n_threads_ = p.n_threads;
    n_batch_   = p.n_batch;
    if (!p.vocab_only) {
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx           = (uint32_t) p.n_ctx;
        cp.n_batch         = (uint32_t) p.n_batch;
        cp.n_ubatch        = (uint32_t) p.n_batch;
        // Sequences share one cache of n_ctx cells (unified): a session or a batched
        // row may use all of it, and sequences with a common prefix share its cells.
        cp.n_seq_max       = kMaxSeqs;
        cp.kv_unified      = true;
        // A prefill asks for the logits of its last token only, a batched step for one
        // row per sequence. Without this llama.cpp sizes the compute buffer for logits
        // of every token of a ubatch: n_vocab x n_ubatch floats, 96 MiB for SmolLM2 at
        // 512 and 250 MiB for a 128k vocabulary, rows never read.
        cp.n_outputs_max   = kMaxSeqs;
        cp.n_threads       = p.n_threads;
        cp.n_threads_batch = p.n_threads;
        cp.no_perf         = false;
        cp.offload_kqv     = p.offload_kqv;
        ctx_               = llama_init_from_model(model_, cp);
        if (!ctx_) {
            const std::string why = recent_log_errors();
            llama_model_free(model_);
            model_ = nullptr;
            throw EngineError(code::out_of_memory,
                              "llama.cpp could not create a context of " + std::to_string(p.n_ctx) +
                                  " tokens: " + (why.empty() ? "no reason given" : why) + "; try a smaller n_ctx");
        }
        llama_set_abort_callback(ctx_, abort_callback, nullptr);
        persistent_threads_ = p.persistent_threads;
        attach_thread_pool(p.n_threads);
        n_batch_ = (int32_t) llama_n_batch(ctx_);  // llama.cpp caps it at n_ctx
        batch_   = llama_batch_init(std::max(n_batch_, kMaxSeqs), 0, 1);
        gpu_kv_bytes_ = (uint64_t) (load_report().gpu_kv_mib * 1048576.0);
    }
    try {
        tmpls_.reset(common_chat_templates_init(model_, p.chat_template).release());
        chat_template_ = p.chat_template;
    } catch (const std::exception & e) {
        tmpls_.reset();  // a broken GGUF template only disables chat formatting
        if (!p.chat_template.empty()) {  // but one the caller gave is their mistake
            unload();
            throw EngineError(code::template_failed, std::string("chat_template does not parse: ") + e.what());
        }
    }
    timings_         = Timings{};
    timings_.load_ms = (ggml_time_us() - t0) / 1000.0;
}

void Engine::require_model() const {
    if (!model_) {
        throw EngineError(code::no_model, "no model is loaded; run the 'load' action first");
    }
}

void Engine::require_context() const {
    require_model();
    if (!ctx_) {
        throw EngineError(code::no_model, "the model was loaded with vocab_only; load it again without it to generate");
    }
}

void Engine::set_threads(int32_t n) {
    require_context();
    if (n < 1 || n > 256) {
        throw EngineError(code::bad_request, "n_threads must be in 1..256");
    }
    n_threads_ = n;
    llama_set_n_threads(ctx_, n, n);
    attach_thread_pool(n);
}

// Without a pool of its own, ggml starts n-1 threads for every graph, i.e. every
// token; in a browser each start is a message to a pooled Web Worker. A
// persistent pool pays that once per load (its threads spin briefly, then sleep,
// between graphs).
void Engine::attach_thread_pool(int32_t n) {
    llama_detach_threadpool(ctx_);
    if (tpool_) {
        ggml_threadpool_free(tpool_);
        tpool_ = nullptr;
    }
    if (!persistent_threads_ || n < 2) {
        return;
    }
    ggml_threadpool_params tp = ggml_threadpool_params_default(n);
    tpool_                    = ggml_threadpool_new(&tp);
    if (!tpool_) {
        throw EngineError(code::out_of_memory, "cannot start " + std::to_string(n) + " engine threads");
    }
    llama_attach_threadpool(ctx_, tpool_, tpool_);
}

std::vector<int32_t> Engine::tokenize(const std::string & text, bool add_special, bool parse_special) const {
    require_model();
    return common_tokenize(vocab_, text, add_special, parse_special);
}

std::string Engine::detokenize(const std::vector<int32_t> & tokens, bool remove_special, bool unparse_special) const {
    require_model();
    const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
    for (int32_t t : tokens) {
        if (t < 0 || t >= n_vocab) {
            throw EngineError(code::bad_request, "token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                                                     std::to_string(n_vocab - 1) + ")");
        }
    }
    std::string out(tokens.size() * 8 + 16, '\0');
    int32_t n = llama_detokenize(vocab_, tokens.data(), (int32_t) tokens.size(), out.data(), (int32_t) out.size(),
                                 remove_special, unparse_special);
    if (n < 0) {
        out.resize(-n);
        n = llama_detokenize(vocab_, tokens.data(), (int32_t) tokens.size(), out.data(), (int32_t) out.size(),
                             remove_special, unparse_special);
    }
    out.resize(std::max(n, 0));
    return out;
}

std::string Engine::token_piece(int32_t token, bool special) const {
    require_model();
    return common_token_to_piece(vocab_, token, special);
}

const llama_model * Engine::model() const {
    require_model();
    return model_;
}

const common_chat_templates * Engine::chat_templates() const {
    require_model();
    return tmpls_.get();
}

const std::vector<ControlToken> & Engine::control_tokens() const {
    require_model();
    if (!controls_read_) {
        controls_      = plm::control_tokens(vocab_);
        controls_read_ = true;
    }
    return controls_;
}

common_sampler * Engine::make_sampler(const SamplingParams & s) {
    common_params_sampling sp;
    sp.seed           = s.seed;
    sp.temp           = s.temperature;
    sp.top_k          = s.top_k;
    sp.top_p          = s.top_p;
    sp.min_p          = s.min_p;
    sp.penalty_repeat = s.repeat_penalty;
    sp.penalty_last_n = s.repeat_last_n;
    sp.penalty_present = s.presence_penalty;
    sp.penalty_freq    = s.frequency_penalty;
    sp.grammar        = s.grammar.empty() ? common_grammar() : common_grammar(COMMON_GRAMMAR_TYPE_USER, s.grammar);
    if (!s.chat.empty()) {
        chat_sampling(json::parse(s.chat), vocab_, sp);  // a tool-call grammar (never with a user grammar)
    }
    if (s.ignore_eos) {
        const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
        for (int32_t t = 0; t < n_vocab; t++) {
            if (llama_vocab_is_eog(vocab_, t)) {
                sp.logit_bias.push_back({t, -INFINITY});
            }
        }
    }
    common_sampler * smpl = common_sampler_init(model_, sp);
    if (!smpl) {
        throw EngineError(code::bad_request, "invalid sampling parameters or grammar: " + recent_log_errors());
    }
    return smpl;
}

void Engine::generate_start(const std::vector<int32_t> & prompt, const SamplingParams & s, int32_t seq) {
    require_context();
    generate_end();
    Slot & sl = slot(seq);
    if (sl.batched) {
        throw EngineError(code::bad_request, "sequence " + std::to_string(seq) + " is a row of a batched generation");
    }
    // The abort flag is not cleared here: its owner (the worker) clears it when a
    // generation ends, so a cancel stored before this prefill begins still stops it.
    check_prompt(prompt);
    const int32_t n_prompt = (int32_t) prompt.size();
    const size_t keep = reuse_prefix(seq, prompt, s.cache_prompt);
    seq_ = seq;
    sl.smpl = make_sampler(s);
    timings_.n_prompt    = n_prompt;
    timings_.n_cached    = (int32_t) keep;
    timings_.n_generated = 0;
    timings_.decode_ms   = 0;
    const int64_t t0     = ggml_time_us();
    try {
        decode_tokens(seq, prompt.data() + keep, n_prompt - (int32_t) keep, true);
    } catch (...) {
        generate_end();
        throw;
    }
    timings_.prefill_ms = (ggml_time_us() - t0) / 1000.0;
    generating_ = true;
}

namespace {
// log-softmax of logits[token], and the k best tokens with theirs.
float log_z(const float * logits, int32_t n) {
    float mx = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        mx = std::max(mx, logits[i]);
    }
    double sum = 0;
    for (int32_t i = 0; i < n; i++) {
        sum += std::exp((double) logits[i] - mx);
    }
    return mx + (float) std::log(sum);
}

std::vector<std::pair<int32_t, float>> best(const float * logits, int32_t n, int32_t k, float shift) {
    std::vector<std::pair<int32_t, float>> all;
    all.reserve(n);
    for (int32_t i = 0; i < n; i++) {
        all.emplace_back(i, logits[i] - shift);
    }
    k = std::min(k, n);
    std::partial_sort(all.begin(), all.begin() + k, all.end(),
                      [](const auto & a, const auto & b) { return a.second > b.second; });
    all.resize(k);
    return all;
}
}  // namespace

ScoreResult Engine::score(const std::vector<int32_t> & tokens) {
    require_context();
    generate_end();
    const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
    if (tokens.size() < 2) {
        throw EngineError(code::bad_request, "scoring needs at least 2 tokens (the first is only context)");
    }
    if ((int64_t) tokens.size() > (int64_t) llama_n_ctx(ctx_)) {
        throw EngineError(code::context_overflow, "the text has " + std::to_string(tokens.size()) +
                                                      " tokens but the context holds " +
                                                      std::to_string(llama_n_ctx(ctx_)));
    }
    for (int32_t t : tokens) {
        if (t < 0 || t >= n_vocab) {
            throw EngineError(code::bad_request, "token id " + std::to_string(t) + " is outside the vocabulary");
        }
    }
    // One token per decode, in sequence 0 (other sequences keep their caches).
    llama_memory_seq_rm(llama_get_memory(ctx_), 0, -1, -1);
    slots_[0].tokens.clear();
    ScoreResult r;
    r.tokens = tokens;
    for (size_t i = 0; i + 1 < tokens.size(); i++) {
        decode_tokens(0, &tokens[i], 1, true);
        const float * logits = llama_get_logits_ith(ctx_, -1);
        r.logprobs.push_back(logits[tokens[i + 1]] - log_z(logits, n_vocab));
    }
    return r;
}

StepResult Engine::step(int32_t n_top, int32_t n_logprobs) {
    require_context();
    if (!generating_) {
        throw EngineError(code::not_generating, "no generation is running; run 'generate_start' first");
    }
    if (g_abort.load() != 0) {
        generate_end();
        throw EngineError(code::aborted, "generation was cancelled");
    }
    const int64_t t0 = ggml_time_us();
    StepResult r;
    if (n_top > 0) {
        const float * logits = llama_get_logits_ith(ctx_, -1);
        const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
        std::vector<std::pair<int32_t, float>> all;
        all.reserve(n_vocab);
        for (int32_t i = 0; i < n_vocab; i++) {
            all.emplace_back(i, logits[i]);
        }
        const int32_t k = std::min(n_top, n_vocab);
        std::partial_sort(all.begin(), all.begin() + k, all.end(),
                          [](const auto & a, const auto & b) { return a.second > b.second; });
        r.top.assign(all.begin(), all.begin() + k);
    }
    Slot & sl = slots_[seq_];
    r.token = common_sampler_sample(sl.smpl, ctx_, -1);
    common_sampler_accept(sl.smpl, r.token, true);
    if (n_logprobs >= 0) {
        const float * logits = llama_get_logits_ith(ctx_, -1);
        const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
        const float z = log_z(logits, n_vocab);
        r.has_logprob = true;
        r.logprob = logits[r.token] - z;
        if (n_logprobs > 0) {
            r.top_logprobs = best(logits, n_vocab, n_logprobs, z);
        }
    }
    r.eog = llama_vocab_is_eog(vocab_, r.token);
    if (!r.eog) {
        r.piece = common_token_to_piece(vocab_, r.token, false);
        timings_.n_generated++;
        if ((int32_t) sl.tokens.size() + 1 > (int32_t) llama_n_ctx(ctx_)) {
            r.context_full = true;  // the token is returned but there is no room to feed it back
        } else {
            try {
                decode_tokens(seq_, &r.token, 1, false);
            } catch (const EngineError & e) {
                if (e.code == code::aborted) {
                    generate_end();
                }
                timings_.decode_ms += (ggml_time_us() - t0) / 1000.0;
                throw;
            }
        }
    }
    timings_.decode_ms += (ggml_time_us() - t0) / 1000.0;
    if (r.eog || r.context_full) {
        generate_end();
    }
    return r;
}

void Engine::generate_end() {
    Slot & sl = slots_[seq_];
    if (sl.smpl && !sl.batched) {
        common_sampler_free(sl.smpl);
        sl.smpl = nullptr;
    }
    generating_ = false;
}

Engine::Info Engine::info() const {
    require_model();
    Info i;
    i.architecture = meta_str(model_, "general.architecture");
    i.name         = meta_str(model_, "general.name");
    char desc[256];
    llama_model_desc(model_, desc, sizeof desc);
    i.description = desc;
    // "llama 135M Q4_1 - ..." : the quantization is what follows the size word.
    {
        std::string d = desc;
        size_t a = d.find(' ');
        size_t b = a == std::string::npos ? a : d.find(' ', a + 1);
        i.quantization = b == std::string::npos ? "" : d.substr(b + 1);
    }
    const char * tmpl = llama_model_chat_template(model_, nullptr);
    i.chat_template = !chat_template_.empty() ? chat_template_ : tmpl ? tmpl : "";
    i.n_params    = llama_model_n_params(model_);
    i.size        = llama_model_size(model_);
    i.file_size   = file_size_;
    i.n_ctx_train = llama_model_n_ctx_train(model_);
    i.n_ctx       = ctx_ ? (int32_t) llama_n_ctx(ctx_) : 0;
    i.n_embd      = llama_model_n_embd(model_);
    i.n_layer     = llama_model_n_layer(model_);
    i.n_vocab     = llama_vocab_n_tokens(vocab_);
    i.n_threads   = n_threads_;
    i.n_batch     = n_batch_;
    i.bos         = llama_vocab_bos(vocab_);
    i.eos         = llama_vocab_eos(vocab_);
    i.n_gpu_layers = n_gpu_layers_;
    i.gpu_device   = gpu_device_;
    i.gpu_model_bytes = gpu_model_bytes_;
    i.gpu_kv_bytes    = gpu_kv_bytes_;
    return i;
}

uint64_t probe_memory(uint64_t bytes, uint64_t chunk, uint64_t * touched) {
    std::vector<unsigned char *> blocks;
    uint64_t highest = 0, done = 0, sum = 0;
    const uint64_t page = 4096;  // every host page, so the memory is really committed
    while (done < bytes) {
        const uint64_t n = std::min(chunk, bytes - done);
        auto * raw = static_cast<unsigned char *>(malloc(n));
        if (!raw) {
            break;
        }
        blocks.push_back(raw);
        volatile unsigned char * p = raw;  // volatile: the stores must really reach memory
        for (uint64_t off = 0; off < n; off += page) {
            p[off] = (unsigned char) (off / page);
        }
        p[n - 1] = 0x5a;
        for (uint64_t off = 0; off < n; off += page) {
            sum += p[off];
        }
        sum += p[n - 1];
        highest = std::max<uint64_t>(highest, (uint64_t) (uintptr_t) (raw + n - 1));
        done += n;
    }
    for (auto * p : blocks) {
        free(p);
    }
    *touched = done;
    return sum == 0 ? 0 : highest;  // sum is never 0 (0x5a per block): keeps the reads
}

}  // namespace plm
