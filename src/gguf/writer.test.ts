// Writer → reader round trips (every value type, nested arrays, tensors, alignment, streaming)
// and the writer's refusals of values and tensors that would make an invalid file.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgufError } from "./errors.ts";
import { openGguf, parseGguf } from "./reader.ts";
import { GgmlType, GgufType, gv, tensorByteSize, type GgufValue } from "./types.ts";
import { GgufWriter } from "./writer.ts";

const dir = mkdtempSync(join(tmpdir(), "gguf-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One entry of every value type, arrays of every item type, and nested arrays three deep. */
function everyValue(): [string, GgufValue][] {
  return [
    ["u8", gv.u8(200)], ["i8", gv.i8(-100)], ["u16", gv.u16(60000)], ["i16", gv.i16(-30000)],
    ["u32", gv.u32(4000000000)], ["i32", gv.i32(-2000000000)], ["f32", gv.f32(Math.fround(1.5e-7))],
    ["f64", gv.f64(1 / 3)], ["u64", gv.u64(2n ** 64n - 2n)], ["i64", gv.i64(-(2n ** 62n))],
    ["bool.t", gv.bool(true)], ["bool.f", gv.bool(false)], ["str", gv.str("Ġ→ 日本 🙂")], ["str.empty", gv.str("")],
    ["a.u8", gv.array(GgufType.UINT8, new Uint8Array([1, 2, 3]))],
    ["a.i8", gv.array(GgufType.INT8, new Int8Array([-1, 127]))],
    ["a.u16", gv.array(GgufType.UINT16, new Uint16Array([65535]))],
    ["a.i16", gv.array(GgufType.INT16, new Int16Array([-32768, 7]))],
    ["a.u32", gv.u32s([0, 4294967295])],
    ["a.i32", gv.i32s([-5, 6, 7])],
    ["a.f32", gv.f32s([0.5, -0, Infinity])],
    ["a.f64", gv.array(GgufType.FLOAT64, new Float64Array([Math.E, -1e-300]))],
    ["a.u64", gv.array(GgufType.UINT64, new BigUint64Array([1n, 2n ** 64n - 1n]))],
    ["a.i64", gv.array(GgufType.INT64, new BigInt64Array([-1n, 2n ** 63n - 1n]))],
    ["a.bool", gv.array(GgufType.BOOL, [false, true])],
    ["a.str", gv.strings(["x", "", "ÿ"])],
    ["a.empty", gv.strings([])],
    ["a.nested", gv.array(GgufType.ARRAY, [
      { itemType: GgufType.ARRAY, items: [{ itemType: GgufType.STRING, items: ["deep"] }, { itemType: GgufType.STRING, items: [] }] },
      { itemType: GgufType.ARRAY, items: [] },
    ])],
    ["a.mixed", gv.array(GgufType.ARRAY, [
      { itemType: GgufType.FLOAT32, items: new Float32Array([1, 2]) },
      { itemType: GgufType.BOOL, items: [true] },
      { itemType: GgufType.UINT64, items: new BigUint64Array([9n]) },
    ])],
  ];
}

describe("writer → reader", () => {
  test("every value type keeps its type tag, value and order", () => {
    const w = new GgufWriter();
    for (const [k, v] of everyValue()) w.set(k, v);
    const g = parseGguf(w.toBytes());
    expect(g.version).toBe(3);
    expect([...g.metadata.entries()]).toEqual(everyValue());
    expect(g.tensors).toEqual([]);
  });

  test("typed getters accept the right types and name the wrong ones", () => {
    const w = new GgufWriter().setAll(everyValue()).set("big", gv.u64(2n ** 60n)).set("neg", gv.i8(-1)).set("i64.small", gv.i64(-5));
    const g = parseGguf(w.toBytes(), "test.gguf");
    expect(g.getInt("u8")).toBe(200);
    expect(g.getInt("i64.small")).toBe(-5);
    expect(() => g.getInt("i64")).toThrow(/-4611686018427387904 does not fit a safe integer/);
    expect(g.getU32("u32")).toBe(4000000000);
    expect(g.getFloat("f64")).toBe(1 / 3);
    expect(g.getFloat("i16")).toBe(-30000);
    expect(g.getBool("bool.t")).toBe(true);
    expect(g.getString("str")).toBe("Ġ→ 日本 🙂");
    expect(g.getStringArray("a.str")).toEqual(["x", "", "ÿ"]);
    expect(g.getArray("a.f32")!.items).toBeInstanceOf(Float32Array);
    expect(g.getString("missing")).toBeUndefined();
    expect(g.getInt("missing")).toBeUndefined();
    expect(() => g.getString("u8")).toThrow(/key "u8" is u8, expected string/);
    expect(() => g.getInt("str")).toThrow(GgufError);
    expect(() => g.getInt("big")).toThrow(/safe integer/);
    expect(() => g.getU32("neg")).toThrow(/out of range for u32/);
    expect(() => g.getBool("u8")).toThrow(GgufError);
    expect(() => g.getArray("str")).toThrow(GgufError);
    expect(() => g.getStringArray("a.u8")).toThrow(/array of u8, expected array of string/);
    expect(() => g.getFloat("a.f32")).toThrow(/in "test.gguf" at byte \d+/);
  });

  test("tensors: aligned offsets, zero padding, exact bytes (in memory and streamed alike)", () => {
    const make = (data: boolean) => {
      const w = new GgufWriter({ alignment: 64 });
      w.set("general.architecture", gv.str("t"));
      w.addTensor("a", GgmlType.F32, [3], data ? new Uint8Array(12).fill(1) : undefined);
      w.addTensor("b", GgmlType.TQ2_0, [256, 2], data ? new Uint8Array(132).fill(2) : undefined);
      w.addTensor("c", GgmlType.I2_S, [128, 3], data ? new Uint8Array(tensorByteSize(GgmlType.I2_S, [128, 3])).fill(3) : undefined);
      return w;
    };
    const bytes = make(true).toBytes();
    const g = parseGguf(bytes);
    expect(g.alignment).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
    expect(g.tensors.map((t) => [t.name, t.typeName, t.shape, t.byteSize])).toEqual([
      ["a", "f32", [3], 12], ["b", "tq2_0", [256, 2], 132], ["c", "i2_s", [128, 3], 128 * 3 / 4 + 32],
    ]);
    for (const t of g.tensors) {
      expect(t.offset % 64).toBe(0);
      expect(t.data().every((v) => v === t.data()[0])).toBe(true);
    }
    expect(bytes.subarray(g.tensors[0].offset + 12, g.tensors[1].offset).every((v) => v === 0)).toBe(true);
    expect(bytes.length % 64).toBe(0);

    // Streamed in odd-sized chunks, the file is byte-identical.
    const path = join(dir, "stream.gguf");
    const s = make(false).openStream(path);
    expect(s.next).toBe("a");
    s.write(new Uint8Array(5).fill(1));
    s.write(new Uint8Array(7).fill(1));
    expect(s.next).toBe("b");
    s.writeTensor("b", new Uint8Array(132).fill(2));
    for (let i = 0; i < 4; i++) s.write(new Uint8Array(tensorByteSize(GgmlType.I2_S, [128, 3]) / 4).fill(3));
    expect(s.next).toBeUndefined();
    s.close();
    expect(bytes).toEqual(new Uint8Array(readFileSync(path)));
    expect(openGguf(path).tensor("c")!.data()[0]).toBe(3);

    const path2 = join(dir, "whole.gguf");
    make(true).writeFile(path2);
    expect(bytes).toEqual(new Uint8Array(readFileSync(path2)));
  });

  test("a stream closed early leaves no file behind", () => {
    const path = join(dir, "partial.gguf");
    const s = new GgufWriter().addTensor("a", GgmlType.F32, [4]).openStream(path);
    s.write(new Uint8Array(8));
    expect(() => s.close()).toThrow(/closed before tensor "a" was complete \(8\/16 bytes\)/);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.partial-${process.pid}`)).toBe(false);
  });

  test("stream misuse is refused", () => {
    const s = new GgufWriter().addTensor("a", GgmlType.F32, [4]).addTensor("b", GgmlType.F32, [1]).openStream(join(dir, "x.gguf"));
    expect(() => s.writeTensor("b", new Uint8Array(4))).toThrow(/expected data for tensor "a", got "b"/);
    expect(() => s.write(new Uint8Array(17))).toThrow(/takes 16 bytes/);
    s.abort();
  });
});

describe("writer refusals", () => {
  const bad: [string, () => unknown, RegExp][] = [
    ["duplicate key", () => new GgufWriter().set("k", gv.u8(1)).set("k", gv.u8(2)), /duplicate metadata key "k"/],
    ["empty key", () => new GgufWriter().set("", gv.u8(1)), /empty/],
    ["u8 out of range", () => new GgufWriter().set("k", gv.u8(256)), /256 is not a valid u8/],
    ["i32 not an integer", () => new GgufWriter().set("k", gv.i32(1.5)), /not a valid i32/],
    ["u64 negative", () => new GgufWriter().set("k", gv.u64(-1n)), /not a valid u64/],
    ["i64 too large", () => new GgufWriter().set("k", gv.i64(2n ** 63n)), /not a valid i64/],
    ["lone surrogate", () => new GgufWriter().set("k", gv.str("\ud800")), /well-formed/],
    ["wrong typed array", () => new GgufWriter().set("k", gv.array(GgufType.UINT32, new Int32Array(1))), /must be a Uint32Array/],
    ["string array with a number", () => new GgufWriter().set("k", gv.array(GgufType.STRING, [1] as never)), /not a well-formed string/],
    ["unknown item type", () => new GgufWriter().set("k", gv.array(13 as GgufType, [])), /unknown array item type 13/],
    ["too deep", () => {
      let a: GgufValue = gv.strings(["x"]);
      for (let i = 0; i < 9; i++) a = gv.array(GgufType.ARRAY, [a.value as never]);
      return new GgufWriter().set("k", a);
    }, /nested deeper/],
    ["alignment not a power of two", () => new GgufWriter({ alignment: 48 }), /power of two/],
    ["alignment not u32", () => new GgufWriter().set("general.alignment", gv.u64(32)), /u32 power of two/],
    ["duplicate tensor", () => new GgufWriter().addTensor("t", GgmlType.F32, [1]).addTensor("t", GgmlType.F32, [1]), /duplicate tensor name "t"/],
    ["name too long", () => new GgufWriter().addTensor("x".repeat(64), GgmlType.F32, [1]), /longer than 63 bytes/],
    ["row not a multiple of the block", () => new GgufWriter().addTensor("t", GgmlType.TQ1_0, [128]), /tensor "t" of type tq1_0 has 128 elements per row/],
    ["zero dimension", () => new GgufWriter().addTensor("t", GgmlType.F32, [4, 0]), /tensor "t" dimension 1 is 0/],
    ["five dimensions", () => new GgufWriter().addTensor("t", GgmlType.F32, [1, 1, 1, 1, 1]), /5 dimensions/],
    ["unknown type", () => new GgufWriter().addTensor("t", 31 as GgmlType, [1]), /unknown ggml type 31/],
    ["wrong data size", () => new GgufWriter().addTensor("t", GgmlType.F16, [4], new Uint8Array(4)), /needs 8 bytes, got 4/],
    ["data missing", () => new GgufWriter().addTensor("t", GgmlType.F16, [4]).toBytes(), /declared without data/],
  ];
  for (const [name, fn, re] of bad) {
    test(name, () => {
      expect(fn).toThrow(GgufError);
      expect(fn).toThrow(re);
    });
  }
});
