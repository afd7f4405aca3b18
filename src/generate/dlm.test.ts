// Block diffusion on the Engine interface: exact limits and EOG handling on a deterministic engine, and
// on a real model (llama engine, random fixture): equivalence with AR at one token per step, a cache
// identical to a fresh causal prefill, and long prompts.
import { afterAll, describe, expect, test } from "bun:test";
import { ensureFixtures } from "../../scripts/fixtures.ts";
import { FakeEngine, FAKE_EOS } from "../../test/support/fake-engine.ts";
import { probeCommittedCache } from "../../test/support/dlm-cache.ts";
import { argmax, greedyTokens } from "../../test/support/greedy.ts";
import type { Engine } from "../engine/engine.ts";
import { LlamaEngine } from "../engine/llama/llama-engine.ts";
import type { DlmOptions, Job, JobEvent } from "../engine/protocol.ts";
import { Scheduler } from "../engine/scheduler.ts";
import { defaultSampling } from "./sampler.ts";

const greedy = { ...defaultSampling, temperature: 0 };

function dlm(o: Partial<DlmOptions> = {}): DlmOptions {
  return { maskToken: 0, blockSize: 32, subBlockSize: 8, threshold: 0.9, confidence: "prob", mode: "iterative", maxStepsPerBlock: 32, attention: "block", lookahead: true, ...o };
}

function job(prompt: number[], maxTokens: number, d: DlmOptions | null, extra: Partial<Job> = {}): Job {
  return { prompt: { tokens: prompt }, maxTokens, stop: [], sampling: greedy, logprobs: null, dlm: d, ignoreEos: false, ...extra };
}

function runAll(engine: Engine, jobs: Job[]) {
  const events = new Map<number, JobEvent[]>();
  const s = new Scheduler(engine, { nParallel: 4, queueLimit: 16, queueTimeoutMs: 60_000 }, (id, e) =>
    events.set(id, [...(events.get(id) ?? []), e]),
  );
  jobs.forEach((j, i) => s.submit(i, j));
  for (let guard = 0; !s.idle && guard < 100_000; guard++) s.step();
  return jobs.map((_, i) => {
    const ev = events.get(i) ?? [];
    const err = ev.find((e) => e.type === "error");
    if (err) throw new Error(JSON.stringify(err));
    return {
      text: ev.map((e) => (e.type === "text" ? e.text : "")).join(""),
      done: ev.find((e) => e.type === "done") as Extract<JobEvent, { type: "done" }>,
    };
  });
}

describe("block diffusion limits on a deterministic engine", () => {
  test("max_tokens is exact for every window alignment", () => {
    for (const max of [1, 2, 5, 7, 8, 9, 13, 33]) {
      const [r] = runAll(new FakeEngine({ nBatch: 64 }), [job([97], max, dlm({ maskToken: 33, blockSize: 8, subBlockSize: 4, mode: "greedy" }), { ignoreEos: true })]);
      expect(r.done.usage.completionTokens).toBe(max);
      expect(r.done.finishReason).toBe("length");
    }
  });

  test("generation ends at the first EOG token and its text never reaches the reply", () => {
    const e = new FakeEngine({ eosAfter: "e".charCodeAt(0) });
    const [r] = runAll(e, [job([97], 50, dlm({ maskToken: 33, blockSize: 1, subBlockSize: 1, threshold: 2 }))]);
    expect(r.text).toBe("bcde");
    expect(r.done.finishReason).toBe("stop");
    expect(r.done.usage.completionTokens).toBe(4);
    expect(r.text.includes("</s>")).toBe(false);
    expect(FAKE_EOS).toBe(256);
  });

  test("stop strings work as in AR mode", () => {
    const [r] = runAll(new FakeEngine(), [job([97], 50, dlm({ maskToken: 33, blockSize: 1, subBlockSize: 1, threshold: 2 }), { stop: ["fg"] })]);
    expect(r.text).toBe("bcde");
    expect(r.done.finishReason).toBe("stop");
  });

  test("greedy mode commits a whole sub-block per pass and reports it", () => {
    const [r] = runAll(new FakeEngine({ nBatch: 64 }), [job([97], 32, dlm({ maskToken: 33, blockSize: 8, subBlockSize: 8, mode: "greedy" }), { ignoreEos: true })]);
    expect(r.done.usage.completionTokens).toBe(32);
    // 4 sub-blocks: one block pass each, plus a commit pass for all but the last.
    expect(r.done.timings.forwardPasses).toBe(7);
    expect(r.done.timings.tokensPerPass).toBeCloseTo(32 / 7, 5);
  });

  test("block passes carry the rest of the block as lookahead masks, or only the sub-block without lookahead", () => {
    const blockPasses = (lookahead: boolean) => {
      const e = new FakeEngine({ nBatch: 64 });
      const [r] = runAll(e, [job([97], 32, dlm({ maskToken: 33, blockSize: 32, subBlockSize: 8, mode: "greedy", lookahead }), { ignoreEos: true })]);
      return { sizes: e.decodes.filter((d) => d.attention === "block").map((d) => d.n), text: r.text };
    };
    const on = blockPasses(true), off = blockPasses(false);
    expect(on.sizes).toEqual([32, 24, 16, 8]);
    expect(off.sizes).toEqual([8, 8, 8, 8]);
    // the fake engine's predictions do not depend on context, so both give the same tokens
    expect(off.text).toBe(on.text);
    expect(on.text.length).toBe(32);
  });
});

describe("block diffusion on a real model (llama engine, random fixture)", () => {
  const fx = ensureFixtures();
  const engines: Engine[] = [];
  afterAll(() => engines.forEach((e) => e.close()));
  const open = (nParallel = 2) => {
    const e = new LlamaEngine({ path: fx.paths.bitnet.tq2_0, nCtx: 512, nBatch: 256, nParallel, threads: 1, kvF32: true });
    engines.push(e);
    return e;
  };
  // A reserved special token of the Llama-3 vocabulary stands in as the mask.
  const MASK = 128002;

  test("θ above 1 with block size 1 equals AR greedy token for token, with a prompt far over 64 tokens", () => {
    const e = open();
    const prompt = [128000, ...Array.from({ length: 150 }, (_, i) => 1000 + ((i * 37) % 5000))];
    const want = greedyTokens(e, prompt, 20);
    e.kvClear(-1);
    const [r] = runAll(e, [job(prompt, 20, dlm({ maskToken: MASK, blockSize: 1, subBlockSize: 1, threshold: 2 }), { ignoreEos: true })]);
    const wantText = new TextDecoder().decode(Buffer.concat(want.map((t) => e.tokenBytes(t, false))));
    expect(r.text).toBe(wantText);
    expect(r.done.usage.promptTokens).toBe(151);
  });

  test("the committed cache equals a fresh causal prefill of the same tokens", () => {
    const e = open();
    const prompt = [128000, 791, 4062, 14198, 39935, 35308, 927];
    for (const o of [
      dlm({ maskToken: MASK, blockSize: 8, subBlockSize: 8, mode: "greedy" }),
      dlm({ maskToken: MASK, blockSize: 16, subBlockSize: 4, threshold: 0.5 }),
      dlm({ maskToken: MASK, blockSize: 8, subBlockSize: 8, mode: "greedy", attention: "causal" }),
    ]) {
      const r = probeCommittedCache(e, prompt, job(prompt, 24, o, { ignoreEos: true }));
      expect(r.generated.length).toBe(24);
      // The cache holds the prompt and every committed sub-block (the last one needs no commit pass).
      expect(r.cached).toBeGreaterThan(prompt.length);
      expect(r.cached).toBeLessThan(prompt.length + r.generated.length);
      expect(r.maxDiff).toBeLessThan(1e-3);
      expect(argmax(r.probe)).toBe(argmax(r.fresh));
      expect(r.passes).toBeGreaterThan(1);
    }
  });
});
