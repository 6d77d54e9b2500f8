// The sequences of the one context: decoding into a sequence, reusing cached prefixes
// (a sequence's own, or another's cells shared through seq_cp), making room by
// forgetting idle sequences, batched rows, and a sequence's state saved and restored.
//
// Why batched rows: one llama_decode of eight rows reads every weight once, not eight
// times. In these wasm builds the gain is smaller than natively (measured 55 tok/s for
// one row, 76 tok/s in total for eight, SmolLM2, 2 threads, node): the quantized dot
// products are compute-bound, each row's unpacking of the weights is repeated. A row's
// first token is sampled right after its prefill, while its logits are the context's
// last; every later token from the row of logits its sequence got in the batch that
// decoded the one before it.
#include "engine.h"

#include "common.h"
#include "llama.h"
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace plm {

Slot & Engine::slot(int32_t seq) {
    if (seq < 0 || seq >= kMaxSeqs) {
        throw EngineError(code::bad_request, "seq must be in 0.." + std::to_string(kMaxSeqs - 1));
    }
    return slots_[seq];
}

// Forget the least recently used sequence that is not generating (and not `except`).
bool Engine::evict_one(int32_t except) {
    int32_t victim = -1;
    for (int32_t i = 0; i < kMaxSeqs; i++) {
        const Slot & sl = slots_[i];
        if (i == except || sl.batched || (generating_ && i == seq_) || sl.tokens.empty()) {
            continue;
        }
        if (victim < 0 || sl.used < slots_[victim].used) {
            victim = i;
        }
    }
    if (victim < 0) {
        return false;
    }
    llama_memory_seq_rm(llama_get_memory(ctx_), victim, -1, -1);
    slots_[victim].tokens.clear();
    return true;
}

int32_t Engine::decode_with_room(const llama_batch & batch, int32_t seq_hint) {
    for (;;) {
        const int32_t rc = llama_decode(ctx_, batch);
        // 1: no room in the cache for the batch (nothing was written): make some.
        if (rc != 1 || !evict_one(seq_hint)) {
            return rc;
        }
    }
}

void Engine::decode_tokens(int32_t seq, const int32_t * tokens, int32_t n, bool is_prompt) {
    Slot & sl = slots_[seq];
    sl.used = ++clock_;
    for (int32_t i = 0; i < n; i += n_batch_) {
        // Between batches too: a graph that runs on the GPU never calls the abort
        // callback (only ggml's CPU backend does), so a long prefill stops here.
        if (abort_flag_ref().load() != 0) {
            llama_memory_seq_rm(llama_get_memory(ctx_), seq, (llama_pos) sl.tokens.size(), -1);
            throw EngineError(code::aborted, is_prompt ? "prompt evaluation was cancelled" : "decode was cancelled");
        }
        const int32_t m = std::min(n_batch_, n - i);
        batch_.n_tokens = m;
        for (int32_t j = 0; j < m; j++) {
            batch_.token[j]     = tokens[i + j];
            batch_.pos[j]       = (llama_pos) (sl.tokens.size() + j);
            batch_.n_seq_id[j]  = 1;
            batch_.seq_id[j][0] = seq;
            batch_.logits[j]    = j == m - 1;
        }
        const int32_t rc = decode_with_room(batch_, seq);
        if (rc != 0) {
            // The cache may hold part of this batch: forget everything after what is known good.
            llama_memory_seq_rm(llama_get_memory(ctx_), seq, (llama_pos) sl.tokens.size(), -1);
            if (rc == 2 || abort_flag_ref().load() != 0) {
                throw EngineError(code::aborted, is_prompt ? "prompt evaluation was cancelled" : "decode was cancelled");
            }
            if (rc == 1) {
                throw EngineError(code::context_overflow,
                                  "the context's cache has no room for " + std::to_string(m) +
                                      " more tokens while other sequences generate; load with a larger n_ctx");
            }
            throw EngineError(code::decode_failed, "llama_decode failed with code " + std::to_string(rc) + ": " +
                                                       recent_log_errors());
        }
        sl.tokens.insert(sl.tokens.end(), tokens + i, tokens + i + m);
    }
}

void Engine::check_prompt(const std::vector<int32_t> & prompt) const {
    const int32_t n_ctx = (int32_t) llama_n_ctx(ctx_);
    const int32_t n_prompt = (int32_t) prompt.size();
    if (n_prompt == 0) {
        throw EngineError(code::bad_request, "the prompt is empty (after tokenization)");
    }
    if (n_prompt >= n_ctx) {
        throw EngineError(code::context_overflow, "the prompt has " + std::to_string(n_prompt) +
                                                      " tokens but the context holds " + std::to_string(n_ctx) +
                                                      "; shorten the prompt or load the model with a larger n_ctx");
    }
    const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
    for (int32_t t : prompt) {
        if (t < 0 || t >= n_vocab) {
            throw EngineError(code::bad_request, "token id " + std::to_string(t) + " is outside the vocabulary");
        }
    }
}

namespace {
size_t common_prefix(const std::vector<int32_t> & a, const std::vector<int32_t> & b) {
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) {
        n++;
    }
    return n;
}
}  // namespace

// Keep the longest cached prefix of `prompt` in `seq`: its own, or another
// sequence's, whose cells it then shares (seq_cp: no copy, no recompute). At least
// the prompt's last token is always evaluated again, for fresh logits.
size_t Engine::reuse_prefix(int32_t seq, const std::vector<int32_t> & prompt, bool cache_prompt) {
    llama_memory_t mem = llama_get_memory(ctx_);
    Slot & sl = slots_[seq];
    if (!cache_prompt) {
        llama_memory_seq_rm(mem, seq, -1, -1);
        sl.tokens.clear();
        return 0;
    }
    const size_t limit = prompt.size() - 1;
    size_t keep = std::min(common_prefix(sl.tokens, prompt), limit);
    int32_t donor = -1;
    size_t best = keep;
    for (int32_t i = 0; i < kMaxSeqs; i++) {
        const size_t n = i == seq ? 0 : std::min(common_prefix(slots_[i].tokens, prompt), limit);
        if (n > best) {
            best = n;
            donor = i;
        }
    }
    if (donor >= 0) {
        llama_memory_seq_rm(mem, seq, -1, -1);
        llama_memory_seq_cp(mem, donor, seq, 0, (llama_pos) best);
        sl.tokens.assign(prompt.begin(), prompt.begin() + best);
        slots_[donor].used = ++clock_;
        return best;
    }
    if (!llama_memory_seq_rm(mem, seq, (llama_pos) keep, -1)) {
        llama_memory_seq_rm(mem, seq, -1, -1);
        keep = 0;
    }
    sl.tokens.resize(keep);
    return keep;
}

StepResult Engine::sample_row(Slot & sl, int32_t row) {
    StepResult r;
    r.token = common_sampler_sample(sl.smpl, ctx_, row);
    common_sampler_accept(sl.smpl, r.token, true);
    r.eog = llama_vocab_is_eog(vocab_, r.token);
    if (!r.eog) {
        r.piece = common_token_to_piece(vocab_, r.token, false);
        sl.pending = r.token;
        r.context_full = (int32_t) sl.tokens.size() + 1 > (int32_t) llama_n_ctx(ctx_);
    }
    return r;
}

RowStep Engine::batch_start(const std::vector<int32_t> & prompt, const SamplingParams & s, int32_t seq) {
    require_context();
    if (generating_) {
        generate_end();
    }
    if (seq < 0) {  // a free sequence: one that holds nothing, else the least recently used idle one
        for (int32_t i = 0; i < kMaxSeqs; i++) {
            const Slot & c = slots_[i];
            if (c.batched) {
                continue;
            }
            if (seq < 0 || (c.tokens.empty() && !slots_[seq].tokens.empty()) ||
                (c.tokens.empty() == slots_[seq].tokens.empty() && c.used < slots_[seq].used)) {
                seq = i;
            }
        }
        if (seq < 0) {
            throw EngineError(code::bad_request, "all " + std::to_string(kMaxSeqs) + " sequences are generating rows");
        }
    }
    Slot & sl = slot(seq);
    if (sl.batched) {
        throw EngineError(code::bad_request, "sequence " + std::to_string(seq) + " is already generating a row");
    }
    check_prompt(prompt);
    RowStep out;
    out.seq      = seq;
    out.n_prompt = (int32_t) prompt.size();
    const size_t keep = reuse_prefix(seq, prompt, s.cache_prompt);
    out.n_cached = (int32_t) keep;
    sl.smpl = make_sampler(s);
    sl.batched = true;
    try {
        decode_tokens(seq, prompt.data() + keep, (int32_t) (prompt.size() - keep), true);
        out.step = sample_row(sl, -1);
    } catch (...) {
        batch_end(seq);
        throw;
    }
    return out;
}

std::vector<RowStep> Engine::batch_step(const std::vector<int32_t> & seqs) {
    require_context();
    if (seqs.empty() || (int32_t) seqs.size() > kMaxSeqs) {
        throw EngineError(code::bad_request, "batch_step needs 1.." + std::to_string(kMaxSeqs) + " sequences");
    }
    if (abort_flag_ref().load() != 0) {
        throw EngineError(code::aborted, "batched generation was cancelled");
    }
    // Each row's pending token, one sequence id each, logits for every one.
    batch_.n_tokens = 0;
    for (int32_t seq : seqs) {
        Slot & sl = slot(seq);
        if (!sl.batched || sl.pending < 0) {
            throw EngineError(code::bad_request, "sequence " + std::to_string(seq) + " has no pending token " +
                                                     "(start it with batch_start; a finished row cannot step)");
        }
        if ((int32_t) sl.tokens.size() + 1 > (int32_t) llama_n_ctx(ctx_)) {
            throw EngineError(code::context_overflow, "sequence " + std::to_string(seq) + " fills the context");
        }
        const int32_t j = batch_.n_tokens++;
        batch_.token[j]     = sl.pending;
        batch_.pos[j]       = (llama_pos) sl.tokens.size();
        batch_.n_seq_id[j]  = 1;
        batch_.seq_id[j][0] = seq;
        batch_.logits[j]    = true;
        sl.row = j;
        sl.used = ++clock_;
    }
    const int64_t t0 = ggml_time_us();
    const int32_t rc = decode_with_room(batch_, -1);
    if (rc != 0) {
        for (int32_t seq : seqs) {  // what a failed batch may have written is not known good
            llama_memory_seq_rm(llama_get_memory(ctx_), seq, (llama_pos) slots_[seq].tokens.size(), -1);
        }
        if (rc == 2 || abort_flag_ref().load() != 0) {
            throw EngineError(code::aborted, "batched generation was cancelled");
        }
        if (rc == 1) {
            throw EngineError(code::context_overflow,
                              "the context's cache has no room for " + std::to_string(seqs.size()) +
                                  " rows at once; lower concurrency or load with a larger n_ctx");
        }
        throw EngineError(code::decode_failed, "llama_decode failed with code " + std::to_string(rc) + ": " +
                                                   recent_log_errors());
    }
    std::vector<RowStep> out;
    out.reserve(seqs.size());
    for (int32_t seq : seqs) {
        Slot & sl = slots_[seq];
        sl.tokens.push_back(sl.pending);
        sl.pending = -1;
        RowStep r;
        r.seq  = seq;
        r.step = sample_row(sl, sl.row);
        out.push_back(std::move(r));
    }
    timings_.decode_ms += (ggml_time_us() - t0) / 1000.0;
    timings_.n_generated += (int32_t) seqs.size();
    return out;
}

void Engine::batch_end(int32_t seq, int32_t keep) {
    Slot & sl = slot(seq);
    if (sl.smpl) {
        common_sampler_free(sl.smpl);
        sl.smpl = nullptr;
    }
    sl.pending = -1;
    sl.row     = -1;
    sl.batched = false;
    if (keep >= 0 && (size_t) keep < sl.tokens.size()) {
        llama_memory_seq_rm(llama_get_memory(ctx_), seq, keep, -1);
        sl.tokens.resize(keep);
    }
}

void Engine::batch_end_all() {
    for (int32_t i = 0; i < kMaxSeqs; i++) {
        if (slots_[i].batched) {
            batch_end(i);
        }
    }
}

std::vector<uint8_t> Engine::seq_save(int32_t seq, std::vector<int32_t> & tokens) {
    require_context();
    Slot & sl = slot(seq);
    if (sl.tokens.empty()) {
        throw EngineError(code::bad_request, "sequence " + std::to_string(seq) + " holds no tokens to save");
    }
    std::vector<uint8_t> out(llama_state_seq_get_size(ctx_, seq));
    const size_t n = llama_state_seq_get_data(ctx_, out.data(), out.size(), seq);
    if (n == 0) {
        throw EngineError(code::internal, "llama.cpp could not write the sequence's state: " + recent_log_errors());
    }
    out.resize(n);
    tokens = sl.tokens;
    return out;
}

void Engine::seq_restore(int32_t seq, const uint8_t * data, size_t size, const std::vector<int32_t> & tokens) {
    require_context();
    Slot & sl = slot(seq);
    if (sl.batched || (generating_ && seq == seq_)) {
        throw EngineError(code::bad_request, "sequence " + std::to_string(seq) + " is generating");
    }
    if (tokens.empty() || (int64_t) tokens.size() >= (int64_t) llama_n_ctx(ctx_)) {
        throw EngineError(code::bad_request, "a saved state holds 1..n_ctx-1 tokens");
    }
    const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
    for (int32_t t : tokens) {
        if (t < 0 || t >= n_vocab) {
            throw EngineError(code::bad_request, "the saved state's token " + std::to_string(t) +
                                                     " is outside this model's vocabulary");
        }
    }
    llama_memory_t mem = llama_get_memory(ctx_);
    llama_memory_seq_rm(mem, seq, -1, -1);
    sl.tokens.clear();
    clear_log_errors();
    for (;;) {
        if (llama_state_seq_set_data(ctx_, data, size, seq) == size) {
            break;
        }
        llama_memory_seq_rm(mem, seq, -1, -1);  // a failed read leaves nothing half-written behind
        const std::string why = recent_log_errors();
        if (why.find("available cells") == std::string::npos || !evict_one(seq)) {
            throw EngineError(code::bad_request,
                              "llama.cpp refused the saved state (another model, n_ctx or build?): " +
                                  (why.empty() ? "no reason given" : why));
        }
        clear_log_errors();
    }
    if (llama_memory_seq_pos_max(mem, seq) + 1 != (llama_pos) tokens.size()) {
        llama_memory_seq_rm(mem, seq, -1, -1);
        throw EngineError(code::bad_request, "the saved state does not hold the " + std::to_string(tokens.size()) +
                                                 " tokens it names");
    }
    sl.tokens = tokens;
    sl.used = ++clock_;
}

void Engine::seq_drop(int32_t seq) {
    require_context();
    Slot & sl = slot(seq);
    if (sl.batched || (generating_ && seq == seq_)) {
        throw EngineError(code::bad_request, "sequence " + std::to_string(seq) + " is generating");
    }
    llama_memory_seq_rm(llama_get_memory(ctx_), seq, -1, -1);
    sl.tokens.clear();
}

std::vector<int32_t> Engine::seq_lengths() const {
    std::vector<int32_t> out;
    for (const Slot & sl : slots_) {
        out.push_back((int32_t) sl.tokens.size());
    }
    return out;
}

}  // namespace plm
