// The native engine on the tiny fixtures: logits against the TypeScript reference forward pass, every
// weight format giving the same model, batching and KV-cache edits, refusals of bad batches and files.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureFixtures, ensureMicroFixture, FIXTURE_FORMATS, type FixtureArch } from "../../../scripts/fixtures.ts";
import { argmax, batchOf, greedyTokens, maxAbsDiff as maxDiff } from "../../../test/support/greedy.ts";
import { ENGLISH_TEXT } from "../../../test/support/english-text.ts";
import { Model } from "../../../test/support/model-mutants.ts";
import { openGguf } from "../../gguf/reader.ts";
import { GgmlType, gv } from "../../gguf/types.ts";
import type { Batch } from "../engine.ts";
import { EngineError, type EngineErrorKind } from "../errors.ts";
import { ReferenceModel } from "../reference/forward-ref.ts";
import { NativeEngine, type NativeEngineOptions } from "./native-engine.ts";

const fx = ensureFixtures();
const V = 128256;
const opened: NativeEngine[] = [];
const tmp = mkdtempSync(join(tmpdir(), "native-engine-"));
afterAll(() => {
  opened.forEach((e) => e.close());
  rmSync(tmp, { recursive: true, force: true });
});

function open(path: string, o: Partial<NativeEngineOptions> = {}): NativeEngine {
  const e = new NativeEngine({ path, nCtx: 512, nBatch: 64, nParallel: 4, threads: 2, ...o });
  opened.push(e);
  return e;
}

/** "The quick brown fox jumps over the lazy dog. The fox is a test" with BOS: 16 ordinary tokens. */
const TOKENS = [128000, 791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13, 578, 39935, 374, 264, 1296];

function expectEngineError(fn: () => unknown, kind: EngineErrorKind, text: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).kind).toBe(kind);
    expect((e as Error).message).toContain(text);
    return;
  }
  throw new Error(`expected EngineError(${kind}) containing "${text}"`);
}

describe("native engine vs the F32 reference forward pass", () => {
  // The reference applies BitLinear's int8 quantisation to weights stored ternary, so it reads the
  // TQ2_0 file; every format holds the same codes and scales, and the engine reads the F32 one.
  // Both round x·s to int8 in float32; they agree to ~1e-6 unless some x·s falls within a few ulps of a
  // rounding tie, where float summation order decides the int8 code (one code flipped moves the logits
  // by ~1e-2). Such ties are rare but real: TOKENS above has one at position 3 in bitnet-b1.58
  // (x·s = 14.5000019), so these tests use the opening of the English text, which has none.
  const text = (e: NativeEngine) => Array.from(e.tokenize(ENGLISH_TEXT, { addSpecial: true, parseSpecial: false })).slice(0, 16);
  for (const arch of ["bitnet-b1.58", "bitnet"] as FixtureArch[]) {
    test(`${arch}: logits within 1e-3 at every position (int8 per-token activations, F32 KV)`, () => {
      const e = open(fx.paths[arch].f32, { kvF32: true });
      const tokens = text(e);
      const ref = new ReferenceModel(openGguf(fx.paths[arch].tq2_0), "int8-token").forward(tokens);
      const out = e.decode(batchOf(tokens, 0, 0, true), "causal");
      let worst = 0;
      for (let t = 0; t < tokens.length; t++) worst = Math.max(worst, maxDiff(out.subarray(t * V, (t + 1) * V), ref[t]));
      console.log(`${arch}: max |native - reference| over ${tokens.length} positions = ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-3);
      e.close();
    });
  }

  test("block attention: masked tokens after a causal prefix match the reference's block mask", () => {
    const arch = "bitnet-b1.58";
    const prefix = TOKENS.slice(0, 10);
    const block = [128002, 128002, 128002, 128002];
    const ref = new ReferenceModel(openGguf(fx.paths[arch].tq2_0), "int8-token").forward([...prefix, ...block], prefix.length);
    const e = open(fx.paths[arch].f32, { kvF32: true });
    e.decode(batchOf(prefix, 0), "causal");
    const out = e.decode(batchOf(block, prefix.length, 0, true), "block");
    for (let i = 0; i < block.length; i++) expect(maxDiff(out.subarray(i * V, (i + 1) * V), ref[prefix.length + i])).toBeLessThan(1e-3);
    e.close();
  });
});

describe("native engine: formats, batches and the cache", () => {
  test("every weight format gives the same greedy continuation (32 tokens), ReLU² and SiLU", () => {
    for (const arch of ["bitnet-b1.58", "bitnet"] as FixtureArch[]) {
      const outs = FIXTURE_FORMATS.map((f) => {
        const e = open(fx.paths[arch][f], { nParallel: 1 });
        expect(e.info.format).toBe(f);
        expect(e.loadStats.kinds.ternary).toBe(14); // 7 linear weights x 2 layers, whatever the storage
        const o = greedyTokens(e, TOKENS.slice(0, 5), 32);
        e.close();
        return o;
      });
      for (const o of outs) expect(o).toEqual(outs[0]);
    }
  });

  test("one causal batch of N equals N single-token decodes", () => {
    const e = open(fx.paths.bitnet.tq2_0);
    const full = e.decode(batchOf(TOKENS, 0, 0, true), "causal").slice();
    e.kvClear(0);
    for (let i = 0; i < TOKENS.length; i++) {
      const row = e.decode(batchOf([TOKENS[i]], i), "causal");
      expect(maxDiff(row, full.subarray(i * V, (i + 1) * V))).toBeLessThan(1e-5);
    }
    e.close();
  });

  test("a batch of several sequences equals each sequence alone, rows in batch order", () => {
    const e = open(fx.paths["bitnet-b1.58"].tq1_0);
    const prompts = [TOKENS.slice(0, 7), TOKENS.slice(3, 12), TOKENS.slice(8, 11)];
    const alone = prompts.map((p, s) => e.decode(batchOf(p, 0, s, true), "causal").slice());
    e.kvClear(-1);
    // interleaved: token i of every sequence in turn
    const b: Batch = { n: 0, tokens: new Int32Array(64), positions: new Int32Array(64), seqIds: new Int32Array(64), wantLogits: new Uint8Array(64) };
    const where: [number, number][] = [];
    for (let i = 0; i < 9; i++) {
      prompts.forEach((p, s) => {
        if (i >= p.length) return;
        b.tokens[b.n] = p[i];
        b.positions[b.n] = i;
        b.seqIds[b.n] = s;
        b.wantLogits[b.n] = 1;
        where.push([s, i]);
        b.n++;
      });
    }
    const out = e.decode(b, "causal");
    where.forEach(([s, i], row) => expect(maxDiff(out.subarray(row * V, (row + 1) * V), alone[s].subarray(i * V, (i + 1) * V))).toBeLessThan(1e-5));
    for (let s = 0; s < 3; s++) expect(e.kvNextPos(s)).toBe(prompts[s].length);
    expect(e.kvNextPos(3)).toBe(0);
    e.close();
  });

  test("only the rows that want logits come back, and a batch wanting none returns none", () => {
    const e = open(fx.paths.bitnet.tq2_0);
    const full = e.decode(batchOf(TOKENS, 0, 0, true), "causal").slice();
    e.kvClear(0);
    const b = batchOf(TOKENS, 0);
    b.wantLogits.fill(0);
    b.wantLogits[3] = b.wantLogits[9] = 1;
    const out = e.decode(b, "causal");
    expect(out.length).toBe(2 * V);
    expect(maxDiff(out.subarray(0, V), full.subarray(3 * V, 4 * V))).toBeLessThan(1e-5);
    expect(maxDiff(out.subarray(V), full.subarray(9 * V, 10 * V))).toBeLessThan(1e-5);
    e.kvClear(0);
    b.wantLogits.fill(0);
    expect(e.decode(b, "causal").length).toBe(0);
    expect(e.kvNextPos(0)).toBe(TOKENS.length);
    e.close();
  });

  test("kvRemove, kvCopy and kvClear: the cache continues as if the removed tokens never ran", () => {
    const e = open(fx.paths.bitnet.tq2_0);
    const full = e.decode(batchOf(TOKENS, 0, 0, true), "causal").slice();
    const row = (i: number) => full.subarray(i * V, (i + 1) * V);
    // rewind sequence 0 to 6 tokens and decode the rest again
    e.kvRemove(0, 6, -1);
    expect(e.kvNextPos(0)).toBe(6);
    const again = e.decode(batchOf(TOKENS.slice(6), 6, 0, true), "causal");
    for (let i = 6; i < TOKENS.length; i++) expect(maxDiff(again.subarray((i - 6) * V, (i - 5) * V), row(i))).toBeLessThan(1e-5);
    // a copy of the first 10 positions into sequence 2 continues like the original
    e.kvCopy(0, 2, 0, 10);
    expect(e.kvNextPos(2)).toBe(10);
    expect(maxDiff(e.decode(batchOf([TOKENS[10]], 10, 2), "causal"), row(10))).toBeLessThan(1e-5);
    // clearing one sequence leaves the others
    e.kvClear(2);
    expect(e.kvNextPos(2)).toBe(0);
    expect(e.kvNextPos(0)).toBe(TOKENS.length);
    e.kvClear(-1);
    expect(e.kvNextPos(0)).toBe(0);
    e.close();
  });

  test("thread counts and repeated runs give bit-identical logits", () => {
    const e = open(fx.paths["bitnet-b1.58"].i2_s);
    const a = e.decode(batchOf(TOKENS, 0, 0, true), "causal").slice();
    e.setThreads(1);
    e.kvClear(0);
    const b = e.decode(batchOf(TOKENS, 0, 0, true), "causal").slice();
    expect(maxDiff(a, b)).toBe(0);
    e.close();
  });

  test("the Q8 output head stays close to the F16 one", () => {
    const f16 = open(fx.paths.bitnet.tq2_0, { nParallel: 1 });
    const q8 = open(fx.paths.bitnet.tq2_0, { nParallel: 1, head: "q8" });
    expect(q8.loadStats.kinds.q8).toBe(1);
    const a = f16.decode(batchOf(TOKENS, 0, 0, true), "causal");
    const b = q8.decode(batchOf(TOKENS, 0, 0, true), "causal");
    const d = maxDiff(a, b);
    let same = 0;
    for (let i = 0; i < TOKENS.length; i++) same += Number(argmax(a.subarray(i * V, (i + 1) * V)) === argmax(b.subarray(i * V, (i + 1) * V)));
    console.log(`q8 head: max |q8 - f16| = ${d.toExponential(2)}, same top-1 at ${same} of ${TOKENS.length} positions`);
    // int8 weights (per-row scale) and int8 activations (per token) against F16 x F32: ~1% of the logit range
    expect(d).toBeLessThan(0.1);
    expect(same).toBeGreaterThanOrEqual(TOKENS.length - 2);
    f16.close();
    q8.close();
  });

  test("ModelInfo is filled from the file and the tokenizer", () => {
    const e = open(fx.paths.bitnet.i2_s);
    const i = e.info;
    expect([i.arch, i.format, i.nVocab, i.nEmbd, i.nLayers, i.nHeads, i.nKvHeads, i.nCtx, i.nBatch, i.nSeqMax]).toEqual(["bitnet", "i2_s", V, 256, 2, 4, 2, 512, 64, 4]);
    expect([i.bos, i.eos, i.bosText, i.addBos]).toEqual([128000, 128001, "<|begin_of_text|>", true]);
    expect(i.eog).toContain(128009);
    expect(i.chatTemplate).toContain("start_header_id");
    expect(Array.from(e.tokenize("The quick brown fox", { addSpecial: true, parseSpecial: false }))).toEqual(TOKENS.slice(0, 5));
    expect(new TextDecoder().decode(e.tokenBytes(4062, false))).toBe(" quick");
    e.close();
  });
});

describe("native engine refusals", () => {
  test("batches that do not continue their sequence are refused before the cache changes", () => {
    const e = open(fx.paths.bitnet.tq2_0);
    e.decode(batchOf(TOKENS.slice(0, 4), 0), "causal");
    expectEngineError(() => e.decode(batchOf([5], 6), "causal"), "invalid_request", "continues at 4"); // gap
    expectEngineError(() => e.decode(batchOf([5], 2), "causal"), "invalid_request", "continues at 4"); // overwrite
    const swapped = batchOf([5, 6], 4);
    swapped.positions.set([5, 4]);
    expectEngineError(() => e.decode(swapped, "causal"), "invalid_request", "in order");
    expectEngineError(() => e.decode(batchOf([5], 0, 4), "causal"), "invalid_request", "sequence id 4");
    expectEngineError(() => e.decode(batchOf([V], 4), "causal"), "invalid_request", "outside the vocabulary");
    expectEngineError(() => e.decode(batchOf(new Array(65).fill(5), 4), "causal"), "invalid_request", "1..64");
    expectEngineError(() => e.decode({ ...batchOf([5], 4), n: 0 }, "causal"), "invalid_request", "1..64");
    expect(e.kvNextPos(0)).toBe(4);
    e.kvRemove(0, 0, -1);
    const long = open(fx.paths.bitnet.tq2_0, { nCtx: 8, nParallel: 1 });
    long.decode(batchOf(TOKENS.slice(0, 8), 0), "causal");
    expectEngineError(() => long.decode(batchOf([5], 8), "causal"), "context_length_exceeded", "past the context");
    expectEngineError(() => long.kvNextPos(1), "invalid_request", "sequence id 1");
    long.close();
    e.close();
  });

  test("use after close() throws an EngineError; close() twice is harmless", () => {
    const e = open(fx.paths.bitnet.tq2_0, { nParallel: 1 });
    e.close();
    e.close();
    expectEngineError(() => e.decode(batchOf([1], 0), "causal"), "internal", "after close()");
    expectEngineError(() => e.kvNextPos(0), "internal", "after close()");
    expectEngineError(() => e.setThreads(1), "internal", "after close()");
  });

  const micro = () => Model.parse(new Uint8Array(readFileSync(ensureMicroFixture())));
  const write = (name: string, m: Model) => {
    const p = join(tmp, `${name}.gguf`);
    writeFileSync(p, m.toBytes());
    return p;
  };

  test("a weight type the kernels do not take is refused, naming the tensor, before any native call", () => {
    const p = write("q4", micro().retype("blk.1.ffn_up.weight", GgmlType.Q4_0));
    expectEngineError(() => open(p), "invalid_request", "tensor blk.1.ffn_up.weight is q4_0");
    const e = write("embd-q5_0", micro().retype("token_embd.weight", GgmlType.Q5_0));
    expectEngineError(() => open(e), "invalid_request", "token_embd.weight is q5_0");
  });

  test("a head dimension the attention kernel cannot take is refused", () => {
    const m = micro();
    m.set("bitnet.attention.head_count", gv.u32(16)).set("bitnet.attention.head_count_kv", gv.u32(16));
    m.del("bitnet.rope.dimension_count");
    for (const l of [0, 1]) for (const w of ["attn_k", "attn_v"]) m.retype(`blk.${l}.${w}.weight`, GgmlType.F32, [64, 64]);
    expectEngineError(() => open(write("headdim4", m)), "invalid_request", "head dimension 4 is not a multiple of 8");
  });

  test("the micro fixture (F32, byte vocabulary) loads; a bad TERNARY_HEAD is refused", () => {
    const e = open(ensureMicroFixture(), { nParallel: 1 });
    expect(e.loadStats.kinds.ternary).toBe(14);
    expect(greedyTokens(e, [1, 2, 3], 4).length).toBe(4);
    e.close();
    expectEngineError(() => open(ensureMicroFixture(), { head: "q4" as never }), "invalid_request", "TERNARY_HEAD=q4");
  });

  test("TQ2_0 with per-block scales (ggml's own quantiser) loads exactly, as a float matrix", () => {
    const m = Model.parse(new Uint8Array(readFileSync(fx.paths.bitnet.tq2_0)));
    const t = m.tensor("blk.0.attn_q.weight");
    t.data = t.data.slice();
    t.data[66 * 3 + 64] ^= 1; // block 3 gets another d
    const p = write("tq2-block-scales", m);
    const e = open(p, { kvF32: true, nParallel: 1 });
    expect(e.loadStats.kinds.f32).toBe(1);
    const ref = new ReferenceModel(openGguf(p), "int8-token").forward(TOKENS.slice(0, 6));
    const out = e.decode(batchOf(TOKENS.slice(0, 6), 0, 0, true), "causal");
    // the float matrix takes unquantised activations where the reference quantises: close, not equal
    for (let i = 0; i < 6; i++) expect(argmax(out.subarray(i * V, (i + 1) * V))).toBe(argmax(ref[i]));
    e.close();
  });
});
