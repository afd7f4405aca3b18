// Source tensors as numbers: F32/F16/BF16 safetensors data → Float32Array (whole or a slice), and
// a linear weight → ternary codes with one scale, whichever of three forms the checkpoint stores:
//
// - latent (continuous master weights): BitNet b1.58 absmean ternarisation, s = mean|W|,
//   q = clamp(round(W / s), −1, 1) (FACTS §1; never ggml's per-block absmax);
// - already ternary (every value in {−s, 0, +s} for one s): read back losslessly, scale s;
// - Microsoft's packed uint8 (transformers' BitLinear, BitNet-b1.58-2B-4T): the weight [out, in] is
//   stored as [out/4, in] bytes; packed row p, bit pair i (bits 2i..2i+1) holds the code + 1 of output
//   row i·(out/4) + p, same column (00 = −1, 01 = 0, 10 = +1; 11 is invalid). `weight_scale` (one
//   value) multiplies under AutoBitLinear and divides under BitLinear (the default for uint8).
//
// Every ternary output uses fp16(s) as its scale, so TQ1_0, TQ2_0, I2_S and the float outtypes
// of one checkpoint dequantise to the same weights q · fp16(s).

import { bf16ArrayToF32, f16ArrayToF32, roundToF16, ternarize } from "../gguf/quants.ts";
import { fail } from "./errors.ts";
import type { StTensor } from "./safetensors.ts";

export type TernaryForm = "latent" | "ternary" | "packed";

export interface TernaryWeights {
  q: Int8Array; // (out · in), row-major [out, in]
  /** The scale as derived (f32); `scale16` is what every output stores. */
  scale: number;
  scale16: number;
  form: TernaryForm;
}

const FLOAT_DTYPES = ["F32", "F16", "BF16"];

/** Elements [start, end) of a float tensor as f32 (a copy: callers may scale it in place). */
export function floatsOf(t: StTensor, start = 0, end = t.nElements): Float32Array {
  if (!FLOAT_DTYPES.includes(t.dtype)) fail(`${t.file}: tensor "${t.name}" has dtype ${t.dtype}; expected F32, F16 or BF16`);
  const size = t.dtype === "F32" ? 4 : 2;
  const bytes = t.range(start * size, end * size);
  const n = end - start;
  if (t.dtype === "F32") return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4));
  const h = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  return t.dtype === "F16" ? f16ArrayToF32(h) : bf16ArrayToF32(h);
}

/** The one value of a `weight_scale` tensor. */
function scalarOf(t: StTensor): number {
  if (t.nElements !== 1) fail(`${t.file}: tensor "${t.name}" has ${t.nElements} values; a weight_scale must have one`);
  const v = floatsOf(t)[0];
  if (!Number.isFinite(v) || v === 0) fail(`${t.file}: tensor "${t.name}" = ${v} is not a usable scale`);
  return v;
}

/**
 * Ternary codes and scale of one linear weight. `rows` × `cols` is the unpacked [out, in] shape;
 * `linearClass` is config.json's quantization_config.linear_class, when given.
 */
export function ternaryOf(
  t: StTensor,
  weightScale: StTensor | undefined,
  rows: number,
  cols: number,
  linearClass: "bitlinear" | "autobitlinear" | undefined,
): TernaryWeights {
  if (t.dtype === "U8") {
    if (weightScale === undefined) fail(`${t.file}: tensor "${t.name}" is packed uint8 but has no "${t.name}_scale" tensor`);
    const ws = scalarOf(weightScale);
    const q = unpackUint8(t, rows, cols);
    return withScale(t, q, (linearClass ?? "bitlinear") === "bitlinear" ? 1 / ws : ws, "packed");
  }
  const w = floatsOf(t);
  if (weightScale !== undefined) {
    // Float weights with a stored scale only load into AutoBitLinear, which multiplies.
    const ws = scalarOf(weightScale);
    const k = (linearClass ?? "autobitlinear") === "autobitlinear" ? ws : 1 / ws;
    for (let i = 0; i < w.length; i++) w[i] *= k;
  }
  const exact = exactTernary(w);
  if (exact !== undefined) return withScale(t, exact.q, exact.scale, "ternary");
  for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i])) fail(`${t.file}: tensor "${t.name}" has a non-finite value at index ${i}`);
  const { q, scale } = ternarize(w);
  return withScale(t, q, scale, "latent");
}

function withScale(t: StTensor, q: Int8Array, scale: number, form: TernaryForm): TernaryWeights {
  const scale16 = roundToF16(scale);
  if (!(scale16 > 0 && Number.isFinite(scale16)) && q.some((v) => v !== 0)) {
    fail(`${t.file}: tensor "${t.name}" has scale ${scale}, which fp16 cannot hold`);
  }
  return { q, scale, scale16, form };
}

/** Codes and scale when every value is −s, 0 or +s for one s (an all-zero tensor has s = 0). */
export function exactTernary(w: Float32Array): { q: Int8Array; scale: number } | undefined {
  let s = 0;
  for (let i = 0; i < w.length; i++) {
    const a = Math.abs(w[i]);
    if (a !== 0) {
      s = a;
      break;
    }
  }
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (v === 0) continue;
    if (v === s) q[i] = 1;
    else if (v === -s) q[i] = -1;
    else return undefined;
  }
  return { q, scale: s };
}

/** Unpacks transformers' 4-codes-per-byte layout (see the header) into row-major [rows, cols] codes. */
export function unpackUint8(t: StTensor, rows: number, cols: number): Int8Array {
  const p = rows / 4;
  if (!Number.isInteger(p) || t.shape.length !== 2 || t.shape[0] !== p || t.shape[1] !== cols) {
    fail(`${t.file}: packed uint8 tensor "${t.name}" has shape [${t.shape.join(", ")}], expected [${rows / 4}, ${cols}] for a [${rows}, ${cols}] weight`);
  }
  const bytes = t.data();
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < p; r++) {
    for (let c = 0; c < cols; c++) {
      const b = bytes[r * cols + c];
      for (let i = 0; i < 4; i++) {
        const code = (b >> (2 * i)) & 3;
        if (code === 3) fail(`${t.file}: packed uint8 tensor "${t.name}" has the invalid code 3 at byte [${r}, ${c}], bits ${2 * i}..${2 * i + 1}`);
        q[(i * p + r) * cols + c] = code - 1;
      }
    }
  }
  return q;
}

/** The inverse of unpackUint8 (for test checkpoints): codes [rows, cols] → bytes [rows/4, cols]. */
export function packUint8(q: Int8Array, rows: number, cols: number): Uint8Array {
  const p = rows / 4;
  const out = new Uint8Array(p * cols);
  for (let i = 0; i < 4; i++) {
    for (let r = 0; r < p; r++) {
      for (let c = 0; c < cols; c++) out[r * cols + c] |= (q[(i * p + r) * cols + c] + 1) << (2 * i);
    }
  }
  return out;
}
