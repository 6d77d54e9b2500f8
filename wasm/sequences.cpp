// Several sequences in one context: batched generation, and a sequence's state saved
// and restored.
//
// Why: decoding one token costs about as much memory traffic for one sequence as
// for eight (the weights are read once per batch), so rows of a data app generate
// together, one token each per llama_decode. A row's first token is sampled right
// after its prefill, while its logits are the context's last; every later token is
// sampled from the row of logits its sequence got in the batch that decoded the one
// before it.
#include "engine.h"

#include "common.h"
#include "llama.h"
#include "sampling.h"

#include <algorithm>
#include <string>

namespace plm {

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

void Engine::batch_end(int32_t seq) {
    Slot & sl = slot(seq);
    if (sl.smpl) {
        common_sampler_free(sl.smpl);
        sl.smpl = nullptr;
    }
    sl.pending = -1;
    sl.row     = -1;
    sl.batched = false;
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
