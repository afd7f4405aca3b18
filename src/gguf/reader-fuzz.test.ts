// A malformed-file corpus: thousands of deterministic mutations of one valid GGUF (truncations,
// bit flips, forged counts/lengths/types/offsets, duplicated names, overlapping data, splices).
// Every one must be rejected with a GgufError or parse into a structurally valid file.

import { expect, test } from "bun:test";
import { GgufError } from "./errors.ts";
import { packTernary } from "./quants.ts";
import { parseGguf, type GgufFile } from "./reader.ts";
import { GgmlType, GgufType, gv, tensorByteSize } from "./types.ts";
import { GgufWriter } from "./writer.ts";

function baseFile(): Uint8Array {
  const w = new GgufWriter();
  w.set("general.architecture", gv.str("fuzz"));
  w.set("fuzz.count", gv.u32(7));
  w.set("fuzz.eps", gv.f32(1e-5));
  w.set("fuzz.big", gv.u64(123456789n));
  w.set("fuzz.flag", gv.bool(true));
  w.set("tokenizer.ggml.tokens", gv.strings(["a", "bb", "ccc", "Ġd"]));
  w.set("tokenizer.ggml.token_type", gv.i32s([1, 1, 3, 1]));
  w.set("fuzz.nested", gv.array(GgufType.ARRAY, [{ itemType: GgufType.UINT8, items: new Uint8Array([1, 2]) }]));
  w.addTensor("t.0", GgmlType.F32, [8, 2], new Uint8Array(64).fill(0x3f));
  w.addTensor("t.1", GgmlType.TQ2_0, [256], packTernary(GgmlType.TQ2_0, new Int8Array(256).fill(1), 0.5));
  w.addTensor("t.2", GgmlType.I2_S, [128], packTernary(GgmlType.I2_S, new Int8Array(128).fill(-1), 0.25));
  w.addTensor("t.3", GgmlType.F16, [4], new Uint8Array(8).fill(0x11));
  return w.toBytes();
}

type FieldKind = "count" | "strlen" | "type" | "ndims" | "dim" | "offset";
interface Field { at: number; width: 4 | 8; kind: FieldKind }

/** Offsets of every structural field of a (trusted, valid) file, found by walking it. */
function fieldMap(b: Uint8Array): { fields: Field[]; headerEnd: number; tensorNames: number[]; keys: number[] } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fields: Field[] = [];
  const tensorNames: number[] = [];
  const keys: number[] = [];
  let p = 8;
  const u32 = (kind: FieldKind) => { fields.push({ at: p, width: 4, kind }); p += 4; return v.getUint32(p - 4, true); };
  const u64 = (kind: FieldKind) => { fields.push({ at: p, width: 8, kind }); p += 8; return Number(v.getBigUint64(p - 8, true)); };
  const str = () => { const n = u64("strlen"); p += n; };
  const value = (t: number): void => {
    if (t === GgufType.STRING) return str();
    if (t === GgufType.ARRAY) {
      const it = u32("type");
      const n = u64("count");
      for (let i = 0; i < n; i++) value(it);
      return;
    }
    p += t === GgufType.BOOL || t <= 1 ? 1 : t <= 3 ? 2 : t <= 6 ? 4 : 8;
  };
  const nT = u64("count");
  const nKv = u64("count");
  for (let i = 0; i < nKv; i++) {
    keys.push(p);
    str();
    value(u32("type"));
  }
  for (let i = 0; i < nT; i++) {
    tensorNames.push(p);
    str();
    const nd = u32("ndims");
    for (let d = 0; d < nd; d++) u64("dim");
    u32("type");
    u64("offset");
  }
  return { fields, headerEnd: p, tensorNames, keys };
}

/** mulberry32: a tiny seeded PRNG, so the corpus is the same on every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The invariants a successfully parsed file must satisfy, whatever bytes it came from. */
function checkStructure(g: GgufFile, size: number): void {
  const spans: [number, number][] = [];
  for (const t of g.tensors) {
    if (t.byteSize !== tensorByteSize(t.type, t.shape, t.name)) throw new Error(`bad size for ${t.name}`);
    if (t.offset < g.dataOffset || (t.offset - g.dataOffset) % g.alignment !== 0) throw new Error(`bad offset for ${t.name}`);
    if (t.offset + t.byteSize > size || t.data().length !== t.byteSize) throw new Error(`${t.name} outside the file`);
    spans.push([t.offset, t.offset + t.byteSize]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) if (spans[i][0] < spans[i - 1][1]) throw new Error("overlapping tensors");
  // Typed getters on arbitrary keys may refuse, but only with a GgufError.
  for (const key of g.metadata.keys()) {
    const getters: ((this: GgufFile, key: string) => unknown)[] = [g.getString, g.getInt, g.getU32, g.getFloat, g.getBool, g.getArray, g.getStringArray];
    for (const get of getters) {
      try {
        get.call(g, key);
      } catch (e) {
        if (!(e instanceof GgufError)) throw e;
      }
    }
  }
}

test("every mutation is a GgufError or a structurally valid file", () => {
  const base = baseFile();
  const parsed = parseGguf(base);
  checkStructure(parsed, base.length);
  const dataEnd = Math.max(...parsed.tensors.map((t) => t.offset + t.byteSize)); // the rest is padding
  const { fields, headerEnd, tensorNames, keys } = fieldMap(base);
  const rnd = prng(0x5eed);
  const int = (n: number) => Math.floor(rnd() * n);
  const corpus: [string, Uint8Array][] = [];
  const mutate = (label: string, f: (b: Uint8Array, v: DataView) => void) => {
    const b = base.slice();
    f(b, new DataView(b.buffer));
    corpus.push([label, b]);
  };

  // 1. Truncation at every byte of the header and at random points in the data.
  const truncate = (n: number) => corpus.push([`${n < dataEnd ? "truncate" : "drop padding"} ${n}`, base.slice(0, n)]);
  for (let n = 0; n < headerEnd + 8; n++) truncate(n);
  for (let i = 0; i < 40; i++) truncate(headerEnd + int(base.length - headerEnd));

  // 2. Random bit flips, mostly in the header where they change structure.
  for (let i = 0; i < 400; i++) {
    const flips = 1 + int(3);
    mutate(`flip×${flips} #${i}`, (b) => {
      for (let k = 0; k < flips; k++) b[rnd() < 0.85 ? int(headerEnd) : int(b.length)] ^= 1 << int(8);
    });
  }

  // 3. Every structural field overwritten with boundary values (huge, "negative", off by one).
  const u64s = [0n, 1n, 2n, 31n, 32n, 33n, 64n, 255n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 60n,
    2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(base.length), BigInt(base.length - 1), BigInt(base.length - headerEnd)];
  const u32s = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 24, 30, 31, 34, 35, 36, 37, 39, 42, 43, 255, 2 ** 31, 2 ** 32 - 1];
  for (const f of fields) {
    if (f.width === 8) {
      for (const x of u64s) mutate(`${f.kind}@${f.at}=${x}`, (_, v) => v.setBigUint64(f.at, x, true));
      mutate(`${f.kind}@${f.at}+1`, (_, v) => v.setBigUint64(f.at, v.getBigUint64(f.at, true) + 1n, true));
      mutate(`${f.kind}@${f.at}-1`, (_, v) => v.setBigUint64(f.at, BigInt.asUintN(64, v.getBigUint64(f.at, true) - 1n), true));
    } else {
      for (const x of u32s) mutate(`${f.kind}@${f.at}=${x}`, (_, v) => v.setUint32(f.at, x, true));
    }
  }

  // 4. Targeted structural damage: duplicate names and keys, aliased, overlapping and misaligned data.
  const offsets = fields.filter((f) => f.kind === "offset").map((f) => f.at);
  for (let i = 0; i < offsets.length; i++) {
    for (let j = 0; j < offsets.length; j++) {
      if (i === j) continue;
      mutate(`offset ${i} = offset ${j}`, (_, v) => v.setBigUint64(offsets[i], v.getBigUint64(offsets[j], true), true));
      mutate(`offset ${i} = offset ${j} + 32`, (_, v) => v.setBigUint64(offsets[i], v.getBigUint64(offsets[j], true) + 32n, true));
      // "t.0" … "t.3" have the same length: copying the last character makes a duplicate name.
      mutate(`name ${i} = name ${j}`, (b) => { b[tensorNames[i] + 8 + 2] = b[tensorNames[j] + 8 + 2]; });
    }
    for (const d of [1n, 2n, 4n, 16n]) mutate(`offset ${i} + ${d}`, (_, v) => v.setBigUint64(offsets[i], v.getBigUint64(offsets[i], true) + d, true));
  }
  mutate("duplicate key", (b) => b.set(b.subarray(keys[2], keys[2] + 8 + 8), keys[3])); // "fuzz.eps" over "fuzz.big"
  mutate("all offsets zero", (_, v) => { for (const at of offsets) v.setBigUint64(at, 0n, true); });

  // 5. Splices: a byte inserted or deleted shifts every later field.
  for (let i = 0; i < 150; i++) {
    const at = int(headerEnd);
    const b = i % 2 === 0
      ? new Uint8Array([...base.subarray(0, at), int(256), ...base.subarray(at)])
      : new Uint8Array([...base.subarray(0, at), ...base.subarray(at + 1)]);
    corpus.push([`${i % 2 === 0 ? "insert" : "delete"} @${at}`, b]);
  }

  // The targeted mutations must fail for the reason they were made.
  const expectedReason: [RegExp, RegExp][] = [
    [/^duplicate key$/, /duplicate metadata key "fuzz.eps"/],
    [/^name \d = name \d$/, /duplicate tensor name/],
    [/^offset \d = offset \d( \+ 32)?$/, /overlaps tensor|runs past end/],
    [/^offset \d \+ (1|2|4|16)$/, /is not a multiple of the alignment/],
    [/^truncate /, /./],
  ];
  let rejected = 0;
  let accepted = 0;
  for (const [label, bytes] of corpus) {
    let g: GgufFile;
    const reason = expectedReason.find(([l]) => l.test(label))?.[1];
    try {
      g = parseGguf(bytes, label);
    } catch (e) {
      if (!(e instanceof GgufError)) throw new Error(`mutation "${label}" threw ${String(e)} instead of a GgufError`);
      if (reason !== undefined && !reason.test(e.message)) throw new Error(`mutation "${label}" failed for another reason: ${e.message}`);
      rejected++;
      continue;
    }
    if (reason !== undefined) throw new Error(`mutation "${label}" was accepted`);
    try {
      checkStructure(g, bytes.length);
    } catch (e) {
      throw new Error(`mutation "${label}" parsed into an invalid structure: ${String(e)}`);
    }
    accepted++;
  }
  expect(corpus.length).toBeGreaterThanOrEqual(200);
  expect(rejected).toBeGreaterThan(corpus.length / 2);
  expect(accepted).toBeGreaterThan(0); // e.g. flips inside tensor data or string bytes that stay valid
  console.log(`gguf fuzz: ${corpus.length} mutations, ${rejected} rejected, ${accepted} parsed`);
});
