// What the two file digests (sha256.h, checksum.h) share: feeding a byte stream,
// in spans of any length, to a function of whole 64-byte blocks; and hex output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace plm {

struct BlockFeeder {
    uint8_t  tail[64];  // bytes of an unfinished block
    size_t   tail_len = 0;
    uint64_t length   = 0;  // bytes fed so far

    // blocks(p, n) consumes n whole blocks at p.
    template <class F> void feed(const uint8_t * data, size_t n, F && blocks) {
        length += n;
        if (tail_len) {
            const size_t take = n < 64 - tail_len ? n : 64 - tail_len;
            memcpy(tail + tail_len, data, take);
            tail_len += take;
            data += take;
            n -= take;
            if (tail_len < 64) {
                return;
            }
            blocks(tail, 1);
            tail_len = 0;
        }
        blocks(data, n / 64);
        memcpy(tail, data + n / 64 * 64, n % 64);
        tail_len = n % 64;
    }
};

// Big-endian hex digits of 32-bit words.
inline std::string hex_words(const uint32_t * words, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; i++) {
        for (int s = 28; s >= 0; s -= 4) {
            out += digits[(words[i] >> s) & 15];
        }
    }
    return out;
}

}  // namespace plm
