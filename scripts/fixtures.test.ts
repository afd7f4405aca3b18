// Tests for the fixture generator: the tiny set reads back with the right keys, names and shapes,
// every format of a fixture holds the same ternary codes and scales, and the 2B-4T generator
// streams a valid file (checked on a reduced shape; the full shape's size is checked by arithmetic).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dequantize, quantize, ternaryFromFloats, unpackTernary } from "../src/gguf/quants.ts";
import { openGguf, type GgufFile } from "../src/gguf/reader.ts";
import { GgmlType, tensorByteSize } from "../src/gguf/types.ts";
import { llamaVocabPath } from "../test/support/llama-cpp.ts";
import {
  BITNET_2B_SHAPE, bitnetTensors, ensureFixtures, FIXTURE_ARCHS, FIXTURE_FORMATS, fixtureTensorType, generateBitnet2B,
  llamaBpeVocabPath, LLAMA3_CHAT_TEMPLATE, TINY_SHAPE, type FixtureFormat,
} from "./fixtures.ts";

const N_VOCAB = 128256;
const tmp = mkdtempSync(join(tmpdir(), "fixtures-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Codes and scale of a ternary tensor, whatever format holds it. */
function ternaryOf(g: GgufFile, name: string) {
  const t = g.tensor(name)!;
  if (t.type === GgmlType.TQ1_0 || t.type === GgmlType.TQ2_0 || t.type === GgmlType.I2_S) return unpackTernary(t.type, t.data(), t.nElements);
  return ternaryFromFloats(dequantize(t.type, t.data(), t.nElements));
}

describe("tiny fixtures", () => {
  const set = ensureFixtures(); // generated on the first run (a few seconds), cached after

  test("a second call is free", () => {
    const t0 = performance.now();
    expect(ensureFixtures()).toBe(set);
    expect(performance.now() - t0).toBeLessThan(5);
  });

  const vocab = openGguf(llamaBpeVocabPath());
  for (const arch of FIXTURE_ARCHS) {
    for (const format of FIXTURE_FORMATS) {
      test(`${arch} ${format}: keys, tensor names, types and shapes`, () => {
        const g = openGguf(set.paths[arch][format]);
        expect(g.getString("general.architecture")).toBe(arch);
        expect(g.getU32(`${arch}.embedding_length`)).toBe(TINY_SHAPE.nEmbd);
        expect(g.getU32(`${arch}.block_count`)).toBe(TINY_SHAPE.nLayers);
        expect(g.getU32(`${arch}.feed_forward_length`)).toBe(TINY_SHAPE.nFf);
        expect(g.getU32(`${arch}.attention.head_count`)).toBe(TINY_SHAPE.nHeads);
        expect(g.getU32(`${arch}.attention.head_count_kv`)).toBe(TINY_SHAPE.nKvHeads);
        expect(g.getU32(`${arch}.rope.dimension_count`)).toBe(64);
        expect(g.getU32(`${arch}.context_length`)).toBe(2048);
        expect(g.getFloat(`${arch}.rope.freq_base`)).toBe(500000);
        expect(g.getFloat(`${arch}.attention.layer_norm_rms_epsilon`)).toBe(Math.fround(1e-5));
        expect(g.getU32(`${arch}.vocab_size`)).toBe(N_VOCAB);
        expect(g.getString("tokenizer.chat_template")).toBe(LLAMA3_CHAT_TEMPLATE);
        // Every tokenizer key of the llama-bpe vocabulary, unchanged.
        for (const [k, v] of vocab.metadata) if (k.startsWith("tokenizer.")) expect(g.get(k)).toEqual(v);

        const plans = bitnetTensors(TINY_SHAPE, N_VOCAB);
        expect(g.tensors.map((t) => [t.name, t.shape])).toEqual(plans.map((p) => [p.name, p.shape]));
        for (const p of plans) expect(g.tensor(p.name)!.type).toBe(fixtureTensorType(p.role, format, false));
        expect(g.tensor("token_embd.weight")!.type).toBe(format === "f32" ? GgmlType.F32 : GgmlType.F16);
        expect(g.tensor("blk.1.ffn_sub_norm.weight")!.type).toBe(GgmlType.F32);
        expect(g.tensor("output.weight")).toBeUndefined(); // tied embeddings
        expect(g.tensors.some((t) => t.name.endsWith(".scale"))).toBe(false);
      });
    }
  }

  test("every format and both archs hold the same codes and scales", () => {
    const files = FIXTURE_ARCHS.flatMap((a) => FIXTURE_FORMATS.map((f) => [`${a} ${f}`, openGguf(set.paths[a][f])] as const));
    const ternaryNames = bitnetTensors(TINY_SHAPE, N_VOCAB).filter((p) => p.role === "ternary").map((p) => p.name);
    for (const name of ternaryNames) {
      const ref = ternaryOf(files[0][1], name);
      const zeros = ref.q.filter((v) => v === 0).length / ref.q.length;
      expect(zeros).toBeGreaterThan(0.2); // absmean ternarisation of a normal: ~31% zeros
      expect(zeros).toBeLessThan(0.45);
      for (const [label, g] of files.slice(1)) {
        const got = ternaryOf(g, name);
        if (got.scale !== ref.scale || !got.q.every((v, i) => v === ref.q[i])) throw new Error(`${label}: ${name} differs`);
      }
    }
    // Norms are identical everywhere; the F16 embedding is the F32 one rounded to fp16.
    const f32 = files.find(([l]) => l === "bitnet f32")![1];
    const f16 = files.find(([l]) => l === "bitnet f16")![1];
    expect(f16.tensor("output_norm.weight")!.data()).toEqual(f32.tensor("output_norm.weight")!.data());
    const embd = dequantize(GgmlType.F32, f32.tensor("token_embd.weight")!.data(), TINY_SHAPE.nEmbd * N_VOCAB);
    expect(quantize(GgmlType.F16, embd)).toEqual(f16.tensor("token_embd.weight")!.data());
    let sum2 = 0;
    for (let i = 0; i < 1 << 16; i++) sum2 += embd[i] * embd[i];
    expect(Math.sqrt(sum2 / (1 << 16))).toBeCloseTo(0.08, 2);
  });
});

describe("2B-4T generator", () => {
  test("the full shape has the sizes of the published I2_S model", () => {
    // microsoft/bitnet-b1.58-2B-4T-gguf's ggml-model-i2_s.gguf is 1,187,801,280 bytes: F16 embedding,
    // F32 norms and I2_S weights. Our tensor data must be within its (small) metadata of that.
    const plans = bitnetTensors(BITNET_2B_SHAPE, N_VOCAB);
    const bytes = (format: FixtureFormat) =>
      plans.reduce((sum, p) => sum + tensorByteSize(fixtureTensorType(p.role, format, true), p.shape), 0);
    expect(plans.length).toBe(2 + 30 * 11);
    expect(1187801280 - bytes("i2_s")).toBeGreaterThan(0);
    expect(1187801280 - bytes("i2_s")).toBeLessThan(10 * 2 ** 20);
    console.log(`2B-4T I2_S tensor data: ${bytes("i2_s")} bytes (published file: 1187801280)`);
    expect(bytes("tq1_0")).toBeLessThan(bytes("tq2_0"));
  });

  test("streams a valid file (reduced shape)", () => {
    const shape = { ...BITNET_2B_SHAPE, nEmbd: 256, nLayers: 2, nHeads: 2, nKvHeads: 1, nFf: 768 };
    for (const format of ["tq1_0", "tq2_0", "i2_s"] as const) {
      const path = join(tmp, `small-${format}.gguf`);
      // The 32k-token SentencePiece vocabulary keeps the embedding (and this test) small.
      generateBitnet2B(path, format, { shape, arch: "bitnet", vocabPath: llamaVocabPath("llama-spm") });
      const g = openGguf(path);
      expect(g.getString("general.architecture")).toBe("bitnet");
      expect(g.getU32("bitnet.rope.dimension_count")).toBe(128);
      expect(g.tensor("token_embd.weight")!.type).toBe(GgmlType.F16);
      const w = g.tensor("blk.1.ffn_down.weight")!;
      expect(w.shape).toEqual([768, 256]);
      const { q, scale } = ternaryOf(g, w.name);
      expect(scale).toBe(0.0400390625);
      expect(new Set(q).size).toBe(3);
      expect(statSync(path).size).toBe(g.tensors.at(-1)!.offset + 256 * 4);
    }
  });
});
