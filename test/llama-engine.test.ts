// The llama engine on generated fixtures: every file loads, greedy decoding is self-consistent, the
// ReLU² patch changes the graph exactly as the TypeScript reference forward pass says.
import { afterAll, describe, expect, test } from "bun:test";
import { ensureFixtures, FIXTURE_ARCHS, FIXTURE_FORMATS } from "../scripts/fixtures.ts";
import type { Batch, Engine } from "../src/engine/engine.ts";
import { LlamaEngine } from "../src/engine/llama/llama-engine.ts";
import { ReferenceModel } from "../src/engine/reference/forward-ref.ts";
import { openGguf } from "../src/gguf/reader.ts";
import { argmax, batchOf, greedyTokens as greedy } from "./support/greedy.ts";

const fx = ensureFixtures();
const open: Engine[] = [];
afterAll(() => open.forEach((e) => e.close()));

function engine(path: string, nParallel = 1, kvF32 = false): LlamaEngine {
  const e = new LlamaEngine({ path, nCtx: 512, nBatch: 128, nParallel, threads: 1, kvF32 });
  open.push(e);
  return e;
}

describe("llama engine on fixtures", () => {
  test("every fixture loads (I2_S through a lossless TQ2_0 copy) with the right facts", () => {
    for (const arch of FIXTURE_ARCHS) {
      for (const format of FIXTURE_FORMATS) {
        const e = engine(fx.paths[arch][format]);
        expect(e.info.arch).toBe(arch);
        expect(e.info.format).toBe(format);
        expect(e.info.nVocab).toBe(128256);
        expect(e.info.nLayers).toBe(2);
        expect(e.info.eog).toContain(128009);
        e.close();
      }
    }
  });

  test("the ternary formats of one model give identical greedy continuations", () => {
    const prompt = [128000, 791, 4062, 14198, 39935];
    const outs = ["tq1_0", "tq2_0", "i2_s"].map((f) => {
      const e = engine(fx.paths.bitnet[f as "tq2_0"]);
      const o = greedy(e, prompt, 12);
      e.close();
      return o;
    });
    expect(outs[1]).toEqual(outs[0]);
    expect(outs[2]).toEqual(outs[0]);
  });

  test("the cache continues exactly: one batch of N equals N single-token decodes", () => {
    const e = engine(fx.paths.bitnet.f32, 1, true);
    const toks = [128000, 40, 1093, 311, 1373, 264, 2363, 13];
    e.kvClear(0);
    const full = e.decode(batchOf(toks, 0, 0, true), "causal").slice();
    e.kvClear(0);
    const V = e.info.nVocab;
    for (let i = 0; i < toks.length; i++) {
      const row = e.decode(batchOf([toks[i]], i), "causal");
      let maxDiff = 0;
      for (let j = 0; j < V; j++) maxDiff = Math.max(maxDiff, Math.abs(row[j] - full[i * V + j]));
      expect(maxDiff).toBeLessThan(1e-3);
    }
  });

  test("ReLU² (bitnet-b1.58) differs from SiLU (bitnet) and both match the F32 reference within 1e-3", () => {
    const toks = [128000, 9906, 11, 1917, 0, 358, 1097];
    const results: Record<string, Float32Array> = {};
    for (const arch of FIXTURE_ARCHS) {
      const path = fx.paths[arch].f32;
      const e = engine(path, 1, true);
      e.kvClear(0);
      const got = e.decode(batchOf(toks, 0, 0, true), "causal").slice();
      e.close();
      const ref = new ReferenceModel(openGguf(path), "none").forward(toks);
      const V = 128256;
      let maxDiff = 0;
      for (let t = 0; t < toks.length; t++) for (let j = 0; j < V; j++) maxDiff = Math.max(maxDiff, Math.abs(got[t * V + j] - ref[t][j]));
      expect(maxDiff).toBeLessThan(1e-3);
      results[arch] = got;
    }
    let archDiff = 0;
    for (let j = 0; j < results.bitnet.length; j++) archDiff = Math.max(archDiff, Math.abs(results.bitnet[j] - results["bitnet-b1.58"][j]));
    expect(archDiff).toBeGreaterThan(0.05);
  });

  test("sequences in one batch are independent of each other", () => {
    const e = engine(fx.paths.bitnet.tq2_0, 2);
    const a = [128000, 791, 4062];
    const b = [128000, 40, 1093, 311, 1373];
    const soloA = greedy(e, a, 6, 0);
    const soloB = greedy(e, b, 6, 1);
    e.kvClear(-1);
    // Both prompts in one batch, then both next tokens in one batch each step.
    const both: Batch = {
      n: a.length + b.length,
      tokens: Int32Array.from([...a, ...b]),
      positions: Int32Array.from([...a.map((_, i) => i), ...b.map((_, i) => i)]),
      seqIds: Int32Array.from([...a.map(() => 0), ...b.map(() => 1)]),
      wantLogits: Uint8Array.from([...a.map((_, i) => +(i === a.length - 1)), ...b.map((_, i) => +(i === b.length - 1))]),
    };
    let logits = e.decode(both, "causal");
    const V = e.info.nVocab;
    const outA: number[] = [];
    const outB: number[] = [];
    for (let i = 0; i < 6; i++) {
      const ta = argmax(logits.subarray(0, V));
      const tb = argmax(logits.subarray(V, 2 * V));
      outA.push(ta);
      outB.push(tb);
      logits = e.decode(
        { n: 2, tokens: Int32Array.of(ta, tb), positions: Int32Array.of(a.length + i, b.length + i), seqIds: Int32Array.of(0, 1), wantLogits: Uint8Array.of(1, 1) },
        "causal",
      );
    }
    expect(outA).toEqual(soloA);
    expect(outB).toEqual(soloB);
  });
});
