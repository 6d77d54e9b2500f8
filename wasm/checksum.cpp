// See checksum.h for what this checksum is for and what it guarantees.
#include "checksum.h"

#include <cstring>

namespace plm {
namespace {

constexpr uint32_t PRIME = 16777619u;  // FNV's 32-bit prime: odd, so multiplying is a bijection

uint32_t mix(uint32_t h) {  // a 32-bit finalizer: every input bit reaches every output bit
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return h;
}

}  // namespace

// 16 independent lanes over the 16 little-endian words of each 64-byte block:
// clang vectorizes the inner loop into i32x4 xor, mul, shift, xor. The xor-shift
// after the multiply brings the high bits down; without it (plain FNV-1a) a flip
// of a word's top bit changes the lane the same way in every block, so two such
// flips in one lane would cancel. Every step stays a bijection of the lane.
void Checksum::blocks(const uint8_t * p, size_t n_blocks) {
    uint32_t lane[16];
    memcpy(lane, lane_, sizeof lane);
    for (size_t b = 0; b < n_blocks; b++, p += 64) {
        uint32_t w[16];
        memcpy(w, p, 64);
        for (int i = 0; i < 16; i++) {
            const uint32_t x = (lane[i] ^ w[i]) * PRIME;
            lane[i]          = x ^ (x >> 13);
        }
    }
    memcpy(lane_, lane, sizeof lane);
}

void Checksum::update(const uint8_t * data, size_t n) {
    in_.feed(data, n, [this](const uint8_t * p, size_t k) { blocks(p, k); });
}

std::string Checksum::hex() {
    if (in_.tail_len) {
        memset(in_.tail + in_.tail_len, 0, 64 - in_.tail_len);
        blocks(in_.tail, 1);
    }
    const uint64_t length = in_.length;
    uint32_t out[4];
    for (int j = 0; j < 4; j++) {
        uint32_t h = mix((uint32_t) length ^ (uint32_t) (length >> 32) * PRIME ^ (uint32_t) j);
        for (int k = j; k < 16; k += 4) {
            h = mix(h ^ lane_[k]);
        }
        out[j] = h;
    }
    return hex_words(out, 4);
}

}  // namespace plm
