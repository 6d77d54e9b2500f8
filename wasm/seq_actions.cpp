// The sequence actions: batched rows (batch_*) and saved sequence states (seq_*).
//
// A saved state crosses as bytes in linear memory, not JSON: a sequence of 500
// tokens of a small model is megabytes. seq_save hands out a malloc'd buffer
// ({ptr, size}) that the caller copies and frees; seq_restore reads one the caller
// allocated.
#include "request.h"

#include <cstdlib>
#include <cstring>

namespace plm {
namespace {

json row_json(const RowStep & r) {
    return json{{"seq", r.seq}, {"token", r.step.token}, {"bytes", bytes_array(r.step.piece)}, {"eog", r.step.eog},
                {"context_full", r.step.context_full}};
}

}  // namespace

void add_sequence_actions(std::map<std::string, Handler> & h) {
    h["batch_start"] = [](const json & r) {
        const std::vector<int32_t> prompt = prompt_tokens(r, "batch_start");
        const RowStep s = engine().batch_start(prompt, sampling_from(r), get_or<int32_t>(r, "seq", -1));
        json out = row_json(s);
        out["n_prompt"] = s.n_prompt;
        out["n_cached"] = s.n_cached;
        return out;
    };
    h["batch_step"] = [](const json & r) {
        json rows = json::array();
        for (const RowStep & s : engine().batch_step(token_list(r, "seqs"))) {
            rows.push_back(row_json(s));
        }
        return json{{"rows", rows}};
    };
    h["batch_end"] = [](const json & r) {
        if (get_or<bool>(r, "all", false)) {
            engine().batch_end_all();
        } else {
            const int32_t keep = get_or<int32_t>(r, "keep", -1);
            if (keep < -1) {
                throw EngineError(code::bad_request, "keep must be a count of tokens >= 0, got " + std::to_string(keep));
            }
            engine().batch_end(get_or<int32_t>(r, "seq", -1), keep);
        }
        return json::object();
    };
    h["seq_save"] = [](const json & r) {
        std::vector<int32_t> tokens;
        const std::vector<uint8_t> state = engine().seq_save(get_or<int32_t>(r, "seq", 0), tokens);
        void * out = malloc(state.size());
        if (!out) {
            throw EngineError(code::out_of_memory, "no memory for a copy of the sequence's state");
        }
        memcpy(out, state.data(), state.size());
        return json{{"ptr", (uint64_t) (uintptr_t) out}, {"size", (uint64_t) state.size()}, {"tokens", tokens}};
    };
    h["seq_restore"] = [](const json & r) {
        const auto * p = reinterpret_cast<const uint8_t *>((uintptr_t) get_or<uint64_t>(r, "ptr", 0));
        const uint64_t n = get_or<uint64_t>(r, "size", 0);
        if (!p || n == 0) {
            throw EngineError(code::bad_request, "'seq_restore' needs 'ptr' and 'size' of the state's bytes");
        }
        const std::vector<int32_t> tokens = token_list(r, "tokens");
        engine().seq_restore(get_or<int32_t>(r, "seq", 0), p, (size_t) n, tokens);
        return json{{"n_tokens", tokens.size()}};
    };
    h["seq_drop"] = [](const json & r) {
        engine().seq_drop(get_or<int32_t>(r, "seq", -1));
        return json::object();
    };
    h["sequences"] = [](const json &) { return json{{"lengths", engine().seq_lengths()}}; };
}

}  // namespace plm
