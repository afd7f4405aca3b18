// Tests for the reference quantisers: bit-exactness with ggml (golden hashes), round trips of
// every type, and lossless ternary conversions between TQ1_0, TQ2_0 and I2_S.

import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { GgufError } from "./errors.ts";
import {
  bf16ToF32, dequantize, f16ToF32, f32ToBf16, f32ToF16, isF16Exact, packTernary, quantize, roundToF16,
  ternarize, ternaryFromFloats, transcodeTernary, unpackTernary, TERNARY_TYPES, type TernaryType,
} from "./quants.ts";
import { GgmlType, ggmlTypeName, tensorByteSize } from "./types.ts";

/** xorshift32, the generator the golden C program used (seed 12345). */
function xorshift32(seed: number) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

/** The golden inputs: mode 0 = continuous in [-3, 3], mode 1 = ternary × 0.0375 (all f32 arithmetic). */
function goldenInput(mode: 0 | 1, n = 4096): Float32Array {
  const rnd = xorshift32(12345);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    x[i] = mode === 0 ? Math.fround(Math.fround(((r % 2001) - 1000) / 1000) * 3) : ((r % 3) - 1) * Math.fround(0.0375);
  }
  return x;
}

const sha16 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex").slice(0, 16);
const floatBytes = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);

// Produced once by a C program linking llama.cpp's ggml-quants.c (quantize_row_*_ref,
// dequantize_row_*, GGML_FP32_TO_FP16/BF16) on the inputs above; see quants.ts for the layouts.
const GOLDEN: Record<string, string> = {
  "0 q8_0": "67dd816144dc9a01", "0 tq1_0": "a40616705dba0a3b", "0 tq2_0": "d276eeefd86d6299",
  "0 f16": "93f772ef6adda1b7", "0 bf16": "f938b0e65527039e",
  "1 q8_0": "deb7d439a217f505", "1 tq1_0": "58139ca628646356", "1 tq2_0": "da421f6eba81e240",
  "1 f16": "578d42e987ae7e24", "1 bf16": "c51afb1ffcf539fe",
  "0 q8_0 dq": "c13d6402c9d817a6", "0 tq1_0 dq": "c1e30bf0f17efb07", "0 tq2_0 dq": "c1e30bf0f17efb07",
  "1 q8_0 dq": "4ef286c60ee82157", "1 tq1_0 dq": "30d902ab2ce861f3", "1 tq2_0 dq": "30d902ab2ce861f3",
};

describe("bit-exact with ggml", () => {
  for (const mode of [0, 1] as const) {
    const x = goldenInput(mode);
    for (const [name, type] of [["q8_0", GgmlType.Q8_0], ["tq1_0", GgmlType.TQ1_0], ["tq2_0", GgmlType.TQ2_0]] as const) {
      test(`${name} quantise + dequantise, input ${mode}`, () => {
        const q = quantize(type, x);
        expect(sha16(q)).toBe(GOLDEN[`${mode} ${name}`]);
        expect(sha16(floatBytes(dequantize(type, q, x.length)))).toBe(GOLDEN[`${mode} ${name} dq`]);
      });
    }
    test(`f16 and bf16 conversion, input ${mode}`, () => {
      // The C side converted x*1000 + 1e-3*i (f32 arithmetic) to exercise every rounding path.
      const y = x.map((v, i) => Math.fround(Math.fround(v * 1000) + Math.fround(Math.fround(1e-3) * i)));
      expect(sha16(quantize(GgmlType.F16, y))).toBe(GOLDEN[`${mode} f16`]);
      expect(sha16(quantize(GgmlType.BF16, y))).toBe(GOLDEN[`${mode} bf16`]);
    });
  }
});

describe("fp16 / bf16 scalars", () => {
  test("edge values", () => {
    expect(f32ToF16(0)).toBe(0);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // halfway to the next step: ties to even overflow to inf
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(f16ToF32(f32ToF16(NaN)))).toBe(true);
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f32ToF16(2 ** -25)).toBe(0); // tie between 0 and 2^-24 goes to even (0)
    expect(f32ToF16(Math.fround(2 ** -25 * 1.0001))).toBe(1);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie, to even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, to even (up)
    expect(isF16Exact(0.0375)).toBe(false);
    expect(isF16Exact(roundToF16(0.0375))).toBe(true);
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(bf16ToF32(f32ToBf16(Math.fround(1 + 2 ** -8)))).toBe(1); // tie, to even
    expect(Number.isNaN(bf16ToF32(f32ToBf16(NaN)))).toBe(true);
  });

  test("every fp16 value survives f16 → f32 → f16", () => {
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) continue;
      if (f32ToF16(v) !== h) throw new Error(`f16 ${h.toString(16)} → ${v} → ${f32ToF16(v).toString(16)}`);
    }
  });
});

/** Random values that are exactly representable in the given type (so round trips are exact). */
function representable(type: GgmlType, n: number, seed: number): Float32Array {
  const rnd = xorshift32(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (type === GgmlType.F32) x[i] = Math.fround((r / 2 ** 32 - 0.5) * 10);
    else if (type === GgmlType.F16) x[i] = f16ToF32(r & 0x7bff); // finite halves (exponent < 31)
    else x[i] = bf16ToF32((r >>> 16) & 0x7f7f); // finite bfloat16s
  }
  return x;
}

describe("round trips", () => {
  for (const type of [GgmlType.F32, GgmlType.F16, GgmlType.BF16]) {
    test(`${ggmlTypeName(type)}: representable values are exact`, () => {
      const x = representable(type, 1024, 7 + type);
      const bytes = quantize(type, x);
      expect(bytes.length).toBe(tensorByteSize(type, [1024]));
      expect(dequantize(type, bytes, x.length)).toEqual(x);
    });
  }

  test("f16 / bf16 / q8_0 on continuous values: bounded error", () => {
    const x = goldenInput(0);
    const f16 = dequantize(GgmlType.F16, quantize(GgmlType.F16, x), x.length);
    const bf16 = dequantize(GgmlType.BF16, quantize(GgmlType.BF16, x), x.length);
    const q8 = dequantize(GgmlType.Q8_0, quantize(GgmlType.Q8_0, x), x.length);
    for (let i = 0; i < x.length; i++) {
      expect(Math.abs(f16[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -11 + 2 ** -25);
      expect(Math.abs(bf16[i] - x[i])).toBeLessThanOrEqual(Math.abs(x[i]) * 2 ** -8);
    }
    for (let b = 0; b < x.length; b += 32) {
      const amax = Math.max(...x.subarray(b, b + 32).map(Math.abs));
      // half a quantisation step, plus the fp16 rounding of d (relative 2^-11, times up to 127 steps)
      for (let j = b; j < b + 32; j++) expect(Math.abs(q8[j] - x[j])).toBeLessThanOrEqual((amax / 127) * (0.5 + 127 * 2 ** -11));
    }
  });

  for (const type of TERNARY_TYPES) {
    test(`${ggmlTypeName(type)}: ternary × fp16 scale is exact through quantize/dequantize`, () => {
      const s = roundToF16(0.0421);
      const q = randomCodes(2048, 3);
      const x = Float32Array.from(q, (v) => v * s);
      expect(dequantize(type, quantize(type, x), x.length)).toEqual(x);
      expect(dequantize(type, packTernary(type, q, s), q.length)).toEqual(x);
    });
  }
});

function randomCodes(n: number, seed: number): Int8Array {
  const rnd = xorshift32(seed);
  return Int8Array.from({ length: n }, () => (rnd() % 3) - 1);
}

describe("ternary packing", () => {
  test("ternarize: absmean scale, round-half-even codes, clamp", () => {
    const w = new Float32Array([0.5, -2, 0.125, 1.5, -0.25, 0, 3, -0.625]);
    const mean = (0.5 + 2 + 0.125 + 1.5 + 0.25 + 0 + 3 + 0.625) / 8; // exactly 1
    const { q, scale } = ternarize(w);
    expect(scale).toBe(Math.fround(mean));
    expect([...q]).toEqual([0, -1, 0, 1, 0, 0, 1, -1]); // 0.5 ties to even (0); 1.5 → 2 → clamp 1
    const w2 = new Float32Array([0.0375, -0.0375, 0, 0.0375]); // mean·4/3 is no fp16 value: rounded
    const s2 = (3 * Math.fround(0.0375)) / 4;
    expect(ternarize(w2, { f16Scale: true })).toEqual({ q: new Int8Array([1, -1, 0, 1]), scale: roundToF16(s2) });
    expect(ternarize(new Float32Array(256)).q.every((v) => v === 0)).toBe(true); // no division by zero
  });

  for (const type of TERNARY_TYPES) {
    test(`${ggmlTypeName(type)}: pack → unpack returns the codes and scale`, () => {
      const q = randomCodes(4096, 11);
      const s = roundToF16(0.01234);
      const bytes = packTernary(type, q, s);
      expect(bytes.length).toBe(tensorByteSize(type, [4096]));
      const back = unpackTernary(type, bytes, q.length);
      expect(back.q).toEqual(q);
      expect(back.scale).toBe(s);
    });
  }

  test("TQ2_0 byte layout matches FACTS §2 (qs[h*32+m] holds h*128 + m + 32n at bits 2n)", () => {
    const q = new Int8Array(256);
    q[128 + 5 + 64] = 1; // h = 1, m = 5, n = 2 → bits 4..5 of qs[37] hold code 2
    const bytes = packTernary(GgmlType.TQ2_0, q, 1);
    expect(bytes[37]).toBe(0b01_10_01_01);
    expect(bytes[0]).toBe(0b01010101);
    expect(new DataView(bytes.buffer).getUint16(64, true)).toBe(0x3c00);
  });

  test("I2_S byte layout matches FACTS §2 (code w+1, first quarter in the top bits; f32 scale at n/4)", () => {
    const q = new Int8Array(128);
    q[3] = 1; // bits 7..6 of byte 3 → 10
    q[32 + 3] = -1; // bits 5..4 → 00
    q[96 + 3] = 1; // bits 1..0 → 10
    const bytes = packTernary(GgmlType.I2_S, q, 0.5);
    expect(bytes.length).toBe(128 / 4 + 32);
    expect(bytes[3]).toBe(0b10_00_01_10);
    expect(bytes[0]).toBe(0b01_01_01_01);
    expect(new DataView(bytes.buffer).getFloat32(32, true)).toBe(0.5);
    expect(bytes.subarray(36).every((b) => b === 0)).toBe(true);
  });

  test("I2_S ↔ TQ2_0 ↔ TQ1_0 conversions are lossless", () => {
    const q = randomCodes(256 * 12, 5);
    const s = roundToF16(0.0777); // representable in fp16: every format keeps it exactly
    const pairs: [TernaryType, TernaryType][] = [];
    for (const a of TERNARY_TYPES) for (const b of TERNARY_TYPES) pairs.push([a, b]);
    for (const [a, b] of pairs) {
      const src = packTernary(a, q, s);
      const dst = transcodeTernary(a, src, b, q.length);
      expect(dst).toEqual(packTernary(b, q, s)); // byte-identical to packing directly
      expect(transcodeTernary(b, dst, a, q.length)).toEqual(src); // and back
    }
    // A chain through every format returns the original bytes.
    const i2s = packTernary(GgmlType.I2_S, q, s);
    const chain = transcodeTernary(GgmlType.TQ1_0, transcodeTernary(GgmlType.TQ2_0, transcodeTernary(GgmlType.I2_S, i2s, GgmlType.TQ2_0, q.length), GgmlType.TQ1_0, q.length), GgmlType.I2_S, q.length);
    expect(chain).toEqual(i2s);
  });

  test("an f32 scale not representable in fp16: codes identical, scale rounded once", () => {
    const q = randomCodes(512, 9);
    const s = 0.0375; // not an fp16 value
    const tq = transcodeTernary(GgmlType.I2_S, packTernary(GgmlType.I2_S, q, s), GgmlType.TQ2_0, q.length);
    const back = unpackTernary(GgmlType.I2_S, transcodeTernary(GgmlType.TQ2_0, tq, GgmlType.I2_S, q.length), q.length);
    expect(back.q).toEqual(q);
    expect(back.scale).toBe(roundToF16(s));
    expect(Math.abs(back.scale - s) / s).toBeLessThanOrEqual(2 ** -11);
  });

  test("ggml's per-block-absmax TQ quantiser output unpacks when the input was ternary", () => {
    const s = Math.fround(0.0375);
    const x = goldenInput(1);
    const { q, scale } = unpackTernary(GgmlType.TQ1_0, quantize(GgmlType.TQ1_0, x), x.length);
    expect(scale).toBe(roundToF16(s));
    expect(x).toEqual(Float32Array.from(q, (v) => v * s));
  });

  test("per-block scales that differ are refused, not silently merged", () => {
    const x = goldenInput(0, 512); // continuous: each block gets its own absmax
    expect(() => unpackTernary(GgmlType.TQ2_0, quantize(GgmlType.TQ2_0, x), 512)).toThrow(/different scales/);
  });

  test("invalid codes and sizes are GgufErrors", () => {
    expect(() => packTernary(GgmlType.TQ2_0, new Int8Array(256).fill(2), 1)).toThrow(GgufError);
    expect(() => packTernary(GgmlType.TQ1_0, new Int8Array(100), 1)).toThrow(/multiple of 256/);
    expect(() => packTernary(GgmlType.I2_S, new Int8Array(64), 1)).toThrow(/multiple of 128/);
    const bad = packTernary(GgmlType.I2_S, new Int8Array(128), 1);
    bad[0] = 0xff; // code 3
    expect(() => unpackTernary(GgmlType.I2_S, bad, 128)).toThrow(/not a ternary value/);
    expect(() => unpackTernary(GgmlType.TQ2_0, new Uint8Array(10), 256)).toThrow(GgufError);
    expect(() => quantize(GgmlType.Q4_K, new Float32Array(256))).toThrow(/no reference/);
  });

  test("ternaryFromFloats reads codes back from F32/F16 weights", () => {
    const q = randomCodes(256, 4);
    const s = roundToF16(0.03);
    const w = dequantize(GgmlType.F16, quantize(GgmlType.F16, Float32Array.from(q, (v) => v * s)), 256);
    expect(ternaryFromFloats(w)).toEqual({ q, scale: s });
    expect(() => ternaryFromFloats(new Float32Array([1, 0.5]))).toThrow(/not a ternary tensor/);
    expect(ternaryFromFloats(new Float32Array(4)).q).toEqual(new Int8Array(4));
  });
});
