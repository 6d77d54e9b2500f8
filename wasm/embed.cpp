// Embeddings through llama.cpp's own pooling (embed.h).
#include "embed.h"

#include "engine.h"

#include "common.h"
#include "llama.h"

#include <algorithm>
#include <string>

namespace plm {

Embedder::Embedder(llama_model * model, int32_t pooling, uint32_t n_ctx, int32_t n_threads,
                   ggml_threadpool * pool)
    : model_(model), requested_(pooling) {
    llama_context_params cp = llama_context_default_params();
    cp.embeddings     = true;
    cp.pooling_type   = (enum llama_pooling_type) pooling;
    cp.n_ctx          = n_ctx;
    cp.n_batch        = n_ctx;  // a non-causal model needs a whole sequence in one ubatch
    cp.n_ubatch       = n_ctx;
    cp.n_seq_max      = (uint32_t) std::min<size_t>(llama_max_parallel_sequences(), 64);
    cp.kv_unified     = true;  // the sequences of one batch share the context's n_ctx
    cp.n_threads      = n_threads;
    cp.n_threads_batch = n_threads;
    ctx_ = llama_init_from_model(model, cp);
    if (ctx_ && pooling < 0 && llama_pooling_type(ctx_) == LLAMA_POOLING_TYPE_NONE) {
        // A model that names no pooling (a chat model, not an embedding model): mean over
        // its tokens, the choice that does not depend on how the text ends.
        llama_free(ctx_);
        cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
        ctx_ = llama_init_from_model(model, cp);
    }
    if (!ctx_) {
        throw EngineError(code::out_of_memory, "llama.cpp could not make an embedding context of " +
                                                   std::to_string(n_ctx) + " tokens: " + recent_log_errors());
    }
    if (llama_pooling_type(ctx_) == LLAMA_POOLING_TYPE_NONE || llama_pooling_type(ctx_) == LLAMA_POOLING_TYPE_RANK) {
        llama_free(ctx_);
        ctx_ = nullptr;
        throw EngineError(code::bad_request, "this model pools no sentence embedding (pooling none or rank); "
                                             "pass pooling='mean', 'cls' or 'last'");
    }
    if (pool) {
        llama_attach_threadpool(ctx_, pool, pool);
    }
    n_ctx_     = llama_n_ctx(ctx_);
    n_seq_max_ = llama_n_seq_max(ctx_);
}

Embedder::~Embedder() {
    if (ctx_) {
        llama_free(ctx_);
    }
}

EmbedResult Embedder::embed(const std::vector<std::vector<int32_t>> & inputs, bool normalize) {
    EmbedResult r;
    r.pooling = llama_pooling_type(ctx_);
    const int32_t dim = llama_model_n_embd_out(model_);
    r.vectors.assign(inputs.size(), std::vector<float>(dim));
    llama_batch batch = llama_batch_init((int32_t) n_ctx_, 0, 1);
    auto flush = [&](size_t first, size_t count) {
        llama_memory_clear(llama_get_memory(ctx_), true);
        const int32_t rc = llama_decode(ctx_, batch);
        if (rc != 0) {
            throw EngineError(code::decode_failed, "llama_decode of an embedding batch failed with code " +
                                                       std::to_string(rc) + ": " + recent_log_errors());
        }
        for (size_t s = 0; s < count; s++) {
            const float * e = llama_get_embeddings_seq(ctx_, (llama_seq_id) s);
            if (!e) {
                throw EngineError(code::internal, "llama.cpp returned no embedding for a sequence");
            }
            common_embd_normalize(e, r.vectors[first + s].data(), dim, normalize ? 2 : -1);
        }
        batch.n_tokens = 0;
    };
    try {
        size_t first = 0;
        for (size_t i = 0; i < inputs.size(); i++) {
            const auto & toks = inputs[i];
            if (toks.empty() || toks.size() > n_ctx_) {
                throw EngineError(code::bad_request, "an embedding input must have 1.." + std::to_string(n_ctx_) +
                                                         " tokens");
            }
            const size_t in_batch = i - first;
            if (batch.n_tokens + (int32_t) toks.size() > (int32_t) n_ctx_ || in_batch >= n_seq_max_) {
                flush(first, in_batch);
                first = i;
            }
            const llama_seq_id seq = (llama_seq_id) (i - first);
            for (size_t j = 0; j < toks.size(); j++) {
                const int32_t k = batch.n_tokens++;
                batch.token[k]     = toks[j];
                batch.pos[k]       = (llama_pos) j;
                batch.n_seq_id[k]  = 1;
                batch.seq_id[k][0] = seq;
                batch.logits[k]    = true;
            }
        }
        if (batch.n_tokens > 0) {
            flush(first, inputs.size() - first);
        }
    } catch (...) {
        llama_batch_free(batch);
        throw;
    }
    llama_batch_free(batch);
    return r;
}

}  // namespace plm
