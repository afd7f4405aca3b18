// The ggml type table against llama.cpp's own (gguf-py's GGML_QUANT_SIZES and ggml.h's ids),
// and tensorByteSize's sizes and refusals.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { llamaCppDir } from "../../test/support/llama-cpp.ts";
import { GgufError } from "./errors.ts";
import { GGML_TYPES, GgmlType, ggmlTypeByName, ggmlTypeInfo, ggmlTypeName, tensorByteSize } from "./types.ts";

test("every upstream ggml type has the same id, block size and block bytes as llama.cpp", () => {
  const dir = llamaCppDir();
  const py = Bun.spawnSync([
    "python3", "-c",
    `import sys, json; sys.path.insert(0, ${JSON.stringify(join(dir, "gguf-py"))})
from gguf.constants import GGML_QUANT_SIZES
print(json.dumps({t.name: [int(t), b, s] for t, (b, s) in GGML_QUANT_SIZES.items()}))`,
  ]);
  if (py.exitCode !== 0) throw new Error(`python3 failed: ${py.stderr.toString()}`);
  const upstream = JSON.parse(py.stdout.toString()) as Record<string, [number, number, number]>;
  // gguf-py lists Q8_1 as 4 + 4 + 32 bytes, but ggml's block_q8_1 is two fp16 + 32 (static_assert
  // in ggml-common.h: 36), and ggml.c sizes tensors from the struct: the C side is the truth.
  expect(upstream.Q8_1).toEqual([9, 32, 40]);
  upstream.Q8_1 = [9, 32, 36];
  const ours = GGML_TYPES.filter((t) => t.id !== GgmlType.I2_S);
  expect(Object.fromEntries(ours.map((t) => [t.name.toUpperCase(), [t.id, t.blockSize, t.bytesPerBlock]]))).toEqual(
    Object.fromEntries(Object.entries(upstream).map(([k, v]) => [k.toUpperCase(), v])),
  );

  // ggml.h: the enum and the C type names (type_traits' type_name).
  const header = readFileSync(join(dir, "ggml", "include", "ggml.h"), "utf8");
  const ids = [...header.matchAll(/^\s*GGML_TYPE_(\w+)\s*=\s*(\d+),/gm)].filter(([, n]) => n !== "COUNT");
  expect(ids.length).toBe(ours.length);
  for (const [, name, id] of ids) expect(ggmlTypeInfo(Number(id))?.name.toUpperCase()).toBe(name);
  // I2_S reuses 36, an id upstream retired (IQ4_NL_4_4) and never assigns again.
  expect(header).toMatch(/\/\/ GGML_TYPE_IQ4_NL_4_4 = 36/);
});

test("lookups", () => {
  expect(ggmlTypeName(GgmlType.TQ1_0)).toBe("tq1_0");
  expect(ggmlTypeName(4)).toBe("unknown(4)");
  expect(ggmlTypeByName("Q4_K")?.id).toBe(GgmlType.Q4_K);
  expect(ggmlTypeByName("I2_S")?.id).toBe(36);
  expect(ggmlTypeInfo(-1)).toBeUndefined();
  expect(ggmlTypeInfo(1.5)).toBeUndefined();
});

test("tensorByteSize", () => {
  expect(tensorByteSize(GgmlType.F32, [2560, 128256])).toBe(2560 * 128256 * 4);
  expect(tensorByteSize(GgmlType.TQ1_0, [2560, 6912])).toBe((2560 * 6912 / 256) * 54);
  expect(tensorByteSize(GgmlType.TQ2_0, [6912, 2560])).toBe((6912 * 2560 / 256) * 66);
  expect(tensorByteSize(GgmlType.I2_S, [2560, 2560])).toBe(2560 * 2560 / 4 + 32);
  expect(tensorByteSize(GgmlType.Q8_0, [64, 3, 2])).toBe(2 * 3 * 2 * 34);
  expect(tensorByteSize(GgmlType.F16, [])).toBe(2);
  expect(() => tensorByteSize(GgmlType.Q4_0, [48], "blk.0.ffn_up.weight")).toThrow(
    /tensor "blk.0.ffn_up.weight" of type q4_0 has 48 elements per row, not a multiple of the block size 32/,
  );
  expect(() => tensorByteSize(GgmlType.F32, [2 ** 30, 2 ** 30, 2 ** 30])).toThrow(/more than 2\^53 elements/);
  expect(() => tensorByteSize(GgmlType.F32, [-1])).toThrow(/dimension 0 is -1/);
  expect(() => tensorByteSize(GgmlType.F32, [1.5])).toThrow(GgufError);
  expect(() => tensorByteSize(5, [32], "x")).toThrow(/tensor "x" has unknown ggml type 5/);
});
