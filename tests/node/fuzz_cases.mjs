// Seeded mutations of a real GGUF file for the loader fuzzer (loader_fuzz.test.mjs).
//
// A case is a function of (seed, index) only, so any case a run reports can be run
// again alone. Kinds: a header field set to an edge value (half the cases; counts,
// lengths, types, dimensions, offsets are where loaders go wrong; half of those in the
// key/values, where the model's hyper-parameters are), two fields at once,
// a few random bytes of the header flipped, and the file cut short (mostly inside
// the header, sometimes inside the weights).

/** mulberry32: a small seeded PRNG, enough to spread cases evenly. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SIZE = { u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8 };

function edgeValue(kind, old, rnd) {
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  switch (SIZE[kind]) {
    case 1: return BigInt(pick([0, 1, 2, 127, 128, 255, Math.floor(rnd() * 256)]));
    case 2: return BigInt(pick([0, 1, 0x7fff, 0x8000, 0xffff, Math.floor(rnd() * 65536)]));
    case 4:
      if (kind === "f32") return pick([NaN, Infinity, -Infinity, 0, -1, 1e30, -1e30, 1e-30, Number(old) * 2]);
      return BigInt(pick([0, 1, 2, 3, 0x7fffffff, 0x80000000, 0xffffffff, Math.floor(rnd() * 2 ** 32),
        (Number(old) + 1) >>> 0, (Number(old) - 1) >>> 0, (Number(old) * 2) >>> 0, (Number(old) >>> 1)]));
    default:
      if (kind === "f64") return pick([NaN, Infinity, -Infinity, 0, -1, 1e300, Number(old) * 2]);
      return BigInt.asUintN(64, pick([0n, 1n, 2n ** 31n, 2n ** 32n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n,
        old + 1n, old - 1n, old * 2n, old / 2n, old + 4096n, BigInt(Math.floor(rnd() * 2 ** 40))]));
  }
}

function read(view, off, kind) {
  switch (kind) {
    case "f32": return view.getFloat32(off, true);
    case "f64": return view.getFloat64(off, true);
    default: {
      const n = SIZE[kind];
      return n === 8 ? view.getBigUint64(off, true) : BigInt(n === 4 ? view.getUint32(off, true)
        : n === 2 ? view.getUint16(off, true) : view.getUint8(off));
    }
  }
}

function encode(kind, value) {
  const out = new Uint8Array(SIZE[kind]);
  const view = new DataView(out.buffer);
  if (kind === "f32") view.setFloat32(0, value, true);
  else if (kind === "f64") view.setFloat64(0, value, true);
  else if (out.length === 8) view.setBigUint64(0, value, true);
  else if (out.length === 4) view.setUint32(0, Number(value), true);
  else if (out.length === 2) view.setUint16(0, Number(value), true);
  else view.setUint8(0, Number(value));
  return out;
}

/**
 * Case `index` of `seed` over the file `bytes` with header layout `layout`
 * (gguf_fields.headerFields): { desc, edits: [{ off, bytes }], size } where size is
 * the length of the (possibly cut) file.
 */
export function makeCase(seed, index, bytes, layout) {
  const rnd = prng(seed * 1000003 + index);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const edits = [];
  // Half the fields from the file counts and key/values (a few dozen, where the model's
  // shape is), half from all of them (mostly tensor infos and token-list samples).
  const few = layout.fields.filter((f) => f.group === "file" || f.group === "kv");
  const setField = () => {
    const from = rnd() < 0.5 ? few : layout.fields;
    const f = from[Math.floor(rnd() * from.length)];
    const value = edgeValue(f.kind, read(view, f.off, f.kind), rnd);
    edits.push({ off: f.off, bytes: encode(f.kind, value) });
    return `${f.what}=${String(value)}`;
  };
  const r = rnd();
  if (r < 0.5) return { desc: `set ${setField()}`, edits, size: bytes.length };
  if (r < 0.6) return { desc: `set ${setField()}, ${setField()}`, edits, size: bytes.length };
  if (r < 0.8) {
    const n = 1 + Math.floor(rnd() * 8);
    const flips = [];
    for (let i = 0; i < n; i++) {
      const off = Math.floor(rnd() * layout.end);
      const b = Math.floor(rnd() * 256);
      edits.push({ off, bytes: Uint8Array.of(b) });
      flips.push(`${off}:${b}`);
    }
    return { desc: `bytes ${flips.join(",")}`, edits, size: bytes.length };
  }
  const size = rnd() < 0.75 ? Math.floor(rnd() * (layout.end + 64)) : layout.end + Math.floor(rnd() * (bytes.length - layout.end));
  return { desc: `cut at ${size} of ${bytes.length}`, edits, size };
}
