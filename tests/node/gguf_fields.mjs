// Where each field of a GGUF header lies: what the structure-aware fuzzer mutates.
//
// Why not random bytes only: a flipped byte mostly lands in a string or a token list
// and the loader reads a different word; the crashes live in counts, lengths, types,
// dimensions and offsets, which a fuzzer finds by setting them to edge values.
// GGUF v3 layout: magic, version u32, n_tensors u64, n_kv u64, then each key/value
// (key string, type u32, value), then each tensor's info (name, n_dims u32, dims
// u64[n], type u32, offset u64), then the data, aligned to general.alignment.

const SCALAR = { 0: ["u8", 1], 1: ["i8", 1], 2: ["u16", 2], 3: ["i16", 2], 4: ["u32", 4], 5: ["i32", 4],
  6: ["f32", 4], 7: ["bool", 1], 10: ["u64", 8], 11: ["i64", 8], 12: ["f64", 8] };
const STRING = 8;
const ARRAY = 9;
const SAMPLED = 6; // elements of an array recorded (first ones and the last)

/**
 * Fields of the header in `bytes` (a Uint8Array of a whole file or its start):
 * [{ off, kind, what, group }], kind "u8".."f64" or "bool", group "file" (counts),
 * "kv" (a key/value's type, length or scalar), "array" (elements) or "tensor"; and
 * the end of the tensor infos.
 */
export function headerFields(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields = [];
  let pos = 0;
  let group = "file";
  const field = (kind, size, what) => {
    fields.push({ off: pos, kind, what, group });
    pos += size;
  };
  const u32 = () => view.getUint32(pos, true);
  const u64 = () => Number(view.getBigUint64(pos, true));
  const string = (what) => {
    const n = u64();
    field("u64", 8, `${what}.length`);
    const text = new TextDecoder().decode(bytes.subarray(pos, pos + n));
    pos += n;
    return text;
  };
  const value = (type, what) => {
    if (SCALAR[type]) return field(SCALAR[type][0], SCALAR[type][1], what);
    if (type === STRING) return void string(what);
    if (type !== ARRAY) throw new Error(`unknown GGUF type ${type} at ${pos}`);
    const elem = u32();
    field("u32", 4, `${what}.type`);
    const n = u64();
    field("u64", 8, `${what}.count`);
    const outer = group;
    group = "array";
    for (let i = 0; i < n; i++) {
      const keep = i < SAMPLED - 1 || i === n - 1;
      if (keep) {
        value(elem, `${what}[${i}]`);
      } else if (SCALAR[elem]) {
        pos += SCALAR[elem][1];
      } else if (elem === STRING) {
        pos += 8 + u64();
      } else {
        throw new Error(`nested arrays are not in our models (${what})`);
      }
    }
    group = outer;
  };
  field("u32", 4, "magic");
  field("u32", 4, "version");
  const nTensors = u64();
  field("u64", 8, "n_tensors");
  const nKv = u64();
  field("u64", 8, "n_kv");
  group = "kv";
  for (let i = 0; i < nKv; i++) {
    const key = string(`kv${i}.key`);
    const type = u32();
    field("u32", 4, `${key}.type`);
    value(type, key);
  }
  group = "tensor";
  for (let i = 0; i < nTensors; i++) {
    const name = string(`tensor${i}.name`);
    const nDims = u32();
    field("u32", 4, `${name}.n_dims`);
    for (let d = 0; d < nDims; d++) field("u64", 8, `${name}.dim${d}`);
    field("u32", 4, `${name}.type`);
    field("u64", 8, `${name}.offset`);
  }
  return { fields, end: pos };
}
