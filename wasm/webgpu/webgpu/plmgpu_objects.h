// The object classes of our wgpu subset (see webgpu_cpp.h, which includes this
// file after the enums, strings, handles and plain structs it builds on).
#pragma once

#include "webgpu_cpp.h"

namespace wgpu {

class Device;

PLMGPU_HANDLE(Buffer)
    uint64_t GetSize() const { return uint64_t(plmgpu_buffer_size(id_)); }
    void Destroy() const { plmgpu_buffer_destroy(id_); }

    template <typename F>
    Future MapAsync(MapMode mode, size_t offset, size_t size, CallbackMode, F callback) const {
        uint32_t future = plmgpu_buffer_map(id_, uint32_t(mode), double(offset), double(size));
        return detail::Track(future, [callback](uint32_t status, uint32_t, std::string_view message) mutable {
            callback(static_cast<MapAsyncStatus>(status), StringView(message));
        });
    }

    // A copy of the mapped bytes in linear memory, valid until Unmap (the JS
    // mapping is an ArrayBuffer outside the wasm heap).
    const void* GetConstMappedRange(size_t offset = 0, size_t size = SIZE_MAX) const {
        if (size == SIZE_MAX) size = size_t(GetSize()) - offset;
        auto& copies = Mapped()[id_];
        copies.emplace_back(size);
        plmgpu_buffer_read_mapped(id_, double(offset), double(size), copies.back().data());
        return copies.back().data();
    }

    void Unmap() const {
        Mapped().erase(id_);
        plmgpu_buffer_unmap(id_);
    }

  private:
    static std::unordered_map<uint32_t, std::vector<std::vector<uint8_t>>>& Mapped() {
        static std::unordered_map<uint32_t, std::vector<std::vector<uint8_t>>> mapped;
        return mapped;
    }
};

struct BufferDescriptor {
    ChainedStruct* nextInChain = nullptr;
    StringView label;
    BufferUsage usage = BufferUsage::None;
    uint64_t size = 0;
    bool mappedAtCreation = false;
};

struct BindGroupEntry {
    ChainedStruct* nextInChain = nullptr;
    uint32_t binding = 0;
    Buffer buffer;
    uint64_t offset = 0;
    uint64_t size = kWholeSize;
};

struct BindGroupDescriptor {
    ChainedStruct* nextInChain = nullptr;
    StringView label;
    BindGroupLayout layout;
    size_t entryCount = 0;
    const BindGroupEntry* entries = nullptr;
};

struct CommandBufferDescriptor {
    ChainedStruct* nextInChain = nullptr;
    StringView label;
};

PLMGPU_HANDLE(ComputePassEncoder)
    void SetPipeline(const ComputePipeline& pipeline) const { plmgpu_pass_pipeline(id_, pipeline.Id()); }
    void SetBindGroup(uint32_t index, const BindGroup& group, size_t dynamicOffsetCount = 0,
                      const uint32_t* dynamicOffsets = nullptr) const {
        (void) dynamicOffsetCount;  // ggml-webgpu binds no dynamic offsets
        (void) dynamicOffsets;
        plmgpu_pass_bind_group(id_, index, group.Id());
    }
    void DispatchWorkgroups(uint32_t x, uint32_t y = 1, uint32_t z = 1) const { plmgpu_pass_dispatch(id_, x, y, z); }
    void End() const { plmgpu_pass_end(id_); }
};

PLMGPU_HANDLE(CommandEncoder)
    ComputePassEncoder BeginComputePass(const ComputePassDescriptor* = nullptr) const {
        return ComputePassEncoder(plmgpu_begin_compute(id_), detail::Adopt{});
    }
    void CopyBufferToBuffer(const Buffer& src, uint64_t srcOffset, const Buffer& dst, uint64_t dstOffset,
                            uint64_t size) const {
        plmgpu_encoder_copy(id_, src.Id(), double(srcOffset), dst.Id(), double(dstOffset), double(size));
    }
    CommandBuffer Finish(const CommandBufferDescriptor* = nullptr) const {
        return CommandBuffer(plmgpu_encoder_finish(id_), detail::Adopt{});
    }
};

PLMGPU_HANDLE(Queue)
    void Submit(size_t count, const CommandBuffer* commands) const {
        std::vector<uint32_t> ids(count);
        for (size_t i = 0; i < count; i++) ids[i] = commands[i].Id();
        plmgpu_queue_submit(id_, ids.data(), int(count));
    }
    void WriteBuffer(const Buffer& buffer, uint64_t offset, const void* data, size_t size) const {
        plmgpu_queue_write(id_, buffer.Id(), double(offset), data, double(size));
    }
    template <typename F>
    Future OnSubmittedWorkDone(CallbackMode, F callback) const {
        return detail::Track(plmgpu_queue_done(id_), [callback](uint32_t status, uint32_t, std::string_view m) mutable {
            callback(static_cast<QueueWorkDoneStatus>(status), StringView(m));
        });
    }
};

namespace detail {
// What a device descriptor's callbacks become once the device exists: JS
// records "lost" and uncaptured errors; each WaitAny delivers them here.
struct DeviceCallbacks {
    std::function<void(const Device&, DeviceLostReason, StringView)> lost;
    std::function<void(const Device&, ErrorType, StringView)> error;
};
inline std::unordered_map<uint32_t, DeviceCallbacks>& Devices() {
    static std::unordered_map<uint32_t, DeviceCallbacks> devices;
    return devices;
}
void DeliverDeviceEvents();
}  // namespace detail

struct QueueDescriptor {
    ChainedStruct* nextInChain = nullptr;
    StringView label;
};

struct DeviceDescriptor {
    ChainedStruct* nextInChain = nullptr;
    StringView label;
    size_t requiredFeatureCount = 0;
    const FeatureName* requiredFeatures = nullptr;
    const Limits* requiredLimits = nullptr;
    QueueDescriptor defaultQueue;
    detail::DeviceCallbacks callbacks;

    template <typename F>
    void SetDeviceLostCallback(CallbackMode, F callback) {
        callbacks.lost = callback;
    }
    template <typename F>
    void SetUncapturedErrorCallback(F callback) {
        callbacks.error = callback;
    }
};

PLMGPU_HANDLE(Device)
    Buffer CreateBuffer(const BufferDescriptor* d) const {
        return Buffer(plmgpu_create_buffer(id_, double(d->size), uint32_t(d->usage), d->mappedAtCreation ? 1 : 0,
                                           d->label.str().c_str()),
                      detail::Adopt{});
    }
    ShaderModule CreateShaderModule(const ShaderModuleDescriptor* d) const {
        const auto* wgsl = static_cast<const ShaderSourceWGSL*>(d->nextInChain);
        if (wgsl == nullptr || wgsl->sType != SType::ShaderSourceWGSL) return ShaderModule();
        return ShaderModule(plmgpu_create_shader(id_, wgsl->code.str().c_str(), d->label.str().c_str()),
                            detail::Adopt{});
    }
    ComputePipeline CreateComputePipeline(const ComputePipelineDescriptor* d) const {
        std::vector<std::string> keys;
        std::vector<const char*> key_ptrs;
        std::vector<double> values;
        for (size_t i = 0; i < d->compute.constantCount; i++) keys.push_back(d->compute.constants[i].key.str());
        for (size_t i = 0; i < d->compute.constantCount; i++) {
            key_ptrs.push_back(keys[i].c_str());
            values.push_back(d->compute.constants[i].value);
        }
        std::string entry = d->compute.entryPoint.data ? d->compute.entryPoint.str() : std::string();
        return ComputePipeline(plmgpu_create_pipeline(id_, d->compute.module.Id(), entry.c_str(),
                                                      d->label.str().c_str(), key_ptrs.data(), values.data(),
                                                      int(values.size())),
                               detail::Adopt{});
    }
    BindGroup CreateBindGroup(const BindGroupDescriptor* d) const {
        struct Record {
            uint32_t binding;
            uint32_t buffer;
            double offset;
            double size;
        };
        static_assert(sizeof(Record) == 24, "the JS side reads 24-byte records");
        std::vector<Record> records(d->entryCount);
        for (size_t i = 0; i < d->entryCount; i++) {
            const BindGroupEntry& e = d->entries[i];
            records[i] = { e.binding, e.buffer.Id(), double(e.offset), e.size == kWholeSize ? -1.0 : double(e.size) };
        }
        return BindGroup(plmgpu_create_bind_group(id_, d->layout.Id(), records.data(), int(records.size()),
                                                  d->label.str().c_str()),
                         detail::Adopt{});
    }
    CommandEncoder CreateCommandEncoder(const CommandEncoderDescriptor* = nullptr) const {
        return CommandEncoder(plmgpu_create_encoder(id_), detail::Adopt{});
    }
    Queue GetQueue() const { return Queue(plmgpu_device_queue(id_), detail::Adopt{}); }
    void Destroy() const { plmgpu_device_destroy(id_); }
};

PLMGPU_HANDLE(Adapter)
    bool HasFeature(FeatureName f) const { return plmgpu_adapter_has_feature(id_, detail::FeatureString(f)) != 0; }
    bool GetLimits(Limits* limits) const {
        double v[Limits::kCount];
        plmgpu_adapter_limits(id_, v, Limits::kCount);
        limits->FromArray(v);
        return true;
    }
    bool GetInfo(AdapterInfo* info) const {
        info->Fill(id_);
        return true;
    }

    template <typename F>
    Future RequestDevice(const DeviceDescriptor* d, CallbackMode, F callback) const {
        std::string features;
        for (size_t i = 0; i < d->requiredFeatureCount; i++) {
            if (!features.empty()) features += ",";
            features += detail::FeatureString(d->requiredFeatures[i]);
        }
        double limits[Limits::kCount];
        if (d->requiredLimits) d->requiredLimits->ToArray(limits);
        uint32_t future = plmgpu_request_device(id_, features.c_str(), limits, d->requiredLimits ? Limits::kCount : 0,
                                                d->label.str().c_str());
        detail::DeviceCallbacks callbacks = d->callbacks;
        return detail::Track(future, [callback, callbacks](uint32_t status, uint32_t object,
                                                           std::string_view message) mutable {
            if (object) detail::Devices()[object] = callbacks;
            callback(static_cast<RequestDeviceStatus>(status), Device(object, detail::Adopt{}), StringView(message));
        });
    }
};

PLMGPU_HANDLE(Instance)
    template <typename F>
    Future RequestAdapter(const RequestAdapterOptions* o, CallbackMode, F callback) const {
        uint32_t future = plmgpu_request_adapter(id_, o ? int(o->powerPreference) : 0,
                                                 o && o->forceFallbackAdapter ? 1 : 0);
        return detail::Track(future, [callback](uint32_t status, uint32_t object, std::string_view message) mutable {
            auto s = status == 1 && object == 0 ? RequestAdapterStatus::Unavailable
                                                : static_cast<RequestAdapterStatus>(status == 3 ? 4 : status);
            callback(s, Adapter(object, detail::Adopt{}), StringView(message));
        });
    }

    bool HasWGSLLanguageFeature(WGSLLanguageFeatureName f) const {
        return plmgpu_has_wgsl_feature(id_, detail::LanguageFeatureString(f)) != 0;
    }

    // Suspends (JSPI) until the future settles or the timeout passes, then runs
    // its callback, any other settled future's, and pending device events.
    WaitStatus WaitAny(Future future, uint64_t timeoutNS) const {
        double ms = timeoutNS == UINT64_MAX ? -1.0 : double(timeoutNS) / 1e6;
        int r = future.id ? plmgpu_wait(uint32_t(future.id), ms) : 1;
        if (r == 1) detail::Fire(future.id);
        detail::FireSettled();
        detail::DeliverDeviceEvents();
        return r == 1 ? WaitStatus::Success : r == 2 ? WaitStatus::TimedOut : WaitStatus::Error;
    }
};

inline Instance CreateInstance(const InstanceDescriptor* = nullptr) {
    return Instance(plmgpu_create_instance(), detail::Adopt{});
}

namespace detail {
inline void DeliverDeviceEvents() {
    for (auto& [id, callbacks] : Devices()) {
        int kind = 0, reason = 0;
        char message[512];
        while (plmgpu_device_event(id, &kind, &reason, message, sizeof message)) {
            plmgpu_ref(id);
            Device device(id, Adopt{});
            if (kind == 1 && callbacks.lost) callbacks.lost(device, static_cast<DeviceLostReason>(reason), message);
            if (kind == 2 && callbacks.error) callbacks.error(device, static_cast<ErrorType>(reason), message);
        }
    }
}
}  // namespace detail

}  // namespace wgpu
