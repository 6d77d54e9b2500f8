// Our own subset of Dawn's C++ WebGPU API (namespace wgpu), for llama.cpp's
// ggml-webgpu backend in the browser.
//
// Why: ggml-webgpu is written against <webgpu/webgpu_cpp.h>, which emscripten
// gets from the emdawnwebgpu port, a download from outside any package registry.
// This header declares exactly what ggml-webgpu uses (compute only: adapters,
// devices, buffers, queues, shader modules, compute pipelines, bind groups,
// futures) and forwards every call to wasm/webgpu/library_plmgpu.js, which
// implements it over navigator.gpu (or any object with the same interface,
// such as Dawn's node bindings in the tests).
//
// The ABI to JS (plmgpu_* below) is the only contract: handles are small
// integer ids into a JS table (0 is null), counted on both sides by
// plmgpu_ref/plmgpu_release; sizes and offsets cross as double (exact below
// 2^53); strings as NUL-terminated pointers. Asynchronous operations return a
// future id; Instance::WaitAny suspends the wasm stack in plmgpu_wait (JSPI)
// until the promise settles, then runs the future's callback here, on the
// calling thread. Callbacks therefore only ever run inside WaitAny, which
// CallbackMode::AllowSpontaneous permits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

extern "C" {
// Handles.
void plmgpu_ref(uint32_t id);
void plmgpu_release(uint32_t id);
// Instance and adapter.
uint32_t plmgpu_create_instance(void);
int plmgpu_has_wgsl_feature(uint32_t instance, const char* name);
uint32_t plmgpu_request_adapter(uint32_t instance, int power, int force_fallback);
int plmgpu_adapter_has_feature(uint32_t adapter, const char* name);
void plmgpu_adapter_limits(uint32_t adapter, double* out, int count);
int plmgpu_adapter_info(uint32_t adapter, int field, char* out, int cap);
uint32_t plmgpu_adapter_info_u32(uint32_t adapter, int field);
uint32_t plmgpu_request_device(uint32_t adapter, const char* features, const double* limits, int count,
                               const char* label);
// Futures.
int plmgpu_wait(uint32_t future, double timeout_ms);
int plmgpu_future_result(uint32_t future, uint32_t* object, char* message, int cap);
int plmgpu_future_settled(uint32_t future);
int plmgpu_device_event(uint32_t device, int* kind, int* reason, char* message, int cap);
// Device.
uint32_t plmgpu_device_queue(uint32_t device);
uint32_t plmgpu_create_buffer(uint32_t device, double size, uint32_t usage, int mapped, const char* label);
uint32_t plmgpu_create_shader(uint32_t device, const char* code, const char* label);
uint32_t plmgpu_create_pipeline(uint32_t device, uint32_t module, const char* entry, const char* label,
                                const char* const* keys, const double* values, int count);
uint32_t plmgpu_pipeline_layout(uint32_t pipeline, uint32_t group);
// entries: count records of {u32 binding, u32 buffer, f64 offset, f64 size} (24 bytes each).
uint32_t plmgpu_create_bind_group(uint32_t device, uint32_t layout, const void* entries, int count,
                                  const char* label);
uint32_t plmgpu_create_encoder(uint32_t device);
void plmgpu_device_destroy(uint32_t device);
// Buffers.
void plmgpu_buffer_destroy(uint32_t buffer);
double plmgpu_buffer_size(uint32_t buffer);
uint32_t plmgpu_buffer_map(uint32_t buffer, uint32_t mode, double offset, double size);
void plmgpu_buffer_read_mapped(uint32_t buffer, double offset, double size, void* out);
void plmgpu_buffer_unmap(uint32_t buffer);
// Encoding and queues.
uint32_t plmgpu_begin_compute(uint32_t encoder);
void plmgpu_pass_pipeline(uint32_t pass, uint32_t pipeline);
void plmgpu_pass_bind_group(uint32_t pass, uint32_t index, uint32_t group);
void plmgpu_pass_dispatch(uint32_t pass, uint32_t x, uint32_t y, uint32_t z);
void plmgpu_pass_end(uint32_t pass);
void plmgpu_encoder_copy(uint32_t encoder, uint32_t src, double src_offset, uint32_t dst, double dst_offset,
                         double size);
uint32_t plmgpu_encoder_finish(uint32_t encoder);
void plmgpu_queue_submit(uint32_t queue, const uint32_t* commands, int count);
void plmgpu_queue_write(uint32_t queue, uint32_t buffer, double offset, const void* data, double size);
uint32_t plmgpu_queue_done(uint32_t queue);
}

namespace wgpu {

constexpr uint64_t kWholeSize = UINT64_MAX;
constexpr size_t kStrlen = SIZE_MAX;

// ---------------------------------------------------------------- enums

enum class CallbackMode : uint32_t { WaitAnyOnly = 1, AllowProcessEvents = 2, AllowSpontaneous = 3 };
enum class WaitStatus : uint32_t { Success = 1, TimedOut = 2, Error = 3 };
// The JS side reports every settled future as 1 (success), 2 (cancelled) or 3 (error);
// the callback statuses below keep those numbers.
enum class RequestAdapterStatus : uint32_t { Success = 1, CallbackCancelled = 2, Unavailable = 3, Error = 4 };
enum class RequestDeviceStatus : uint32_t { Success = 1, CallbackCancelled = 2, Error = 3 };
enum class MapAsyncStatus : uint32_t { Success = 1, CallbackCancelled = 2, Error = 3, Aborted = 4 };
enum class QueueWorkDoneStatus : uint32_t { Success = 1, CallbackCancelled = 2, Error = 3 };
enum class DeviceLostReason : uint32_t { Unknown = 1, Destroyed = 2, CallbackCancelled = 3, FailedCreation = 4 };
enum class ErrorType : uint32_t { NoError = 1, Validation = 2, OutOfMemory = 3, Internal = 4, Unknown = 5 };
enum class FeatureName : uint32_t { ShaderF16 = 1, Subgroups = 2 };
enum class InstanceFeatureName : uint32_t { TimedWaitAny = 1, ShaderSourceSPIRV = 2 };
enum class WGSLLanguageFeatureName : uint32_t { Packed4x8IntegerDotProduct = 1 };
enum class PowerPreference : uint32_t { Undefined = 0, LowPower = 1, HighPerformance = 2 };
enum class SType : uint32_t { ShaderSourceWGSL = 2 };

enum class BufferUsage : uint64_t {
    None = 0, MapRead = 1, MapWrite = 2, CopySrc = 4, CopyDst = 8,
    Index = 16, Vertex = 32, Uniform = 64, Storage = 128, Indirect = 256, QueryResolve = 512,
};
enum class MapMode : uint64_t { None = 0, Read = 1, Write = 2 };

constexpr BufferUsage operator|(BufferUsage a, BufferUsage b) {
    return static_cast<BufferUsage>(static_cast<uint64_t>(a) | static_cast<uint64_t>(b));
}
constexpr BufferUsage operator&(BufferUsage a, BufferUsage b) {
    return static_cast<BufferUsage>(static_cast<uint64_t>(a) & static_cast<uint64_t>(b));
}
constexpr MapMode operator|(MapMode a, MapMode b) {
    return static_cast<MapMode>(static_cast<uint64_t>(a) | static_cast<uint64_t>(b));
}

namespace detail {
inline const char* FeatureString(FeatureName f) {
    switch (f) {
        case FeatureName::ShaderF16: return "shader-f16";
        case FeatureName::Subgroups: return "subgroups";
    }
    return "";
}
inline const char* LanguageFeatureString(WGSLLanguageFeatureName f) {
    switch (f) {
        case WGSLLanguageFeatureName::Packed4x8IntegerDotProduct: return "packed_4x8_integer_dot_product";
    }
    return "";
}
}  // namespace detail

// ---------------------------------------------------------------- strings

struct StringView {
    const char* data = nullptr;
    size_t length = kStrlen;

    StringView() = default;
    StringView(const char* s) : data(s), length(kStrlen) {}
    StringView(const char* s, size_t n) : data(s), length(n) {}
    StringView(std::string_view s) : data(s.data()), length(s.size()) {}
    StringView(std::nullptr_t) {}

    operator std::string_view() const {
        if (data == nullptr) return {};
        return length == kStrlen ? std::string_view(data) : std::string_view(data, length);
    }
    // For the JS calls: a NUL-terminated copy when the view has an explicit length.
    std::string str() const { return std::string(static_cast<std::string_view>(*this)); }
};

struct ChainedStruct {
    const ChainedStruct* nextInChain = nullptr;
    SType sType = SType::ShaderSourceWGSL;
};

// ---------------------------------------------------------------- handles

namespace detail {
struct Adopt {};

// A counted reference to an object in the JS table. Copies add a reference,
// destruction drops one; the JS object is forgotten when the count reaches 0.
template <class Derived>
class Handle {
  public:
    Handle() = default;
    Handle(std::nullptr_t) {}
    Handle(uint32_t id, Adopt) : id_(id) {}
    Handle(const Handle& other) : id_(other.id_) {
        if (id_) plmgpu_ref(id_);
    }
    Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = 0; }
    Handle& operator=(const Handle& other) {
        if (other.id_) plmgpu_ref(other.id_);
        Reset();
        id_ = other.id_;
        return *this;
    }
    Handle& operator=(Handle&& other) noexcept {
        if (this != &other) {
            Reset();
            id_ = other.id_;
            other.id_ = 0;
        }
        return *this;
    }
    Handle& operator=(std::nullptr_t) {
        Reset();
        return *this;
    }
    ~Handle() { Reset(); }

    bool operator==(std::nullptr_t) const { return id_ == 0; }
    bool operator==(const Handle& other) const { return id_ == other.id_; }
    explicit operator bool() const { return id_ != 0; }
    uint32_t Id() const { return id_; }

  protected:
    void Reset() {
        if (id_) plmgpu_release(id_);
        id_ = 0;
    }
    uint32_t id_ = 0;
};
}  // namespace detail

#define PLMGPU_HANDLE(Name)                        \
    class Name : public detail::Handle<Name> {     \
      public:                                      \
        using detail::Handle<Name>::Handle;        \
        Name() = default;                          \
        Name(std::nullptr_t) {}

PLMGPU_HANDLE(ShaderModule)
};
PLMGPU_HANDLE(BindGroupLayout)
};
PLMGPU_HANDLE(BindGroup)
};
PLMGPU_HANDLE(PipelineLayout)
};
PLMGPU_HANDLE(CommandBuffer)
};

PLMGPU_HANDLE(ComputePipeline)
    BindGroupLayout GetBindGroupLayout(uint32_t group) const {
        return BindGroupLayout(plmgpu_pipeline_layout(id_, group), detail::Adopt{});
    }
};

struct Future {
    uint64_t id = 0;
};

// ---------------------------------------------------------------- futures

namespace detail {
// Callbacks of the futures not yet waited for, by future id. Only the thread
// that drives the device touches this (ggml-webgpu's rule, and ours).
using Settle = std::function<void(uint32_t status, uint32_t object, std::string_view message)>;
inline std::unordered_map<uint64_t, Settle>& Pending() {
    static std::unordered_map<uint64_t, Settle> pending;
    return pending;
}

inline Future Track(uint32_t id, Settle settle) {
    if (id == 0) {
        // The JS side could not even start the operation (no GPU object): fail now.
        settle(3, 0, "plmgpu: the operation could not start");
        return Future{0};
    }
    Pending()[id] = std::move(settle);
    return Future{id};
}

inline void Fire(uint64_t id) {
    auto it = Pending().find(id);
    if (it == Pending().end()) return;
    Settle settle = std::move(it->second);
    Pending().erase(it);
    uint32_t object = 0;
    char message[512];
    int status = plmgpu_future_result(static_cast<uint32_t>(id), &object, message, sizeof message);
    settle(static_cast<uint32_t>(status), object, message);
}

// Futures nobody waits for (ggml's event futures) settle with the next wait.
inline void FireSettled() {
    std::vector<uint64_t> done;
    for (auto& [id, settle] : Pending()) {
        if (plmgpu_future_settled(static_cast<uint32_t>(id))) done.push_back(id);
    }
    for (uint64_t id : done) Fire(id);
}
}  // namespace detail

// ---------------------------------------------------------------- structs

struct Limits {
    ChainedStruct* nextInChain = nullptr;
    // The compute limits, in the order the JS side reads and writes them
    // (library_plmgpu.js, LIMIT_NAMES).
    uint32_t maxComputeWorkgroupStorageSize = 0;
    uint32_t maxComputeInvocationsPerWorkgroup = 0;
    uint32_t maxComputeWorkgroupSizeX = 0;
    uint32_t maxComputeWorkgroupSizeY = 0;
    uint32_t maxComputeWorkgroupSizeZ = 0;
    uint32_t maxComputeWorkgroupsPerDimension = 0;
    uint32_t maxStorageBuffersPerShaderStage = 0;
    uint32_t maxUniformBuffersPerShaderStage = 0;
    uint32_t maxBindGroups = 0;
    uint32_t maxBindingsPerBindGroup = 0;
    uint64_t maxUniformBufferBindingSize = 0;
    uint64_t maxStorageBufferBindingSize = 0;
    uint64_t maxBufferSize = 0;
    uint32_t minUniformBufferOffsetAlignment = 0;
    uint32_t minStorageBufferOffsetAlignment = 0;

    static constexpr int kCount = 15;
    void ToArray(double* out) const {
        const double v[kCount] = {
            double(maxComputeWorkgroupStorageSize), double(maxComputeInvocationsPerWorkgroup),
            double(maxComputeWorkgroupSizeX), double(maxComputeWorkgroupSizeY), double(maxComputeWorkgroupSizeZ),
            double(maxComputeWorkgroupsPerDimension), double(maxStorageBuffersPerShaderStage),
            double(maxUniformBuffersPerShaderStage), double(maxBindGroups), double(maxBindingsPerBindGroup),
            double(maxUniformBufferBindingSize), double(maxStorageBufferBindingSize), double(maxBufferSize),
            double(minUniformBufferOffsetAlignment), double(minStorageBufferOffsetAlignment),
        };
        std::memcpy(out, v, sizeof v);
    }
    void FromArray(const double* v) {
        maxComputeWorkgroupStorageSize = uint32_t(v[0]);
        maxComputeInvocationsPerWorkgroup = uint32_t(v[1]);
        maxComputeWorkgroupSizeX = uint32_t(v[2]);
        maxComputeWorkgroupSizeY = uint32_t(v[3]);
        maxComputeWorkgroupSizeZ = uint32_t(v[4]);
        maxComputeWorkgroupsPerDimension = uint32_t(v[5]);
        maxStorageBuffersPerShaderStage = uint32_t(v[6]);
        maxUniformBuffersPerShaderStage = uint32_t(v[7]);
        maxBindGroups = uint32_t(v[8]);
        maxBindingsPerBindGroup = uint32_t(v[9]);
        maxUniformBufferBindingSize = uint64_t(v[10]);
        maxStorageBufferBindingSize = uint64_t(v[11]);
        maxBufferSize = uint64_t(v[12]);
        minUniformBufferOffsetAlignment = uint32_t(v[13]);
        minStorageBufferOffsetAlignment = uint32_t(v[14]);
    }
};

// Owns its strings (Dawn's AdapterInfo frees them on destruction too).
struct AdapterInfo {
    StringView vendor;
    StringView architecture;
    StringView device;
    StringView description;
    uint32_t vendorID = 0;
    uint32_t deviceID = 0;
    uint32_t subgroupMinSize = 0;
    uint32_t subgroupMaxSize = 0;

    AdapterInfo() = default;
    AdapterInfo(const AdapterInfo&) = delete;
    AdapterInfo& operator=(const AdapterInfo&) = delete;

    void Fill(uint32_t adapter) {
        StringView* views[4] = { &vendor, &architecture, &device, &description };
        for (int i = 0; i < 4; i++) {
            char buf[256];
            plmgpu_adapter_info(adapter, i, buf, sizeof buf);
            store_[i] = buf;
            *views[i] = StringView(store_[i].c_str(), store_[i].size());
        }
        vendorID = plmgpu_adapter_info_u32(adapter, 0);
        deviceID = plmgpu_adapter_info_u32(adapter, 1);
        subgroupMinSize = plmgpu_adapter_info_u32(adapter, 2);
        subgroupMaxSize = plmgpu_adapter_info_u32(adapter, 3);
    }

  private:
    std::string store_[4];
};

struct ConstantEntry {
    ChainedStruct* nextInChain = nullptr;
    StringView key;
    double value = 0;
};

struct ShaderSourceWGSL : ChainedStruct {
    StringView code;
    ShaderSourceWGSL() { sType = SType::ShaderSourceWGSL; }
};

struct ShaderModuleDescriptor {
    const ChainedStruct* nextInChain = nullptr;
    StringView label;
};

struct ComputeState {
    ChainedStruct* nextInChain = nullptr;
    ShaderModule module;
    StringView entryPoint;
    size_t constantCount = 0;
    const ConstantEntry* constants = nullptr;
};

struct ComputePipelineDescriptor {
    ChainedStruct* nextInChain = nullptr;
    StringView label;
    PipelineLayout layout;
    ComputeState compute;
};

struct CommandEncoderDescriptor {
    ChainedStruct* nextInChain = nullptr;
    StringView label;
};

struct ComputePassDescriptor {
    ChainedStruct* nextInChain = nullptr;
    StringView label;
};

struct RequestAdapterOptions {
    ChainedStruct* nextInChain = nullptr;
    PowerPreference powerPreference = PowerPreference::Undefined;
    bool forceFallbackAdapter = false;
};

struct InstanceDescriptor {
    ChainedStruct* nextInChain = nullptr;
    size_t requiredFeatureCount = 0;
    const InstanceFeatureName* requiredFeatures = nullptr;
};

}  // namespace wgpu

#include "plmgpu_objects.h"  // IWYU pragma: export
