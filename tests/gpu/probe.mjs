// What the software WebGPU rig offers, as one JSON line (`python3 -m recipes.build gpurig`).
//
// Run by the rig's node 26 inside the toolchain root with the environment of
// recipes/gpurig.py: PLM_DAWN is the `webgpu` package's index.js (Dawn's dawn.node),
// PLM_DAWN_OPTIONS the JSON list handed to its create(). Exits 1 when the adapter
// lacks shader-f16 or an f16 shader does not compute, which is what the rig is for.
import process from "node:process";

// y[i] = x[i] * 0.5 + 1.25 in f16: every value is exact in f16, so any mismatch is a fault.
const F16_SHADER = `
enable f16;
@group(0) @binding(0) var<storage, read_write> data: array<f16>;
@compute @workgroup_size(4) fn main(@builtin(global_invocation_id) id: vec3u) {
  data[id.x] = data[id.x] * 0.5h + 1.25h;
}`;

/** Run F16_SHADER over four f16 values; true if the device computed them exactly.
 * `globals` is dawn.node's: its GPUBufferUsage and GPUMapMode, left off globalThis. */
async function f16Computes(device, { GPUBufferUsage, GPUMapMode }) {
  const input = new Uint16Array([0x3c00, 0x4000, 0xc000, 0x0000]); // 1, 2, -2, 0 as f16 bits
  const want = [0x3f00, 0x4080, 0x3400, 0x3d00]; // 1.75, 2.25, 0.25, 1.25
  const data = device.createBuffer({ size: 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC
    | GPUBufferUsage.COPY_DST });
  const read = device.createBuffer({ size: 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(data, 0, input);
  const pipeline = device.createComputePipeline({
    layout: "auto", compute: { module: device.createShaderModule({ code: F16_SHADER }), entryPoint: "main" },
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: data } }],
  }));
  pass.dispatchWorkgroups(1);
  pass.end();
  enc.copyBufferToBuffer(data, 0, read, 0, 8);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const got = Array.from(new Uint16Array(read.getMappedRange()));
  read.unmap();
  return got.every((v, i) => v === want[i]);
}

async function probe() {
  const { create, globals } = await import(process.env.PLM_DAWN);
  // Kept local: dawn.node keeps node alive while the object from create() is reachable.
  const gpu = create(JSON.parse(process.env.PLM_DAWN_OPTIONS ?? "[]"));
  const adapter = await gpu.requestAdapter();
  const report = { node: process.version, jspi: typeof globalThis.WebAssembly.Suspending === "function" };
  if (adapter === null) {
    return { ...report, adapter: null };
  }
  const { vendor, architecture, description, isFallbackAdapter } = adapter.info;
  const shader_f16 = adapter.features.has("shader-f16");
  Object.assign(report, {
    vendor, architecture, description, isFallbackAdapter, shader_f16,
    subgroups: adapter.features.has("subgroups"),
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  });
  if (shader_f16) {
    const device = await adapter.requestDevice({ requiredFeatures: ["shader-f16"] });
    report.f16_shader_exact = await f16Computes(device, globals);
    device.destroy();
  }
  return report;
}

const report = await probe();
process.stdout.write(JSON.stringify(report) + "\n");
process.exitCode = report.f16_shader_exact === true ? 0 : 1;
