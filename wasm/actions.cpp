// The exported C ABI (plm_abi.h): JSON requests in, JSON replies out.
//
// Each action validates its request fully before touching the engine, so a bad
// request never leaves the engine half-changed.
#include "engine.h"
#include "request.h"
#include "abort_hook.h"
#include "chat_io.h"
#include "embed.h"
#include "plm_abi.h"
#include "checksum.h"
#include "sha256.h"

#include "json-schema-to-grammar.h"
#include "llama.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <functional>
#include <map>
#include <memory>
#include <string>


namespace plm {
namespace {



// A running digest of a model file as it streams in: SHA-256 or the fast checksum.
struct Digest {
    bool     sha256;
    Sha256   sha;
    Checksum sum;

    void update(const uint8_t * p, size_t n) {
        if (sha256) {
            sha.update(p, n);
        } else {
            sum.update(p, n);
        }
    }

    std::string hex() { return sha256 ? sha.hex() : sum.hex(); }
};

std::map<int64_t, Digest> & hashes() {  // the "hash_*" actions' running digests
    static std::map<int64_t, Digest> h;
    return h;
}

Digest & hash_of(const json & r) {
    auto it = hashes().find(get_or<int64_t>(r, "hash", -1));
    if (it == hashes().end()) {
        throw EngineError(code::bad_request, "no running hash with that id; start one with 'hash_begin'");
    }
    return it->second;
}


json timings_json(const Timings & t) {
    return json{{"n_prompt", t.n_prompt}, {"n_cached", t.n_cached}, {"n_generated", t.n_generated},
                {"prefill_ms", t.prefill_ms}, {"decode_ms", t.decode_ms}, {"load_ms", t.load_ms}};
}

json info_json() {
    const Engine::Info i = engine().info();
    return json{{"architecture", i.architecture}, {"name", i.name}, {"description", i.description},
                {"quantization", i.quantization}, {"n_params", i.n_params}, {"size", i.size},
                {"file_size", i.file_size}, {"n_ctx_train", i.n_ctx_train}, {"n_ctx", i.n_ctx},
                {"n_embd", i.n_embd}, {"n_layer", i.n_layer}, {"n_vocab", i.n_vocab},
                {"n_threads", i.n_threads}, {"n_batch", i.n_batch}, {"bos", i.bos}, {"eos", i.eos},
                {"chat_template", i.chat_template}, {"n_gpu_layers", i.n_gpu_layers},
                {"backend", i.n_gpu_layers > 0 ? "webgpu" : "cpu"}, {"gpu_device", i.gpu_device},
                {"gpu_model_bytes", i.gpu_model_bytes}, {"gpu_kv_bytes", i.gpu_kv_bytes}};
}



// The embedding context, made on the first "embed" (and again for another pooling);
// it holds the model's weights by pointer, so it goes before the model does.
std::unique_ptr<Embedder> & embedder() {
    static std::unique_ptr<Embedder> e;
    return e;
}

// "embed": texts (or token lists) -> one vector each, pooled by llama.cpp.
json embed_action(const json & r) {
    std::vector<std::vector<int32_t>> inputs;
    if (r.contains("texts") && r["texts"].is_array()) {
        for (const auto & t : r["texts"]) {
            if (!t.is_string()) {
                throw EngineError(code::bad_request, "'texts' must be a list of strings");
            }
            inputs.push_back(engine().tokenize(t.get<std::string>(), true, false));
        }
    } else {
        throw EngineError(code::bad_request, "'embed' needs a list 'texts'");
    }
    if (inputs.empty()) {
        throw EngineError(code::bad_request, "'texts' is empty");
    }
    const int32_t pooling = get_or<int32_t>(r, "pooling", -1);
    if (pooling < -1 || pooling > 3) {
        throw EngineError(code::bad_request, "pooling must be -1 (the model's), 1 mean, 2 cls or 3 last");
    }
    if (!embedder() || embedder()->requested_pooling() != pooling) {
        embedder().reset();
        const Engine::Info i = engine().info();
        embedder() = std::make_unique<Embedder>(const_cast<llama_model *>(engine().model()), pooling,
                                                (uint32_t) std::min(i.n_ctx, i.n_ctx_train > 0 ? i.n_ctx_train : i.n_ctx),
                                                i.n_threads, engine().thread_pool());
    }
    const bool truncate = get_or<bool>(r, "truncate", true);
    const size_t limit = embedder()->n_ctx();
    json truncated = json::array();
    json counts = json::array();
    for (auto & toks : inputs) {
        counts.push_back(toks.size());
        truncated.push_back(toks.size() > limit);
        if (toks.size() > limit) {
            if (!truncate) {
                throw EngineError(code::context_overflow, "a text of " + std::to_string(toks.size()) +
                                                              " tokens does not fit the embedding context of " +
                                                              std::to_string(limit) + " (truncate=False)");
            }
            const int32_t last = toks.back();  // a closing [SEP]/EOS the tokenizer added stays last
            toks.resize(limit);
            toks.back() = last;
        }
    }
    EmbedResult e = embedder()->embed(inputs, get_or<bool>(r, "normalize", true));
    return json{{"embeddings", e.vectors}, {"pooling", e.pooling}, {"n_tokens", counts}, {"truncated", truncated}};
}

// The parse of the running generation, when its generate_start named a chat syntax.
std::unique_ptr<ChatStream> & chat_stream() {
    static std::unique_ptr<ChatStream> s;
    return s;
}


std::map<std::string, Handler> make_handlers() {
    std::map<std::string, Handler> h = {
        {"load", [](const json & r) {
             embedder().reset();
             LoadParams p;
             p.path       = get_or<std::string>(r, "path", "");
             p.split_paths = get_or<std::vector<std::string>>(r, "paths", {});
             p.data       = reinterpret_cast<const void *>((uintptr_t) get_or<uint64_t>(r, "ptr", 0));
             p.size       = get_or<uint64_t>(r, "size", 0);
             p.n_ctx      = get_or<int32_t>(r, "n_ctx", p.n_ctx);
             p.n_threads  = get_or<int32_t>(r, "n_threads", p.n_threads);
             p.n_batch    = get_or<int32_t>(r, "n_batch", p.n_batch);
             p.vocab_only = get_or<bool>(r, "vocab_only", false);
             p.persistent_threads = get_or<bool>(r, "persistent_threads", true);
             p.mmap       = get_or<bool>(r, "mmap", false);
             p.n_gpu_layers = get_or<int32_t>(r, "n_gpu_layers", 0);
             p.offload_kqv  = get_or<bool>(r, "offload_kqv", true);
             p.chat_template = get_or<std::string>(r, "chat_template", "");
             if ((int) !p.path.empty() + (int) (p.data != nullptr) + (int) !p.split_paths.empty() != 1) {
                 throw EngineError(code::bad_request, "'load' needs exactly one of 'path', 'paths' or 'ptr'+'size'");
             }
             engine().load(p);
             return json{{"info", info_json()}, {"load_ms", engine().timings().load_ms}};
         }},
        {"hash_begin", [](const json & r) {  // {kind: "sha256" (default) | "checksum"}
             const std::string kind = get_or<std::string>(r, "kind", "sha256");
             if (kind != "sha256" && kind != "checksum") {
                 throw EngineError(code::bad_request, "hash kind must be 'sha256' or 'checksum'");
             }
             static int64_t next = 1;
             hashes().emplace(next, Digest{kind == "sha256", Sha256(), Checksum()});
             return json{{"hash", next++}};
         }},
        {"hash_update", [](const json & r) {  // bytes [ptr, ptr + size) of linear memory
             const auto * p = reinterpret_cast<const uint8_t *>((uintptr_t) get_or<uint64_t>(r, "ptr", 0));
             const uint64_t n = get_or<uint64_t>(r, "size", 0);
             if (!p && n) {
                 throw EngineError(code::bad_request, "'hash_update' needs 'ptr' and 'size'");
             }
             hash_of(r).update(p, (size_t) n);
             return json::object();
         }},
        {"hash_end", [](const json & r) {
             const std::string hex = hash_of(r).hex();
             hashes().erase(get_or<int64_t>(r, "hash", -1));
             return json{{"digest", hex}};
         }},
        {"embed", [](const json & r) { return embed_action(r); }},
        {"unload", [](const json &) {
             embedder().reset();
             engine().unload();
             return json::object();
         }},
        {"info", [](const json &) { return json{{"info", info_json()}}; }},
        {"set_threads", [](const json & r) {
             embedder().reset();  // it computes on the threads set_threads replaces
             engine().set_threads(get_or<int32_t>(r, "n_threads", 1));
             return json::object();
         }},
        {"tokenize", [](const json & r) {
             auto it = r.find("text");
             if (it == r.end() || !it->is_string()) {
                 throw EngineError(code::bad_request, "'tokenize' needs a string field 'text'");
             }
             return json{{"tokens", engine().tokenize(it->get<std::string>(), get_or<bool>(r, "add_special", true),
                                                      get_or<bool>(r, "parse_special", false))}};
         }},
        {"detokenize", [](const json & r) {
             return json{{"text", engine().detokenize(token_list(r, "tokens"), get_or<bool>(r, "remove_special", false),
                                                      get_or<bool>(r, "unparse_special", false))}};
         }},
        {"chat_format", [](const json & r) {
             if (!r.contains("messages") || !r["messages"].is_array() || r["messages"].empty()) {
                 throw EngineError(code::bad_request, "'chat_format' needs a non-empty list 'messages'");
             }
             if (r.contains("tools") && !r["tools"].is_null() && !r["tools"].is_array()) {
                 throw EngineError(code::bad_request, "'tools' must be a list of OpenAI tool objects");
             }
             return chat_render(engine().model(), engine().chat_templates(), get_or<std::string>(r, "template", ""),
                                engine().control_tokens(), r);
         }},
        {"chat_parse", [](const json & r) {
             auto text = r.find("text");
             auto syntax = r.find("syntax");
             if (text == r.end() || !text->is_string() || syntax == r.end() || !syntax->is_object()) {
                 throw EngineError(code::bad_request, "'chat_parse' needs a string 'text' and an object 'syntax'");
             }
             return json{{"message", chat_parse(text->get<std::string>(), get_or<bool>(r, "partial", false),
                                                *syntax)}};
         }},
        {"generate_start", [](const json & r) {
             std::vector<int32_t> prompt = prompt_tokens(r, "generate_start");
             SamplingParams s = sampling_from(r);
             std::unique_ptr<ChatStream> stream;
             if (r.contains("syntax") && r["syntax"].is_object()) {
                 stream = std::make_unique<ChatStream>(r["syntax"]);  // checked before the prefill
             }
             engine().generate_start(prompt, s, get_or<int32_t>(r, "seq", 0));
             chat_stream() = std::move(stream);
             const Timings t = engine().timings();
             return json{{"n_prompt", t.n_prompt}, {"n_cached", t.n_cached}, {"prefill_ms", t.prefill_ms}};
         }},
        {"step", [](const json & r) {
             const int32_t n_logprobs = get_or<int32_t>(r, "logprobs", -1);
             if (n_logprobs > 20) {
                 throw EngineError(code::bad_request, "logprobs must be at most 20 alternatives");
             }
             const StepResult s = engine().step(get_or<int32_t>(r, "n_top", 0), n_logprobs);
             json out{{"token", s.token}, {"bytes", bytes_array(s.piece)}, {"eog", s.eog},
                      {"context_full", s.context_full}};
             if (chat_stream() && !s.eog) {
                 out["delta"] = chat_stream()->feed(s.piece);  // what the parsed message gained
             }
             if (s.has_logprob) {
                 out["logprob"] = s.logprob;
                 json top = json::array();
                 for (const auto & [id, lp] : s.top_logprobs) {
                     top.push_back(json::array({id, lp}));
                 }
                 out["top_logprobs"] = top;
             }
             if (!s.top.empty()) {
                 json top = json::array();
                 for (const auto & [id, logit] : s.top) {
                     top.push_back(json::array({id, logit}));
                 }
                 out["top"] = top;
             }
             return out;
         }},
        {"score", [](const json & r) {
             const ScoreResult s = engine().score(token_list(r, "tokens"));
             double total = 0;
             for (float lp : s.logprobs) {
                 total += lp;
             }
             return json{{"tokens", s.tokens}, {"logprobs", s.logprobs}, {"total", total}};
         }},
        {"generate_end", [](const json &) {
             engine().generate_end();
             chat_stream().reset();
             return json::object();
         }},
        {"timings", [](const json &) { return json{{"timings", timings_json(engine().timings())}}; }},
        {"probe_memory", [](const json & r) {
             const uint64_t bytes = get_or<uint64_t>(r, "bytes", 0);
             const uint64_t chunk = get_or<uint64_t>(r, "chunk", 256ull << 20);
             if (chunk == 0) {
                 throw EngineError(code::bad_request, "'chunk' must be > 0");
             }
             uint64_t touched = 0;
             const uint64_t highest = probe_memory(bytes, chunk, &touched);
             return json{{"requested", bytes}, {"touched", touched}, {"highest_address", highest},
                         {"pointer_bits", (int) (sizeof(void *) * 8)}};
         }},
        {"heap_stats", [](const json &) {
             // Bytes malloc has handed out and not taken back: how much of the
             // (never shrinking) linear memory is really in use.
#if defined(__EMSCRIPTEN__)
             const struct mallinfo mi = mallinfo();
#else
             const struct mallinfo2 mi = mallinfo2();
#endif
             return json{{"in_use", (uint64_t) mi.uordblks}, {"free", (uint64_t) mi.fordblks}};
         }},
        {"json_schema_grammar", [](const json & r) {
             if (!r.contains("schema")) {
                 throw EngineError(code::bad_request, "'json_schema_grammar' needs a field 'schema'");
             }
             return json{{"grammar", schema_grammar(r["schema"])}};
         }},
        {"log_level", [](const json & r) {
             set_log_verbosity(get_or<int>(r, "level", 0));
             return json::object();
         }},
        {"build_info", [](const json &) {
             return json{{"abi", plm_version()}, {"pointer_bits", (int) (sizeof(void *) * 8)},
#if defined(__EMSCRIPTEN_PTHREADS__) || (!defined(__EMSCRIPTEN__))
                         {"threads", true},
#else
                         {"threads", false},
#endif
#ifdef __wasm_relaxed_simd__
                         {"relaxed_simd", true},
#else
                         {"relaxed_simd", false},
#endif
#ifdef PLM_WEBGPU
                         {"webgpu", true},
#else
                         {"webgpu", false},
#endif
                         {"system_info", llama_print_system_info()}};
         }},
    };
    add_sequence_actions(h);
    return h;
}

const std::map<std::string, Handler> & handlers() {
    static const std::map<std::string, Handler> h = make_handlers();
    return h;
}

char * dup_cstr(const std::string & s) {
    char * out = static_cast<char *>(malloc(s.size() + 1));
    if (out) {
        memcpy(out, s.data(), s.size() + 1);
    }
    return out;
}

json error_reply(const std::string & c, const std::string & msg) {
    return json{{"ok", false}, {"code", c}, {"message", msg}};
}

}  // namespace
}  // namespace plm

extern "C" {

const char * plm_version(void) { return "1"; }

char * plm_action(const char * name, const char * request) {
    using namespace plm;
    json reply;
    try {
        const std::string n = name ? name : "";
        auto it = handlers().find(n);
        if (it == handlers().end()) {
            reply = error_reply(code::bad_request, "unknown action '" + n + "'");
        } else {
            json req = (request && *request) ? json::parse(request) : json::object();
            if (!req.is_object()) {
                throw EngineError(code::bad_request, "the request must be a JSON object");
            }
            reply = it->second(req);
            reply["ok"] = true;
        }
    } catch (const EngineError & e) {
        reply = error_reply(e.code, e.what());
    } catch (const json::exception & e) {
        reply = error_reply(code::bad_request, std::string("malformed request: ") + e.what());
    } catch (const std::bad_alloc &) {
        reply = error_reply(code::out_of_memory, "the engine ran out of memory; use a smaller model or n_ctx");
    } catch (const std::exception & e) {
        reply = error_reply(code::internal, std::string("internal error: ") + e.what());
    }
    return dup_cstr(reply.dump(-1, ' ', false, json::error_handler_t::replace));
}

#ifdef PLM_WEBGPU
// The same entry point, exported through WebAssembly.promising (-sJSPI_EXPORTS):
// a GPU wait inside the action suspends it, and JS gets a Promise of the reply.
char * plm_action_async(const char * name, const char * request) { return plm_action(name, request); }
#endif

void plm_result_free(char * reply) { free(reply); }

int32_t * plm_abort_flag(void) { return reinterpret_cast<int32_t *>(&plm::abort_flag_ref()); }

int32_t * plm_crash_record(void) { return reinterpret_cast<int32_t *>(&plm::crash_record()); }

}  // extern "C"
