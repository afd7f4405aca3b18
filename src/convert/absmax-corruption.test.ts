// The reference engine's TQ2_0 defect (FACTS §1), shown and guarded against: from bf16 latent weights
// our TQ2_0 equals our I2_S code for code and scale for scale, while ggml's per-block absmax
// quantiser on the same weights zeroes most codes, changes the model, and --validate flags it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { batchOf, maxAbsDiff } from "../../test/support/greedy.ts";
import { LlamaEngine } from "../engine/llama/llama-engine.ts";
import { decodeTq2Block, quantize, unpackTernary } from "../gguf/quants.ts";
import { openGguf } from "../gguf/reader.ts";
import { GgmlType } from "../gguf/types.ts";
import { GgufWriter } from "../gguf/writer.ts";
import { convertCheckpoint } from "./convert-checkpoint.ts";
import { ConvertError } from "./errors.ts";
import { planConversion } from "./plan.ts";
import { CKPT_VOCAB, writeTestCheckpoint } from "./test-checkpoints.ts";
import { validateConversion } from "./validate.ts";
import { floatsOf } from "./weights.ts";

const root = mkdtempSync(join(tmpdir(), "absmax-test-"));
const dir = join(root, "ckpt");
const sink = { write() {} };
const paths = { tq2: join(root, "tq2_0.gguf"), i2s: join(root, "i2_s.gguf"), absmax: join(root, "absmax-tq2_0.gguf") };
const savedCache = process.env.TERNARY_CACHE_DIR;

beforeAll(() => {
  process.env.TERNARY_CACHE_DIR = join(root, "cache");
  writeTestCheckpoint(dir, { arch: "bitnet-b1.58", form: "latent", seed: 7 });
  convertCheckpoint(dir, paths.tq2, { outType: "tq2_0", out: sink });
  convertCheckpoint(dir, paths.i2s, { outType: "i2_s", out: sink });
  // The reference's path: the same latent weights straight through ggml's TQ2_0 quantiser.
  const good = openGguf(paths.tq2);
  const plan = planConversion(dir, { outType: "tq2_0" });
  const w = new GgufWriter();
  w.setAll([...good.metadata].filter(([k]) => k !== "general.alignment"));
  for (const t of good.tensors) w.addTensor(t.name, t.type, t.shape);
  const s = w.openStream(paths.absmax);
  for (const t of good.tensors) {
    const e = plan.entries.find((p) => p.ggufName === t.name)!;
    s.writeTensor(t.name, e.role === "linear" ? quantize(GgmlType.TQ2_0, floatsOf(e.src)) : t.data());
  }
  s.close();
});
afterAll(() => {
  process.env.TERNARY_CACHE_DIR = savedCache;
  rmSync(root, { recursive: true, force: true });
});

/** Every 2-bit code of a TQ2_0 tensor, whatever its block scales. */
function tq2Codes(data: Uint8Array, n: number): Int8Array {
  const q = new Int8Array(n);
  for (let b = 0; b < n / 256; b++) decodeTq2Block(data, b * 66, q, b * 256);
  return q;
}

const linear = (name: string) => /^blk\.\d+\.(attn_[qkvo]|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(name);

describe("TQ2_0 from bf16 latent weights", () => {
  test("equals I2_S from the same checkpoint exactly: identical codes and scales in every tensor", () => {
    const a = openGguf(paths.tq2);
    const b = openGguf(paths.i2s);
    let n = 0;
    for (const t of a.tensors.filter((x) => linear(x.name))) {
      const u = b.tensor(t.name)!;
      expect(u.typeName).toBe("i2_s");
      const x = unpackTernary(GgmlType.TQ2_0, t.data(), t.nElements);
      const y = unpackTernary(GgmlType.I2_S, u.data(), u.nElements);
      expect(y.q).toEqual(x.q);
      expect(y.scale).toBe(x.scale);
      n++;
    }
    expect(n).toBe(14);
  });

  test("ggml's per-block absmax quantiser on the same weights zeroes most codes; our comparison flags it", () => {
    const good = openGguf(paths.tq2);
    const bad = openGguf(paths.absmax);
    let nonzeroGood = 0;
    let nonzeroBad = 0;
    let total = 0;
    for (const t of good.tensors.filter((x) => linear(x.name))) {
      const q = unpackTernary(GgmlType.TQ2_0, t.data(), t.nElements).q;
      const u = bad.tensor(t.name)!;
      // Per-block d: not a per-tensor ternary weight at all, so our unpacking refuses it...
      expect(() => unpackTernary(GgmlType.TQ2_0, u.data(), u.nElements)).toThrow(/per-block scales/);
      // ...and its codes are mostly zero where absmean keeps about two thirds of the weights.
      const r = tq2Codes(u.data(), u.nElements);
      for (let i = 0; i < q.length; i++) {
        nonzeroGood += q[i] !== 0 ? 1 : 0;
        nonzeroBad += r[i] !== 0 ? 1 : 0;
      }
      total += q.length;
    }
    expect(nonzeroGood / total).toBeGreaterThan(0.6);
    expect(nonzeroBad / total).toBeLessThan(0.3);
    // --validate's comparison catches it, naming the first linear tensor.
    const plan = planConversion(dir, { outType: "tq2_0" });
    expect(() => validateConversion(plan, paths.absmax)).toThrow(ConvertError);
    expect(() => validateConversion(plan, paths.absmax)).toThrow(/validation failed: tensor blk\.0\.attn_q\.weight: .*per-block scales/);
    expect(validateConversion(plan, paths.tq2).tensors).toBe(24);
  });

  test("and it is a different model: llama.cpp's logits move far beyond kernel rounding", () => {
    const prompt = [CKPT_VOCAB.bos, 104, 101, 108, 108, 111, 262, 119];
    const logits = (path: string) => {
      const e = new LlamaEngine({ path, nCtx: 128, nBatch: 32, nParallel: 1, threads: 1 });
      try {
        e.kvClear(0);
        return e.decode(batchOf(prompt, 0, 0, true), "causal").slice();
      } finally {
        e.close();
      }
    };
    const [a, b, c] = [logits(paths.tq2), logits(paths.i2s), logits(paths.absmax)];
    expect(maxAbsDiff(a, b)).toBe(0); // I2_S loads as a lossless TQ2_0 copy
    expect(maxAbsDiff(a, c)).toBeGreaterThan(0.5);
  });
});
