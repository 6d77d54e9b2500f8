// Reading action requests: the shared helpers of actions.cpp and seq_actions.cpp.
//
// Why apart: every action validates its request the same way (a field of the wrong
// type is a bad_request naming it), and the sequence actions live in their own file.
#pragma once

#include "engine.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace plm {

using json = nlohmann::ordered_json;

// The engine of this module instance (one worker, one model).
Engine & engine();

// j[key], or `def` when absent or null; a value of the wrong type is a bad_request.
template <typename T> T get_or(const json & j, const char * key, T def) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return def;
    }
    try {
        return it->get<T>();
    } catch (const std::exception &) {
        throw EngineError(code::bad_request, std::string("field '") + key + "' has the wrong type");
    }
}

// The bytes of a token's piece, as a JSON array of numbers (JSON has no bytes).
json bytes_array(const std::string & s);
// req[key] as token ids (a bad_request unless a list of integers).
std::vector<int32_t> token_list(const json & req, const char * key);
// A JSON schema (an object, or its text) as GBNF, by llama.cpp's own converter.
std::string schema_grammar(const json & schema);
// The "sampling" object of a request, checked against protocol.json's limits.
SamplingParams sampling_from(const json & req);
// A request's prompt: "tokens", or "prompt" text tokenized (special tokens parsed).
std::vector<int32_t> prompt_tokens(const json & req, const char * action);

using Handler = std::function<json(const json &)>;

// The sequence actions (seq_actions.cpp): batch_start, batch_step, batch_end,
// seq_save, seq_restore, seq_drop, sequences.
void add_sequence_actions(std::map<std::string, Handler> & h);

}  // namespace plm
