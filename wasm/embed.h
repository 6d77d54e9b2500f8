// Embeddings: one llama.cpp context of the loaded model with embeddings on, many texts per batch.
//
// Why a context of its own: the pooling type (mean, CLS, last) is fixed when a
// context is made, and an embedding batch holds several sequences at once (one
// sequence id each), unlike the generation context (one sequence). It shares the
// loaded weights, and is made on the first embed call (again when the pooling changes).
#pragma once

#include <cstdint>
#include <vector>

struct ggml_threadpool;
struct llama_context;
struct llama_model;

namespace plm {

struct EmbedResult {
    std::vector<std::vector<float>> vectors;  // one per input, in order
    int32_t pooling = -1;                     // llama_pooling_type used
};

class Embedder {
  public:
    // pooling: a llama_pooling_type, or -1 for the model's own (its GGUF metadata).
    // pool: the engine's persistent threads, or null. A browser worker cannot start a
    // pthread while it computes (the pool is sized for the engine's threads), so the
    // embedding context must run on the generation context's threads.
    Embedder(llama_model * model, int32_t pooling, uint32_t n_ctx, int32_t n_threads, ggml_threadpool * pool);
    ~Embedder();
    Embedder(const Embedder &) = delete;
    Embedder & operator=(const Embedder &) = delete;

    // Each input's tokens (at most n_ctx() each), packed into batches of several sequences.
    EmbedResult embed(const std::vector<std::vector<int32_t>> & inputs, bool normalize);
    uint32_t n_ctx() const { return n_ctx_; }
    int32_t requested_pooling() const { return requested_; }

  private:
    llama_model * model_;
    llama_context * ctx_ = nullptr;
    uint32_t n_ctx_ = 0;
    uint32_t n_seq_max_ = 1;
    int32_t requested_ = -1;
};

}  // namespace plm
