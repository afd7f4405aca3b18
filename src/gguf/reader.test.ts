// Reader tests on hand-built files: each kind of malformation is rejected with a GgufError that
// says what is wrong and where; the valid corner cases (v2, no tensors, 0-d tensors) are accepted.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgufError } from "./errors.ts";
import { openGguf, parseGguf } from "./reader.ts";
import { GgmlType, GgufType } from "./types.ts";

/** Emits raw GGUF fields, with no checks: the point is to build files the writer would refuse. */
class Raw {
  private bytes: number[] = [];

  get length(): number {
    return this.bytes.length;
  }
  u8(...v: number[]): this {
    this.bytes.push(...v);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.bytes.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: bigint | number): this {
    const b = BigInt.asUintN(64, BigInt(v));
    for (let i = 0n; i < 8n; i++) this.bytes.push(Number((b >> (8n * i)) & 0xffn));
    return this;
  }
  str(s: string | number[]): this {
    const b = typeof s === "string" ? [...new TextEncoder().encode(s)] : s;
    return this.u64(b.length).u8(...b);
  }
  header(nTensors: bigint | number, nKv: bigint | number, version = 3): this {
    return this.u8(0x47, 0x47, 0x55, 0x46).u32(version).u64(nTensors).u64(nKv);
  }
  kvU32(key: string, v: number): this {
    return this.str(key).u32(GgufType.UINT32).u32(v);
  }
  tensor(name: string, shape: (number | bigint)[], type: number, offset: bigint | number): this {
    this.str(name).u32(shape.length);
    for (const d of shape) this.u64(d);
    return this.u32(type).u64(offset);
  }
  /** Pads to the alignment, then appends `n` data bytes. */
  data(n: number, alignment = 32): this {
    while (this.bytes.length % alignment !== 0) this.bytes.push(0);
    for (let i = 0; i < n; i++) this.bytes.push(i & 0xff);
    return this;
  }
  build(): Uint8Array {
    return new Uint8Array(this.bytes);
  }
}

function rejects(bytes: Uint8Array, message: RegExp, offset?: number): GgufError {
  let err: unknown;
  try {
    parseGguf(bytes);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(GgufError);
  const g = err as GgufError;
  expect(g.message).toMatch(message);
  if (offset !== undefined) expect(g.offset).toBe(offset);
  return g;
}

describe("header", () => {
  test("too small, bad magic, versions", () => {
    rejects(new Uint8Array(0), /file is 0 bytes, too small/);
    rejects(new Uint8Array([0x47, 0x47, 0x55, 0x58, 3, 0, 0, 0]), /bad magic "GGUX" \(expected "GGUF"\)/, 0);
    rejects(new Raw().header(0, 0, 1).build(), /unsupported GGUF version 1 \(GGUF v1 is obsolete\)/, 4);
    rejects(new Raw().header(0, 0, 0x03000000).build(), /version 50331648 \(a big-endian file\?\)/);
    rejects(new Raw().header(0, 0, 4).build(), /unsupported GGUF version 4/);
    rejects(new Raw().u8(0x47, 0x47, 0x55, 0x46).u32(3).u64(0).build(), /metadata count needs 8 bytes but only 0 remain/, 16);
  });

  test("counts larger than the file can hold are rejected before any allocation", () => {
    rejects(new Raw().header(2n ** 60n, 0).build(), /at byte 8: tensor count is 1152921504606846976, but/);
    rejects(new Raw().header(0, 2n ** 64n - 1n).build(), /metadata count is 18446744073709551615/);
  });

  test("v2 and empty files are valid", () => {
    const g = parseGguf(new Raw().header(0, 0, 2).build());
    expect(g.version).toBe(2);
    expect(g.metadata.size).toBe(0);
    expect(g.tensors).toEqual([]);
    expect(g.alignment).toBe(32);
  });
});

describe("metadata", () => {
  test("string lengths past the end", () => {
    rejects(new Raw().header(0, 1).u64(1000).u8(65).u64(0).u64(0).build(), /key of metadata entry 0 has length 1000, past the end of the file \(17 bytes left\)/, 24);
    rejects(new Raw().header(0, 1).str("k").u32(GgufType.STRING).u64(2n ** 63n).build(), /value of "k" has length 9223372036854775808/);
  });

  test("empty and duplicate keys", () => {
    rejects(new Raw().header(0, 1).str("").u32(GgufType.UINT8).u8(0, 0).build(), /metadata entry 0 has an empty key/);
    const dup = new Raw().header(0, 2).kvU32("a", 1);
    const at = dup.length;
    rejects(dup.kvU32("a", 2).build(), /duplicate metadata key "a"/, at);
  });

  test("unknown value and item types", () => {
    rejects(new Raw().header(0, 1).str("k").u32(13).u8(0).build(), /key "k" has unknown value type 13/, 33);
    rejects(new Raw().header(0, 1).str("k").u32(GgufType.ARRAY).u32(99).u64(0).build(), /array "k" has unknown item type 99/);
  });

  test("a forged 2^60-string array is refused at once", () => {
    const t0 = performance.now();
    rejects(new Raw().header(0, 1).str("k").u32(GgufType.ARRAY).u32(GgufType.STRING).u64(2n ** 60n).u64(0).build(),
      /length of array "k" is 1152921504606846976, but the 8 bytes left can hold at most 1/);
    rejects(new Raw().header(0, 1).str("k").u32(GgufType.ARRAY).u32(GgufType.FLOAT64).u64(3).u64(0).build(), /can hold at most 1/);
    expect(performance.now() - t0).toBeLessThan(100);
  });

  test("invalid UTF-8 anywhere is refused", () => {
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]]) {
      rejects(new Raw().header(0, 1).str("k").u32(GgufType.STRING).str(bad).build(), /value of "k" is not valid UTF-8/, 45);
      rejects(new Raw().header(0, 1).str(bad).u32(GgufType.UINT8).u8(0).build(), /key of metadata entry 0 is not valid UTF-8/);
    }
  });

  test("bool bytes other than 0 and 1", () => {
    rejects(new Raw().header(0, 1).str("k").u32(GgufType.BOOL).u8(2).build(), /key "k" has bool byte 2/);
    rejects(new Raw().header(0, 1).str("k").u32(GgufType.ARRAY).u32(GgufType.BOOL).u64(2).u8(1, 7).build(), /bool byte 7/);
  });

  test("arrays nested too deep", () => {
    const r = new Raw().header(0, 1).str("k").u32(GgufType.ARRAY);
    for (let i = 0; i < 9; i++) r.u32(GgufType.ARRAY).u64(1);
    rejects(r.u32(GgufType.UINT8).u64(0).build(), /nests arrays deeper than 8/);
  });

  test("general.alignment must be a u32 power of two", () => {
    rejects(new Raw().header(0, 1).str("general.alignment").u32(GgufType.UINT64).u64(32).build(), /general.alignment is u64, must be u32/);
    rejects(new Raw().header(0, 1).kvU32("general.alignment", 48).build(), /alignment 48 is not a power of two/);
    rejects(new Raw().header(0, 1).kvU32("general.alignment", 0).build(), /alignment 0 is not a power of two/);
  });
});

describe("tensor infos", () => {
  const one = (name: string, shape: (number | bigint)[], type: number, offset: bigint | number, dataBytes: number) =>
    new Raw().header(1, 0).tensor(name, shape, type, offset).data(dataBytes).build();

  test("dimensions", () => {
    rejects(one("t", [1, 1, 1, 1, 1], GgmlType.F32, 0, 4), /tensor "t" has 5 dimensions \(at most 4\)/, 33);
    rejects(one("t", [4, 0], GgmlType.F32, 0, 16), /tensor "t" dimension 1 is 0/);
    rejects(one("t", [2n ** 64n - 3n], GgmlType.F32, 0, 16), /tensor "t" dimension 0 is -3/);
    rejects(one("t", [2n ** 32n, 2n ** 32n], GgmlType.F32, 0, 16), /tensor "t" has more than 2\^53 elements/);
  });

  test("types and block sizes", () => {
    rejects(one("t", [32], 31, 0, 64), /tensor "t" has unknown ggml type 31/);
    rejects(one("t", [32], 1000, 0, 64), /unknown ggml type 1000/);
    rejects(one("t", [128], GgmlType.TQ2_0, 0, 66), /tensor "t" of type tq2_0 has rows of 128 elements, not a multiple of its block size 256/);
    rejects(one("t", [64], GgmlType.I2_S, 0, 64), /i2_s has rows of 64 elements/);
  });

  test("offsets: misaligned, past the end, data section past the end", () => {
    rejects(one("t", [4], GgmlType.F32, 4, 64), /tensor "t" data offset 4 is not a multiple of the alignment 32/, 24);
    const e = rejects(one("blk.0.attn_q.weight", [4, 4], GgmlType.F32, 0, 63), /tensor "blk.0.attn_q.weight" data \[96, 160\) runs past end of file \(size 159\)/);
    expect(e.message).toMatch(/^GGUF error at byte 24: /);
    rejects(one("t", [4], GgmlType.F32, 2n ** 64n - 32n, 64), /runs past end of file/);
    rejects(new Raw().header(1, 0).tensor("t", [1], GgmlType.I8, 0).build(), /data section would start at byte 64, past the end of the file \(size 57\)/);
  });

  test("names: duplicate, empty, too long", () => {
    rejects(new Raw().header(2, 0).tensor("t", [4], GgmlType.F32, 0).tensor("t", [4], GgmlType.F32, 32).data(64).build(), /duplicate tensor name "t"/, 57);
    rejects(one("", [4], GgmlType.F32, 0, 16), /tensor 0 has an empty name/);
    rejects(one("x".repeat(64), [4], GgmlType.F32, 0, 16), /longer than 63 bytes/);
    expect(parseGguf(one("x".repeat(63), [4], GgmlType.F32, 0, 16)).tensors[0].name.length).toBe(63);
  });

  test("overlapping tensors", () => {
    const bytes = new Raw().header(2, 0).tensor("a", [16], GgmlType.F32, 0).tensor("b", [4], GgmlType.F32, 32).data(64).build();
    rejects(bytes, /at byte 57: tensor "b" data \[128, 144\) overlaps tensor "a" \[96, 160\)/);
  });

  test("valid: 0-d tensor, I2_S size, zero-copy data", () => {
    const bytes = new Raw().header(2, 0).tensor("s", [], GgmlType.F32, 0).tensor("w", [128, 2], GgmlType.I2_S, 32).data(32 + 96).build();
    const g = parseGguf(bytes);
    expect(g.tensors.map((t) => [t.name, t.shape, t.nElements, t.byteSize, t.offset])).toEqual([
      ["s", [], 1, 4, 96], ["w", [128, 2], 256, 96, 128],
    ]);
    const w = g.tensor("w")!;
    expect(w.data().buffer).toBe(bytes.buffer);
    expect(w.data()[0]).toBe(32);
    expect(g.tensor("nope")).toBeUndefined();
  });
});

describe("openGguf", () => {
  const dir = mkdtempSync(join(tmpdir(), "gguf-reader-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("missing and empty files are GgufErrors naming the path", () => {
    expect(() => openGguf(join(dir, "missing.gguf"))).toThrow(/GGUF error in ".*missing.gguf": cannot open/);
    writeFileSync(join(dir, "empty.gguf"), "");
    expect(() => openGguf(join(dir, "empty.gguf"))).toThrow(/empty.gguf" at byte 0: file is 0 bytes/);
  });

  test("maps a file and views its tensors without copying", () => {
    const path = join(dir, "ok.gguf");
    writeFileSync(path, new Raw().header(1, 1).kvU32("n", 7).tensor("t", [8], GgmlType.I8, 0).data(8).build());
    const g = openGguf(path);
    expect(g.getU32("n")).toBe(7);
    expect([...g.tensor("t")!.data()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(g.file).toBe(path);
  });
});
