// The native engine against the llama engine (llama.cpp) on the `bitnet` (SiLU) TQ2_0 fixture: teacher-
// forced logits over 512 tokens of English, block-diffusion decisions, and the DLM cache check on native.
//
// What may separate the engines is the activation quantisation: BitNet (and our engine) use one int8
// absmax scale per token, llama.cpp's TQ kernels one per 256 values (Q8_K). The native engine's
// llama.cpp-mimic settings (actQuant "q8k": Q8_K activations and an F16 head fed F16-rounded inputs;
// ropeTable "ggml": ggml's float RoPE angles) remove that difference, and the engines then agree to float
// precision, except at the few positions where a float-order difference moves some x·d across an int8
// rounding boundary (one code, ~1e-2 in the logits, the same effect as in native-engine.test.ts).
// The random fixture's logits are flat (near-ties everywhere), so the scheme alone flips ~3.5% of its
// argmaxes; on the trained default model, in its own domain where its logits are peaked, per-token top-1
// agrees at ≥ 98% (on English it has never seen, its logits are flat again and the scheme flips ~6%).
import { probeCommittedCache } from "./support/dlm-cache.ts";
import { afterAll, describe, expect, test } from "bun:test";
import { ensureFixtures } from "../scripts/fixtures.ts";
import { readEvalSet } from "../src/bench/eval.ts";
import { needsBos, renderChat } from "../src/chat/template.ts";
import type { Engine } from "../src/engine/engine.ts";
import { LlamaEngine } from "../src/engine/llama/llama-engine.ts";
import { NativeEngine, type NativeEngineOptions } from "../src/engine/native/native-engine.ts";
import type { DlmOptions, Job, JobEvent } from "../src/engine/protocol.ts";
import { Scheduler } from "../src/engine/scheduler.ts";
import { defaultSampling } from "../src/generate/sampler.ts";
import { ENGLISH_TEXT } from "./support/english-text.ts";
import { argmax, batchOf, maxAbsDiff } from "./support/greedy.ts";

const fx = ensureFixtures();
const PATH = fx.paths.bitnet.tq2_0;
const VOCAB = 128256;
const N = 512;
const MASK = 128002; // a reserved special token of the Llama-3 vocabulary stands in as the mask
const MIMIC = { actQuant: "q8k", ropeTable: "ggml" } as const;
const opened: Engine[] = [];
afterAll(() => opened.forEach((e) => e.close()));

function llama(nParallel = 1): LlamaEngine {
  const e = new LlamaEngine({ path: PATH, nCtx: 1024, nBatch: N, nParallel, threads: 2, kvF32: true });
  opened.push(e);
  return e;
}

function native(o: Partial<NativeEngineOptions> = {}, nParallel = 1): NativeEngine {
  const e = new NativeEngine({ path: PATH, nCtx: 1024, nBatch: N, nParallel, threads: 2, kvF32: true, ...o });
  opened.push(e);
  return e;
}

interface Agreement {
  top1: number; // fraction of positions with the same argmax
  maxDiff: number; // max |a - b| over every logit
  medianPosDiff: number; // median over positions of the per-position max diff
  within1e4: number; // fraction of positions whose max diff is below 1e-4
}

function agreement(a: Float32Array, b: Float32Array, n: number, V = VOCAB): Agreement {
  let same = 0;
  const pos: number[] = [];
  for (let t = 0; t < n; t++) {
    const ra = a.subarray(t * V, (t + 1) * V), rb = b.subarray(t * V, (t + 1) * V);
    if (argmax(ra) === argmax(rb)) same++;
    pos.push(maxAbsDiff(ra, rb));
  }
  const sorted = [...pos].sort((x, y) => x - y);
  return { top1: same / n, maxDiff: sorted[n - 1], medianPosDiff: sorted[n >> 1], within1e4: pos.filter((d) => d < 1e-4).length / n };
}

const fmt = (g: Agreement) =>
  `top-1 ${(g.top1 * 100).toFixed(1)}%, max |diff| ${g.maxDiff.toExponential(2)}, median per-position max ${g.medianPosDiff.toExponential(2)}, ${(g.within1e4 * 100).toFixed(0)}% of positions within 1e-4`;

describe("native vs llama.cpp, teacher-forced over 512 tokens of English", () => {
  const ll = llama();
  const tokens = Array.from(ll.tokenize(ENGLISH_TEXT, { addSpecial: true, parseSpecial: false })).slice(0, N);
  const reference = ll.decode(batchOf(tokens, 0, 0, true), "causal").slice();
  ll.close();

  test("the text is long enough and both tokenizers agree on it", () => {
    expect(tokens.length).toBe(N);
    const e = native();
    expect(Array.from(e.tokenize(ENGLISH_TEXT, { addSpecial: true, parseSpecial: false })).slice(0, N)).toEqual(tokens);
    e.close();
  });

  test("BitNet's per-token activations: top-1 mostly agrees; the logits differ by the activation scheme only", () => {
    const e = native();
    const mine = e.decode(batchOf(tokens, 0, 0, true), "causal").slice();
    const g = agreement(mine, reference, N);
    console.log(`native (int8 per token) vs llama.cpp (Q8_K): ${fmt(g)}`);
    // On this random 2-layer model the top two logits are often within 0.03 of each other (10% of
    // positions), so the quantisation schemes alone flip the argmax at a few percent of positions: the
    // TypeScript reference run once per scheme disagrees with itself at 2.7% of these positions.
    expect(g.top1).toBeGreaterThanOrEqual(0.95);
    expect(g.maxDiff).toBeLessThan(0.3);
    // The scheme alone explains the flips: the native engine run once per scheme (per-token int8 vs
    // Q8_K-mimic) disagrees with itself at least as often as it disagrees with llama.cpp.
    const mimic = native(MIMIC);
    const self = agreement(mine, mimic.decode(batchOf(tokens, 0, 0, true), "causal"), N);
    console.log(`native (int8 per token) vs native (Q8_K mimic): ${fmt(self)}`);
    expect(g.top1).toBeGreaterThanOrEqual(self.top1 - 0.01);
    mimic.close();
    e.close();
  });

  describe("on the trained default model", () => {
    const path = `${import.meta.dir}/../models/default.gguf`;
    // In its own domain (chat transcripts of the held-out tasks with their answers) the model's logits
    // are peaked; on the English text it has never seen they are flat, and the scheme alone flips argmaxes.
    const conversation = readEvalSet().flatMap((it) => [
      { role: "user" as const, content: it.prompt },
      { role: "assistant" as const, content: it.answer },
    ]);

    function compare(text: "chat" | "english") {
      const ll = new LlamaEngine({ path, nCtx: 1024, nBatch: N, nParallel: 1, threads: 1, kvF32: true });
      const info = ll.info;
      const chat = renderChat(info.chatTemplate, conversation, { bosToken: info.bosText, eosToken: info.eosText, addGenerationPrompt: false });
      const toks = Array.from(text === "chat"
        ? ll.tokenize(chat, { addSpecial: needsBos(chat, info), parseSpecial: true })
        : ll.tokenize(ENGLISH_TEXT, { addSpecial: true, parseSpecial: false })).slice(0, N);
      const want = ll.decode(batchOf(toks, 0, 0, true), "causal").slice();
      ll.close();
      const run = (o: Partial<NativeEngineOptions>) => {
        const e = new NativeEngine({ path, nCtx: 1024, nBatch: N, nParallel: 1, threads: 1, kvF32: true, ...o });
        const out = { logits: e.decode(batchOf(toks, 0, 0, true), "causal").slice(), v: e.info.nVocab };
        e.close();
        return out;
      };
      const mine = run({}), mimic = run(MIMIC);
      expect(toks.length).toBe(N);
      return { vsLlama: agreement(mine.logits, want, N, mine.v), vsMimic: agreement(mine.logits, mimic.logits, N, mine.v) };
    }

    test("in its domain (real, peaked logits) per-token top-1 agrees with llama.cpp at ≥ 98% of positions", () => {
      const g = compare("chat");
      console.log(`default model, held-out chats, native (int8 per token) vs llama.cpp (Q8_K): ${fmt(g.vsLlama)}; native vs its Q8_K mimic: ${fmt(g.vsMimic)}`);
      expect(g.vsLlama.top1).toBeGreaterThanOrEqual(0.98);
      // the logits differ by what the activation scheme alone moves them (peaked logits are large: a few units)
      expect(g.vsLlama.maxDiff).toBeLessThan(1.5 * g.vsMimic.maxDiff);
    });

    test("on English it has never seen, the flips are the activation scheme's: native disagrees with itself as often", () => {
      const g = compare("english");
      console.log(`default model, English, native vs llama.cpp: ${fmt(g.vsLlama)}; native vs its Q8_K mimic: ${fmt(g.vsMimic)}`);
      expect(g.vsLlama.top1).toBeGreaterThanOrEqual(g.vsMimic.top1 - 0.01);
      expect(g.vsLlama.top1).toBeGreaterThanOrEqual(0.9);
    });
  });

  test("mimicking llama.cpp's Q8_K activations and RoPE rounding, the engines agree to float precision", () => {
    const e = native(MIMIC);
    const g = agreement(e.decode(batchOf(tokens, 0, 0, true), "causal"), reference, N);
    console.log(`native (Q8_K mimic) vs llama.cpp: ${fmt(g)}`);
    expect(g.top1).toBeGreaterThanOrEqual(0.98);
    expect(g.medianPosDiff).toBeLessThan(2e-5);
    expect(g.within1e4).toBeGreaterThanOrEqual(0.75);
    // the rest: single int8 codes on the other side of a rounding boundary
    expect(g.maxDiff).toBeLessThan(0.1);
    e.close();
  });
});

// ---- block diffusion ---------------------------------------------------------------------------------

const greedy = { ...defaultSampling, temperature: 0 };
function dlm(o: Partial<DlmOptions> = {}): DlmOptions {
  return { maskToken: MASK, blockSize: 16, subBlockSize: 8, threshold: 0.5, confidence: "prob", mode: "iterative", maxStepsPerBlock: 32, attention: "block", lookahead: true, ...o };
}
function job(prompt: number[], maxTokens: number, d: DlmOptions): Job {
  return { prompt: { tokens: prompt }, maxTokens, stop: [], sampling: greedy, logprobs: null, dlm: d, ignoreEos: true };
}

/** Every sub-block the scheduler resolved: its tokens' text and the step that committed each. */
function decisions(engine: Engine, prompts: number[][], d: DlmOptions): string[] {
  const events = new Map<number, JobEvent[]>();
  const s = new Scheduler(engine, { nParallel: 2, queueLimit: 8, queueTimeoutMs: 60_000 }, (id, e) => events.set(id, [...(events.get(id) ?? []), e]));
  prompts.forEach((p, i) => s.submit(i, job(p, 24, d)));
  for (let guard = 0; !s.idle && guard < 10_000; guard++) s.step();
  return prompts.flatMap((_, i) =>
    (events.get(i) ?? []).map((e) => {
      if (e.type === "error") throw new Error(e.error.message);
      return e.type === "block" ? `${i}:${e.block}:${e.pieces.map((p) => `${p.step}${JSON.stringify(p.text)}`).join(",")}` : e.type === "text" ? `${i}:text:${JSON.stringify(e.text)}` : "";
    }),
  ).filter((x) => x !== "");
}

describe("block diffusion: native and llama.cpp take the same decisions", () => {
  const prompts = [
    [128000, 791, 4062, 14198, 39935, 35308, 927],
    [128000, 9906, 11, 1268, 527, 499, 3432, 30],
  ];

  test("block attention, iterative unmasking, two sequences at once", () => {
    const ll = llama(2);
    const want = decisions(ll, prompts, dlm());
    ll.close();
    const e = native(MIMIC, 2);
    const got = decisions(e, prompts, dlm());
    e.close();
    expect(want.length).toBeGreaterThan(4);
    expect(got).toEqual(want);
  });

  test("greedy sub-blocks with block attention, causal passes, and passes without lookahead", () => {
    for (const d of [dlm({ mode: "greedy", blockSize: 8, subBlockSize: 8 }), dlm({ attention: "causal", threshold: 0.3 }), dlm({ lookahead: false })]) {
      const ll = llama(2);
      const want = decisions(ll, prompts, d);
      ll.close();
      const e = native(MIMIC, 2);
      expect(decisions(e, prompts, d)).toEqual(want);
      e.close();
    }
  });

  test("native: the committed cache equals a fresh causal prefill of the same tokens", () => {
    const e = native({}, 2);
    const prompt = prompts[0];
    for (const o of [
      dlm({ blockSize: 8, subBlockSize: 8, mode: "greedy" }),
      dlm({ blockSize: 16, subBlockSize: 4, threshold: 0.5 }),
      dlm({ blockSize: 8, subBlockSize: 8, mode: "greedy", attention: "causal" }),
      dlm({ blockSize: 32, subBlockSize: 8, threshold: 0.5, lookahead: false }),
    ]) {
      const r = probeCommittedCache(e, prompt, job(prompt, 24, o));
      expect(r.generated.length).toBe(24);
      expect(r.cached).toBeGreaterThan(prompt.length);
      expect(r.cached).toBeLessThan(prompt.length + r.generated.length);
      expect(r.maxDiff).toBeLessThan(1e-4);
      expect(r.passes).toBeGreaterThan(1);
    }
    e.close();
  });
});
