// Reading action requests (request.h).
#include "request.h"

#include "json-schema-to-grammar.h"

namespace plm {

Engine & engine() {
    static Engine e;  // one engine per module instance (one worker, one model)
    return e;
}

json bytes_array(const std::string & s) {
    json a = json::array();
    for (unsigned char c : s) {
        a.push_back((int) c);
    }
    return a;
}

std::vector<int32_t> token_list(const json & req, const char * key) {
    auto it = req.find(key);
    if (it == req.end() || !it->is_array()) {
        throw EngineError(code::bad_request, std::string("field '") + key + "' must be a list of token ids");
    }
    std::vector<int32_t> out;
    out.reserve(it->size());
    for (const auto & v : *it) {
        if (!v.is_number_integer()) {
            throw EngineError(code::bad_request, std::string("field '") + key + "' must hold integers only");
        }
        out.push_back(v.get<int32_t>());
    }
    return out;
}

// A JSON schema (an object, or its text) as a GBNF grammar, by llama.cpp's own
// converter (common/json-schema-to-grammar, what llama-server uses).
std::string schema_grammar(const json & schema) {
    try {
        const std::string text = schema.is_string() ? schema.get<std::string>() : schema.dump();
        return json_schema_to_grammar(common_json::parse(text));
    } catch (const std::exception & e) {
        throw EngineError(code::bad_request, std::string("llama.cpp cannot turn this JSON schema into a grammar: ") +
                                                 e.what());
    }
}

SamplingParams sampling_from(const json & req) {
    SamplingParams s;
    const json & j = req.contains("sampling") ? req["sampling"] : json::object();
    s.temperature    = get_or<float>(j, "temperature", s.temperature);
    s.top_k          = get_or<int32_t>(j, "top_k", s.top_k);
    s.top_p          = get_or<float>(j, "top_p", s.top_p);
    s.min_p          = get_or<float>(j, "min_p", s.min_p);
    s.repeat_penalty = get_or<float>(j, "repeat_penalty", s.repeat_penalty);
    s.repeat_last_n  = get_or<int32_t>(j, "repeat_last_n", s.repeat_last_n);
    const int64_t seed = get_or<int64_t>(j, "seed", -1);  // absent: llama.cpp's random seed
    s.grammar        = get_or<std::string>(j, "grammar", "");
    if (j.contains("json_schema") && !j["json_schema"].is_null()) {
        if (!s.grammar.empty()) {
            throw EngineError(code::bad_request, "give either 'grammar' or 'json_schema', not both");
        }
        s.grammar = schema_grammar(j["json_schema"]);
    }
    s.ignore_eos     = get_or<bool>(j, "ignore_eos", false);
    s.cache_prompt   = get_or<bool>(j, "cache_prompt", true);
    s.presence_penalty  = get_or<float>(j, "presence_penalty", 0.0f);
    s.frequency_penalty = get_or<float>(j, "frequency_penalty", 0.0f);
    if (!(s.presence_penalty >= -2 && s.presence_penalty <= 2) ||
        !(s.frequency_penalty >= -2 && s.frequency_penalty <= 2)) {
        throw EngineError(code::bad_request, "presence_penalty and frequency_penalty must be in -2..2");
    }
    if (j.contains("chat") && !j["chat"].is_null()) {
        if (!j["chat"].is_object()) {
            throw EngineError(code::bad_request, "sampling.chat must be chat_format's 'sampling' object");
        }
        if (!s.grammar.empty() && !j["chat"].value("grammar", std::string()).empty()) {
            throw EngineError(code::bad_request, "a tool-call grammar and 'grammar'/'json_schema' cannot be combined");
        }
        s.chat = j["chat"].dump();
    }
    // The bounds of protocol.json "limits" (Python validates with the same table;
    // tests/node/protocol.test.mjs checks these guards against it).
    const bool seed_ok = !j.contains("seed") || j["seed"].is_null() || (seed >= 0 && seed <= 4294967294LL);
    if (!(s.temperature >= 0) || !(s.top_p > 0 && s.top_p <= 1) || !(s.min_p >= 0 && s.min_p <= 1) ||
        !(s.repeat_penalty > 0) || s.top_k < 0 || s.repeat_last_n < -1 || !seed_ok) {
        throw EngineError(code::bad_request,
                          "sampling values out of range: temperature >= 0, 0 < top_p <= 1, 0 <= min_p <= 1, "
                          "repeat_penalty > 0, top_k >= 0, repeat_last_n >= -1, 0 <= seed <= 4294967294");
    }
    if (seed >= 0) {
        s.seed = (uint32_t) seed;
    }
    return s;
}

std::vector<int32_t> prompt_tokens(const json & r, const char * action) {
    if (r.contains("tokens")) {
        return token_list(r, "tokens");
    }
    auto it = r.find("prompt");
    if (it == r.end() || !it->is_string()) {
        throw EngineError(code::bad_request, std::string("'") + action + "' needs 'prompt' (string) or 'tokens'");
    }
    return engine().tokenize(it->get<std::string>(), get_or<bool>(r, "add_special", true),
                             get_or<bool>(r, "parse_special", true));
}

}  // namespace plm
