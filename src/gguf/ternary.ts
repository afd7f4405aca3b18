// Ternary weights: BitNet per-tensor absmean ternarisation, and lossless packing of ternary codes
// (−1, 0, +1) with one tensor scale into TQ1_0, TQ2_0 and I2_S (and back), bit-exact with ggml.
//
// "Lossless" here means: the codes are always identical after any chain of conversions, and the
// scale is exact whenever it is representable in fp16 (TQ blocks store it as fp16 `d`; I2_S and
// F32 store f32). Going TQ → I2_S → TQ is therefore always bit-identical; I2_S → TQ rounds an f32
// scale to the nearest fp16 (relative error ≤ 2^-11). `ternarize(w, { f16Scale: true })` picks an
// fp16-representable scale up front so every format dequantises to exactly the same weights.

import { GgufError } from "./errors.ts";
import { f16ToF32, f32ToF16, roundToF16 } from "./float16.ts";
import { GgmlType, ggmlTypeName } from "./types.ts";

/** Ternary codes (each −1, 0 or +1) and the one scale they multiply: weight = q · scale. */
export interface TernaryTensor {
  q: Int8Array; // (n)
  scale: number;
}

const QK_K = 256;
const TQ1_0_BYTES = 54; // qs[48] + qh[4] + fp16 d
const TQ2_0_BYTES = 66; // qs[64] + fp16 d
const I2S_BLOCK = 128; // codes per 32-byte I2_S block

export type TernaryType = typeof GgmlType.TQ1_0 | typeof GgmlType.TQ2_0 | typeof GgmlType.I2_S;
export const TERNARY_TYPES: readonly TernaryType[] = [GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S];

export function isTernaryType(t: number): t is TernaryType {
  return t === GgmlType.TQ1_0 || t === GgmlType.TQ2_0 || t === GgmlType.I2_S;
}

/** Round half to even, as torch.round (used by BitNet's weight quantiser). */
function roundHalfEven(x: number): number {
  const r = Math.round(x); // JS rounds half up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * BitNet b1.58 ternarisation (per tensor): s = mean(|W|) (at least 1e-5, as the reference),
 * q = clamp(round(W / s), −1, 1). With `f16Scale` the returned scale is rounded to fp16 (the codes
 * are computed from the exact mean either way).
 */
export function ternarize(w: Float32Array, opts: { f16Scale?: boolean } = {}): TernaryTensor {
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += Math.abs(w[i]);
  const s = Math.max(w.length === 0 ? 0 : sum / w.length, 1e-5);
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const r = roundHalfEven(w[i] / s);
    q[i] = r > 1 ? 1 : r < -1 ? -1 : r;
  }
  return { q, scale: opts.f16Scale ? roundToF16(s) : Math.fround(s) };
}

/** Byte size of n ternary codes packed as `type`. */
export function ternaryByteSize(type: TernaryType, n: number): number {
  checkCount(type, n);
  return type === GgmlType.I2_S ? n / 4 + 32 : (n / QK_K) * (type === GgmlType.TQ1_0 ? TQ1_0_BYTES : TQ2_0_BYTES);
}

function checkCount(type: number, n: number): void {
  const block = type === GgmlType.I2_S ? I2S_BLOCK : QK_K;
  if (!Number.isSafeInteger(n) || n < 0 || n % block !== 0) {
    throw new GgufError(`${ggmlTypeName(type)} needs a multiple of ${block} weights, got ${n}`);
  }
}

function badCode(i: number, v: number): never {
  throw new GgufError(`weight ${i} has code ${v}, not a ternary value (-1, 0, 1)`);
}

/** Packs ternary codes with one tensor scale. TQ blocks all get d = fp16(scale). */
export function packTernary(type: TernaryType, q: Int8Array, scale: number): Uint8Array {
  const n = q.length;
  const out = new Uint8Array(ternaryByteSize(type, n));
  const view = new DataView(out.buffer);
  // Every code is checked once: t = q + 1 must be 0, 1 or 2.
  for (let i = 0; i < n; i++) if (q[i] < -1 || q[i] > 1) badCode(i, q[i]);

  if (type === GgmlType.TQ2_0) {
    const d = f32ToF16(scale);
    for (let b = 0, o = 0; b < n; b += QK_K, o += TQ2_0_BYTES) {
      // qs[h*32 + m] holds codes h*128 + m + 32l in bits 2l (LSB first), l = 0..3.
      for (let h = 0; h < 2; h++) {
        for (let m = 0; m < 32; m++) {
          const e = b + h * 128 + m;
          out[o + h * 32 + m] = (q[e] + 1) | ((q[e + 32] + 1) << 2) | ((q[e + 64] + 1) << 4) | ((q[e + 96] + 1) << 6);
        }
      }
      view.setUint16(o + 64, d, true);
    }
  } else if (type === GgmlType.TQ1_0) {
    const d = f32ToF16(scale);
    for (let b = 0, o = 0; b < n; b += QK_K, o += TQ1_0_BYTES) {
      // qs[0..31]: codes m + 32k (k = 0..4, first = most significant trit), elements 0..159.
      for (let m = 0; m < 32; m++) out[o + m] = trits5(q, b + m, 32);
      // qs[32..47]: codes 160 + m + 16k, elements 160..239.
      for (let m = 0; m < 16; m++) out[o + 32 + m] = trits5(q, b + 160 + m, 16);
      // qh[0..3]: codes 240 + j + 4k (k = 0..3), a fifth zero trit appended at the low end.
      for (let j = 0; j < 4; j++) {
        const e = b + 240 + j;
        const v = ((((q[e] + 1) * 3 + (q[e + 4] + 1)) * 3 + (q[e + 8] + 1)) * 3 + (q[e + 12] + 1)) * 3;
        out[o + 48 + j] = fixedPoint243(v);
      }
      view.setUint16(o + 52, d, true);
    }
  } else {
    // I2_S: byte[b*32 + k] = t[b*128 + k] << 6 | t[+32] << 4 | t[+64] << 2 | t[+96], t = q + 1.
    for (let b = 0, o = 0; b < n; b += I2S_BLOCK, o += 32) {
      for (let k = 0; k < 32; k++) {
        const e = b + k;
        out[o + k] = ((q[e] + 1) << 6) | ((q[e + 32] + 1) << 4) | ((q[e + 64] + 1) << 2) | (q[e + 96] + 1);
      }
    }
    view.setFloat32(n / 4, scale, true); // then 28 zero bytes of padding
  }
  return out;
}

/** Five trits (codes at e, e+stride, … e+4·stride; the first most significant) as one TQ1_0 byte. */
function trits5(q: Int8Array, e: number, stride: number): number {
  const v = ((((q[e] + 1) * 3 + (q[e + stride] + 1)) * 3 + (q[e + 2 * stride] + 1)) * 3 + (q[e + 3 * stride] + 1)) * 3 + (q[e + 4 * stride] + 1);
  return fixedPoint243(v);
}

/**
 * v in [0, 243) as the byte ceil(v · 256 / 243): a base-3 fixed-point fraction, so trit k is
 * recovered as ((byte · 3^k) mod 256) · 3 >> 8 (ggml's TQ1_0 encoding).
 */
function fixedPoint243(v: number): number {
  return Math.floor((v * 256 + 242) / 243);
}

/** Trit k (0 = most significant) of a TQ1_0 byte, as a code −1, 0, +1. */
const POW3 = [1, 3, 9, 27, 81];
function trit(byte: number, k: number): number {
  return ((((byte * POW3[k]) & 0xff) * 3) >> 8) - 1;
}

/**
 * Decodes one 256-weight TQ2_0 block at bytes[o] into q[e..e+256) as code − 1: −1, 0, +1, or 2 for
 * the unused code 3 (left for the caller to reject or, like ggml's dequantiser, to use as 2·d).
 */
export function decodeTq2Block(bytes: Uint8Array, o: number, q: Int8Array, e: number): void {
  for (let h = 0; h < 2; h++) {
    for (let m = 0; m < 32; m++) {
      const byte = bytes[o + h * 32 + m];
      const base = e + h * 128 + m;
      q[base] = (byte & 3) - 1;
      q[base + 32] = ((byte >> 2) & 3) - 1;
      q[base + 64] = ((byte >> 4) & 3) - 1;
      q[base + 96] = (byte >> 6) - 1;
    }
  }
}

/** Decodes one 256-weight TQ1_0 block at bytes[o] into q[e..e+256) (every byte decodes to trits). */
export function decodeTq1Block(bytes: Uint8Array, o: number, q: Int8Array, e: number): void {
  for (let m = 0; m < 32; m++) for (let k = 0; k < 5; k++) q[e + m + 32 * k] = trit(bytes[o + m], k);
  for (let m = 0; m < 16; m++) for (let k = 0; k < 5; k++) q[e + 160 + m + 16 * k] = trit(bytes[o + 32 + m], k);
  for (let j = 0; j < 4; j++) for (let k = 0; k < 4; k++) q[e + 240 + j + 4 * k] = trit(bytes[o + 48 + j], k);
}

/** Decodes n I2_S codes (code − 1: −1, 0, +1, or 2 for the unused code 3); the scale is read apart. */
export function decodeI2s(bytes: Uint8Array, q: Int8Array, n: number): void {
  for (let b = 0, o = 0; b < n; b += I2S_BLOCK, o += 32) {
    for (let k = 0; k < 32; k++) {
      const byte = bytes[o + k];
      const e = b + k;
      q[e] = (byte >> 6) - 1;
      q[e + 32] = ((byte >> 4) & 3) - 1;
      q[e + 64] = ((byte >> 2) & 3) - 1;
      q[e + 96] = (byte & 3) - 1;
    }
  }
}

/**
 * Unpacks codes and the tensor scale. TQ blocks must agree on d (blocks whose codes are all zero
 * may carry any d, as ggml's quantiser writes d = 0 there); per-block scales would not survive a
 * conversion to one scale, so they are an error here rather than a silent loss.
 */
export function unpackTernary(type: TernaryType, bytes: Uint8Array, n: number): TernaryTensor {
  const size = ternaryByteSize(type, n);
  if (bytes.length < size) throw new GgufError(`${ggmlTypeName(type)} data for ${n} weights needs ${size} bytes, got ${bytes.length}`);
  const q = new Int8Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  if (type === GgmlType.I2_S) {
    decodeI2s(bytes, q, n);
    for (let i = 0; i < n; i++) if (q[i] > 1) badCode(i, q[i]); // code 3 (11b) is unused
    return { q, scale: view.getFloat32(n / 4, true) };
  }

  const blockBytes = type === GgmlType.TQ1_0 ? TQ1_0_BYTES : TQ2_0_BYTES;
  const decode = type === GgmlType.TQ1_0 ? decodeTq1Block : decodeTq2Block;
  let scaleBits = 0;
  let scaleBlock = -1;
  for (let b = 0, o = 0; b < n; b += QK_K, o += blockBytes) {
    decode(bytes, o, q, b);
    let nonzero = false;
    for (let i = b; i < b + QK_K; i++) {
      if (q[i] > 1) badCode(i, q[i]);
      nonzero ||= q[i] !== 0;
    }
    const d = view.getUint16(o + blockBytes - 2, true);
    if (b === 0) scaleBits = d; // an all-zero tensor keeps block 0's d
    if (!nonzero) continue;
    if (scaleBlock < 0) {
      scaleBits = d;
      scaleBlock = b / QK_K;
    } else if (d !== scaleBits) {
      throw new GgufError(
        `${ggmlTypeName(type)} blocks ${scaleBlock} and ${b / QK_K} have different scales (${f16ToF32(scaleBits)} vs ${f16ToF32(d)}): ` +
          `per-block scales are not a per-tensor ternary weight`,
      );
    }
  }
  return { q, scale: n === 0 ? 0 : f16ToF32(scaleBits) };
}

/**
 * Converts packed ternary weights between TQ1_0, TQ2_0 and I2_S (codes exact; see the header for
 * what happens to the scale).
 */
export function transcodeTernary(srcType: TernaryType, bytes: Uint8Array, dstType: TernaryType, n: number): Uint8Array {
  const { q, scale } = unpackTernary(srcType, bytes, n);
  return packTernary(dstType, q, scale);
}

/**
 * Reads ternary codes back from dequantised weights (e.g. an F32 or F16 tensor holding q · s):
 * s = max |w|, and every weight must be exactly −s, 0 or +s.
 */
export function ternaryFromFloats(w: Float32Array): TernaryTensor {
  let s = 0;
  for (let i = 0; i < w.length; i++) s = Math.max(s, Math.abs(w[i]));
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (v === 0) continue;
    if (v === s) q[i] = 1;
    else if (v === -s) q[i] = -1;
    else throw new GgufError(`weight ${i} = ${v} is not one of -${s}, 0, ${s}: not a ternary tensor`);
  }
  return { q, scale: s };
}
