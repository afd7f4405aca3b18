// IEEE half (fp16) and bfloat16 conversions, bit-exact with ggml's reference: round to nearest
// even, subnormals kept, overflow to infinity, NaN stays NaN (quiet).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** fp32 bits → fp16 bits, round to nearest, ties to even. */
function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 : sign | 0x7c00; // NaN (as ggml: 0x7e00) or ±inf
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00; // too large: ±inf
  if (e <= 0) {
    // fp16 subnormal: value = m · 2^-24, so m = (1.mant · 2^23) >> (14 - e).
    if (e < -10) return sign; // below 2^-25: rounds to ±0 (2^-25 itself is a tie, to even = 0)
    const full = mant | 0x800000;
    const shift = 14 - e;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    let m = full >>> shift;
    if (rem > half || (rem === half && (m & 1) !== 0)) m++; // may carry into the smallest normal: correct
    return sign | m;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry into the exponent is correct rounding
  return h;
}

export function f32ToF16(x: number): number {
  f32[0] = x;
  return f32BitsToF16(u32[0]);
}

// All 65536 halves decoded once: dequantising a tensor is then one lookup per element.
const F16_TABLE = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  F16_TABLE[h] = e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m !== 0 ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function f16ToF32(h: number): number {
  return F16_TABLE[h & 0xffff];
}

/** The nearest fp16 value to x, as a number (what storing x as fp16 keeps). */
export function roundToF16(x: number): number {
  return F16_TABLE[f32ToF16(x)];
}

/** True when x survives a trip through fp16 unchanged (NaN never does). */
export function isF16Exact(x: number): boolean {
  return roundToF16(x) === x;
}

export function f32ArrayToF16(src: Float32Array, dst = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) dst[i] = f32BitsToF16(bits[i]);
  return dst;
}

export function f16ArrayToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = F16_TABLE[src[i]];
  return dst;
}

/** fp32 bits → bf16 bits: round to nearest even on the dropped 16 bits; NaN forced quiet (as ggml). */
function f32BitsToBf16(b: number): number {
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 64;
  // b + 0x7fff + lsb stays below 2^32 for every non-NaN b, so >>> sees no wrap-around.
  return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}

export function f32ToBf16(x: number): number {
  f32[0] = x;
  return f32BitsToBf16(u32[0]);
}

export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

export function f32ArrayToBf16(src: Float32Array, dst = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) dst[i] = f32BitsToBf16(bits[i]);
  return dst;
}

export function bf16ArrayToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return dst;
}
