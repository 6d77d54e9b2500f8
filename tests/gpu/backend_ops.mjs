// Run llama.cpp's test-backend-ops (built for node with the WebGPU variant) on the
// software GPU: node backend_ops.mjs <plm-backend-ops.mjs> <its arguments...>.
//
// A process of its own per run: the module exits when its main() returns
// (EXIT_RUNTIME), with test-backend-ops' own status.
import process from "node:process";

const [, , file, ...args] = process.argv;
const { create } = await import(process.env.PLM_DAWN);
const gpu = create(JSON.parse(process.env.PLM_DAWN_OPTIONS));
const { default: factory } = await import(file);
await factory({ arguments: args, plmGpu: gpu, onExit: (code) => process.exit(code) });
