// Chat through llama.cpp's common chat code, the code llama-server uses.
//
// Why one module: a chat template does more than render a prompt. For tools and
// reasoning it also says how to constrain the answer (a lazy grammar and what
// triggers it) and how to read it back (a PEG parser, serialised), and both
// depend on the template family (Hermes, Qwen, Llama 3.x, Mistral, ...). All of
// it comes from common/chat.h here; nothing of ours guesses at a format.
#pragma once

#include "chat_tokens.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

struct common_chat_templates;
struct common_params_sampling;
struct llama_model;
struct llama_vocab;

namespace plm {

using json = nlohmann::ordered_json;

// The "chat_format" action: messages (OpenAI shape: content may be null, with
// tool_calls, tool_call_id, name), and optionally tools (OpenAI tool dicts),
// tool_choice ("auto" | "required" | "none"), parallel_tool_calls,
// enable_thinking, add_generation_prompt, parse_special. `tmpls` is the model's
// template or the load's override; `override_template` (non-empty) replaces it for
// this call; `controls` are the vocabulary's control tokens (chat_tokens.h).
// Replies the prompt, its "tokens" (message text kept from becoming control tokens
// unless parse_special; "guarded" counts the control texts kept as text), extra
// stop strings, and what generation and parsing need: "sampling" (grammar, lazy
// flag, triggers, preserved tokens) and "syntax".
json chat_render(const llama_model * model, const common_chat_templates * tmpls,
                 const std::string & override_template, const std::vector<ControlToken> & controls, const json & req);

// Adds a rendered chat's grammar constraints ("sampling" of chat_render's reply,
// sent back in a generate request as sampling.chat) to llama.cpp's sampler
// parameters, as llama-server does: single-token trigger words become token
// triggers, preserved tokens are token ids.
void chat_sampling(const json & chat, const llama_vocab * vocab, common_params_sampling & sp);

// The "chat_parse" action: the assistant message in `text` under `syntax`
// (chat_render's "syntax"): {role, content, reasoning_content, tool_calls:
// [{name, arguments (JSON text), id}]}. `partial`: the text may be cut short.
json chat_parse(const std::string & text, bool partial, const json & syntax);

// One generation's incremental parse: feed() takes each token's bytes and returns
// what the message gained ({content, reasoning, tool_calls: [{index, id, name,
// arguments}]}, each present only when it grew); bytes of an unfinished UTF-8
// character wait for the next token.
class ChatStream {
  public:
    explicit ChatStream(const json & syntax);
    ~ChatStream();
    ChatStream(const ChatStream &) = delete;
    ChatStream & operator=(const ChatStream &) = delete;
    json feed(const std::string & bytes);

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace plm
