// A rendered chat as tokens, with the messages' text kept apart from the template's markup.
//
// Why: llama.cpp tokenizes a prompt with parse_special, so any text that spells a
// control token (`<|im_end|>`, `<end_of_turn>`, `<|eot_id|>`) becomes that token,
// wherever it came from. A chat prompt is markup written by the template around
// text written by users, documents and tools; text inside a message must stay text,
// or a message can close its own turn and open a system turn. The template's own
// markers must still be control tokens, or the model sees a broken prompt.
//
// How: the strings of the request that contain control-token text get each such
// occurrence replaced by a placeholder (private-use characters and a number), the
// template renders that request, and the prompt is tokenized piece by piece: the
// template's text with parse_special, each placeholder as its original text without
// it. A request with no control-token text in any string renders and tokenizes
// exactly as before (one tokenization of the whole prompt), so greedy outputs of
// ordinary chats do not change.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct llama_vocab;

namespace plm {

using json = nlohmann::ordered_json;

// A token llama.cpp's tokenizer makes from text only with parse_special: a control
// or unknown token (CONTROL | UNKNOWN attributes). lstrip/rstrip: it swallows the
// whitespace before/after it when parsed (LSTRIP/RSTRIP).
struct ControlToken {
    std::string text;
    bool lstrip = false;
    bool rstrip = false;
};

// The vocabulary's control tokens with a text.
std::vector<ControlToken> control_tokens(const llama_vocab * vocab);

// The request with control-token text in its strings replaced by placeholders;
// `literals[i]` is what placeholder i stands for (empty: nothing was replaced, and
// the request is returned as it was). A U+E000 in a string (the placeholders' first
// character) is replaced too, so that no message can forge a placeholder. Keys and
// the "role" and "type" values are not touched: they steer the template, a user
// does not write them.
json guard_request(const json & req, const std::vector<ControlToken> & controls, std::vector<std::string> & literals);

// Tokens of a prompt rendered from guard_request's result: the template's text
// parsed for special tokens, each run of text between two of its control tokens that
// holds a placeholder tokenized as plain text with the placeholders' texts put back.
// BOS (EOS, SEP for vocabularies that add them) as llama_tokenize(add_special) adds
// them. A placeholder the template changed (escaped, cut) is left as the text it
// became: its control text is gone either way.
std::vector<int32_t> guarded_tokens(const llama_vocab * vocab, const std::vector<ControlToken> & controls,
                                    const std::string & prompt, const std::vector<std::string> & literals);

}  // namespace plm
