// The native engine's weights: every tensor of a checked BitNet GGUF turned, once at load, into what the
// kernels take: ternary/Q8/float tern_matrix handles (repacked from the memory-mapped file) and norm vectors.
// Pages of the file that were repacked are released as they are read (DROP_INPUT): the process never holds
// a tensor twice. Only views of the file mapping may carry that flag (it would zero anonymous memory).
import type { GgufFile, TensorInfo } from "../../gguf/reader.ts";
import { bf16ArrayToF32, dequantize, f16ArrayToF32, f32ArrayToF16 } from "../../gguf/quants.ts";
import { GgmlType } from "../../gguf/types.ts";
import { EngineError } from "../errors.ts";
import type { Hparams } from "../model-file.ts";
import { NativeError } from "../native-error.ts";
import { Format, MatrixFlag, MatrixKind, Status, type Matrix, type Pool, type Ternary } from "./ternary-ffi.ts";

/**
 * The output head's representation: `auto` keeps the stored one (F16/F32 as in the file, ternary stays
 * ternary); `f16`/`f32` force a float head; `q8` quantises each row to int8 with its own scale (half the
 * bytes of F16 per decoded token, at a small accuracy cost).
 */
export type HeadMode = "auto" | "f16" | "f32" | "q8";
export const HEAD_MODES: readonly HeadMode[] = ["auto", "f16", "f32", "q8"];

/** One transformer block. Matrices are rows = outputs, cols = inputs (GGUF's ne1 × ne0). */
export interface LayerWeights {
  attnNorm: Float32Array; // (dim)
  wq: Matrix; // (dim, dim)
  wk: Matrix; // (kvDim, dim)
  wv: Matrix; // (kvDim, dim)
  wo: Matrix; // (dim, dim)
  attnSubNorm: Float32Array; // (dim)
  ffnNorm: Float32Array; // (dim)
  wGate: Matrix; // (hidden, dim)
  wUp: Matrix; // (hidden, dim)
  wDown: Matrix; // (dim, hidden)
  ffnSubNorm: Float32Array; // (hidden)
}

export interface Weights {
  /** Token embedding, read row by row (get_rows). May be the same handle as `head`. */
  embed: Matrix; // (nVocab, dim)
  layers: LayerWeights[];
  outNorm: Float32Array; // (dim)
  head: Matrix; // (nVocab, dim)
  /** Bytes the matrices own (borrowed float matrices point into the mapped file and own nothing). */
  nbytes: number;
  /** Bytes of weights one decoded token streams: every layer matrix and the head. */
  decodeBytes: number;
  /** Matrix kinds by count, e.g. { ternary: 210, f16: 1 }: what the load made of the file. */
  kinds: Record<string, number>;
}

/** Tensor types this engine can take: ternary ones repack directly, the others via F32. */
const DIRECT_TERNARY: ReadonlySet<number> = new Set([GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S]);
const VIA_F32: ReadonlySet<number> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0]);

/** Integer matrices sum into int32: the library takes at most this many columns. */
const MAX_INT_COLS = 65536;

const KIND_NAMES: Record<number, string> = {
  [MatrixKind.TERN_MATRIX_TERNARY]: "ternary",
  [MatrixKind.TERN_MATRIX_Q8]: "q8",
  [MatrixKind.TERN_MATRIX_F16]: "f16",
  [MatrixKind.TERN_MATRIX_F32]: "f32",
};

function fail(file: GgufFile, what: string): never {
  throw new EngineError("invalid_request", `${file.file ?? "model"}: ${what}`);
}

/**
 * What the native engine needs beyond validateModelFile: tensor types its kernels take and the shapes
 * they are limited to. Runs before any native call, so a file it refuses never reaches C.
 */
export function checkNativeSupport(file: GgufFile, hp: Hparams): void {
  if (hp.headDim % 8 !== 0) fail(file, `head dimension ${hp.headDim} is not a multiple of 8 (the native engine's attention needs it)`);
  for (const t of file.tensors) {
    if (t.shape.length !== 2) continue;
    if (!DIRECT_TERNARY.has(t.type) && !VIA_F32.has(t.type)) {
      fail(file, `tensor ${t.name} is ${t.typeName}: the native engine takes I2_S, TQ1_0, TQ2_0, F32, F16, BF16 or Q8_0 weights (try --engine llama)`);
    }
    if (DIRECT_TERNARY.has(t.type) && t.shape[0] > MAX_INT_COLS) {
      fail(file, `tensor ${t.name} has rows of ${t.shape[0]} values; the native engine's integer kernels take at most ${MAX_INT_COLS}`);
    }
  }
  // RoPE frequency factors: our RoPE has none, so only all-ones factors (a no-op) may be present.
  const freqs = file.tensor("rope_freqs.weight");
  if (freqs && (freqs.type !== GgmlType.F32 || floatsOf(freqs).some((f) => f !== 1))) {
    fail(file, "rope_freqs.weight (RoPE frequency factors) is not supported by the native engine");
  }
}

/** A native failure while loading a tensor, as an EngineError naming it. */
function rethrow(file: GgufFile, name: string, e: unknown): never {
  if (e instanceof NativeError) {
    const kind = e.code === Status.TERN_E_NOMEM ? "internal" : "invalid_request";
    throw new EngineError(kind, `${file.file ?? "model"}: tensor ${name}: ${e.detail || e.message}`);
  }
  throw e;
}

/** Codes of w if every value is exactly -s, 0 or +s for one s (returned; 0 for an all-zero tensor), else null. */
function exactTernary(name: string, file: GgufFile, w: Float32Array, codes: Int8Array): number | null {
  let s = 0;
  let ternary = true;
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (!Number.isFinite(v)) fail(file, `tensor ${name} holds a non-finite value (${v}) at element ${i}`);
    if (!ternary) continue;
    if (v === 0) {
      codes[i] = 0;
      continue;
    }
    const a = Math.abs(v);
    if (s === 0) s = a;
    if (a !== s) ternary = false;
    else codes[i] = v > 0 ? 1 : -1;
  }
  return ternary ? s : null;
}

/** A tensor's values as F32 (a view into the file for F32 tensors, a fresh array otherwise). */
function floatsOf(t: TensorInfo): Float32Array {
  const bytes = t.data();
  switch (t.type) {
    case GgmlType.F32:
      if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, t.nElements);
      return new Float32Array(bytes.slice().buffer, 0, t.nElements);
    case GgmlType.F16:
      return f16ArrayToF32(u16(bytes, t.nElements));
    case GgmlType.BF16:
      return bf16ArrayToF32(u16(bytes, t.nElements));
    default:
      return dequantize(t.type, bytes, t.nElements);
  }
}

function u16(bytes: Uint8Array, n: number): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  return new Uint16Array(bytes.slice().buffer, 0, n);
}

/** Loads every weight of the graph; on any failure, the matrices made so far are freed. */
export function loadWeights(t: Ternary, pool: Pool, file: GgufFile, hp: Hparams, headMode: HeadMode): Weights {
  const made: Matrix[] = [];
  const keep = (m: Matrix): Matrix => {
    made.push(m);
    return m;
  };
  const tensor = (name: string): TensorInfo => file.tensor(name) ?? fail(file, `missing tensor ${name}`);
  const matrix = (name: string, format: number, data: NodeJS.TypedArray, rows: number, cols: number, flags = 0): Matrix => {
    try {
      return keep(t.matrix(pool, format, data, rows, cols, flags));
    } catch (e) {
      rethrow(file, name, e);
    }
  };

  /** F32 values as a matrix: ternary when they are exactly ternary (× `scale`), else F32 (× `scale`). */
  const fromFloats = (name: string, w: Float32Array, rows: number, cols: number, scale: number, detect: boolean): Matrix => {
    const codes = detect && cols <= MAX_INT_COLS ? new Int8Array(w.length) : null;
    const s = codes ? exactTernary(name, file, w, codes) : null;
    if (codes && s !== null) {
      const m = matrix(name, Format.TERN_FMT_TERNARY_I8, codes, rows, cols);
      m.scale = s * scale;
      return m;
    }
    if (scale !== 1) w = w.map((v) => v * scale);
    return matrix(name, Format.TERN_FMT_F32, w, rows, cols, MatrixFlag.TERN_MATRIX_FLAG_BORROW);
  };

  /** A linear layer `blk.N.<w>`: ternary whenever the data is, with an optional `.scale` folded in. */
  const linear = (base: string): Matrix => {
    const ti = tensor(`${base}.weight`);
    const [cols, rows] = ti.shape;
    const st = file.tensor(`${base}.scale`);
    const scale = st ? floatsOf(st)[0] : 1;
    if (!Number.isFinite(scale)) fail(file, `tensor ${base}.scale is not finite`);
    if (DIRECT_TERNARY.has(ti.type)) {
      try {
        const m = keep(t.matrix(pool, ti.type, ti.data(), rows, cols, MatrixFlag.TERN_MATRIX_FLAG_DROP_INPUT));
        if (scale !== 1) m.scale = m.scale * scale;
        return m;
      } catch (e) {
        // Per-block scales (ggml's own TQ quantiser on latent weights): exact, but only as floats.
        if (!(e instanceof NativeError && e.code === Status.TERN_E_FORMAT)) rethrow(file, ti.name, e);
      }
    } else if (ti.type === GgmlType.F16 && scale === 1) {
      // Exactly ternary F16 becomes a ternary matrix; anything else stays F16, borrowed from the file.
      const w = floatsOf(ti);
      const codes = new Int8Array(w.length);
      const s = cols <= MAX_INT_COLS ? exactTernary(ti.name, file, w, codes) : null;
      if (s !== null) {
        const m = matrix(ti.name, Format.TERN_FMT_TERNARY_I8, codes, rows, cols);
        m.scale = s;
        return m;
      }
      return matrix(ti.name, Format.TERN_FMT_F16, ti.data(), rows, cols, MatrixFlag.TERN_MATRIX_FLAG_BORROW);
    }
    return fromFloats(ti.name, floatsOf(ti), rows, cols, scale, true);
  };

  const vector = (name: string): Float32Array => Float32Array.from(floatsOf(tensor(name)));

  /**
   * A tensor as stored: ternary formats repacked, others via F32, and F32/F16 either borrowed from the
   * file (an embedding: only the rows looked up are ever read) or, for a head that every decode step
   * streams whole, copied into huge-page memory (fewer TLB misses) with the file's pages released.
   */
  const asStored = (ti: TensorInfo, streamed: boolean): Matrix => {
    const [cols, rows] = ti.shape;
    if (ti.type === GgmlType.F32 || ti.type === GgmlType.F16) {
      const format = ti.type === GgmlType.F32 ? Format.TERN_FMT_F32 : Format.TERN_FMT_F16;
      const flags = streamed ? MatrixFlag.TERN_MATRIX_FLAG_DROP_INPUT : MatrixFlag.TERN_MATRIX_FLAG_BORROW;
      return matrix(ti.name, format, ti.data(), rows, cols, flags);
    }
    if (DIRECT_TERNARY.has(ti.type)) {
      try {
        return keep(t.matrix(pool, ti.type, ti.data(), rows, cols, MatrixFlag.TERN_MATRIX_FLAG_DROP_INPUT));
      } catch (e) {
        if (!(e instanceof NativeError && e.code === Status.TERN_E_FORMAT)) rethrow(file, ti.name, e);
      }
    }
    return fromFloats(ti.name, floatsOf(ti), rows, cols, 1, false);
  };

  /** The output head in the representation the launch asked for. */
  const headOf = (ti: TensorInfo, embed: Matrix | null): Matrix => {
    const [cols, rows] = ti.shape;
    if (embed && sharesEmbed(ti)) return embed;
    if (headMode === "auto") return asStored(ti, true);
    if (headMode === "f16" && ti.type === GgmlType.F16) return asStored(ti, true);
    if (headMode === "f32" && ti.type === GgmlType.F32) return asStored(ti, true);
    if (headMode === "q8" && (ti.type === GgmlType.F16 || ti.type === GgmlType.F32)) {
      const format = ti.type === GgmlType.F32 ? Format.TERN_FMT_F32 : Format.TERN_FMT_F16;
      return matrix(ti.name, format, ti.data(), rows, cols, MatrixFlag.TERN_MATRIX_FLAG_Q8 | MatrixFlag.TERN_MATRIX_FLAG_DROP_INPUT);
    }
    const w = floatsOf(ti);
    if (headMode === "f16") return matrix(ti.name, Format.TERN_FMT_F16, f32ArrayToF16(w), rows, cols, MatrixFlag.TERN_MATRIX_FLAG_BORROW);
    return matrix(ti.name, Format.TERN_FMT_F32, w, rows, cols, headMode === "q8" ? MatrixFlag.TERN_MATRIX_FLAG_Q8 : MatrixFlag.TERN_MATRIX_FLAG_BORROW);
  };

  /** Whether a tied head is the embedding matrix itself (the head mode keeps the stored type). */
  const sharesEmbed = (ti: TensorInfo): boolean =>
    headMode === "auto" || (headMode === "f16" && ti.type === GgmlType.F16) || (headMode === "f32" && ti.type === GgmlType.F32);

  try {
    const embd = tensor("token_embd.weight");
    const tied = file.tensor("output.weight") === undefined;
    const embed = asStored(embd, tied && sharesEmbed(embd));
    const layers: LayerWeights[] = [];
    for (let l = 0; l < hp.nLayers; l++) {
      const p = `blk.${l}.`;
      layers.push({
        attnNorm: vector(`${p}attn_norm.weight`),
        wq: linear(`${p}attn_q`),
        wk: linear(`${p}attn_k`),
        wv: linear(`${p}attn_v`),
        wo: linear(`${p}attn_output`),
        attnSubNorm: vector(`${p}attn_sub_norm.weight`),
        ffnNorm: vector(`${p}ffn_norm.weight`),
        wGate: linear(`${p}ffn_gate`),
        wUp: linear(`${p}ffn_up`),
        wDown: linear(`${p}ffn_down`),
        ffnSubNorm: vector(`${p}ffn_sub_norm.weight`),
      });
    }
    const out = file.tensor("output.weight");
    const head = out ? headOf(out, null) : headOf(embd, embed);
    const kinds: Record<string, number> = {};
    let nbytes = 0;
    for (const m of new Set(made)) {
      const k = KIND_NAMES[m.kind] ?? "?";
      kinds[k] = (kinds[k] ?? 0) + 1;
      nbytes += m.nbytes;
    }
    const readBytes = (m: Matrix) => (m.kind === MatrixKind.TERN_MATRIX_F32 ? 4 * m.rows * m.cols : m.kind === MatrixKind.TERN_MATRIX_F16 ? 2 * m.rows * m.cols : m.nbytes);
    let decodeBytes = readBytes(head);
    for (const L of layers) for (const m of [L.wq, L.wk, L.wv, L.wo, L.wGate, L.wUp, L.wDown]) decodeBytes += readBytes(m);
    return { embed, layers, outNorm: vector("output_norm.weight"), head, nbytes, decodeBytes, kinds };
  } catch (e) {
    freeWeights(made);
    throw e;
  }
}

/** Frees matrices (each once, even where embed and head share a handle). */
export function freeWeights(w: Weights | Matrix[]): void {
  const all = Array.isArray(w) ? w : [w.embed, w.head, ...w.layers.flatMap((l) => [l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown])];
  for (const m of new Set(all)) m.close();
}
