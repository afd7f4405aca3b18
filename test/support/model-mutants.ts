// Deterministic broken variants of a valid GGUF model: structural ones made on the raw bytes (truncations,
// bit flips, forged counts / lengths / types / offsets / dims) and semantic ones rewritten through GgufWriter.
import { parseGguf } from "../../src/gguf/reader.ts";
import { GgmlType, GgufType, gv, tensorByteSize, type GgufValue } from "../../src/gguf/types.ts";
import { GgufWriter } from "../../src/gguf/writer.ts";

export interface Mutant {
  /** Unique, file-name safe, says what was done: `forge-tensor-type-blk.0.attn_q.weight-99`. */
  name: string;
  bytes: Uint8Array;
}

/** mulberry32: small, seedable, the same on every platform. */
export function prng(seed: number): { u32(): number; int(n: number): number; pick<T>(a: readonly T[]): T } {
  let a = seed >>> 0;
  const u32 = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const int = (n: number) => Math.floor((u32() / 4294967296) * n);
  return { u32, int, pick: (arr) => arr[int(arr.length)] };
}

// ─── Header layout ───────────────────────────────────────────────────────────────────────────────

export interface HeaderField {
  /** Field family, e.g. `key length`, `tensor type`: what the forging table is keyed by. */
  kind: string;
  /** Which one: the key or tensor name it belongs to. */
  owner: string;
  at: number;
  size: 4 | 8;
  value: bigint;
}

/** Every count, length, type tag, dimension and offset of a *valid* file's header, with its offset. */
export function headerFields(bytes: Uint8Array): { fields: HeaderField[]; end: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: HeaderField[] = [];
  let p = 0;
  const field = (kind: string, owner: string, size: 4 | 8): number => {
    const value = size === 4 ? BigInt(dv.getUint32(p, true)) : dv.getBigUint64(p, true);
    fields.push({ kind, owner, at: p, size, value });
    p += size;
    return Number(value);
  };
  const str = (kind: string, owner: string): string => {
    const n = field(kind, owner, 8);
    const s = new TextDecoder().decode(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const scalarSize: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  field("magic", "", 4);
  field("version", "", 4);
  const nTensors = field("tensor count", "", 8);
  const nKv = field("kv count", "", 8);
  for (let i = 0; i < nKv; i++) {
    const key = str("key length", `#${i}`);
    const type = field("value type", key, 4);
    if (type === GgufType.STRING) str("string length", key);
    else if (type === GgufType.ARRAY) {
      const itemType = field("array item type", key, 4);
      const n = field("array count", key, 8);
      if (itemType === GgufType.STRING) for (let j = 0; j < n; j++) str("array string length", `${key}[${j}]`);
      else p += n * scalarSize[itemType]; // the micro fixture has no nested arrays
    } else p += scalarSize[type];
  }
  for (let i = 0; i < nTensors; i++) {
    const name = str("tensor name length", `#${i}`);
    const nDims = field("tensor n_dims", name, 4);
    for (let d = 0; d < nDims; d++) field("tensor dim", `${name}.${d}`, 8);
    field("tensor type", name, 4);
    field("tensor offset", name, 8);
  }
  return { fields, end: p };
}

function withField(bytes: Uint8Array, f: HeaderField, value: bigint): Uint8Array {
  const out = bytes.slice();
  const dv = new DataView(out.buffer);
  if (f.size === 4) dv.setUint32(f.at, Number(BigInt.asUintN(32, value)), true);
  else dv.setBigUint64(f.at, BigInt.asUintN(64, value), true);
  return out;
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60);

// ─── Structural mutants ──────────────────────────────────────────────────────────────────────────

const U64_MAX = (1n << 64n) - 1n;

/** Values to forge into each field family (v: the field's true value). */
const FORGES: Record<string, { fields: number; values: (v: bigint) => bigint[] }> = {
  "magic": { fields: 1, values: () => [0n, 0x46554746n] },
  "version": { fields: 1, values: () => [0n, 1n, 2n, 4n, 0x03000000n] },
  "tensor count": { fields: 1, values: (v) => [0n, 1n, v - 1n, v + 1n, 1n << 32n, U64_MAX] },
  "kv count": { fields: 1, values: (v) => [0n, 1n, v - 1n, v + 1n, 1n << 32n, U64_MAX] },
  "key length": { fields: 4, values: (v) => [0n, v + 1n, U64_MAX] },
  "value type": { fields: 5, values: (v) => [v ^ 1n, 13n, 0xffffffffn] },
  "string length": { fields: 3, values: (v) => [0n, v + 1000n, 1n << 63n] },
  "array item type": { fields: 3, values: (v) => [v ^ 4n, 9n, 13n] },
  "array count": { fields: 3, values: (v) => [0n, v - 1n, v + 1n, U64_MAX] },
  "array string length": { fields: 4, values: (v) => [0n, v + 1n, 1n << 40n] },
  "tensor name length": { fields: 3, values: (v) => [0n, v - 1n, 64n] },
  "tensor n_dims": { fields: 3, values: (v) => [0n, v + 1n, 5n, 0xffffffffn] },
  "tensor dim": { fields: 5, values: (v) => [0n, v * 2n, 1n << 32n, U64_MAX] },
  "tensor type": { fields: 5, values: () => [1n, 8n, 30n, 36n, 99n] },
  "tensor offset": { fields: 5, values: (v) => [v + 32n, v + 1n, 1n << 62n] },
};

export function structuralMutants(bytes: Uint8Array, seed: number): Mutant[] {
  const rnd = prng(seed);
  const { fields, end } = headerFields(bytes);
  const out: Mutant[] = [];

  // Truncations: inside the fixed header, across metadata and tensor infos, in the data, one short.
  const cuts = new Set([0, 1, 3, 4, 7, 8, 15, 16, 23, 24, end - 1, end, end + 1, bytes.length - 1]);
  while (cuts.size < 26) cuts.add(24 + rnd.int(bytes.length - 25));
  for (const n of [...cuts].sort((a, b) => a - b)) out.push({ name: `truncate-${n}`, bytes: bytes.slice(0, n) });

  // Single bit flips anywhere in the header (magic, counts, keys, the vocabulary text, tensor infos).
  for (let i = 0; i < 70; i++) {
    const at = rnd.int(end);
    const bit = rnd.int(8);
    const b = bytes.slice();
    b[at] ^= 1 << bit;
    out.push({ name: `flip-${at}-${bit}`, bytes: b });
  }
  // Bursts of random bytes in the header.
  for (let i = 0; i < 10; i++) {
    const at = rnd.int(end - 8);
    const b = bytes.slice();
    for (let k = 0; k < 8; k++) b[at + k] = rnd.u32() & 0xff;
    out.push({ name: `garbage-${at}`, bytes: b });
  }
  // Bit flips in the weights: still a well-formed file (a NaN weight must not bring anything down).
  for (let i = 0; i < 4; i++) {
    const at = end + 32 + rnd.int(bytes.length - end - 32);
    const b = bytes.slice();
    b[at] ^= 0x7f;
    out.push({ name: `data-flip-${at}`, bytes: b });
  }

  // Forged fields: a few fields of each family, each set to values that break a naive reader.
  for (const [kind, { fields: n, values }] of Object.entries(FORGES)) {
    const family = fields.filter((f) => f.kind === kind);
    const chosen = new Set<HeaderField>();
    while (chosen.size < Math.min(n, family.length)) chosen.add(rnd.pick(family));
    for (const f of chosen) {
      for (const v of values(f.value)) {
        if (BigInt.asUintN(f.size * 8, v) === f.value) continue;
        out.push({ name: `forge-${safe(kind)}-${safe(f.owner)}-${v}`, bytes: withField(bytes, f, v) });
      }
    }
  }
  return out;
}

// ─── Semantic mutants ────────────────────────────────────────────────────────────────────────────

export interface TensorSpec { name: string; type: GgmlType; shape: number[]; data: Uint8Array }

/** An editable model: metadata in file order and tensors with their bytes. */
export class Model {
  constructor(public kv: [string, GgufValue][], public tensors: TensorSpec[]) {}

  static parse(bytes: Uint8Array): Model {
    const f = parseGguf(bytes);
    return new Model([...f.metadata], f.tensors.map((t) => ({ name: t.name, type: t.type, shape: [...t.shape], data: t.data() })));
  }

  clone(): Model {
    return new Model(this.kv.map(([k, v]) => [k, v]), this.tensors.map((t) => ({ ...t, shape: [...t.shape] })));
  }

  get(key: string): GgufValue | undefined {
    return this.kv.find(([k]) => k === key)?.[1];
  }

  set(key: string, value: GgufValue): this {
    const i = this.kv.findIndex(([k]) => k === key);
    if (i >= 0) this.kv[i] = [key, value];
    else this.kv.push([key, value]);
    return this;
  }

  del(key: string): this {
    this.kv = this.kv.filter(([k]) => k !== key);
    return this;
  }

  strings(key: string): string[] {
    const v = this.get(key);
    if (v?.type !== GgufType.ARRAY) throw new Error(`${key} is not an array`);
    return [...(v.value.items as string[])];
  }

  ints(key: string): number[] {
    const v = this.get(key);
    if (v?.type !== GgufType.ARRAY) throw new Error(`${key} is not an array`);
    return Array.from(v.value.items as Int32Array);
  }

  tensor(name: string): TensorSpec {
    const t = this.tensors.find((x) => x.name === name);
    if (!t) throw new Error(`no tensor ${name}`);
    return t;
  }

  /** Changes a tensor's type and/or shape; the data becomes small deterministic values of the new size. */
  retype(name: string, type: GgmlType, shape: number[] = this.tensor(name).shape): this {
    const t = this.tensor(name);
    Object.assign(t, { type, shape, data: filler(type, shape) });
    return this;
  }

  add(name: string, type: GgmlType, shape: number[]): this {
    this.tensors.push({ name, type, shape, data: filler(type, shape) });
    return this;
  }

  drop(name: string): this {
    this.tensors = this.tensors.filter((t) => t.name !== name);
    return this;
  }

  /** Renames every metadata key under `from.` to `to.` (a file converted for another architecture). */
  renamePrefix(from: string, to: string): this {
    this.kv = this.kv.map(([k, v]) => [k.startsWith(`${from}.`) ? `${to}${k.slice(from.length)}` : k, v]);
    return this;
  }

  toBytes(): Uint8Array {
    const w = new GgufWriter();
    w.setAll(this.kv);
    for (const t of this.tensors) w.addTensor(t.name, t.type, t.shape, t.data);
    return w.toBytes();
  }
}

/** Bytes for a tensor: F32 0.01 everywhere (finite, harmless), a fixed byte pattern for other types. */
function filler(type: GgmlType, shape: number[]): Uint8Array {
  const size = tensorByteSize(type, shape);
  if (type === GgmlType.F32) return new Uint8Array(new Float32Array(size / 4).fill(0.01).buffer);
  return new Uint8Array(size).fill(0x11); // 0x1111 as fp16 is ~7e-4: finite scales for quantised blocks
}

type Edit = (m: Model) => void;

/** Every semantic mutant of a valid micro-style model (arch `bitnet`, byte vocabulary, 2 layers). */
export function semanticMutants(bytes: Uint8Array): Mutant[] {
  const base = Model.parse(bytes);
  const arch = (base.get("general.architecture")?.value as string) ?? "bitnet";
  const nVocab = base.strings("tokenizer.ggml.tokens").length;
  const nEmbd = base.tensor("token_embd.weight").shape[0];
  const nLayers = Number(base.get(`${arch}.block_count`)?.value);
  const A = (k: string) => `${arch}.${k}`;
  const edits: [string, Edit][] = [];
  const add = (name: string, e: Edit) => edits.push([name, e]);

  add("original", () => {});
  add("alignment-64", (m) => m.kv.unshift(["general.alignment", gv.u32(64)]));

  // ── vocabulary: token texts
  const tokens = (m: Model, f: (t: string[]) => void) => {
    const t = m.strings("tokenizer.ggml.tokens");
    f(t);
    m.set("tokenizer.ggml.tokens", gv.strings(t));
  };
  add("dup-token-byte", (m) => tokens(m, (t) => (t[66] = t[65])));
  add("dup-token-special", (m) => tokens(m, (t) => (t[257] = t[256])));
  add("dup-token-merged-last", (m) => tokens(m, (t) => (t[nVocab - 1] = t[nVocab - 2])));
  add("dup-token-byte-vs-merge", (m) => tokens(m, (t) => (t[nVocab - 1] = "a")));
  add("token-empty-text", (m) => tokens(m, (t) => (t[70] = "")));
  add("token-two-empty-texts", (m) => tokens(m, (t) => ((t[70] = ""), (t[71] = ""))));
  add("token-with-space", (m) => tokens(m, (t) => (t[72] = "a b")));
  add("token-outside-byte-alphabet", (m) => tokens(m, (t) => (t[nVocab - 1] = "€uro")));
  add("tokens-shorter", (m) => tokens(m, (t) => t.pop()));
  add("tokens-shorter-with-types", (m) => {
    tokens(m, (t) => t.pop());
    m.set("tokenizer.ggml.token_type", gv.i32s(m.ints("tokenizer.ggml.token_type").slice(0, -1)));
  });
  add("tokens-longer", (m) => tokens(m, (t) => t.push("zz")));
  add("tokens-longer-with-types", (m) => {
    tokens(m, (t) => t.push("zz"));
    m.set("tokenizer.ggml.token_type", gv.i32s([...m.ints("tokenizer.ggml.token_type"), 1]));
  });
  add("tokens-empty", (m) => m.set("tokenizer.ggml.tokens", gv.strings([])).set("tokenizer.ggml.token_type", gv.i32s([])));
  add("tokens-missing", (m) => m.del("tokenizer.ggml.tokens"));
  add("tokens-as-i32", (m) => m.set("tokenizer.ggml.tokens", gv.i32s(new Array(nVocab).fill(1))));
  add("tokens-as-string", (m) => m.set("tokenizer.ggml.tokens", gv.str("hello")));
  add("embd-rows-short", (m) => m.retype("token_embd.weight", GgmlType.F32, [nEmbd, nVocab - 1]));
  add("embd-rows-long", (m) => m.retype("token_embd.weight", GgmlType.F32, [nEmbd, nVocab + 1]));

  // ── vocabulary: token types and scores
  const types = (m: Model, f: (t: number[]) => void) => {
    const t = m.ints("tokenizer.ggml.token_type");
    f(t);
    m.set("tokenizer.ggml.token_type", gv.i32s(t));
  };
  add("types-shorter", (m) => types(m, (t) => t.pop()));
  add("types-longer", (m) => types(m, (t) => t.push(1)));
  add("types-as-u32", (m) => m.set("tokenizer.ggml.token_type", gv.u32s(m.ints("tokenizer.ggml.token_type"))));
  add("types-as-f32", (m) => m.set("tokenizer.ggml.token_type", gv.f32s(m.ints("tokenizer.ggml.token_type"))));
  add("types-out-of-range", (m) => types(m, (t) => ((t[65] = 99), (t[66] = -1))));
  add("types-all-byte", (m) => types(m, (t) => t.fill(6)));
  add("types-byte-spelled-hex", (m) => {
    tokens(m, (t) => (t[nVocab - 1] = "<0x41>"));
    types(m, (t) => (t[nVocab - 1] = 6));
  });
  add("types-all-unused", (m) => types(m, (t) => t.fill(5)));
  add("types-specials-normal", (m) => types(m, (t) => t.fill(1)));
  add("types-missing", (m) => m.del("tokenizer.ggml.token_type"));
  add("scores-shorter", (m) => m.set("tokenizer.ggml.scores", gv.f32s(new Array(nVocab - 1).fill(0))));
  add("scores-as-strings", (m) => m.set("tokenizer.ggml.scores", gv.strings(new Array(nVocab).fill("0"))));
  add("scores-nan", (m) => m.set("tokenizer.ggml.scores", gv.f32s(new Array(nVocab).fill(Number.NaN))));

  // ── vocabulary: merges
  const merges = (m: Model, f: (t: string[]) => void) => {
    const t = m.strings("tokenizer.ggml.merges");
    f(t);
    m.set("tokenizer.ggml.merges", gv.strings(t));
  };
  add("merge-missing-tokens", (m) => merges(m, (t) => t.push("zz qq", "Ġ zzz")));
  add("merge-result-missing", (m) => merges(m, (t) => t.unshift("x y")));
  add("merge-no-space", (m) => merges(m, (t) => (t[0] = "Ġt")));
  add("merge-leading-space", (m) => merges(m, (t) => (t[0] = " t")));
  add("merge-trailing-space", (m) => merges(m, (t) => (t[0] = "Ġ ")));
  add("merge-double-space", (m) => merges(m, (t) => (t[0] = "Ġ  t")));
  add("merge-three-parts", (m) => merges(m, (t) => (t[0] = "Ġ t h")));
  add("merge-empty", (m) => merges(m, (t) => (t[3] = "")));
  add("merge-single-space", (m) => merges(m, (t) => (t[3] = " ")));
  add("merge-duplicated", (m) => merges(m, (t) => t.push(t[0])));
  add("merges-empty", (m) => m.set("tokenizer.ggml.merges", gv.strings([])));
  add("merges-missing", (m) => m.del("tokenizer.ggml.merges"));
  add("merges-as-i32", (m) => m.set("tokenizer.ggml.merges", gv.i32s([1, 2, 3])));
  add("merges-as-string", (m) => m.set("tokenizer.ggml.merges", gv.str("Ġ t")));

  // ── vocabulary: tokenizer model and pre-tokenizer
  add("tokenizer-model-unknown", (m) => m.set("tokenizer.ggml.model", gv.str("sentencepiece-ish")));
  add("tokenizer-model-llama", (m) => m.set("tokenizer.ggml.model", gv.str("llama")));
  add("tokenizer-model-missing", (m) => m.del("tokenizer.ggml.model"));
  add("tokenizer-model-as-u32", (m) => m.set("tokenizer.ggml.model", gv.u32(2)));
  add("tokenizer-pre-unknown", (m) => m.set("tokenizer.ggml.pre", gv.str("no-such-pre")));
  add("tokenizer-pre-missing", (m) => m.del("tokenizer.ggml.pre"));
  add("tokenizer-pre-as-u32", (m) => m.set("tokenizer.ggml.pre", gv.u32(1)));

  // ── special token ids
  for (const k of ["bos", "eos", "eot", "mask", "padding", "unknown", "seperator", "eom"]) {
    add(`special-${k}-at-nvocab`, (m) => m.set(`tokenizer.ggml.${k}_token_id`, gv.u32(nVocab)));
  }
  add("special-bos-u32-max", (m) => m.set("tokenizer.ggml.bos_token_id", gv.u32(0xffffffff)));
  add("special-eos-i32-negative", (m) => m.set("tokenizer.ggml.eos_token_id", gv.i32(-1)));
  add("special-eot-i64-huge", (m) => m.set("tokenizer.ggml.eot_token_id", gv.i64(1n << 40n)));
  add("special-bos-as-string", (m) => m.set("tokenizer.ggml.bos_token_id", gv.str("256")));
  add("special-eos-as-f32", (m) => m.set("tokenizer.ggml.eos_token_id", gv.f32(257)));
  add("special-mask-as-array", (m) => m.set("tokenizer.ggml.mask_token_id", gv.u32s([261])));
  add("special-fim-pre-at-nvocab", (m) => m.set("tokenizer.ggml.fim_pre_token_id", gv.u32(nVocab + 3)));
  add("special-bos-missing", (m) => m.del("tokenizer.ggml.bos_token_id"));
  add("add-bos-as-u32", (m) => m.set("tokenizer.ggml.add_bos_token", gv.u32(1)));
  add("chat-template-as-u32", (m) => m.set("tokenizer.chat_template", gv.u32(7)));

  // ── architecture
  add("arch-unknown", (m) => m.set("general.architecture", gv.str("llama2")));
  add("arch-empty", (m) => m.set("general.architecture", gv.str("")));
  add("arch-uppercase", (m) => m.set("general.architecture", gv.str("BITNET")));
  add("arch-missing", (m) => m.del("general.architecture"));
  add("arch-as-u32", (m) => m.set("general.architecture", gv.u32(1)));
  add("arch-b158-keys-under-bitnet", (m) => m.set("general.architecture", gv.str("bitnet-b1.58")));
  add("arch-bitnet-25-renamed", (m) => m.set("general.architecture", gv.str("bitnet-25")).renamePrefix(arch, "bitnet-25"));
  add("arch-llama-renamed", (m) => m.set("general.architecture", gv.str("llama")).renamePrefix(arch, "llama"));
  add("general-name-as-u32", (m) => m.set("general.name", gv.u32(5)));
  add("dlm-attention-bogus", (m) => m.set("dlm.attention", gv.str("sideways")));
  add("dlm-attention-as-u32", (m) => m.set("dlm.attention", gv.u32(1)));
  add("dlm-attention-block", (m) => m.set("dlm.attention", gv.str("block")));
  add("file-type-huge", (m) => m.set("general.file_type", gv.u32(0xffff)));

  // ── hyper-parameters: values
  const hp: [string, string, GgufValue][] = [
    ["heads-0", "attention.head_count", gv.u32(0)],
    ["heads-3", "attention.head_count", gv.u32(3)],
    ["heads-64", "attention.head_count", gv.u32(64)],
    ["heads-4", "attention.head_count", gv.u32(4)],
    ["kv-heads-0", "attention.head_count_kv", gv.u32(0)],
    ["kv-heads-2", "attention.head_count_kv", gv.u32(2)],
    ["kv-heads-3", "attention.head_count_kv", gv.u32(3)],
    ["embd-0", "embedding_length", gv.u32(0)],
    ["embd-65", "embedding_length", gv.u32(65)],
    ["embd-128", "embedding_length", gv.u32(128)],
    ["layers-0", "block_count", gv.u32(0)],
    ["layers-plus-1", "block_count", gv.u32(nLayers + 1)],
    ["layers-513", "block_count", gv.u32(513)],
    ["layers-u32-max", "block_count", gv.u32(0xffffffff)],
    ["layers-1", "block_count", gv.u32(1)],
    ["ffn-0", "feed_forward_length", gv.u32(0)],
    ["ffn-64", "feed_forward_length", gv.u32(64)],
    ["ctx-0", "context_length", gv.u32(0)],
    ["ctx-u32-max", "context_length", gv.u32(0xffffffff)],
    ["ctx-i64-huge", "context_length", gv.i64(1n << 62n)],
    ["eps-nan", "attention.layer_norm_rms_epsilon", gv.f32(Number.NaN)],
    ["eps-inf", "attention.layer_norm_rms_epsilon", gv.f32(Number.POSITIVE_INFINITY)],
    ["eps-0", "attention.layer_norm_rms_epsilon", gv.f32(0)],
    ["eps-negative", "attention.layer_norm_rms_epsilon", gv.f32(-1e-5)],
    ["eps-huge", "attention.layer_norm_rms_epsilon", gv.f32(1e30)],
    ["rope-base-nan", "rope.freq_base", gv.f32(Number.NaN)],
    ["rope-base-0", "rope.freq_base", gv.f32(0)],
    ["rope-base-negative", "rope.freq_base", gv.f32(-10000)],
    ["rope-base-inf", "rope.freq_base", gv.f32(Number.POSITIVE_INFINITY)],
    ["rope-base-huge", "rope.freq_base", gv.f32(3e38)],
    ["rope-dims-0", "rope.dimension_count", gv.u32(0)],
    ["rope-dims-16", "rope.dimension_count", gv.u32(16)],
    ["rope-dims-33", "rope.dimension_count", gv.u32(33)],
    ["rope-dims-64", "rope.dimension_count", gv.u32(64)],
    ["rope-dims-huge", "rope.dimension_count", gv.u32(1 << 20)],
    ["rope-scaling-bogus", "rope.scaling.type", gv.str("bogus")],
    ["rope-scaling-linear", "rope.scaling.type", gv.str("linear")],
    ["rope-scaling-factor-nan", "rope.scaling.factor", gv.f32(Number.NaN)],
    ["key-length-16", "attention.key_length", gv.u32(16)],
    ["key-length-64", "attention.key_length", gv.u32(64)],
    ["value-length-16", "attention.value_length", gv.u32(16)],
    ["expert-count-4", "expert_count", gv.u32(4)],
    ["expert-used-2", "expert_used_count", gv.u32(2)],
    ["nextn-layers-3", "nextn_predict_layers", gv.u32(3)],
    ["vocab-size-wrong", "vocab_size", gv.u32(1000)],
    ["activation-bogus", "activation", gv.str("gelu")],
    ["activation-relu2", "activation", gv.str("relu2")],
    ["causal-false", "attention.causal", gv.bool(false)],
    ["rope-scaling-none-factor-4", "rope.scaling.factor", gv.f32(4)],
    ["rope-scaling-attn-factor-nan", "rope.scaling.attn_factor", gv.f32(Number.NaN)],
    ["rope-orig-ctx-0", "rope.scaling.original_context_length", gv.u32(0)],
    ["pooling-type-99", "pooling_type", gv.u32(99)],
    ["embd-out-7", "embedding_length_out", gv.u32(7)],
    ["sliding-window-4", "attention.sliding_window", gv.u32(4)],
    ["expert-group-count-2", "expert_group_count", gv.u32(2)],
    ["ctx-as-u64", "context_length", gv.u64(512)],
    ["eps-as-f64", "attention.layer_norm_rms_epsilon", gv.f64(1e-5)],
  ];
  for (const [name, key, value] of hp) add(`hp-${name}`, (m) => m.set(A(key), value));

  // ── hyper-parameters: types and presence
  add("hp-layers-as-string", (m) => m.set(A("block_count"), gv.str("2")));
  add("hp-heads-as-f32", (m) => m.set(A("attention.head_count"), gv.f32(2)));
  add("hp-heads-per-layer-array", (m) => m.set(A("attention.head_count"), gv.u32s(new Array(nLayers).fill(2))));
  add("hp-heads-per-layer-array-short", (m) => m.set(A("attention.head_count"), gv.u32s([2])));
  add("hp-embd-as-bool", (m) => m.set(A("embedding_length"), gv.bool(true)));
  add("hp-eps-as-string", (m) => m.set(A("attention.layer_norm_rms_epsilon"), gv.str("1e-5")));
  add("hp-rope-base-as-array", (m) => m.set(A("rope.freq_base"), gv.f32s([10000])));
  add("hp-ctx-as-i8-negative", (m) => m.set(A("context_length"), gv.i8(-1)));
  add("hp-embd-missing", (m) => m.del(A("embedding_length")));
  add("hp-heads-missing", (m) => m.del(A("attention.head_count")));
  add("hp-layers-missing", (m) => m.del(A("block_count")));
  add("hp-ctx-missing", (m) => m.del(A("context_length")));
  add("hp-ffn-missing", (m) => m.del(A("feed_forward_length")));

  // ── tensors
  const L = nLayers - 1;
  add("tensor-missing-embd", (m) => m.drop("token_embd.weight"));
  add("tensor-missing-output-norm", (m) => m.drop("output_norm.weight"));
  add("tensor-missing-last-ffn-down", (m) => m.drop(`blk.${L}.ffn_down.weight`));
  add("tensor-missing-sub-norm", (m) => m.drop("blk.0.attn_sub_norm.weight"));
  add("tensor-extra-unknown", (m) => m.add("blk.0.attn_qkv.weight", GgmlType.F32, [nEmbd, 3 * nEmbd]));
  add("tensor-extra-layer", (m) => m.add(`blk.${nLayers}.attn_norm.weight`, GgmlType.F32, [nEmbd]));
  add("tensor-k-transposed", (m) => m.retype("blk.0.attn_k.weight", GgmlType.F32, [...m.tensor("blk.0.attn_k.weight").shape].reverse()));
  add("tensor-down-transposed", (m) => m.retype("blk.0.ffn_down.weight", GgmlType.F32, [...m.tensor("blk.0.ffn_down.weight").shape].reverse()));
  add("tensor-norm-2d", (m) => m.retype("blk.0.attn_norm.weight", GgmlType.F32, [nEmbd, 1]));
  add("tensor-q-3d", (m) => m.retype("blk.0.attn_q.weight", GgmlType.F32, [nEmbd, nEmbd, 1]));
  add("tensor-norm-short", (m) => m.retype("output_norm.weight", GgmlType.F32, [nEmbd / 2]));
  add("tensor-output-wrong-shape", (m) => m.add("output.weight", GgmlType.F32, [nEmbd, nVocab - 1]));
  add("tensor-output-untied", (m) => m.add("output.weight", GgmlType.F32, [nEmbd, nVocab]));
  add("tensor-scale-optional", (m) => m.add("blk.0.attn_q.scale", GgmlType.F32, [1]));
  add("tensor-scale-wrong-size", (m) => m.add("blk.0.attn_q.scale", GgmlType.F32, [4]));
  add("tensor-rope-freqs-wrong-shape", (m) => m.add("rope_freqs.weight", GgmlType.F32, [7]));
  add("tensor-norm-f16", (m) => m.retype("blk.0.attn_norm.weight", GgmlType.F16));
  add("tensor-output-norm-f16", (m) => m.retype("output_norm.weight", GgmlType.F16));
  add("tensor-sub-norm-q8_0", (m) => m.retype("blk.0.ffn_sub_norm.weight", GgmlType.Q8_0));
  add("tensor-weight-f16", (m) => m.retype("blk.0.attn_q.weight", GgmlType.F16));
  add("tensor-weight-q8_0", (m) => m.retype("blk.0.ffn_up.weight", GgmlType.Q8_0));
  add("tensor-weight-i32", (m) => m.retype("blk.0.attn_v.weight", GgmlType.I32));
  add("tensor-weight-i8", (m) => m.retype("blk.0.ffn_gate.weight", GgmlType.I8));
  add("tensor-weight-f64", (m) => m.retype("blk.0.attn_output.weight", GgmlType.F64));
  add("tensor-embd-i16", (m) => m.retype("token_embd.weight", GgmlType.I16));
  add("tensor-embd-bf16", (m) => m.retype("token_embd.weight", GgmlType.BF16));
  add("tensor-embd-f16", (m) => m.retype("token_embd.weight", GgmlType.F16));
  add("tensor-embd-q8_0", (m) => m.retype("token_embd.weight", GgmlType.Q8_0));
  add("tensor-weight-q4_0", (m) => m.retype("blk.1.attn_k.weight", GgmlType.Q4_0));
  add("tensor-weight-bf16", (m) => m.retype("blk.1.ffn_down.weight", GgmlType.BF16));
  add("tensor-weight-q8_1", (m) => m.retype("blk.1.ffn_up.weight", GgmlType.Q8_1));
  add("tensor-scale-f16", (m) => m.add("blk.0.attn_q.scale", GgmlType.F16, [1]));
  add("tensor-weights-nan", (m) => {
    const t = m.tensor("blk.0.attn_q.weight");
    t.data = new Uint8Array(new Float32Array(t.data.length / 4).fill(Number.NaN).buffer);
  });

  return edits.map(([name, edit]) => {
    const m = base.clone();
    edit(m);
    return { name: `sem-${name}`, bytes: m.toBytes() };
  });
}
