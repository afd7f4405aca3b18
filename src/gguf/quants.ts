// Reference quantise/dequantise (Float32Array ↔ packed bytes) for the types this project writes:
// F32, F16, BF16, Q8_0, TQ1_0, TQ2_0, I2_S, bit-exact with ggml's `*_ref` functions.
// The ternary-specific API (ternarize, packTernary, …) lives in ternary.ts and is re-exported here.

import { GgufError } from "./errors.ts";
import { f16ArrayToF32, f16ToF32, f32ArrayToBf16, f32ArrayToF16, bf16ArrayToF32, f32ToF16 } from "./float16.ts";
import { decodeI2s, decodeTq1Block, decodeTq2Block, packTernary } from "./ternary.ts";
import { GgmlType, ggmlTypeInfo, ggmlTypeName } from "./types.ts";

export * from "./ternary.ts";
export * from "./float16.ts";

/** Types with a reference (de)quantiser here. */
export const REFERENCE_TYPES: readonly GgmlType[] = [
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S,
];

export function hasReference(type: number): boolean {
  return (REFERENCE_TYPES as readonly number[]).includes(type);
}

const QK8_0 = 32;
const Q8_0_BYTES = 34; // fp16 d + qs[32]: 8.5 bpw
const QK_K = 256;

/** roundf / lroundf: half away from zero (ggml's rounding in q8_0 and the TQ quantisers). */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

function checkLength(type: number, n: number): void {
  const info = ggmlTypeInfo(type);
  if (info === undefined || !hasReference(type)) throw new GgufError(`no reference quantiser for type ${ggmlTypeName(type)}`);
  if (n % info.blockSize !== 0) throw new GgufError(`${info.name} needs a multiple of ${info.blockSize} values, got ${n}`);
}

/**
 * Quantises values the way ggml's reference does. For TQ1_0/TQ2_0 that is per-256-block absmax
 * (lossless only for weights that are already ternary); I2_S likewise uses the tensor's absmax.
 * Latent (continuous) BitNet weights must go through `ternarize` + `packTernary` instead.
 */
export function quantize(type: GgmlType, src: Float32Array): Uint8Array {
  const n = src.length;
  checkLength(type, n);
  switch (type) {
    case GgmlType.F32:
      return new Uint8Array(src.slice().buffer);
    case GgmlType.F16:
      return new Uint8Array(f32ArrayToF16(src).buffer);
    case GgmlType.BF16:
      return new Uint8Array(f32ArrayToBf16(src).buffer);
    case GgmlType.Q8_0:
      return quantizeQ8_0(src);
    case GgmlType.TQ1_0:
    case GgmlType.TQ2_0:
      return quantizeTq(type, src);
    case GgmlType.I2_S: {
      let amax = 0;
      for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(src[i]));
      return packTernary(type, ternaryCodes(src, 0, n, amax), amax);
    }
  }
  throw new GgufError(`no reference quantiser for type ${ggmlTypeName(type)}`);
}

/** Codes lround(x / d) computed as ggml does: id = 1/d in f32, then x·id in f32. */
function ternaryCodes(src: Float32Array, start: number, n: number, d: number, q = new Int8Array(n), at = 0): Int8Array {
  const id = d !== 0 ? Math.fround(1 / d) : 0;
  for (let i = 0; i < n; i++) q[at + i] = roundHalfAway(Math.fround(src[start + i] * id));
  return q;
}

function quantizeQ8_0(src: Float32Array): Uint8Array {
  const nb = src.length / QK8_0;
  const out = new Uint8Array(nb * Q8_0_BYTES);
  const view = new DataView(out.buffer);
  const qs = new Int8Array(out.buffer);
  for (let b = 0; b < nb; b++) {
    const x = b * QK8_0;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(src[x + j]));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    view.setUint16(b * Q8_0_BYTES, f32ToF16(d), true);
    for (let j = 0; j < QK8_0; j++) qs[b * Q8_0_BYTES + 2 + j] = roundHalfAway(Math.fround(src[x + j] * id));
  }
  return out;
}

function quantizeTq(type: typeof GgmlType.TQ1_0 | typeof GgmlType.TQ2_0, src: Float32Array): Uint8Array {
  const n = src.length;
  const q = new Int8Array(n);
  const amaxes = new Float32Array(n / QK_K);
  for (let b = 0; b < n; b += QK_K) {
    let amax = 0;
    for (let j = 0; j < QK_K; j++) amax = Math.max(amax, Math.abs(src[b + j]));
    amaxes[b / QK_K] = amax;
    ternaryCodes(src, b, QK_K, amax, q, b);
  }
  // Pack the codes, then give each block its own d = fp16(block absmax), as ggml does.
  const out = packTernary(type, q, 0);
  const view = new DataView(out.buffer);
  const blockBytes = ggmlTypeInfo(type)!.bytesPerBlock;
  for (let i = 0; i < amaxes.length; i++) view.setUint16(i * blockBytes + blockBytes - 2, f32ToF16(amaxes[i]), true);
  return out;
}

/** Dequantises n values (ggml's `dequantize_row_*`; unused ternary code 3 reads as 2·d, as there). */
export function dequantize(type: GgmlType, bytes: Uint8Array, n: number): Float32Array {
  checkLength(type, n);
  const info = ggmlTypeInfo(type)!;
  const need = (n / info.blockSize) * info.bytesPerBlock + info.trailerBytes;
  if (bytes.length < need) throw new GgufError(`${info.name} data for ${n} values needs ${need} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (type) {
    case GgmlType.F32:
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case GgmlType.F16:
    case GgmlType.BF16: {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = view.getUint16(2 * i, true);
      return type === GgmlType.F16 ? f16ArrayToF32(h, out) : bf16ArrayToF32(h, out);
    }
    case GgmlType.Q8_0:
      for (let b = 0; b < n / QK8_0; b++) {
        const o = b * Q8_0_BYTES;
        const d = f16ToF32(view.getUint16(o, true));
        for (let j = 0; j < QK8_0; j++) out[b * QK8_0 + j] = view.getInt8(o + 2 + j) * d;
      }
      return out;
    case GgmlType.TQ1_0:
    case GgmlType.TQ2_0: {
      const decode = type === GgmlType.TQ1_0 ? decodeTq1Block : decodeTq2Block;
      const q = new Int8Array(QK_K);
      for (let b = 0; b < n / QK_K; b++) {
        const o = b * info.bytesPerBlock;
        decode(bytes, o, q, 0);
        const d = f16ToF32(view.getUint16(o + info.bytesPerBlock - 2, true));
        for (let j = 0; j < QK_K; j++) out[b * QK_K + j] = q[j] * d;
      }
      return out;
    }
    case GgmlType.I2_S: {
      const q = new Int8Array(n);
      decodeI2s(bytes, q, n);
      const s = view.getFloat32(n / 4, true);
      for (let i = 0; i < n; i++) out[i] = q[i] * s;
      return out;
    }
  }
  throw new GgufError(`no reference dequantiser for type ${ggmlTypeName(type)}`);
}
