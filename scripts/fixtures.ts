// Test and benchmark models, made not downloaded: tiny random-weight BitNet GGUFs (both archs, every
// weight format, the real Llama-3 BPE vocabulary), a micro one over a byte vocabulary, and full-size 2B-4T-shaped files.
//
// usage: bun scripts/fixtures.ts [--out DIR] [--seed N]
//        bun scripts/fixtures.ts --big tq2_0|tq1_0|i2_s --out-file PATH [--arch bitnet|bitnet-b1.58] [--seed N]
//
// Weight conventions, so that every format dequantises to exactly the same weights q · s:
// - each ternary tensor is ternarised once (per-tensor absmean, scale rounded to fp16) and then
//   packed: TQ1_0/TQ2_0 carry s as every block's d, I2_S in its f32 trailer, F32/F16 store q · s;
// - so no `blk.N.*.scale` tensors are written: llama.cpp's `bitnet` loads them as optional and
//   would multiply by them a second time;
// - norms are F32 in every variant (ggml's CPU `mul` has no f32 × f16 kernel), token_embd is F16 in
//   the F16 variant and F32 otherwise, and doubles as the output head (tied embeddings).

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { f16ArrayToF32, f32ArrayToF16, packTernary, ternarize } from "../src/gguf/quants.ts";
import { openGguf } from "../src/gguf/reader.ts";
import { GgmlType, GgufType, gv, type GgufValue } from "../src/gguf/types.ts";
import { GgufWriter, type GgufStream } from "../src/gguf/writer.ts";
import { byteVocabMetadata } from "./byte-vocab.ts";

export const REPO_ROOT = resolve(import.meta.dir, "..");
export const FIXTURE_DIR = join(REPO_ROOT, "test", "fixtures", "generated", "tiny");
/** Bump when the generated files change, so cached fixtures are rebuilt. */
const GENERATOR_VERSION = 2;

export type FixtureArch = "bitnet" | "bitnet-b1.58";
export type FixtureFormat = "f32" | "f16" | "tq1_0" | "tq2_0" | "i2_s";
export const FIXTURE_ARCHS: readonly FixtureArch[] = ["bitnet", "bitnet-b1.58"];
export const FIXTURE_FORMATS: readonly FixtureFormat[] = ["f32", "f16", "tq1_0", "tq2_0", "i2_s"];

export interface ModelShape {
  nEmbd: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  nFf: number;
  nCtx: number;
  ropeTheta: number;
  rmsEps: number;
}

/** hidden 256, 2 layers, 4 heads of 64, 2 KV heads (GQA), ffn 512: multiples of 256 for the TQ types. */
export const TINY_SHAPE: ModelShape = { nEmbd: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, nFf: 512, nCtx: 2048, ropeTheta: 500000, rmsEps: 1e-5 };
/** BitNet-b1.58-2B-4T (FACTS §3). */
export const BITNET_2B_SHAPE: ModelShape = { nEmbd: 2560, nLayers: 30, nHeads: 20, nKvHeads: 5, nFf: 6912, nCtx: 4096, ropeTheta: 500000, rmsEps: 1e-5 };

const WEIGHT_TYPE: Record<FixtureFormat, GgmlType> = {
  f32: GgmlType.F32, f16: GgmlType.F16, tq1_0: GgmlType.TQ1_0, tq2_0: GgmlType.TQ2_0, i2_s: GgmlType.I2_S,
};
/** general.file_type: llama.cpp's llama_ftype; 40 is MOSTLY_I2_S in Microsoft's bitnet.cpp fork. */
const FILE_TYPE: Record<FixtureFormat, number> = { f32: 0, f16: 1, tq1_0: 36, tq2_0: 37, i2_s: 40 };

const EMBD_STD = 0.08; // logits = h · E with |h| ≈ √nEmbd: std ≈ 1.3 at nEmbd 256, far from flat or peaked
const LATENT_STD = 0.05; // latent weights before ternarisation: scale (absmean) ≈ 0.04
const NORM_NOISE = 0.05;

/** A Llama-3 style chat template (header tokens around each role, `<|eot_id|>` after each turn). */
export const LLAMA3_CHAT_TEMPLATE = String.raw`{{- bos_token }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}`;

export function llamaBpeVocabPath(): string {
  return join(REPO_ROOT, "extern", "llama.cpp", "models", "ggml-vocab-llama-bpe.gguf");
}

// ─── Deterministic randomness ────────────────────────────────────────────────────────────────────

/**
 * mulberry32 seeded from (seed, tensor name): every tensor has its own stream, so its values do not
 * depend on which other tensors were generated first. Integer arithmetic only: the same everywhere.
 */
function u32For(seed: number, name: string): () => number {
  let h = (0x811c9dc5 ^ seed) >>> 0; // FNV-1a over the name, started from the seed
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  let a = h;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform in [0, 1). */
function rngFor(seed: number, name: string): () => number {
  const u32 = u32For(seed, name);
  return () => u32() / 4294967296;
}

/**
 * Uniform codes in {−1, 0, +1}: the 16 low base-3 digits of a 31-bit draw (digit k is biased by at
 * most 3^k / 2^31 < 1%). 31 bits keep the arithmetic in int32: 10× faster than 32 (measured).
 */
function randomCodes(n: number, u32: () => number): Int8Array {
  const q = new Int8Array(n);
  for (let i = 0; i < n; i += 16) {
    let r = u32() >>> 1;
    for (let k = i; k < Math.min(i + 16, n); k++) {
      const t = r % 3;
      q[k] = t - 1;
      r = (r / 3) | 0;
    }
  }
  return q;
}

/** Uniform values with the given std, two per 32-bit draw (cheap: 328 M of them for a 2B head). */
function fillUniform(out: Float32Array, u32: () => number, std: number): Float32Array {
  const k = (std * Math.sqrt(3)) / 32768; // U(−a, a) has std a/√3
  for (let i = 0; i < out.length; i += 2) {
    const r = u32();
    out[i] = ((r & 0xffff) - 32768) * k;
    if (i + 1 < out.length) out[i + 1] = ((r >>> 16) - 32768) * k;
  }
  return out;
}

/** Approximately normal values: Irwin–Hall sum of 4 uniforms (no transcendental functions). */
function fillNormal(out: Float32Array, rnd: () => number, std: number, mean = 0): Float32Array {
  const k = std * Math.sqrt(3); // the sum of 4 U(0,1) has variance 1/3
  for (let i = 0; i < out.length; i++) out[i] = mean + (rnd() + rnd() + rnd() + rnd() - 2) * k;
  return out;
}

// ─── Model layout ────────────────────────────────────────────────────────────────────────────────

export type Role = "embd" | "norm" | "ternary";
export interface TensorPlan { name: string; shape: number[]; role: Role }

/** Tensor names and shapes (ggml order) that llama.cpp's `bitnet` architecture loads. */
export function bitnetTensors(s: ModelShape, nVocab: number): TensorPlan[] {
  const headDim = s.nEmbd / s.nHeads;
  const kvDim = headDim * s.nKvHeads;
  const plans: TensorPlan[] = [{ name: "token_embd.weight", shape: [s.nEmbd, nVocab], role: "embd" }];
  for (let l = 0; l < s.nLayers; l++) {
    const p = `blk.${l}.`;
    plans.push(
      { name: `${p}attn_norm.weight`, shape: [s.nEmbd], role: "norm" },
      { name: `${p}attn_q.weight`, shape: [s.nEmbd, s.nEmbd], role: "ternary" },
      { name: `${p}attn_k.weight`, shape: [s.nEmbd, kvDim], role: "ternary" },
      { name: `${p}attn_v.weight`, shape: [s.nEmbd, kvDim], role: "ternary" },
      { name: `${p}attn_output.weight`, shape: [s.nEmbd, s.nEmbd], role: "ternary" },
      { name: `${p}attn_sub_norm.weight`, shape: [s.nEmbd], role: "norm" },
      { name: `${p}ffn_norm.weight`, shape: [s.nEmbd], role: "norm" },
      { name: `${p}ffn_gate.weight`, shape: [s.nEmbd, s.nFf], role: "ternary" },
      { name: `${p}ffn_up.weight`, shape: [s.nEmbd, s.nFf], role: "ternary" },
      { name: `${p}ffn_down.weight`, shape: [s.nFf, s.nEmbd], role: "ternary" },
      { name: `${p}ffn_sub_norm.weight`, shape: [s.nFf], role: "norm" },
    );
  }
  plans.push({ name: "output_norm.weight", shape: [s.nEmbd], role: "norm" });
  return plans;
}

/** The ggml type a tensor of this role gets in a file of this format (`big`: the 2B-4T generator). */
export function fixtureTensorType(role: Role, format: FixtureFormat, big: boolean): GgmlType {
  if (role === "norm") return GgmlType.F32;
  // Embedding values are fp16-exact (see generateFixtures), so only the F32 variant spends 4 bytes on them.
  if (role === "embd") return format === "f32" && !big ? GgmlType.F32 : GgmlType.F16;
  return WEIGHT_TYPE[format];
}

/** Hyper-parameter keys under `<arch>.`, as llama.cpp's loader reads them, then the vocabulary. */
function metadata(arch: FixtureArch, format: FixtureFormat, s: ModelShape, name: string, vocab: [string, GgufValue][]): [string, GgufValue][] {
  const nVocab = vocabSize(vocab);
  const kv: [string, GgufValue][] = [
    ["general.architecture", gv.str(arch)],
    ["general.name", gv.str(name)],
    ["general.file_type", gv.u32(FILE_TYPE[format])],
    [`${arch}.vocab_size`, gv.u32(nVocab)],
    [`${arch}.context_length`, gv.u32(s.nCtx)],
    [`${arch}.embedding_length`, gv.u32(s.nEmbd)],
    [`${arch}.block_count`, gv.u32(s.nLayers)],
    [`${arch}.feed_forward_length`, gv.u32(s.nFf)],
    [`${arch}.rope.dimension_count`, gv.u32(s.nEmbd / s.nHeads)],
    [`${arch}.attention.head_count`, gv.u32(s.nHeads)],
    [`${arch}.attention.head_count_kv`, gv.u32(s.nKvHeads)],
    [`${arch}.rope.freq_base`, gv.f32(s.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gv.f32(s.rmsEps)],
  ];
  if (format !== "f32" && format !== "f16") kv.push(["general.quantization_version", gv.u32(2)]);
  kv.push(...vocab, ["tokenizer.chat_template", gv.str(LLAMA3_CHAT_TEMPLATE)]);
  return kv;
}

/** Every `tokenizer.*` entry of the llama-bpe vocab GGUF (tokens, types, merges, special ids). */
function loadVocab(vocabPath: string): [string, GgufValue][] {
  if (!existsSync(vocabPath)) {
    throw new Error(`vocabulary not found at ${vocabPath}: run \`npm run setup\` (it extracts llama.cpp to extern/llama.cpp)`);
  }
  return [...openGguf(vocabPath).metadata].filter(([k]) => k.startsWith("tokenizer.") && k !== "tokenizer.chat_template");
}

function vocabSize(vocab: [string, GgufValue][]): number {
  const tokens = vocab.find(([k]) => k === "tokenizer.ggml.tokens")?.[1];
  if (tokens?.type !== GgufType.ARRAY) throw new Error("the vocabulary GGUF has no tokenizer.ggml.tokens array");
  return tokens.value.items.length;
}

// ─── Tiny fixtures ───────────────────────────────────────────────────────────────────────────────

export interface FixtureOptions {
  seed?: number;
  archs?: readonly FixtureArch[];
  formats?: readonly FixtureFormat[];
  vocabPath?: string;
}

export interface FixtureSet {
  dir: string;
  seed: number;
  /** paths[arch][format] */
  paths: Record<FixtureArch, Record<FixtureFormat, string>>;
}

export function fixtureFileName(arch: FixtureArch, format: FixtureFormat): string {
  return `tiny-${arch}-${format}.gguf`;
}

/** Writes tiny models for every (arch, format) asked for; weights depend only on the seed. */
export function generateFixtures(outDir: string, opts: FixtureOptions = {}): FixtureSet {
  const seed = opts.seed ?? 1;
  const archs = opts.archs ?? FIXTURE_ARCHS;
  const formats = opts.formats ?? FIXTURE_FORMATS;
  const vocab = loadVocab(opts.vocabPath ?? llamaBpeVocabPath());
  const nVocab = vocabSize(vocab);
  const plans = bitnetTensors(TINY_SHAPE, nVocab);
  mkdirSync(outDir, { recursive: true });

  // The weights, made once and shared by every file: ternary codes + fp16 scale per tensor.
  const floats = new Map<string, Float32Array>();
  const codes = new Map<string, { q: Int8Array; scale: number }>();
  for (const p of plans) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const rnd = rngFor(seed, p.name);
    // Rounded through fp16 so that F32 and F16 storage hold the very same values.
    if (p.role === "embd") floats.set(p.name, f16ArrayToF32(f32ArrayToF16(fillNormal(new Float32Array(n), rnd, EMBD_STD))));
    else if (p.role === "norm") floats.set(p.name, fillNormal(new Float32Array(n), rnd, NORM_NOISE, 1));
    else codes.set(p.name, ternarize(fillNormal(new Float32Array(n), rnd, LATENT_STD), { f16Scale: true }));
  }
  const f16Embd = f32ArrayToF16(floats.get("token_embd.weight")!);

  const paths = {} as FixtureSet["paths"];
  for (const arch of archs) {
    paths[arch] = {} as Record<FixtureFormat, string>;
    for (const format of formats) {
      const w = new GgufWriter();
      w.setAll(metadata(arch, format, TINY_SHAPE, `tiny ${arch} ${format} (random weights, seed ${seed})`, vocab));
      for (const p of plans) w.addTensor(p.name, fixtureTensorType(p.role, format, false), p.shape);
      const path = join(outDir, fixtureFileName(arch, format));
      const out = w.openStream(path);
      try {
        for (const p of plans) {
          const type = fixtureTensorType(p.role, format, false);
          if (p.role !== "ternary") {
            out.writeTensor(p.name, type === GgmlType.F16 ? bytesOf(f16Embd) : bytesOf(floats.get(p.name)!));
            continue;
          }
          const { q, scale } = codes.get(p.name)!;
          out.writeTensor(p.name, packWeights(type, q, scale));
        }
        out.close();
      } catch (e) {
        out.abort();
        throw e;
      }
      paths[arch][format] = path;
    }
  }
  return { dir: outDir, seed, paths };
}

/** Ternary codes with one scale in any weight format; F32/F16 hold the dequantised q · s. */
function packWeights(type: GgmlType, q: Int8Array, scale: number): Uint8Array {
  if (type === GgmlType.TQ1_0 || type === GgmlType.TQ2_0 || type === GgmlType.I2_S) return packTernary(type, q, scale);
  const w = Float32Array.from(q, (v) => v * scale); // exact: scale is an fp16 value
  return type === GgmlType.F16 ? bytesOf(f32ArrayToF16(w)) : bytesOf(w);
}

function bytesOf(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

let memo: FixtureSet | undefined;

/**
 * The full tiny set under test/fixtures/generated/tiny, generated on first use and reused after:
 * a manifest records the generator version, seed, vocabulary and file sizes; a second call in the
 * same process is free, in another process it costs a few stat calls.
 */
export function ensureFixtures(): FixtureSet {
  if (memo !== undefined) return memo;
  const seed = 1;
  const vocabPath = llamaBpeVocabPath();
  const want = { version: GENERATOR_VERSION, seed, vocabSize: existsSync(vocabPath) ? statSync(vocabPath).size : -1 };
  const paths = {} as FixtureSet["paths"];
  for (const arch of FIXTURE_ARCHS) {
    paths[arch] = {} as Record<FixtureFormat, string>;
    for (const f of FIXTURE_FORMATS) paths[arch][f] = join(FIXTURE_DIR, fixtureFileName(arch, f));
  }
  const manifestPath = join(FIXTURE_DIR, "manifest.json");
  try {
    const m = JSON.parse(readFileSync(manifestPath, "utf8")) as typeof want & { sizes: Record<string, number> };
    const fresh = m.version === want.version && m.seed === want.seed && m.vocabSize === want.vocabSize &&
      Object.entries(m.sizes).length === FIXTURE_ARCHS.length * FIXTURE_FORMATS.length &&
      Object.entries(m.sizes).every(([name, size]) => statSync(join(FIXTURE_DIR, name)).size === size);
    if (fresh) return (memo = { dir: FIXTURE_DIR, seed, paths });
  } catch {
    // missing or stale: regenerate below
  }
  // Generated beside the final directory and swapped in whole, so a concurrent or interrupted run
  // never leaves a half-written set that looks complete.
  const tmp = `${FIXTURE_DIR}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  generateFixtures(tmp, { seed, vocabPath });
  const sizes = Object.fromEntries(readdirSync(tmp).map((n) => [n, statSync(join(tmp, n)).size]));
  writeFileSync(join(tmp, "manifest.json"), JSON.stringify({ ...want, sizes }, null, 1));
  rmSync(FIXTURE_DIR, { recursive: true, force: true });
  renameSync(tmp, FIXTURE_DIR);
  return (memo = { dir: FIXTURE_DIR, seed, paths });
}

// ─── Micro fixture ───────────────────────────────────────────────────────────────────────────────

export const MICRO_DIR = join(REPO_ROOT, "test", "fixtures", "generated", "micro");
/** Bump when the micro file changes, so the cached one is rebuilt. */
const MICRO_VERSION = 1;

/** hidden 64, 2 layers, 2 heads of 32, 1 KV head, ffn 128: about 0.4 MB, cheap to copy hundreds of times. */
export const MICRO_SHAPE: ModelShape = { nEmbd: 64, nLayers: 2, nHeads: 2, nKvHeads: 1, nFf: 128, nCtx: 512, ropeTheta: 500000, rmsEps: 1e-5 };

/**
 * A `bitnet` model over the hand-written byte-level vocabulary of byte-vocab.ts (288 tokens), all
 * weights F32 (ternary codes times an fp16 scale, as the tiny F32 fixtures): a whole valid file whose
 * every byte a mutation test can afford to rewrite.
 */
export function generateMicroFixture(outPath: string, seed = 1): void {
  const vocab = byteVocabMetadata();
  const plans = bitnetTensors(MICRO_SHAPE, vocabSize(vocab));
  const w = new GgufWriter();
  w.setAll(metadata("bitnet", "f32", MICRO_SHAPE, `micro bitnet f32 (byte vocabulary, random weights, seed ${seed})`, vocab));
  for (const p of plans) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const rnd = rngFor(seed, p.name);
    let data: Float32Array;
    if (p.role === "embd") data = fillNormal(new Float32Array(n), rnd, EMBD_STD);
    else if (p.role === "norm") data = fillNormal(new Float32Array(n), rnd, NORM_NOISE, 1);
    else {
      const { q, scale } = ternarize(fillNormal(new Float32Array(n), rnd, LATENT_STD), { f16Scale: true });
      data = Float32Array.from(q, (v) => v * scale);
    }
    w.addTensor(p.name, GgmlType.F32, p.shape, bytesOf(data));
  }
  mkdirSync(dirname(resolve(outPath)), { recursive: true });
  w.writeFile(outPath);
}

let microMemo: string | undefined;

/** The micro fixture under test/fixtures/generated/micro, generated on first use (milliseconds) and reused. */
export function ensureMicroFixture(): string {
  if (microMemo !== undefined) return microMemo;
  const path = join(MICRO_DIR, "micro-bitnet-f32.gguf");
  const manifestPath = join(MICRO_DIR, "manifest.json");
  const seed = 1;
  try {
    const m = JSON.parse(readFileSync(manifestPath, "utf8")) as { version: number; seed: number; size: number };
    if (m.version === MICRO_VERSION && m.seed === seed && statSync(path).size === m.size) return (microMemo = path);
  } catch {
    // missing or stale: regenerate below
  }
  // Written beside the final path and renamed over it, so a concurrent reader never sees half a file.
  mkdirSync(MICRO_DIR, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  generateMicroFixture(tmp, seed);
  const size = statSync(tmp).size;
  renameSync(tmp, path);
  writeFileSync(manifestPath, JSON.stringify({ version: MICRO_VERSION, seed, size }, null, 1));
  return (microMemo = path);
}

// ─── Full-size benchmark model ───────────────────────────────────────────────────────────────────

/**
 * A random-weight model in the BitNet-2B-4T shape (about 1.2 GB in I2_S/TQ2_0), written tensor by
 * tensor: at most one weight matrix (and one slice of the embedding) is in memory at a time.
 * Codes and embedding values are uniform (cheaper to draw than normals); speed does not depend on them.
 */
export function generateBitnet2B(
  outPath: string,
  format: "tq1_0" | "tq2_0" | "i2_s",
  opts: { seed?: number; arch?: FixtureArch; vocabPath?: string; shape?: ModelShape } = {},
): void {
  const seed = opts.seed ?? 1;
  const arch = opts.arch ?? "bitnet-b1.58";
  const shape = opts.shape ?? BITNET_2B_SHAPE;
  const vocab = loadVocab(opts.vocabPath ?? llamaBpeVocabPath());
  const nVocab = vocabSize(vocab);
  const plans = bitnetTensors(shape, nVocab);

  const w = new GgufWriter();
  w.setAll(metadata(arch, format, shape, `BitNet 2B-4T shape, random weights (${format}, seed ${seed})`, vocab));
  for (const p of plans) w.addTensor(p.name, fixtureTensorType(p.role, format, true), p.shape);
  mkdirSync(dirname(resolve(outPath)), { recursive: true });
  const out = w.openStream(outPath);
  try {
    for (const p of plans) writeBigTensor(out, p, format, seed);
    out.close();
  } catch (e) {
    out.abort();
    throw e;
  }
}

function writeBigTensor(out: GgufStream, p: TensorPlan, format: FixtureFormat, seed: number): void {
  const u32 = u32For(seed, p.name);
  const n = p.shape.reduce((a, b) => a * b, 1);
  if (p.role === "norm") {
    out.writeTensor(p.name, bytesOf(fillNormal(new Float32Array(n), () => u32() / 4294967296, NORM_NOISE, 1)));
  } else if (p.role === "embd") {
    const rows = 1024; // 2560 × 1024 values per chunk: a few MB, never the 657 MB whole
    const [nEmbd, nVocab] = p.shape;
    const chunk = new Float32Array(nEmbd * rows);
    for (let r = 0; r < nVocab; r += rows) {
      const part = chunk.subarray(0, nEmbd * Math.min(rows, nVocab - r));
      out.write(bytesOf(f32ArrayToF16(fillUniform(part, u32, EMBD_STD))));
    }
  } else {
    const q = randomCodes(n, u32);
    out.writeTensor(p.name, packWeights(WEIGHT_TYPE[format], q, 0.0400390625)); // an fp16 value
  }
}

// ─── CLI ─────────────────────────────────────────────────────────────────────────────────────────

function main(argv: string[]): void {
  const arg = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seed = Number(arg("--seed") ?? 1);
  if (!Number.isSafeInteger(seed)) throw new Error("--seed must be an integer");
  const big = arg("--big");
  const t0 = performance.now();
  if (big !== undefined) {
    if (big !== "tq1_0" && big !== "tq2_0" && big !== "i2_s") throw new Error("--big must be tq1_0, tq2_0 or i2_s");
    const outFile = arg("--out-file") ?? join(REPO_ROOT, "test", "fixtures", "generated", `bitnet-2b-${big}.gguf`);
    const archArg = arg("--arch") ?? "bitnet-b1.58";
    if (archArg !== "bitnet" && archArg !== "bitnet-b1.58") throw new Error("--arch must be bitnet or bitnet-b1.58");
    generateBitnet2B(outFile, big, { seed, arch: archArg });
    console.log(`${outFile}: ${(statSync(outFile).size / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return;
  }
  const out = arg("--out");
  const set = out === undefined && seed === 1 ? ensureFixtures() : generateFixtures(resolve(out ?? FIXTURE_DIR), { seed });
  for (const arch of FIXTURE_ARCHS) for (const f of FIXTURE_FORMATS) {
    const p = set.paths[arch][f];
    console.log(`${basename(p)}  ${(statSync(p).size / 2 ** 20).toFixed(1)} MiB`);
  }
  console.log(`fixtures in ${set.dir} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

if (import.meta.main) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`fixtures: ${(e as Error).message}`);
    process.exit(1);
  }
}
