// Chat rendering and parsing: llama.cpp's common/chat.h, JSON in and out (chat_io.h).
#include "chat_io.h"

#include "chat_tokens.h"
#include "engine.h"

#include "chat.h"
#include "common.h"
#include "sampling.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace plm {
namespace {

common_json to_common(const json & j) {
    return common_json::parse(j.dump());
}

json from_common(const common_json & j) {
    return json::parse(j.dump());
}

// The longest prefix of `s` that ends on a UTF-8 character boundary: a token can end
// inside a character, and the parser must never see half of one.
size_t complete_utf8(const std::string & s) {
    size_t i = s.size();
    size_t back = 0;
    while (i > 0 && back < 4) {
        const auto c = (unsigned char) s[i - 1];
        if ((c & 0xC0) != 0x80) {  // a lead byte (or ASCII): does its character fit?
            const size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
            return back + 1 >= need ? s.size() : i - 1;
        }
        i--;
        back++;
    }
    return s.size();  // not UTF-8 at all: let the parser see it as it is
}

common_chat_parser_params parser_params(const json & syntax) {
    common_chat_parser_params p;
    const int format = syntax.value("format", 0);
    if (format < 0 || format >= COMMON_CHAT_FORMAT_COUNT) {
        throw EngineError(code::bad_request, "syntax.format is not a chat format of this build");
    }
    p.format            = (common_chat_format) format;
    p.generation_prompt = syntax.value("generation_prompt", std::string());
    p.reasoning_format  = syntax.value("reasoning", false) ? COMMON_REASONING_FORMAT_DEEPSEEK
                                                           : COMMON_REASONING_FORMAT_NONE;
    p.parse_tool_calls  = syntax.value("parse_tool_calls", true);
    const std::string parser = syntax.value("parser", std::string());
    if (!parser.empty()) {
        try {
            p.parser.load(parser);
        } catch (const std::exception & e) {
            throw EngineError(code::bad_request, std::string("syntax.parser is not a parser of this build: ") + e.what());
        }
    }
    return p;
}

json message_json(const common_chat_msg & m) {
    json calls = json::array();
    for (const auto & c : m.tool_calls) {
        calls.push_back({{"name", c.name}, {"arguments", c.arguments}, {"id", c.id}});
    }
    return json{{"role", m.role.empty() ? "assistant" : m.role}, {"content", m.content},
                {"reasoning_content", m.reasoning_content}, {"tool_calls", calls}};
}

// llama.cpp's template application to an OpenAI-shaped request.
common_chat_params apply_template(const common_chat_templates * tmpls, const json & req) {
    common_chat_templates_inputs in;
    in.use_jinja = true;
    try {
        in.messages = common_chat_msgs_parse_oaicompat(to_common(req.at("messages")));
        if (req.contains("tools") && !req["tools"].is_null()) {
            in.tools = common_chat_tools_parse_oaicompat(to_common(req["tools"]));
        }
        in.tool_choice = common_chat_tool_choice_parse_oaicompat(req.value("tool_choice", std::string("auto")));
    } catch (const EngineError &) {
        throw;
    } catch (const std::exception & e) {
        throw EngineError(code::bad_request, std::string("chat_format: ") + e.what());
    }
    in.parallel_tool_calls   = req.value("parallel_tool_calls", false);
    in.add_generation_prompt = req.value("add_generation_prompt", true);
    in.enable_thinking       = req.value("enable_thinking", true);
    in.reasoning_format      = COMMON_REASONING_FORMAT_DEEPSEEK;  // reasoning goes to reasoning_content
    return common_chat_templates_apply(tmpls, in);
}

}  // namespace

json chat_render(const llama_model * model, const common_chat_templates * tmpls,
                 const std::string & override_template, const std::vector<ControlToken> & controls, const json & req) {
    common_chat_templates_ptr own;
    try {
        if (!override_template.empty()) {
            own   = common_chat_templates_init(model, override_template);
            tmpls = own.get();
        }
        if (!tmpls) {
            throw EngineError(code::template_failed, "the model has no usable chat template; pass one explicitly");
        }
        const common_chat_params out = apply_template(tmpls, req);

        // The prompt's tokens: message text never becomes a control token unless the
        // caller asked for it (chat_tokens.h).
        const llama_vocab * vocab = llama_model_get_vocab(model);
        std::vector<std::string> literals;
        json guarded;
        if (!req.value("parse_special", false)) {
            guarded = guard_request(req, controls, literals);
        }
        const std::vector<int32_t> tokens =
            literals.empty() ? common_tokenize(vocab, out.prompt, true, true)
                             : guarded_tokens(vocab, controls, apply_template(tmpls, guarded).prompt, literals);

        const bool has_tools = req.contains("tools") && req["tools"].is_array() && !req["tools"].empty();
        json triggers = json::array();
        for (const auto & t : out.grammar_triggers) {
            triggers.push_back({{"type", (int) t.type}, {"value", t.value}});
        }
        json sampling{{"grammar", out.grammar}, {"grammar_lazy", out.grammar_lazy}, {"grammar_triggers", triggers},
                      {"preserved_tokens", out.preserved_tokens}, {"generation_prompt", out.generation_prompt}};
        json syntax{{"format", (int) out.format}, {"format_name", common_chat_format_name(out.format)},
                    {"generation_prompt", out.generation_prompt}, {"parser", out.parser},
                    {"reasoning", out.supports_thinking}, {"parse_tool_calls", has_tools}};
        return json{{"prompt", out.prompt}, {"tokens", tokens}, {"guarded", literals.size()},
                    {"stops", out.additional_stops}, {"sampling", sampling}, {"syntax", syntax},
                    {"supports_thinking", out.supports_thinking}};
    } catch (const EngineError &) {
        throw;
    } catch (const std::exception & e) {
        throw EngineError(code::template_failed, std::string("the chat template failed: ") + e.what());
    }
}

void chat_sampling(const json & chat, const llama_vocab * vocab, common_params_sampling & sp) {
    const std::string grammar = chat.value("grammar", std::string());
    if (grammar.empty()) {
        return;
    }
    sp.grammar      = common_grammar(COMMON_GRAMMAR_TYPE_TOOL_CALLS, grammar);
    sp.grammar_lazy = chat.value("grammar_lazy", false);
    sp.generation_prompt = chat.value("generation_prompt", std::string());
    for (const auto & t : chat.value("preserved_tokens", json::array())) {
        const auto ids = common_tokenize(vocab, t.get<std::string>(), false, true);
        if (ids.size() == 1) {
            sp.preserved_tokens.insert(ids[0]);
        }
    }
    for (const auto & t : chat.value("grammar_triggers", json::array())) {
        const int type = t.value("type", -1);
        if (type < COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN || type > COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL) {
            throw EngineError(code::bad_request, "sampling.chat.grammar_triggers: unknown trigger type");
        }
        common_grammar_trigger trigger{(common_grammar_trigger_type) type, t.value("value", std::string())};
        if (trigger.type == COMMON_GRAMMAR_TRIGGER_TYPE_WORD) {
            // A word that is one special token triggers on that token (llama-server's rule).
            const auto ids = common_tokenize(vocab, trigger.value, false, true);
            if (ids.size() == 1 && sp.preserved_tokens.count(ids[0])) {
                trigger.type  = COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN;
                trigger.token = ids[0];
            }
        }
        sp.grammar_triggers.push_back(std::move(trigger));
    }
    if (sp.grammar_lazy && sp.grammar_triggers.empty()) {
        throw EngineError(code::bad_request, "sampling.chat: a lazy grammar needs triggers");
    }
}

json chat_parse(const std::string & text, bool partial, const json & syntax) {
    const common_chat_parser_params p = parser_params(syntax);
    try {
        return message_json(common_chat_parse(text, partial, p));
    } catch (const std::exception & e) {
        throw EngineError(code::bad_request, std::string("the model's output does not parse: ") + e.what());
    }
}

struct ChatStream::State {
    common_chat_parser_params params;
    std::string               bytes;  // everything generated so far
    common_chat_msg           last;   // the message as parsed after the previous token
};

ChatStream::ChatStream(const json & syntax) : state_(new State{parser_params(syntax), {}, {}}) {}

ChatStream::~ChatStream() = default;

json ChatStream::feed(const std::string & bytes) {
    State & s = *state_;
    s.bytes += bytes;
    json delta = json::object();
    common_chat_msg now;
    std::vector<common_chat_msg_diff> diffs;
    try {
        now   = common_chat_parse(s.bytes.substr(0, complete_utf8(s.bytes)), true, s.params);
        diffs = common_chat_msg_diff::compute_diffs(s.last, now);
    } catch (const std::exception &) {
        return delta;  // not parseable yet (or it took back text): the final parse decides
    }
    s.last = std::move(now);
    json calls = json::array();
    for (const auto & d : diffs) {
        if (!d.content_delta.empty()) {
            delta["content"] = delta.value("content", std::string()) + d.content_delta;
        }
        if (!d.reasoning_content_delta.empty()) {
            delta["reasoning"] = delta.value("reasoning", std::string()) + d.reasoning_content_delta;
        }
        if (d.tool_call_index != std::string::npos) {
            calls.push_back({{"index", d.tool_call_index}, {"id", d.tool_call_delta.id},
                             {"name", d.tool_call_delta.name}, {"arguments", d.tool_call_delta.arguments}});
        }
    }
    if (!calls.empty()) {
        delta["tool_calls"] = calls;
    }
    return delta;
}

}  // namespace plm
