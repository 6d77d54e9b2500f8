// Streaming SHA-256 (FIPS 180-4) over bytes already in linear memory.
//
// Why in the engine: the worker streams every model (download, File, cache read)
// into linear memory anyway, and the hash of a multi-GB file is ~2x faster in
// wasm than in JavaScript; crypto.subtle cannot hash a stream at all.
#pragma once

#include "blocks.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace plm {

class Sha256 {
  public:
    Sha256();
    void        update(const uint8_t * data, size_t n);
    std::string hex();  // 64 lowercase hex digits; the object is spent afterwards

  private:
    void        blocks(const uint8_t * p, size_t n_blocks);
    uint32_t    h_[8];
    BlockFeeder in_;
};

}  // namespace plm
