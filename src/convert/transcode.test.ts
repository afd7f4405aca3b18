// GGUF → GGUF transcoding: I2_S → TQ2_0 → TQ1_0 → I2_S is bit-exact on the weights; rows that do
// not fit a block fail clearly or fall back to F16 (and the result still loads); the CLI path.
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { batchOf } from "../../test/support/greedy.ts";
import { validateModelFile } from "../engine/model-file.ts";
import { LlamaEngine } from "../engine/llama/llama-engine.ts";
import { openGguf } from "../gguf/reader.ts";
import { GgmlType } from "../gguf/types.ts";
import { convertMain } from "./cli.ts";
import { convertCheckpoint } from "./convert-checkpoint.ts";
import { CKPT_VOCAB, writeTestCheckpoint } from "./test-checkpoints.ts";
import { transcodeGguf, validateTranscode } from "./transcode.ts";

const root = mkdtempSync(join(tmpdir(), "transcode-test-"));
const sink = { write() {} };
const savedCache = process.env.TERNARY_CACHE_DIR;
const i2s = join(root, "start-i2_s.gguf");
const odd = join(root, "odd"); // hidden 384: rows fit I2_S (128) but not TQ (256)

beforeAll(() => {
  process.env.TERNARY_CACHE_DIR = join(root, "cache");
  writeTestCheckpoint(join(root, "ckpt"), { arch: "bitnet", form: "packed" });
  convertCheckpoint(join(root, "ckpt"), i2s, { outType: "i2_s", out: sink });
  writeTestCheckpoint(odd, { arch: "bitnet-b1.58", shape: { nEmbd: 384, nLayers: 1, nHeads: 6, nKvHeads: 2, nFf: 768, nCtx: 256 } });
});
afterAll(() => {
  process.env.TERNARY_CACHE_DIR = savedCache;
  rmSync(root, { recursive: true, force: true });
});

describe("transcoding", () => {
  test("I2_S → TQ2_0 → TQ1_0 → I2_S is bit-exact on every tensor", () => {
    const chain: [number, string][] = [[GgmlType.TQ2_0, "a-tq2_0.gguf"], [GgmlType.TQ1_0, "b-tq1_0.gguf"], [GgmlType.I2_S, "c-i2_s.gguf"]];
    let from = i2s;
    for (const [type, name] of chain) {
      const to = join(root, name);
      transcodeGguf(openGguf(from), type as 34, to);
      expect(validateTranscode(from, to)).toBe(24);
      from = to;
    }
    const a = openGguf(i2s);
    const c = openGguf(from);
    for (const t of a.tensors) expect(c.tensor(t.name)!.data()).toEqual(t.data());
    expect(openGguf(join(root, "b-tq1_0.gguf")).getInt("general.file_type")).toBe(36);
  });

  test("the CLI transcodes with --validate and prints a summary; float outtypes are refused for a GGUF", async () => {
    const log = spyOn(console, "log").mockImplementation(() => {});
    const err = spyOn(console, "error").mockImplementation(() => {});
    try {
      const out = join(root, "cli-tq1_0.gguf");
      expect(await convertMain([i2s, "-o", out, "--outtype", "tq1_0", "--validate"])).toBe(0);
      expect(log.mock.calls.flat().join("\n")).toMatch(/validated: 24 tensors \(ternary codes identical\)/);
      expect(await convertMain([i2s, "-o", join(root, "x.gguf"), "--outtype", "f16"])).toBe(1);
      expect(err.mock.calls.flat().join("\n")).toMatch(/transcoded to a ternary type only/);
      expect(existsSync(join(root, "x.gguf"))).toBe(false);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  });

  test("rows that fit I2_S but not TQ: a clear error, or with fallback F16 tensors that validate and load", () => {
    const src = join(odd, "i2_s.gguf");
    convertCheckpoint(odd, src, { outType: "i2_s", out: sink, validate: true });
    expect(() => transcodeGguf(openGguf(src), GgmlType.TQ2_0, join(odd, "t.gguf"))).toThrow(/tensor blk\.0\.attn_q\.weight has rows of 384 weights, not a multiple of 256 as tq2_0 needs; --allow-fallback/);
    expect(readdirSync(odd).filter((f) => f.includes("t.gguf"))).toEqual([]);
    const out = join(odd, "t.gguf");
    transcodeGguf(openGguf(src), GgmlType.TQ2_0, out, undefined, { allowFallback: true });
    expect(validateTranscode(src, out)).toBe(13);
    const f = validateModelFile(out);
    expect(f.tensor("blk.0.attn_q.weight")!.typeName).toBe("f16");
    expect(f.tensor("blk.0.ffn_down.weight")!.typeName).toBe("tq2_0"); // rows of 768 = 3 blocks
    const e = new LlamaEngine({ path: out, nCtx: 64, nBatch: 16, nParallel: 1, threads: 1 });
    try {
      e.kvClear(0);
      expect(e.decode(batchOf([CKPT_VOCAB.bos, 104, 105], 0), "causal").every(Number.isFinite)).toBe(true);
    } finally {
      e.close();
    }
  });

  test("checkpoint conversion: the same rule (error naming the tensor, or --allow-fallback)", () => {
    expect(() => convertCheckpoint(odd, join(odd, "c.gguf"), { outType: "tq1_0", out: sink })).toThrow(
      /tensor "model\.layers\.0\.self_attn\.q_proj\.weight" \(blk\.0\.attn_q\.weight\) has rows of 384 values, not a multiple of 256 as tq1_0 needs/,
    );
    const s = convertCheckpoint(odd, join(odd, "c.gguf"), { outType: "tq1_0", out: sink, allowFallback: true, validate: true });
    expect(s.fallbacks).toEqual(["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"]);
    validateModelFile(join(odd, "c.gguf"));
  });
});
