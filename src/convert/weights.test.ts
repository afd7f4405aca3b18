// Linear weights → ternary codes: Microsoft's packed uint8 layout (checked against transformers'
// documented example), already-ternary detection, BitNet absmean for latent weights, weight_scale.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { f32ArrayToBf16, roundToF16, ternarize } from "../gguf/quants.ts";
import { openSafetensors, writeSafetensors, type StDtype, type StTensor } from "./safetensors.ts";
import { exactTernary, floatsOf, packUint8, ternaryOf, unpackUint8 } from "./weights.ts";

const dir = mkdtempSync(join(tmpdir(), "weights-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** One-tensor safetensors files, opened back (the converter only sees StTensors). */
function tensors(list: { name: string; dtype: StDtype; shape: number[]; data: Uint8Array }[]): Map<string, StTensor> {
  const path = join(dir, `t${n++}.safetensors`);
  writeSafetensors(path, list);
  return new Map(openSafetensors(path).tensors.map((t) => [t.name, t]));
}
const f32 = (a: number[]) => new Uint8Array(Float32Array.from(a).buffer);
const bf16 = (a: number[]) => new Uint8Array(f32ArrayToBf16(Float32Array.from(a)).buffer);

describe("packed uint8 (transformers BitLinear)", () => {
  test("unpacks transformers' documented example: bit pair i of packed row p is output row i·(out/4) + p", () => {
    // From transformers' integrations/bitnet.py `unpack_weights` docstring: packed [2, 2] → [8, 2].
    const t = tensors([{ name: "w", dtype: "U8", shape: [2, 2], data: Uint8Array.of(0b10100001, 0b00011000, 0b10010000, 0b00001010) }]).get("w")!;
    const q = unpackUint8(t, 8, 2);
    expect([...q]).toEqual([0, -1, -1, 1, -1, 1, -1, 1, 1, 0, 0, -1, 1, -1, 1, -1]);
    expect([...packUint8(q, 8, 2)]).toEqual([0b10100001, 0b00011000, 0b10010000, 0b00001010]);
  });

  test("pack/unpack round-trips random codes, and code 3 is refused with its position", () => {
    const q = Int8Array.from({ length: 16 * 8 }, (_, i) => ((i * 7919) % 3) - 1);
    const m = tensors([{ name: "w", dtype: "U8", shape: [4, 8], data: packUint8(q, 16, 8) }, { name: "bad", dtype: "U8", shape: [1, 2], data: Uint8Array.of(0, 0b1100) }]);
    expect([...unpackUint8(m.get("w")!, 16, 8)]).toEqual([...q]);
    expect(() => unpackUint8(m.get("bad")!, 4, 2)).toThrow(/invalid code 3 at byte \[0, 1\], bits 2\.\.3/);
    expect(() => unpackUint8(m.get("w")!, 12, 8)).toThrow(/expected \[3, 8\]/);
  });

  test("weight_scale divides under BitLinear (default) and multiplies under AutoBitLinear", () => {
    const q = Int8Array.from({ length: 8 * 4 }, (_, i) => (i % 3) - 1);
    const m = tensors([{ name: "w", dtype: "U8", shape: [2, 4], data: packUint8(q, 8, 4) }, { name: "w_scale", dtype: "BF16", shape: [1], data: bf16([32]) }]);
    const div = ternaryOf(m.get("w")!, m.get("w_scale"), 8, 4, undefined);
    expect(div.form).toBe("packed");
    expect([...div.q]).toEqual([...q]);
    expect(div.scale).toBe(1 / 32);
    expect(ternaryOf(m.get("w")!, m.get("w_scale"), 8, 4, "autobitlinear").scale).toBe(32);
    expect(() => ternaryOf(m.get("w")!, undefined, 8, 4, undefined)).toThrow(/packed uint8 but has no "w_scale"/);
  });
});

describe("float weights", () => {
  test("already-ternary values {−s, 0, s} are read back exactly, with s itself as the scale", () => {
    const s = 0.0400390625;
    const vals = [s, 0, -s, -s, s, 0, 0, s];
    expect(exactTernary(Float32Array.from(vals))).toEqual({ q: Int8Array.of(1, 0, -1, -1, 1, 0, 0, 1), scale: s });
    expect(exactTernary(Float32Array.from([s, 0, -s, s * 0.5]))).toBeUndefined();
    expect(exactTernary(new Float32Array(4))).toEqual({ q: new Int8Array(4), scale: 0 });
    const t = tensors([{ name: "w", dtype: "BF16", shape: [2, 4], data: bf16(vals) }]).get("w")!;
    const tw = ternaryOf(t, undefined, 2, 4, undefined);
    expect(tw.form).toBe("ternary");
    expect(tw.scale).toBe(s);
    // absmean would have given s · 5/8 here: detection is what keeps the scale exact.
    expect(ternarize(Float32Array.from(vals)).scale).toBeCloseTo(s * 0.625, 6);
  });

  test("latent weights get BitNet's per-tensor absmean ternarisation; outputs store fp16(s)", () => {
    const vals = Array.from({ length: 256 }, (_, i) => Math.sin(i * 1.7) * 0.05);
    const t = tensors([{ name: "w", dtype: "F32", shape: [2, 128], data: f32(vals) }]).get("w")!;
    const tw = ternaryOf(t, undefined, 2, 128, undefined);
    const ref = ternarize(Float32Array.from(vals));
    expect(tw.form).toBe("latent");
    expect([...tw.q]).toEqual([...ref.q]);
    expect(tw.scale).toBe(ref.scale);
    expect(tw.scale16).toBe(roundToF16(ref.scale));
  });

  test("float weights with a weight_scale are scaled first (AutoBitLinear), then read as ternary", () => {
    const m = tensors([{ name: "w", dtype: "F16", shape: [4], data: new Uint8Array(Uint16Array.of(0x3c00, 0, 0xbc00, 0x3c00).buffer) }, { name: "w_scale", dtype: "F32", shape: [1], data: f32([0.125]) }]);
    const tw = ternaryOf(m.get("w")!, m.get("w_scale"), 1, 4, undefined);
    expect(tw).toMatchObject({ form: "ternary", scale: 0.125 });
    expect([...tw.q]).toEqual([1, 0, -1, 1]);
  });

  test("floatsOf reads F32, F16 and BF16 (whole or a slice) and refuses other dtypes", () => {
    const m = tensors([
      { name: "a", dtype: "F32", shape: [3], data: f32([1.5, -2, 3]) },
      { name: "b", dtype: "BF16", shape: [3], data: bf16([1.5, -2, 3]) },
      { name: "c", dtype: "I32", shape: [1], data: new Uint8Array(4) },
    ]);
    expect([...floatsOf(m.get("a")!)]).toEqual([1.5, -2, 3]);
    expect([...floatsOf(m.get("b")!, 1, 3)]).toEqual([-2, 3]);
    expect(() => floatsOf(m.get("c")!)).toThrow(/tensor "c" has dtype I32; expected F32, F16 or BF16/);
  });

  test("a non-finite latent weight is refused, naming the tensor", () => {
    const t = tensors([{ name: "w", dtype: "F32", shape: [3], data: f32([0.1, Number.NaN, 0.2]) }]).get("w")!;
    expect(() => ternaryOf(t, undefined, 1, 3, undefined)).toThrow(/tensor "w" has a non-finite value at index 1/);
  });
});
