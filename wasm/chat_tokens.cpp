// Message text kept apart from template markup when a chat is tokenized (chat_tokens.h).
#include "chat_tokens.h"

#include "common.h"
#include "llama.h"

#include <algorithm>
#include <array>
#include <cstddef>

namespace plm {
namespace {

// U+E000 and U+E001 (private use): no template filter changes them, no tokenizer
// merges them with their neighbours into one token of the template's text.
constexpr const char * kOpen  = "\xEE\x80\x80";
constexpr const char * kClose = "\xEE\x80\x81";
constexpr size_t kMarkLen     = 3;

std::string placeholder(size_t index) {
    return kOpen + std::to_string(index) + kClose;
}

// Control tokens grouped by first byte, longest first: at each position of a string
// the longest one that starts there wins, as in llama.cpp's special-token partition.
struct ControlIndex {
    std::array<std::vector<const ControlToken *>, 256> by_first{};

    explicit ControlIndex(const std::vector<ControlToken> & controls) {
        for (const ControlToken & c : controls) {
            by_first[(unsigned char) c.text[0]].push_back(&c);
        }
        for (auto & v : by_first) {
            std::sort(v.begin(), v.end(), [](const ControlToken * a, const ControlToken * b) {
                return a->text.size() > b->text.size();
            });
        }
    }

    const ControlToken * match(const std::string & s, size_t pos) const {
        for (const ControlToken * c : by_first[(unsigned char) s[pos]]) {
            if (s.compare(pos, c->text.size(), c->text) == 0) {
                return c;
            }
        }
        return nullptr;
    }
};

// `s` with each control text replaced by a placeholder; false when it had none.
bool guard_string(const std::string & s, const ControlIndex & index, std::vector<std::string> & literals,
                  std::string & out) {
    bool found = false;
    out.clear();
    for (size_t pos = 0; pos < s.size();) {
        if (s.compare(pos, kMarkLen, kOpen) == 0) {  // a user's U+E000 is escaped too: no forged placeholder
            out += placeholder(literals.size());
            literals.push_back(kOpen);
            pos += kMarkLen;
            found = true;
            continue;
        }
        const ControlToken * c = index.match(s, pos);
        if (c == nullptr) {
            out.push_back(s[pos++]);
            continue;
        }
        out += placeholder(literals.size());
        literals.push_back(c->text);
        pos += c->text.size();
        found = true;
    }
    return found;
}

void guard_value(json & j, const ControlIndex & index, std::vector<std::string> & literals) {
    if (j.is_string()) {
        std::string out;
        if (guard_string(j.get_ref<const std::string &>(), index, literals, out)) {
            j = out;
        }
    } else if (j.is_array()) {
        for (json & v : j) {
            guard_value(v, index, literals);
        }
    } else if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (it.key() != "role" && it.key() != "type") {
                guard_value(it.value(), index, literals);
            }
        }
    }
}

// Placeholder at `pos` (its index and length), if `prompt` has a well-formed one of
// `n` there; text that only looks like one stays text.
bool read_placeholder(const std::string & prompt, size_t pos, size_t n, size_t & index, size_t & len) {
    size_t p = pos + kMarkLen;
    size_t value = 0;
    size_t digits = 0;
    while (p < prompt.size() && prompt[p] >= '0' && prompt[p] <= '9' && digits < 9) {
        value = value * 10 + (size_t) (prompt[p] - '0');
        p++;
        digits++;
    }
    if (digits == 0 || value >= n || prompt.compare(p, kMarkLen, kClose) != 0) {
        return false;
    }
    index = value;
    len   = p + kMarkLen - pos;
    return true;
}

void append(std::vector<int32_t> & to, const std::vector<llama_token> & from) {
    to.insert(to.end(), from.begin(), from.end());
}

// `run` with its placeholders replaced by the texts they stand for.
std::string restore(const std::string & run, const std::vector<std::string> & literals) {
    std::string out;
    for (size_t pos = 0; pos < run.size();) {
        size_t index = 0;
        size_t len   = 0;
        if (run.compare(pos, kMarkLen, kOpen) == 0 && read_placeholder(run, pos, literals.size(), index, len)) {
            out += literals[index];
            pos += len;
        } else {
            out.push_back(run[pos++]);
        }
    }
    return out;
}

bool has_placeholder(const std::string & prompt, size_t from, size_t to, size_t n) {
    for (size_t pos = prompt.find(kOpen, from); pos != std::string::npos && pos < to; pos = prompt.find(kOpen, pos + 1)) {
        size_t index = 0;
        size_t len   = 0;
        if (read_placeholder(prompt, pos, n, index, len) && pos + len <= to) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::vector<ControlToken> control_tokens(const llama_vocab * vocab) {
    std::vector<ControlToken> out;
    const int32_t n = llama_vocab_n_tokens(vocab);
    for (int32_t id = 0; id < n; id++) {
        const llama_token_attr attr = llama_vocab_get_attr(vocab, id);
        if ((attr & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_UNKNOWN)) == 0) {
            continue;
        }
        const char * text = llama_vocab_get_text(vocab, id);
        if (text != nullptr && text[0] != '\0') {
            out.push_back({text, (attr & LLAMA_TOKEN_ATTR_LSTRIP) != 0, (attr & LLAMA_TOKEN_ATTR_RSTRIP) != 0});
        }
    }
    return out;
}

json guard_request(const json & req, const std::vector<ControlToken> & controls, std::vector<std::string> & literals) {
    literals.clear();
    if (controls.empty()) {
        return req;
    }
    const ControlIndex index(controls);
    json out = req;
    for (const char * key : {"messages", "tools"}) {
        if (out.contains(key)) {
            guard_value(out[key], index, literals);
        }
    }
    return out;
}

std::vector<int32_t> guarded_tokens(const llama_vocab * vocab, const std::vector<ControlToken> & controls,
                                    const std::string & prompt, const std::vector<std::string> & literals) {
    // The template's control tokens in the prompt: the messages' were replaced, so
    // every control text left is markup. Between two of them lies a run of text.
    const ControlIndex index(controls);
    struct Mark {
        size_t begin, end;
        const ControlToken * token;
    };
    std::vector<Mark> marks;
    for (size_t pos = 0; pos < prompt.size();) {
        const ControlToken * c = index.match(prompt, pos);
        if (c == nullptr) {
            pos++;
            continue;
        }
        marks.push_back({pos, pos + c->text.size(), c});
        pos += c->text.size();
    }
    std::vector<int32_t> tokens;
    if (llama_vocab_get_add_bos(vocab) && llama_vocab_bos(vocab) != LLAMA_TOKEN_NULL) {
        tokens.push_back(llama_vocab_bos(vocab));
    }
    // A run holding a placeholder is tokenized as plain text, as llama.cpp would
    // tokenize that run of a prompt without the message's control text; the rest of
    // the prompt, markup included, exactly as before. Whitespace next to a control
    // token that strips it (LSTRIP/RSTRIP) goes, as in llama.cpp's partition.
    size_t done = 0;  // the prompt before this is tokenized
    for (size_t k = 0; k <= marks.size(); k++) {
        const size_t begin = k == 0 ? 0 : marks[k - 1].end;
        const size_t end   = k == marks.size() ? prompt.size() : marks[k].begin;
        if (!has_placeholder(prompt, begin, end, literals.size())) {
            continue;
        }
        append(tokens, common_tokenize(vocab, prompt.substr(done, begin - done), false, true));
        std::string text = restore(prompt.substr(begin, end - begin), literals);
        if (k > 0 && marks[k - 1].token->rstrip) {
            text.erase(0, std::min(text.size(), text.find_first_not_of(" \t\n\v\f\r")));
        }
        if (k < marks.size() && marks[k].token->lstrip) {
            const size_t last = text.find_last_not_of(" \t\n\v\f\r");
            text.erase(last == std::string::npos ? 0 : last + 1);
        }
        append(tokens, common_tokenize(vocab, text, false, false));
        done = end;
    }
    append(tokens, common_tokenize(vocab, prompt.substr(done), false, true));
    if (llama_vocab_get_add_sep(vocab) && llama_vocab_sep(vocab) != LLAMA_TOKEN_NULL) {
        tokens.push_back(llama_vocab_sep(vocab));
    } else if (llama_vocab_get_add_eos(vocab) && llama_vocab_eos(vocab) != LLAMA_TOKEN_NULL) {
        tokens.push_back(llama_vocab_eos(vocab));
    }
    return tokens;
}

}  // namespace plm
