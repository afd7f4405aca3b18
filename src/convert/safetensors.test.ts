// The safetensors reader and writer: round trips, sliced views, and headers that lie (lengths,
// offsets, overlaps, dtypes, shapes), each refused with a message naming the file and tensor.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConvertError } from "./errors.ts";
import { openSafetensors, SafetensorsWriter, writeSafetensors } from "./safetensors.ts";

const dir = mkdtempSync(join(tmpdir(), "st-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file with this header object (and `dataBytes` of data after it). */
function rawFile(name: string, header: unknown, dataBytes: number, headerLen?: number): string {
  const text = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(headerLen ?? text.length), true);
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, text, new Uint8Array(dataBytes)]));
  return path;
}

describe("safetensors", () => {
  test("writes and reads back tensors of several dtypes, with metadata, zero-copy and in slices", () => {
    const path = join(dir, "ok.safetensors");
    const f32 = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
    const u8 = Uint8Array.from({ length: 6 }, (_, i) => i * 40);
    writeSafetensors(path, [
      { name: "a.weight", dtype: "F32", shape: [3, 4], data: new Uint8Array(f32.buffer) },
      { name: "empty", dtype: "BF16", shape: [0, 5], data: new Uint8Array(0) },
      { name: "b", dtype: "U8", shape: [2, 3], data: u8 },
    ], { format: "pt" });
    const f = openSafetensors(path);
    expect(f.metadata).toEqual({ format: "pt" });
    expect(f.tensors.map((t) => t.name)).toEqual(["a.weight", "empty", "b"]);
    const a = f.tensor("a.weight")!;
    expect(a.shape).toEqual([3, 4]);
    expect(a.nElements).toBe(12);
    expect(new Float32Array(a.data().slice().buffer)).toEqual(f32);
    expect([...a.range(16, 24)]).toEqual([...new Uint8Array(f32.buffer, 16, 8)]);
    expect(f.tensor("empty")!.data().length).toBe(0);
    expect([...f.tensor("b")!.data()]).toEqual([...u8]);
    // The header is padded to a multiple of 8, so data offsets stay aligned.
    expect((a.offset - 8) % 8).toBe(0);
  });

  test("the streaming writer takes a tensor in pieces and refuses too many bytes or an early close", () => {
    const path = join(dir, "stream.safetensors");
    const w = new SafetensorsWriter(path, [{ name: "x", dtype: "F16", shape: [4] }, { name: "y", dtype: "U8", shape: [2] }]);
    w.write(new Uint8Array(3));
    w.write(new Uint8Array(5));
    expect(() => w.write(new Uint8Array(3))).toThrow(/takes 2 bytes/);
    w.abort();
    const w2 = new SafetensorsWriter(path, [{ name: "x", dtype: "F16", shape: [4] }]);
    expect(() => w2.close()).toThrow(/closed before tensor "x"/);
    expect(() => openSafetensors(path)).toThrow(/cannot open/);
  });

  const lies: [string, unknown, number, RegExp, number?][] = [
    ["header length past the end", { a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 4, /header length \d+ runs past the end/, 1 << 20],
    ["offsets past the end", { w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, 8, /tensor "w": data \[0, 16\) runs past the end of the data \(8 bytes\)/],
    ["overlapping tensors", { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, 12, /tensor "b" data overlaps tensor "a"/],
    ["an unknown dtype", { w: { dtype: "Q7", shape: [2], data_offsets: [0, 2] } }, 2, /tensor "w": unknown dtype "Q7"/],
    ["size and shape disagree", { w: { dtype: "BF16", shape: [3, 3], data_offsets: [0, 16] } }, 16, /tensor "w": BF16 \[3, 3\] needs 18 bytes, data_offsets give 16/],
    ["a negative dimension", { w: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }, 0, /tensor "w": shape \[-1\] is not a list of non-negative integers/],
    ["reversed offsets", { w: { dtype: "U8", shape: [0], data_offsets: [4, 2] } }, 4, /end before they begin/],
    ["missing offsets", { w: { dtype: "U8", shape: [1] } }, 1, /data_offsets undefined is not \[begin, end\]/],
    ["not JSON", "{nope", 0, /header is not valid JSON/],
    ["a JSON array", "[1,2]", 0, /header is not a JSON object/],
    ["bad metadata", { __metadata__: { a: 1 } }, 0, /__metadata__\.a is not a string/],
  ];
  for (const [what, header, data, re, len] of lies) {
    test(`refuses ${what}, naming the file`, () => {
      const path = rawFile(`${what.replaceAll(" ", "-")}.safetensors`, header, data, len);
      let err: unknown;
      try {
        openSafetensors(path);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConvertError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain(`${what.replaceAll(" ", "-")}.safetensors`);
    });
  }

  test("refuses a file shorter than its length prefix, and one that is not UTF-8", () => {
    const short = join(dir, "short.safetensors");
    writeFileSync(short, new Uint8Array(5));
    expect(() => openSafetensors(short)).toThrow(/too small/);
    const len = new Uint8Array(8);
    len[0] = 2;
    const bin = join(dir, "bin.safetensors");
    writeFileSync(bin, Buffer.concat([len, Uint8Array.of(0xff, 0xfe)]));
    expect(() => openSafetensors(bin)).toThrow(/not valid UTF-8/);
  });
});
