// Cross-checks against llama.cpp's own gguf-py reader: llama.cpp's vocab GGUFs read identically
// here and there, and a file from our writer (every value type, several tensor types) reads back
// in gguf-py with the same keys, types, values, shapes, offsets and data.

import { beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { llamaCppDir, llamaVocabPath, REPO_ROOT } from "../../test/support/llama-cpp.ts";
import { dequantize, packTernary, quantize } from "./quants.ts";
import { openGguf } from "./reader.ts";
import { GgmlType, GgufType, gv, type GgufArray, type GgufValue } from "./types.ts";
import { GgufWriter } from "./writer.ts";

interface PyDump {
  version: number;
  alignment: number;
  data_offset: number;
  kv: { key: string; types: number[]; value: unknown }[];
  tensors: { name: string; type: number; shape: number[]; n_elements: number; n_bytes: number; offset: number; sha256: string }[];
}

const SCRIPT = join(REPO_ROOT, "scripts", "gguf-py-dump.py");
const CACHE = join(REPO_ROOT, "test", "fixtures", "generated", "gguf-py");

/**
 * Runs the gguf-py dump, cached by file content and script content: gguf-py needs seconds for a
 * 128k-token vocabulary, and the answer only changes when the file or the script does.
 */
async function gguPyDump(path: string): Promise<PyDump> {
  const key = createHash("sha256").update(readFileSync(SCRIPT)).update(readFileSync(path)).digest("hex").slice(0, 16);
  const cached = join(CACHE, `${basename(path)}.${key}.json`);
  try {
    return JSON.parse(readFileSync(cached, "utf8")) as PyDump;
  } catch {
    // not cached yet
  }
  const proc = Bun.spawn(["python3", SCRIPT, llamaCppDir(), path], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`gguf-py dump of ${path} failed (exit ${code}):\n${err}`);
  mkdirSync(CACHE, { recursive: true });
  for (const old of readdirSync(CACHE)) if (old.startsWith(`${basename(path)}.`)) rmSync(join(CACHE, old));
  writeFileSync(cached, out);
  return JSON.parse(out) as PyDump;
}

/** Our value in gguf-py's terms: nested arrays flattened, non-finite floats and big ints tagged. */
function plain(v: GgufValue): unknown {
  switch (v.type) {
    case GgufType.ARRAY: return flatten(v.value);
    case GgufType.UINT64: case GgufType.INT64: return plainNumber(v.value);
    case GgufType.STRING: case GgufType.BOOL: return v.value;
    default: return plainNumber(v.value);
  }
}

function plainNumber(x: number | bigint): unknown {
  if (typeof x === "bigint") return x >= -(2n ** 53n - 1n) && x <= 2n ** 53n - 1n ? Number(x) : { bigint: x.toString() };
  if (!Number.isFinite(x)) return { nonfinite: Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf" };
  return x;
}

function flatten(a: GgufArray): unknown[] {
  if (a.itemType === GgufType.ARRAY) return (a.items as GgufArray[]).flatMap(flatten);
  return Array.from(a.items as ArrayLike<number | bigint | boolean | string>, (x) =>
    typeof x === "number" || typeof x === "bigint" ? plainNumber(x) : x,
  );
}

/** gguf-py's type chain: the value type, then item types down the first element of each level. */
function typeChain(v: GgufValue): number[] {
  const chain: number[] = [v.type];
  let a: GgufArray | undefined = v.type === GgufType.ARRAY ? v.value : undefined;
  while (a !== undefined && a.items.length > 0) {
    chain.push(a.itemType);
    a = a.itemType === GgufType.ARRAY ? (a.items as GgufArray[])[0] : undefined;
  }
  return chain;
}

function compareWithGgufPy(path: string, py: PyDump): void {
  const g = openGguf(path);
  expect(g.version).toBe(py.version);
  expect(g.alignment).toBe(py.alignment);
  expect([...g.metadata.keys()]).toEqual(py.kv.map((e) => e.key)); // same keys, same order
  for (const e of py.kv) {
    const v = g.get(e.key)!;
    expect({ key: e.key, types: typeChain(v) }).toEqual({ key: e.key, types: e.types });
    expect({ key: e.key, value: plain(v) }).toEqual({ key: e.key, value: e.value });
  }
  expect(g.tensors.length).toBe(py.tensors.length);
  if (py.tensors.length > 0) expect(g.dataOffset).toBe(py.data_offset);
  g.tensors.forEach((t, i) => {
    const p = py.tensors[i];
    expect({ name: t.name, type: t.type as number, shape: t.shape, n: t.nElements, bytes: t.byteSize, offset: t.offset }).toEqual({
      name: p.name, type: p.type, shape: p.shape, n: p.n_elements, bytes: p.n_bytes, offset: p.offset,
    });
    expect(createHash("sha256").update(t.data()).digest("hex")).toBe(p.sha256);
  });
}

const VOCABS = ["llama-bpe", "llama-spm", "bert-bge"];
const dumps = new Map<string, PyDump>();
const WRITTEN = join(REPO_ROOT, "test", "fixtures", "generated", "every-type.gguf");

/** A file exercising every value type, nested arrays, a non-default alignment and six tensor types. */
function writeEveryTypeFile(path: string): void {
  const w = new GgufWriter({ alignment: 64 });
  w.set("general.architecture", gv.str("test"));
  w.set("t.u8", gv.u8(255)).set("t.i8", gv.i8(-128)).set("t.u16", gv.u16(65535)).set("t.i16", gv.i16(-32768));
  w.set("t.u32", gv.u32(4294967295)).set("t.i32", gv.i32(-2147483648)).set("t.f32", gv.f32(0.1));
  w.set("t.f64", gv.f64(Math.PI)).set("t.u64", gv.u64(2n ** 64n - 1n)).set("t.i64", gv.i64(-(2n ** 63n)));
  w.set("t.bool", gv.bool(true)).set("t.str", gv.str("héllo ✓ 🙂 \u0000 end")).set("t.empty", gv.str(""));
  w.set("t.inf", gv.f32(-Infinity));
  w.set("t.arr.u8", gv.array(GgufType.UINT8, new Uint8Array([0, 1, 255])));
  w.set("t.arr.i16", gv.array(GgufType.INT16, new Int16Array([-5, 5])));
  w.set("t.arr.f64", gv.array(GgufType.FLOAT64, new Float64Array([1e300, -0.5])));
  w.set("t.arr.u64", gv.array(GgufType.UINT64, new BigUint64Array([0n, 2n ** 63n])));
  w.set("t.arr.bool", gv.array(GgufType.BOOL, [true, false, true]));
  w.set("t.arr.str", gv.strings(["a", "", "Ġworld"]));
  w.set("t.arr.empty", gv.array(GgufType.INT32, new Int32Array(0)));
  w.set("t.arr.nested", gv.array(GgufType.ARRAY, [
    { itemType: GgufType.INT32, items: new Int32Array([1, 2]) },
    { itemType: GgufType.INT32, items: new Int32Array([3]) },
  ]));
  const x = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i) * 0.1);
  w.addTensor("f32", GgmlType.F32, [4, 8], quantize(GgmlType.F32, x.subarray(0, 32)));
  w.addTensor("f16", GgmlType.F16, [3], quantize(GgmlType.F16, x.subarray(0, 3)));
  w.addTensor("bf16", GgmlType.BF16, [16, 2], quantize(GgmlType.BF16, x.subarray(0, 32)));
  w.addTensor("q8_0", GgmlType.Q8_0, [64, 2], quantize(GgmlType.Q8_0, x.subarray(0, 128)));
  const q = Int8Array.from({ length: 512 }, (_, i) => (i % 3) - 1);
  w.addTensor("tq1_0", GgmlType.TQ1_0, [256, 2], packTernary(GgmlType.TQ1_0, q, 0.5));
  w.addTensor("tq2_0", GgmlType.TQ2_0, [256, 1, 1, 2], packTernary(GgmlType.TQ2_0, q, 0.25));
  w.writeFile(path);
}

beforeAll(async () => {
  mkdirSync(join(REPO_ROOT, "test", "fixtures", "generated"), { recursive: true });
  writeEveryTypeFile(WRITTEN);
  const paths = [...VOCABS.map(llamaVocabPath), WRITTEN];
  const results = await Promise.all(paths.map(gguPyDump)); // the python runs overlap
  paths.forEach((p, i) => dumps.set(p, results[i]));
}, 60_000); // a cold cache runs gguf-py over a 128k vocabulary: seconds on a busy machine

describe("agrees with llama.cpp's gguf-py", () => {
  for (const name of VOCABS) {
    test(`ggml-vocab-${name}.gguf`, () => {
      const path = llamaVocabPath(name);
      compareWithGgufPy(path, dumps.get(path)!);
    });
  }

  test("a file from our writer with every value type, nested arrays and six tensor types", () => {
    compareWithGgufPy(WRITTEN, dumps.get(WRITTEN)!);
    const g = openGguf(WRITTEN);
    expect(g.alignment).toBe(64);
    // Our own reader also keeps what gguf-py flattens or widens.
    expect(g.get("t.arr.nested")).toEqual(gv.array(GgufType.ARRAY, [
      { itemType: GgufType.INT32, items: new Int32Array([1, 2]) },
      { itemType: GgufType.INT32, items: new Int32Array([3]) },
    ]));
    expect(g.get("t.u64")).toEqual(gv.u64(2n ** 64n - 1n));
    const bf16 = dequantize(GgmlType.BF16, g.tensor("bf16")!.data(), 32);
    expect(Math.abs(bf16[5] - Math.sin(5) * 0.1)).toBeLessThan(1e-3);
  });

  test("the llama-bpe vocabulary through the typed getters", () => {
    const g = openGguf(llamaVocabPath("llama-bpe"));
    expect(g.getString("tokenizer.ggml.model")).toBe("gpt2");
    expect(g.getU32("tokenizer.ggml.bos_token_id")).toBe(128000);
    expect(g.getStringArray("tokenizer.ggml.tokens")!.length).toBe(128256);
    expect(g.getArray("tokenizer.ggml.token_type")!.items).toBeInstanceOf(Int32Array);
    expect(g.getFloat("llama.rope.freq_base")).toBe(500000);
    expect(g.tensors).toEqual([]);
  });
});
