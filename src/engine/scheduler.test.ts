import { describe, expect, test } from "bun:test";
import { FakeEngine, FAKE_EOS } from "../../test/support/fake-engine.ts";
import { defaultSampling } from "../generate/sampler.ts";
import type { Job, JobEvent } from "./protocol.ts";
import { Scheduler } from "./scheduler.ts";

const greedy = { ...defaultSampling, temperature: 0 };

function job(text: string, extra: Partial<Job> = {}): Job {
  return {
    prompt: { text, addSpecial: false, parseSpecial: false },
    maxTokens: 8, stop: [], sampling: greedy, logprobs: null, dlm: null, ignoreEos: false, ...extra,
  };
}

function run(engine: FakeEngine, jobs: Job[], opts = { nParallel: 4, queueLimit: 16, queueTimeoutMs: 60_000 }) {
  const events = new Map<number, JobEvent[]>();
  const s = new Scheduler(engine, opts, (id, e) => events.set(id, [...(events.get(id) ?? []), e]));
  jobs.forEach((j, i) => s.submit(i, j));
  for (let guard = 0; !s.idle && guard < 10_000; guard++) s.step();
  const text = (id: number) => (events.get(id) ?? []).map((e) => (e.type === "text" ? e.text : "")).join("");
  const done = (id: number) => (events.get(id) ?? []).find((e) => e.type === "done") as Extract<JobEvent, { type: "done" }> | undefined;
  return { s, events, text, done };
}

describe("Scheduler with a deterministic engine", () => {
  test("generates max_tokens tokens and reports length", () => {
    const r = run(new FakeEngine(), [job("a", { maxTokens: 5 })]);
    expect(r.text(0)).toBe("bcdef");
    expect(r.done(0)?.finishReason).toBe("length");
    expect(r.done(0)?.usage).toEqual({ promptTokens: 1, completionTokens: 5 });
  });

  test("stops at the end-of-generation token without emitting its text", () => {
    const r = run(new FakeEngine({ eosAfter: "d".charCodeAt(0) }), [job("a", { maxTokens: 50 })]);
    expect(r.text(0)).toBe("bcd");
    expect(r.done(0)?.finishReason).toBe("stop");
    expect(r.done(0)?.usage.completionTokens).toBe(3);
  });

  test("ignore_eos runs through the end-of-generation token", () => {
    const r = run(new FakeEngine({ eosAfter: "b".charCodeAt(0) }), [job("a", { maxTokens: 3, ignoreEos: true })]);
    expect(r.done(0)?.finishReason).toBe("length");
    expect(r.done(0)?.usage.completionTokens).toBe(3);
  });

  test("stop strings end generation and never leak", () => {
    const r = run(new FakeEngine(), [job("a", { maxTokens: 50, stop: ["efg"] })]);
    expect(r.text(0)).toBe("bcd");
    expect(r.done(0)?.finishReason).toBe("stop");
  });

  test("several sequences share decode steps and stay independent", () => {
    const e = new FakeEngine();
    const r = run(e, [job("a", { maxTokens: 4 }), job("k", { maxTokens: 6 }), job("xy", { maxTokens: 2 })]);
    expect(r.text(0)).toBe("bcde");
    expect(r.text(1)).toBe("lmnopq");
    expect(r.text(2)).toBe("z{");
    // Three prompts and their first tokens fit in few steps: continuous batching, not one request at a time.
    expect(e.decodes.some((d) => d.seqs.length === 3)).toBe(true);
    expect(r.s.active).toBe(0);
    expect(e.cache.size).toBe(0); // every slot freed
  });

  test("a long prompt is prefilled in chunks of the batch size", () => {
    const e = new FakeEngine({ nBatch: 16, nCtx: 512 });
    const prompt = "x".repeat(100);
    const r = run(e, [job(prompt, { maxTokens: 2 })]);
    expect(r.done(0)?.usage.promptTokens).toBe(100);
    expect(e.decodes.filter((d) => d.n === 16).length).toBe(6);
  });

  test("more jobs than sequences wait in the queue and all complete", () => {
    const e = new FakeEngine({ nSeqMax: 2 });
    const jobs = Array.from({ length: 6 }, (_, i) => job(String.fromCharCode(97 + i), { maxTokens: 3 }));
    const r = run(e, jobs, { nParallel: 2, queueLimit: 16, queueTimeoutMs: 60_000 });
    for (let i = 0; i < 6; i++) expect(r.done(i)?.usage.completionTokens).toBe(3);
    expect(Math.max(...e.decodes.map((d) => d.seqs.length))).toBeLessThanOrEqual(2);
  });

  test("a prompt that fills the context is refused with the numbers", () => {
    const s = new Scheduler(new FakeEngine({ nCtx: 32 }), { nParallel: 1, queueLimit: 4, queueTimeoutMs: 1000 }, () => {});
    expect(() => s.submit(1, job("x".repeat(32)))).toThrow(/32 tokens but the context holds 32/);
  });

  test("generation stops with length when the context is full", () => {
    const r = run(new FakeEngine({ nCtx: 10 }), [job("abcdefgh", { maxTokens: 100 })]);
    expect(r.done(0)?.finishReason).toBe("length");
    expect(r.done(0)!.usage.promptTokens + r.done(0)!.usage.completionTokens).toBeLessThanOrEqual(10);
  });

  test("cancel frees the sequence at once", () => {
    const e = new FakeEngine();
    const events: JobEvent[] = [];
    const s = new Scheduler(e, { nParallel: 2, queueLimit: 4, queueTimeoutMs: 1000 }, (_id, ev) => events.push(ev));
    s.submit(7, job("a", { maxTokens: 1000 }));
    s.step();
    s.step();
    s.cancel(7);
    expect(s.idle).toBe(true);
    expect(e.cache.size).toBe(0);
    expect(events.some((ev) => ev.type === "done")).toBe(false);
  });

  test("a full queue refuses with overloaded", () => {
    const s = new Scheduler(new FakeEngine({ nSeqMax: 1 }), { nParallel: 1, queueLimit: 1, queueTimeoutMs: 1000 }, () => {});
    s.submit(1, job("a"));
    s.step(); // admits job 1: no free sequence left
    s.submit(2, job("b"));
    expect(() => s.submit(3, job("c"))).toThrow(/queue is full/);
  });

  test("tokens outside the vocabulary are refused", () => {
    const s = new Scheduler(new FakeEngine(), { nParallel: 1, queueLimit: 1, queueTimeoutMs: 1000 }, () => {});
    expect(() => s.submit(1, job("", { prompt: { tokens: [1, 999] } }))).toThrow(/outside the vocabulary/);
    expect(FAKE_EOS).toBe(256);
  });
});
