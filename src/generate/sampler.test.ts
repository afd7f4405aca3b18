// Sampler tests: greedy, seeding, each filter on hand-made distributions, penalties, and the
// fast selection paths checked against a brute-force full-sort reference on a Llama-3-sized vocabulary.

import { describe, expect, test } from "bun:test";
import { expNeg } from "./fast-exp.ts";
import { Rng } from "./rng.ts";
import { defaultSampling, Sampler, softmaxConfidence, type SamplingParams } from "./sampler.ts";

const LLAMA3_VOCAB = 128256;

function params(over: Partial<SamplingParams>): SamplingParams {
  return { ...defaultSampling, seed: 1234, ...over };
}

/** Logits whose softmax is exactly `probs` (up to float rounding). */
function logitsOf(probs: number[]): Float32Array {
  return Float32Array.from(probs, (p) => Math.log(p));
}

function randomLogits(n: number, seed: number, scale = 8): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.nextFloat() * 2 - 1) * scale;
  return out;
}

/** Empirical frequency of each token over `draws` samples. */
function frequencies(s: Sampler, logits: Float32Array, draws: number, history: number[] = []): number[] {
  const counts = new Array<number>(s.nVocab).fill(0);
  for (let i = 0; i < draws; i++) counts[s.sample(logits, history)]!++;
  return counts.map((c) => c / draws);
}

const rankCache = new WeakMap<Float32Array, number[]>();

/** Every id by logit, highest first, lowest id first on ties (cached: the sort is the slow part). */
function ranked(logits: Float32Array): number[] {
  let ids = rankCache.get(logits);
  if (ids === undefined) {
    ids = [...Array(logits.length).keys()].sort((a, b) => logits[b]! - logits[a]! || a - b);
    rankCache.set(logits, ids);
  }
  return ids;
}

/** Brute force: full sort, then the chain exactly as documented. Returns candidate ids ascending. */
function referenceCandidates(logits: Float32Array, p: SamplingParams): number[] {
  const V = logits.length;
  const w = Array.from(logits);
  const m = w.reduce((a, b) => (b > a ? b : a), -Infinity);
  let ids = ranked(logits);
  if (p.topK > 0 && p.topK < V) ids = ids.slice(0, p.topK);
  if (p.topP < 1) {
    // Normaliser summed in the sampler's order (id order, or rank order after top-k) so rounding
    // agrees at the boundary.
    const inSet = p.topK > 0 && p.topK < V ? ids : [...ids].sort((a, b) => a - b);
    let z = 0;
    // expNeg as in the sampler: this reference checks the selection, not the exponential.
    for (const t of inSet) z += expNeg(w[t]! - m);
    let cum = 0;
    let cut = ids.length;
    for (let i = 0; i < ids.length; i++) {
      cum += expNeg(w[ids[i]!]! - m) / z;
      if (cum >= p.topP) {
        cut = i + 1;
        break;
      }
    }
    ids = ids.slice(0, cut);
  }
  if (p.minP > 0) ids = ids.filter((t) => w[t]! >= m + Math.log(p.minP));
  return ids.sort((a, b) => a - b);
}

describe("greedy", () => {
  test("temperature 0 is the argmax, ties to the lowest id", () => {
    const logits = randomLogits(1000, 7);
    let arg = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[arg]!) arg = i;
    const s = new Sampler(params({ temperature: 0 }), 1000);
    expect(s.sample(logits, [])).toBe(arg);

    const tied = Float32Array.of(0, 3, 1, 3, 3);
    expect(new Sampler(params({ temperature: 0 }), 5).sample(tied, [])).toBe(1);
    expect(new Sampler(params({ temperature: 1e-6 }), 5).sample(tied, [])).toBe(1);
  });

  test("top-k = 1 at temperature 1 is greedy", () => {
    const logits = randomLogits(5000, 3, 1);
    const greedy = new Sampler(params({ temperature: 0 }), 5000).sample(logits, []);
    const s = new Sampler(params({ topK: 1 }), 5000);
    for (let i = 0; i < 20; i++) expect(s.sample(logits, [])).toBe(greedy);
  });

  test("NaN logits are never chosen", () => {
    const logits = Float32Array.of(NaN, 1, NaN, 0.5);
    expect(new Sampler(params({ temperature: 0 }), 4).sample(logits, [])).toBe(1);
    const s = new Sampler(params({}), 4);
    for (let i = 0; i < 200; i++) expect([1, 3]).toContain(s.sample(logits, []));
  });
});

describe("seeding", () => {
  test("same seed and logits give the same tokens; another seed does not", () => {
    const logits = randomLogits(LLAMA3_VOCAB, 11, 2);
    const run = (seed: number, over: Partial<SamplingParams> = {}) => {
      const s = new Sampler(params({ seed, ...over }), LLAMA3_VOCAB);
      return Array.from({ length: 24 }, () => s.sample(logits, []));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42, { topP: 0.9, topK: 100 })).toEqual(run(42, { topP: 0.9, topK: 100 }));
    expect(run(42)).not.toEqual(run(43));
  });

  test("a null seed draws one and reports it, so the request can be replayed", () => {
    const logits = randomLogits(64, 5, 1);
    const a = new Sampler(params({ seed: null }), 64);
    const b = new Sampler(params({ seed: a.seed }), 64);
    expect(Number.isSafeInteger(a.seed)).toBe(true);
    for (let i = 0; i < 16; i++) expect(a.sample(logits, [])).toBe(b.sample(logits, []));
  });

  test("samplers sharing a thread do not disturb each other", () => {
    const logits = randomLogits(LLAMA3_VOCAB, 12, 2);
    const over = { topP: 0.9, repeatPenalty: 1.2, frequencyPenalty: 0.3 };
    const alone = new Sampler(params({ seed: 7, ...over }), LLAMA3_VOCAB);
    const want = Array.from({ length: 12 }, (_, i) => alone.sample(logits, [i, i + 1]));
    const a = new Sampler(params({ seed: 7, ...over }), LLAMA3_VOCAB);
    const b = new Sampler(params({ seed: 8, topK: 5, minP: 0.1 }), LLAMA3_VOCAB);
    const got = Array.from({ length: 12 }, (_, i) => {
      b.sample(logits, [3, 3, 3]);
      return a.sample(logits, [i, i + 1]);
    });
    expect(got).toEqual(want);
  });

  test("never mutates the logits row", () => {
    const logits = randomLogits(300, 9);
    const copy = logits.slice();
    const every = params({
      topK: 50,
      topP: 0.8,
      minP: 0.01,
      repeatPenalty: 1.3,
      presencePenalty: 0.5,
      frequencyPenalty: 0.5,
      logitBias: new Map([[3, 5]]),
    });
    const s = new Sampler(every, 300);
    for (let i = 0; i < 5; i++) s.sample(logits, [1, 2, 3, 3]);
    s.topLogprobs(logits, 5);
    expect(logits).toEqual(copy);
  });
});

describe("filters on a small distribution", () => {
  // p = [0.5, 0.3, 0.15, 0.05]
  const probs = [0.5, 0.3, 0.15, 0.05];
  const logits = logitsOf(probs);

  test("no filter draws from the softmax itself", () => {
    const f = frequencies(new Sampler(params({}), 4), logits, 20000);
    for (let i = 0; i < 4; i++) expect(Math.abs(f[i]! - probs[i]!)).toBeLessThan(0.015);
  });

  test("top-k keeps the k most likely, renormalised", () => {
    const s = new Sampler(params({ topK: 2 }), 4);
    expect(s.candidates(logits, [])).toEqual([0, 1]);
    const f = frequencies(s, logits, 20000);
    expect(Math.abs(f[0]! - 0.625)).toBeLessThan(0.015);
    expect(f[2]! + f[3]!).toBe(0);
  });

  test("top-p keeps the smallest set whose mass reaches p", () => {
    const cand = (topP: number) => new Sampler(params({ topP }), 4).candidates(logits, []);
    expect(cand(0.4)).toEqual([0]);
    expect(cand(0.75)).toEqual([0, 1]);
    expect(cand(0.85)).toEqual([0, 1, 2]);
    expect(cand(0.97)).toEqual([0, 1, 2, 3]);
    expect(cand(0)).toEqual([0]); // min_keep = 1
    const f = frequencies(new Sampler(params({ topP: 0.75 }), 4), logits, 20000);
    expect(Math.abs(f[1]! - 0.375)).toBeLessThan(0.015);
  });

  test("top-p after top-k renormalises over the top-k set", () => {
    // Renormalised over the top 2, token 0 has 0.625 ≥ 0.62 alone; over all four it has only 0.5.
    expect(new Sampler(params({ topK: 2, topP: 0.62 }), 4).candidates(logits, [])).toEqual([0]);
    expect(new Sampler(params({ topP: 0.62 }), 4).candidates(logits, [])).toEqual([0, 1]);
  });

  test("min-p is relative to the most likely token", () => {
    const cand = (minP: number) => new Sampler(params({ minP }), 4).candidates(logits, []);
    expect(cand(0.35)).toEqual([0, 1]); // threshold 0.175
    expect(cand(0.25)).toEqual([0, 1, 2]); // threshold 0.125
    expect(cand(0.05)).toEqual([0, 1, 2, 3]);
    expect(cand(1)).toEqual([0]);
    // Scaling every logit shifts nothing relative to the max: same set.
    const shifted = logits.map((x) => x + 100);
    expect(new Sampler(params({ minP: 0.35 }), 4).candidates(shifted, [])).toEqual([0, 1]);
  });

  test("temperature sharpens and flattens after filtering", () => {
    const cold = frequencies(new Sampler(params({ temperature: 0.25 }), 4), logits, 20000);
    // p^(1/T) normalised: 0.5^4 / Σ p^4 ≈ 0.873
    const z = probs.reduce((a, p) => a + p ** 4, 0);
    expect(Math.abs(cold[0]! - 0.5 ** 4 / z)).toBeLessThan(0.015);
    const hot = frequencies(new Sampler(params({ temperature: 100 }), 4), logits, 20000);
    for (const f of hot) expect(Math.abs(f - 0.25)).toBeLessThan(0.02);
    // Filters use the untempered distribution (llama.cpp order): a hot top-p 0.75 still keeps {0, 1}.
    expect(new Sampler(params({ temperature: 100, topP: 0.75 }), 4).candidates(logits, [])).toEqual([0, 1]);
  });

  test("logit bias: −∞ bans, a large bias forces", () => {
    const ban = new Sampler(params({ temperature: 0, logitBias: new Map([[0, -Infinity]]) }), 4);
    expect(ban.sample(logits, [])).toBe(1);
    const force = new Sampler(params({ logitBias: new Map([[3, 100]]) }), 4);
    for (let i = 0; i < 50; i++) expect(force.sample(logits, [])).toBe(3);
    // Out-of-range ids are ignored rather than writing past the row.
    expect(new Sampler(params({ temperature: 0, logitBias: new Map([[99, 5]]) }), 4).sample(logits, [])).toBe(0);
  });
});

describe("penalties", () => {
  test("repetition penalty divides positive and multiplies negative logits in the window", () => {
    const greedy = (over: Partial<SamplingParams>, logits: Float32Array, history: number[]) =>
      new Sampler(params({ temperature: 0, ...over }), logits.length).sample(logits, history);
    const pos = Float32Array.of(2, 1.9, 0);
    expect(greedy({ repeatPenalty: 1.5 }, pos, [0])).toBe(1); // 2 / 1.5 < 1.9
    expect(greedy({ repeatPenalty: 1.5 }, pos, [0, 0, 0])).toBe(1); // once per distinct token
    expect(greedy({ repeatPenalty: 1.01 }, pos, [0])).toBe(0);
    const neg = Float32Array.of(-1, -1.2, -5);
    expect(greedy({ repeatPenalty: 1.5 }, neg, [0])).toBe(1); // −1 × 1.5 < −1.2
    // Window: token 0 lies outside the last 2 tokens of the history.
    expect(greedy({ repeatPenalty: 1.5, repeatLastN: 2 }, pos, [0, 2, 2])).toBe(0);
    expect(greedy({ repeatPenalty: 1.5, repeatLastN: -1 }, pos, [0, 2, 2])).toBe(1);
    expect(greedy({ repeatPenalty: 1.5, repeatLastN: 0 }, pos, [0])).toBe(0);
  });

  test("presence and frequency penalties follow OpenAI's formula over the whole history", () => {
    // logits after: μ0 = 3 − c0·f − p, with c0 = 2
    const logits = Float32Array.of(3, 2.5, 0);
    const run = (over: Partial<SamplingParams>, history: number[]) => {
      const s = new Sampler(params({ temperature: 0, repeatLastN: 1, ...over }), 3);
      return s.sample(logits, history);
    };
    expect(run({ presencePenalty: 0.4 }, [0, 0])).toBe(0); // 3 − 0.4 = 2.6 > 2.5
    expect(run({ presencePenalty: 0.6 }, [0, 0])).toBe(1); // 2.4 < 2.5
    expect(run({ frequencyPenalty: 0.2 }, [0, 0])).toBe(0); // 3 − 0.4 = 2.6
    expect(run({ frequencyPenalty: 0.3 }, [0, 0])).toBe(1); // 3 − 0.6 = 2.4
    expect(run({ frequencyPenalty: 0.3 }, [0, 2, 2, 2])).toBe(0); // only one 0: 2.7
    expect(run({ presencePenalty: -1 }, [1])).toBe(1); // negative penalties encourage
  });

  test("penalties leave no state behind between calls", () => {
    const logits = Float32Array.of(2, 1.9, 0);
    const s = new Sampler(params({ temperature: 0, repeatPenalty: 1.5, frequencyPenalty: 1 }), 3);
    expect(s.sample(logits, [0, 0])).toBe(1);
    expect(s.sample(logits, [])).toBe(0);
  });
});

describe("fast paths against the full-sort reference (128256 tokens)", () => {
  const peaked = randomLogits(LLAMA3_VOCAB, 21, 12);
  const flat = randomLogits(LLAMA3_VOCAB, 22, 0.05); // the kept set is half the vocabulary
  // Six distinct values: huge ties, so the cut falls inside a run of equal logits (lowest ids win).
  const tied = randomLogits(LLAMA3_VOCAB, 23, 3).map((x) => Math.round(x));

  const cases: Array<[string, Float32Array, Partial<SamplingParams>]> = [
    ["top-k 40", peaked, { topK: 40 }],
    ["top-p 0.9", peaked, { topP: 0.9 }],
    ["top-k 500 + top-p 0.5", flat, { topK: 500, topP: 0.5 }],
    ["top-p 0.5 flat", flat, { topP: 0.5 }],
    ["top-p 0.9 + min-p 0.97 flat", flat, { topP: 0.9, minP: 0.97 }],
    ["min-p 0.05", peaked, { minP: 0.05 }],
    ["top-k 1000 + top-p 0.95 + min-p 0.001", peaked, { topK: 1000, topP: 0.95, minP: 0.001 }],
    ["top-k 1000 on ties", tied, { topK: 1000 }],
    ["top-p 0.3 on ties", tied, { topP: 0.3 }],
    ["top-k 30000 + top-p 0.999 on ties", tied, { topK: 30000, topP: 0.999 }],
  ];
  for (const [name, logits, over] of cases) {
    test(name, () => {
      const p = params(over);
      const got = new Sampler(p, LLAMA3_VOCAB).candidates(logits, []);
      expect(got).toEqual(referenceCandidates(logits, p));
    });
  }
});

describe("log-probabilities", () => {
  test("topLogprobs: sorted, lowest id first on ties, matching a direct log-softmax", () => {
    const logits = Float32Array.of(1, 3, 3, -2, 0.5);
    const s = new Sampler(params({}), 5);
    const z = Array.from(logits).reduce((a, x) => a + Math.exp(x), 0);
    const top = s.topLogprobs(logits, 3);
    expect(top.map((t) => t.token)).toEqual([1, 2, 0]);
    for (const t of top) expect(t.logprob).toBeCloseTo(logits[t.token]! - Math.log(z), 6);
    expect(s.topLogprobs(logits, 0)).toEqual([]);
    expect(s.topLogprobs(logits, 99)).toHaveLength(5);
    expect(s.logprobOf(logits, 3)).toBeCloseTo(-2 - Math.log(z), 6);
  });

  test("stable for huge logits", () => {
    const logits = Float32Array.of(1e4, 1e4 - 1, -1e4);
    const s = new Sampler(params({}), 3);
    expect(s.logprobOf(logits, 0)).toBeCloseTo(-Math.log(1 + Math.exp(-1)), 6);
    expect(Number.isFinite(s.logprobOf(logits, 2))).toBe(true);
  });

  test("topLogprobs on a full vocabulary matches a sort", () => {
    const logits = randomLogits(LLAMA3_VOCAB, 5);
    const s = new Sampler(params({}), LLAMA3_VOCAB);
    const want = Array.from({ length: LLAMA3_VOCAB }, (_, i) => i)
      .sort((a, b) => logits[b]! - logits[a]! || a - b)
      .slice(0, 20);
    expect(s.topLogprobs(logits, 20).map((t) => t.token)).toEqual(want);
  });
});

describe("softmaxConfidence", () => {
  test("argmax, its probability and the top1 − top2 margin", () => {
    const probs = [0.1, 0.6, 0.25, 0.05];
    const c = softmaxConfidence(logitsOf(probs), 4);
    expect(c.token).toBe(1);
    expect(c.prob).toBeCloseTo(0.6, 6);
    expect(c.margin).toBeCloseTo(0.35, 6);
    const tie = softmaxConfidence(Float32Array.of(0, 2, 2), 3);
    expect(tie.token).toBe(1);
    expect(tie.margin).toBeCloseTo(0, 9);
    expect(softmaxConfidence(Float32Array.of(5), 1)).toEqual({ token: 0, prob: 1, margin: 1 });
  });

  test("reads only nVocab entries of a longer row", () => {
    const c = softmaxConfidence(Float32Array.of(0, 1, 100), 2);
    expect(c.token).toBe(1);
  });
});

describe("construction", () => {
  test("rejects nonsense parameters", () => {
    expect(() => new Sampler(params({ repeatPenalty: 0 }), 4)).toThrow(RangeError);
    expect(() => new Sampler(params({ temperature: NaN }), 4)).toThrow(RangeError);
    expect(() => new Sampler(params({}), 0)).toThrow(RangeError);
    expect(() => new Sampler(params({}), 8).sample(new Float32Array(4), [])).toThrow(RangeError);
  });
});
