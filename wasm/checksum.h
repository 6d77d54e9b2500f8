// A fast non-cryptographic checksum of model files kept in the browser's cache.
//
// Why not SHA-256 for this: every cached load re-reads the whole file, and
// SHA-256 runs at ~170-200 MB/s in wasm (24 s for a 4 GB model). This checksum
// runs at memory speed (6-9 GB/s in wasm) and still catches what storage does to
// files: any single changed 32-bit word always changes it (each step is a
// bijection of the lane's state); it is not a cryptographic hash.
// SHA-256 is still computed when the caller gives sha256= (see sha256.h).
#pragma once

#include "blocks.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace plm {

class Checksum {
  public:
    void        update(const uint8_t * data, size_t n);
    std::string hex();  // 32 lowercase hex digits; the object is spent afterwards

  private:
    void     blocks(const uint8_t * p, size_t n_blocks);
    uint32_t lane_[16] = {0x811c9dc5u, 0x811c9dc5u ^ 1,  0x811c9dc5u ^ 2,  0x811c9dc5u ^ 3,
                          0x811c9dc5u ^ 4, 0x811c9dc5u ^ 5,  0x811c9dc5u ^ 6,  0x811c9dc5u ^ 7,
                          0x811c9dc5u ^ 8, 0x811c9dc5u ^ 9,  0x811c9dc5u ^ 10, 0x811c9dc5u ^ 11,
                          0x811c9dc5u ^ 12, 0x811c9dc5u ^ 13, 0x811c9dc5u ^ 14, 0x811c9dc5u ^ 15};
    BlockFeeder in_;
};

}  // namespace plm
