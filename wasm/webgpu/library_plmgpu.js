// The JS half of our wgpu subset (wasm/webgpu/webgpu/webgpu_cpp.h): every
// plmgpu_* import, implemented over navigator.gpu.
//
// Why our own: emscripten's WebGPU bindings are a port downloaded from outside
// any package registry. This library needs nothing but the WebGPU JS API, so
// the same build runs in a browser worker and, in the tests, in node with
// Dawn's bindings (Module.plmGpu, a GPU object, takes precedence over
// navigator.gpu).
//
// Objects live in one table: id -> {o: the JS object, refs}. C++ handles own
// references (plmgpu_ref/plmgpu_release); an object returned to C++ starts with
// one. Futures are promises that settle into {status, object, message}:
// 1 success, 2 cancelled, 3 error. plmgpu_wait is the one suspending import
// (JSPI): the C++ side runs callbacks after it returns. Device loss and
// uncaptured errors are queued per device and handed over by plmgpu_device_event.
//
// Every pointer argument arrives as a Number (the __sig 'p' entries make
// emscripten convert memory64's BigInts), sizes and offsets as doubles.

addToLibrary({
  $PLMGPU__deps: ['$UTF8ToString', '$stringToUTF8'],
  $PLMGPU: {
    objects: new Map(),
    futures: new Map(),
    events: new Map(), // device id -> [{kind, reason, message}]
    nextId: 1,
    // The limits C++ passes as a double array, in webgpu_cpp.h's Limits order.
    LIMIT_NAMES: [
      'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
      'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension',
      'maxStorageBuffersPerShaderStage', 'maxUniformBuffersPerShaderStage', 'maxBindGroups',
      'maxBindingsPerBindGroup', 'maxUniformBufferBindingSize', 'maxStorageBufferBindingSize', 'maxBufferSize',
      'minUniformBufferOffsetAlignment', 'minStorageBufferOffsetAlignment',
    ],
    gpu() {
      if (Module['plmGpu']) return Module['plmGpu'];
      return (typeof navigator != 'undefined' && navigator.gpu) || null;
    },
    add(o) {
      if (o == null) return 0;
      const id = PLMGPU.nextId++;
      PLMGPU.objects.set(id, { o, refs: 1 });
      return id;
    },
    get(id) {
      const entry = PLMGPU.objects.get(id);
      return entry ? entry.o : null;
    },
    str(ptr) {
      return ptr ? UTF8ToString(ptr) : '';
    },
    label(ptr) {
      const s = PLMGPU.str(ptr);
      return s ? { label: s } : {};
    },
    // A future settles exactly once; its promise never rejects. toObject turns the
    // promise's value into the table id handed to C++ (0: none).
    track(promise, toObject) {
      const id = PLMGPU.nextId++;
      const f = { settled: false, status: 0, object: 0, message: '' };
      f.promise = promise.then(
        (value) => Object.assign(f, { settled: true, status: 1, object: toObject ? toObject(value) : 0 }),
        (err) => Object.assign(f, { settled: true, status: 3, message: String((err && err.message) || err) }));
      PLMGPU.futures.set(id, f);
      return id;
    },
    event(deviceId, e) {
      PLMGPU.events.get(deviceId)?.push(e);
    },
  },

  plmgpu_ref__deps: ['$PLMGPU'],
  plmgpu_ref__sig: 'vi',
  plmgpu_ref: (id) => {
    const entry = PLMGPU.objects.get(id);
    if (entry) entry.refs++;
  },

  plmgpu_release__deps: ['$PLMGPU'],
  plmgpu_release__sig: 'vi',
  plmgpu_release: (id) => {
    const entry = PLMGPU.objects.get(id);
    if (entry && --entry.refs <= 0) PLMGPU.objects.delete(id);
  },

  plmgpu_create_instance__deps: ['$PLMGPU'],
  plmgpu_create_instance__sig: 'i',
  plmgpu_create_instance: () => {
    const gpu = PLMGPU.gpu();
    return gpu ? PLMGPU.add({ gpu }) : 0;
  },

  plmgpu_has_wgsl_feature__deps: ['$PLMGPU'],
  plmgpu_has_wgsl_feature__sig: 'iip',
  plmgpu_has_wgsl_feature: (instance, name) => {
    const features = PLMGPU.get(instance)?.gpu.wgslLanguageFeatures;
    return features && features.has(PLMGPU.str(name)) ? 1 : 0;
  },

  plmgpu_request_adapter__deps: ['$PLMGPU'],
  plmgpu_request_adapter__sig: 'iiii',
  plmgpu_request_adapter: (instance, power, fallback) => {
    const inst = PLMGPU.get(instance);
    if (!inst) return 0;
    const options = {};
    if (power) options.powerPreference = power == 1 ? 'low-power' : 'high-performance';
    if (fallback) options.forceFallbackAdapter = true;
    return PLMGPU.track(Promise.resolve().then(() => inst.gpu.requestAdapter(options)), PLMGPU.add);
  },

  plmgpu_adapter_has_feature__deps: ['$PLMGPU'],
  plmgpu_adapter_has_feature__sig: 'iip',
  plmgpu_adapter_has_feature: (adapter, name) => (PLMGPU.get(adapter)?.features.has(PLMGPU.str(name)) ? 1 : 0),

  plmgpu_adapter_limits__deps: ['$PLMGPU'],
  plmgpu_adapter_limits__sig: 'vipi',
  plmgpu_adapter_limits: (adapter, out, count) => {
    const limits = PLMGPU.get(adapter).limits;
    // Module.plmGpuLimits lowers limits the engine sees (and then requests): how the
    // tests give a software GPU the small buffers of a real one.
    const caps = Module['plmGpuLimits'] || {};
    for (let i = 0; i < count; i++) {
      const name = PLMGPU.LIMIT_NAMES[i];
      const value = limits[name] ?? 0;
      HEAPF64[out / 8 + i] = caps[name] !== undefined ? Math.min(value, caps[name]) : value;
    }
  },

  plmgpu_adapter_info__deps: ['$PLMGPU'],
  plmgpu_adapter_info__sig: 'iiipi',
  plmgpu_adapter_info: (adapter, field, out, cap) => {
    const info = PLMGPU.get(adapter).info || {};
    const value = String(info[['vendor', 'architecture', 'device', 'description'][field]] ?? '');
    return stringToUTF8(value, out, cap);
  },

  plmgpu_adapter_info_u32__deps: ['$PLMGPU'],
  plmgpu_adapter_info_u32__sig: 'iii',
  plmgpu_adapter_info_u32: (adapter, field) => {
    const info = PLMGPU.get(adapter).info || {};
    return (info[['vendorID', 'deviceID', 'subgroupMinSize', 'subgroupMaxSize'][field]] ?? 0) >>> 0;
  },

  plmgpu_request_device__deps: ['$PLMGPU'],
  plmgpu_request_device__sig: 'iippip',
  plmgpu_request_device: (adapter, features, limits, count, label) => {
    const a = PLMGPU.get(adapter);
    const requiredFeatures = PLMGPU.str(features).split(',').filter((f) => f);
    const requiredLimits = {};
    for (let i = 0; i < count; i++) {
      const name = PLMGPU.LIMIT_NAMES[i];
      // Only limits this browser knows; asking for an unknown one fails the request.
      if (a.limits[name] !== undefined) requiredLimits[name] = HEAPF64[limits / 8 + i];
    }
    const descriptor = { requiredFeatures, requiredLimits, ...PLMGPU.label(label) };
    const register = (device) => {
      const id = PLMGPU.add(device);
      PLMGPU.events.set(id, []);
      // For the embedder: the devices this module made, and why one was lost.
      (Module['plmGpuDevices'] ||= []).push(device);
      device.lost.then((info) => {
        Module['plmGpuLost'] = { reason: info.reason, message: info.message };
        PLMGPU.event(id, { kind: 1, reason: info.reason === 'destroyed' ? 2 : 1, message: info.message || '' });
      });
      device.onuncapturederror = (e) => {
        const type = e.error && e.error.constructor ? e.error.constructor.name : '';
        const reason = { GPUValidationError: 2, GPUOutOfMemoryError: 3, GPUInternalError: 4 }[type] ?? 5;
        PLMGPU.event(id, { kind: 2, reason, message: String(e.error && e.error.message) });
      };
      return id;
    };
    return PLMGPU.track(Promise.resolve().then(() => a.requestDevice(descriptor)), register);
  },

  plmgpu_wait__deps: ['$PLMGPU'],
  plmgpu_wait__sig: 'iid',
  plmgpu_wait__async: true,
  plmgpu_wait: async (future, ms) => {
    const f = PLMGPU.futures.get(future);
    if (!f) return 3;
    if (f.settled) return 1;
    if (ms === 0) return 2;
    let timer;
    const timeout = ms < 0 ? null : new Promise((resolve) => { timer = setTimeout(resolve, ms); });
    await (timeout ? Promise.race([f.promise, timeout]) : f.promise);
    clearTimeout(timer);
    return f.settled ? 1 : 2;
  },

  plmgpu_future_result__deps: ['$PLMGPU'],
  plmgpu_future_result__sig: 'iippi',
  plmgpu_future_result: (future, object, message, cap) => {
    const f = PLMGPU.futures.get(future);
    PLMGPU.futures.delete(future);
    HEAPU32[object / 4] = f ? f.object : 0;
    stringToUTF8(f ? f.message : 'unknown future', message, cap);
    return f ? f.status : 3;
  },

  plmgpu_future_settled__deps: ['$PLMGPU'],
  plmgpu_future_settled__sig: 'ii',
  plmgpu_future_settled: (future) => (PLMGPU.futures.get(future)?.settled ? 1 : 0),

  plmgpu_device_event__deps: ['$PLMGPU'],
  plmgpu_device_event__sig: 'iipppi',
  plmgpu_device_event: (device, kind, reason, message, cap) => {
    const e = PLMGPU.events.get(device)?.shift();
    if (!e) return 0;
    HEAP32[kind / 4] = e.kind;
    HEAP32[reason / 4] = e.reason;
    stringToUTF8(e.message, message, cap);
    return 1;
  },

  plmgpu_device_queue__deps: ['$PLMGPU'],
  plmgpu_device_queue__sig: 'ii',
  plmgpu_device_queue: (device) => PLMGPU.add(PLMGPU.get(device).queue),

  plmgpu_device_destroy__deps: ['$PLMGPU'],
  plmgpu_device_destroy__sig: 'vi',
  plmgpu_device_destroy: (device) => PLMGPU.get(device)?.destroy(),

  plmgpu_create_buffer__deps: ['$PLMGPU'],
  plmgpu_create_buffer__sig: 'iidiip',
  plmgpu_create_buffer: (device, size, usage, mapped, label) =>
    PLMGPU.add(PLMGPU.get(device).createBuffer({ size, usage, mappedAtCreation: !!mapped, ...PLMGPU.label(label) })),

  plmgpu_create_shader__deps: ['$PLMGPU'],
  plmgpu_create_shader__sig: 'iipp',
  plmgpu_create_shader: (device, code, label) =>
    PLMGPU.add(PLMGPU.get(device).createShaderModule({ code: PLMGPU.str(code), ...PLMGPU.label(label) })),

  plmgpu_create_pipeline__deps: ['$PLMGPU'],
  plmgpu_create_pipeline__sig: 'iiippppi',
  plmgpu_create_pipeline: (device, module, entry, label, keys, values, count) => {
    const constants = {};
    for (let i = 0; i < count; i++) {
      const key = UTF8ToString(Number({{{ makeGetValue('keys', 'i * ' + POINTER_SIZE, '*') }}}));
      constants[key] = HEAPF64[values / 8 + i];
    }
    const compute = { module: PLMGPU.get(module), constants };
    const name = PLMGPU.str(entry);
    if (name) compute.entryPoint = name;
    return PLMGPU.add(PLMGPU.get(device).createComputePipeline({ layout: 'auto', compute, ...PLMGPU.label(label) }));
  },

  plmgpu_pipeline_layout__deps: ['$PLMGPU'],
  plmgpu_pipeline_layout__sig: 'iii',
  plmgpu_pipeline_layout: (pipeline, group) => PLMGPU.add(PLMGPU.get(pipeline).getBindGroupLayout(group)),

  plmgpu_create_bind_group__deps: ['$PLMGPU'],
  plmgpu_create_bind_group__sig: 'iiipip',
  plmgpu_create_bind_group: (device, layout, records, count, label) => {
    const entries = [];
    for (let i = 0; i < count; i++) {
      const at = records + 24 * i;
      const resource = { buffer: PLMGPU.get(HEAPU32[at / 4 + 1]), offset: HEAPF64[at / 8 + 1] };
      const size = HEAPF64[at / 8 + 2];
      if (size >= 0) resource.size = size;
      entries.push({ binding: HEAPU32[at / 4], resource });
    }
    return PLMGPU.add(PLMGPU.get(device).createBindGroup({ layout: PLMGPU.get(layout), entries,
      ...PLMGPU.label(label) }));
  },

  plmgpu_create_encoder__deps: ['$PLMGPU'],
  plmgpu_create_encoder__sig: 'ii',
  plmgpu_create_encoder: (device) => PLMGPU.add(PLMGPU.get(device).createCommandEncoder()),

  plmgpu_buffer_destroy__deps: ['$PLMGPU'],
  plmgpu_buffer_destroy__sig: 'vi',
  plmgpu_buffer_destroy: (buffer) => PLMGPU.get(buffer)?.destroy(),

  plmgpu_buffer_size__deps: ['$PLMGPU'],
  plmgpu_buffer_size__sig: 'di',
  plmgpu_buffer_size: (buffer) => PLMGPU.get(buffer)?.size ?? 0,

  plmgpu_buffer_map__deps: ['$PLMGPU'],
  plmgpu_buffer_map__sig: 'iiidd',
  plmgpu_buffer_map: (buffer, mode, offset, size) =>
    PLMGPU.track(Promise.resolve().then(() => PLMGPU.get(buffer).mapAsync(mode, offset, size))),

  plmgpu_buffer_read_mapped__deps: ['$PLMGPU'],
  plmgpu_buffer_read_mapped__sig: 'viddp',
  plmgpu_buffer_read_mapped: (buffer, offset, size, out) => {
    HEAPU8.set(new Uint8Array(PLMGPU.get(buffer).getMappedRange(offset, size)), out);
  },

  plmgpu_buffer_unmap__deps: ['$PLMGPU'],
  plmgpu_buffer_unmap__sig: 'vi',
  plmgpu_buffer_unmap: (buffer) => PLMGPU.get(buffer)?.unmap(),

  plmgpu_begin_compute__deps: ['$PLMGPU'],
  plmgpu_begin_compute__sig: 'ii',
  plmgpu_begin_compute: (encoder) => PLMGPU.add(PLMGPU.get(encoder).beginComputePass()),

  plmgpu_pass_pipeline__deps: ['$PLMGPU'],
  plmgpu_pass_pipeline__sig: 'vii',
  plmgpu_pass_pipeline: (pass, pipeline) => PLMGPU.get(pass).setPipeline(PLMGPU.get(pipeline)),

  plmgpu_pass_bind_group__deps: ['$PLMGPU'],
  plmgpu_pass_bind_group__sig: 'viii',
  plmgpu_pass_bind_group: (pass, index, group) => PLMGPU.get(pass).setBindGroup(index, PLMGPU.get(group)),

  plmgpu_pass_dispatch__deps: ['$PLMGPU'],
  plmgpu_pass_dispatch__sig: 'viiii',
  plmgpu_pass_dispatch: (pass, x, y, z) => PLMGPU.get(pass).dispatchWorkgroups(x, y, z),

  plmgpu_pass_end__deps: ['$PLMGPU'],
  plmgpu_pass_end__sig: 'vi',
  plmgpu_pass_end: (pass) => PLMGPU.get(pass).end(),

  plmgpu_encoder_copy__deps: ['$PLMGPU'],
  plmgpu_encoder_copy__sig: 'viididd',
  plmgpu_encoder_copy: (encoder, src, srcOffset, dst, dstOffset, size) =>
    PLMGPU.get(encoder).copyBufferToBuffer(PLMGPU.get(src), srcOffset, PLMGPU.get(dst), dstOffset, size),

  plmgpu_encoder_finish__deps: ['$PLMGPU'],
  plmgpu_encoder_finish__sig: 'ii',
  plmgpu_encoder_finish: (encoder) => PLMGPU.add(PLMGPU.get(encoder).finish()),

  plmgpu_queue_submit__deps: ['$PLMGPU'],
  plmgpu_queue_submit__sig: 'vipi',
  plmgpu_queue_submit: (queue, commands, count) => {
    const list = [];
    for (let i = 0; i < count; i++) list.push(PLMGPU.get(HEAPU32[commands / 4 + i]));
    PLMGPU.get(queue).submit(list);
  },

  plmgpu_queue_write__deps: ['$PLMGPU'],
  plmgpu_queue_write__sig: 'viidpd',
  plmgpu_queue_write: (queue, buffer, offset, data, size) => {
    const q = PLMGPU.get(queue);
    const b = PLMGPU.get(buffer);
    try {
      q.writeBuffer(b, offset, HEAPU8, data, size);
    } catch (e) {
      // An implementation that refuses views of shared memory (threaded builds): copy.
      if (!(e instanceof TypeError)) throw e;
      q.writeBuffer(b, offset, HEAPU8.slice(data, data + size));
    }
  },

  plmgpu_queue_done__deps: ['$PLMGPU'],
  plmgpu_queue_done__sig: 'ii',
  plmgpu_queue_done: (queue) =>
    PLMGPU.track(Promise.resolve().then(() => PLMGPU.get(queue).onSubmittedWorkDone())),
});
