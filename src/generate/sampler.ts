// Token sampling from one row of logits: logit bias, penalties, top-k / top-p / min-p, temperature
// and a seeded draw (llama.cpp's chain and order), plus log-probabilities for the `logprobs` feature.

import { expNeg } from "./fast-exp.ts";
import { gatherAbove, keepAbove, sortRange } from "./rank.ts";
import { randomSeed, Rng } from "./rng.ts";

export interface SamplingParams {
  /** ≤ 1e-5: greedy (argmax after bias and penalties). */
  temperature: number;
  /** Keep the k most likely tokens; ≤ 0 or ≥ nVocab: off. */
  topK: number;
  /** Keep the smallest most-likely set whose probability reaches p; ≥ 1: off. */
  topP: number;
  /** Drop tokens with p < minP · p_max; ≤ 0: off. */
  minP: number;
  /** llama.cpp repetition penalty: positive logits ÷ it, negative × it; 1: off. */
  repeatPenalty: number;
  /** Window of the repetition penalty: last N tokens of the history; −1: all of it, 0: off. */
  repeatLastN: number;
  /** OpenAI: subtracted once from every token already present in the history. */
  presencePenalty: number;
  /** OpenAI: subtracted once per occurrence in the history. */
  frequencyPenalty: number;
  /** Same seed + same logits ⇒ same tokens; null: a random seed from the OS. */
  seed: number | null;
  /** Added to the logits of the listed token ids before anything else (OpenAI `logit_bias`). */
  logitBias: Map<number, number> | null;
}

/** OpenAI's defaults (temperature 1, top_p 1), every other filter and penalty off. */
export const defaultSampling: SamplingParams = Object.freeze({
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repeatPenalty: 1,
  repeatLastN: 64,
  presencePenalty: 0,
  frequencyPenalty: 0,
  seed: null,
  logitBias: null,
});

/** At or below this temperature sampling is greedy (llama.cpp: temp ≤ 0; tiny temps overflow exp). */
export const GREEDY_TEMPERATURE = 1e-5;

/**
 * Histogram for the prefix filters: LAST_BIN equal bins over the distance below the max, spanning
 * the row's range clamped to [MIN_BIN_RANGE, MAX_BIN_RANGE] logit units; the last bin collects
 * anything farther (beyond 64 units a token's probability is < e^-64 of the max's).
 */
const N_BINS = 2049;
const LAST_BIN = N_BINS - 1;
const MIN_BIN_RANGE = 1e-3;
const MAX_BIN_RANGE = 64;

/**
 * Buffers one call of `sample` works in. Sampling is synchronous, so every Sampler of a thread with
 * the same vocabulary shares one set: 3 MiB for 128k tokens, not 3 MiB per running request.
 */
class Scratch {
  readonly work: Float32Array; // (nVocab) logits after bias and penalties
  readonly idx: Int32Array; // (nVocab) candidate token ids
  readonly prob: Float64Array; // (nVocab) unnormalised candidate weights
  readonly tmp: Int32Array; // (nVocab) ids of the cut bin while idx is being compacted
  readonly counts: Int32Array; // (nVocab) per-token occurrences, all zero between calls
  readonly binCount = new Int32Array(N_BINS); // tokens per distance-below-max bin
  readonly binMass = new Float64Array(N_BINS); // Σ exp(logit − max) per bin

  constructor(nVocab: number) {
    this.work = new Float32Array(nVocab);
    this.idx = new Int32Array(nVocab);
    this.prob = new Float64Array(nVocab);
    this.tmp = new Int32Array(nVocab);
    this.counts = new Int32Array(nVocab);
  }
}

const scratchByVocab = new Map<number, Scratch>();

function scratchFor(nVocab: number): Scratch {
  let s = scratchByVocab.get(nVocab);
  if (s === undefined) {
    s = new Scratch(nVocab);
    scratchByVocab.set(nVocab, s);
  }
  return s;
}

export interface TokenLogprob {
  token: number;
  logprob: number;
}

export interface Confidence {
  /** The argmax (lowest id on ties). */
  token: number;
  /** Its softmax probability. */
  prob: number;
  /** p(top1) − p(top2). */
  margin: number;
}

const NUMERIC_PARAMS = [
  "temperature",
  "topK",
  "topP",
  "minP",
  "repeatPenalty",
  "repeatLastN",
  "presencePenalty",
  "frequencyPenalty",
] as const;

/**
 * One sampler per sequence: it owns the PRNG (so a seed replays a whole generation); the scratch
 * buffers sized to the vocabulary are shared per thread, so `sample` allocates nothing.
 *
 * The chain, in llama.cpp's order (common/common.h defaults): logit bias → repetition penalty →
 * frequency/presence penalties → top-k → top-p → min-p → temperature → draw. Filtering before
 * temperature means top-p and min-p see the untempered distribution, as in llama.cpp.
 */
export class Sampler {
  readonly params: Readonly<SamplingParams>;
  readonly nVocab: number;
  /** The seed actually in use (the drawn one when params.seed is null), for replaying a request. */
  readonly seed: number;

  private readonly rng: Rng;
  private readonly s: Scratch;
  /** Outputs of `filter` for the row in `work`: its max logit and argmax. */
  private maxLogit = -Infinity;
  private best = 0;
  /** Histogram bins per logit unit for the current row (set by `filter`). */
  private binScale = LAST_BIN / MAX_BIN_RANGE;
  /** Output of `splitAtBin`: how many ids of the cut bin follow the front. */
  private cutBinLength = 0;

  constructor(params: SamplingParams, nVocab: number) {
    if (!Number.isInteger(nVocab) || nVocab < 1) {
      throw new RangeError(`nVocab must be a positive integer, got ${nVocab}`);
    }
    for (const key of NUMERIC_PARAMS) {
      if (!Number.isFinite(params[key])) {
        throw new RangeError(`sampling parameter ${key} must be finite, got ${params[key]}`);
      }
    }
    if (params.repeatPenalty <= 0) {
      throw new RangeError(`repeatPenalty must be > 0, got ${params.repeatPenalty}`);
    }
    this.params = { ...params };
    this.nVocab = nVocab;
    this.seed = params.seed ?? randomSeed();
    this.rng = new Rng(this.seed);
    this.s = scratchFor(nVocab);
  }

  /** Picks the next token from one row of logits (read only; at least nVocab long). */
  sample(logits: Float32Array, history: ArrayLike<number>): number {
    const n = this.filter(logits, history);
    if (n === 0) return this.best;
    const V = this.nVocab;
    const w = this.s.work;
    const idx = this.s.idx;
    const m = this.maxLogit;

    // Temperature last; the max logit m always survives the filters, so exp never overflows.
    const invT = 1 / this.params.temperature;
    const prob = this.s.prob;
    let sum = 0;
    if (n < 0) {
      for (let i = 0; i < V; i++) {
        const e = expNeg((w[i]! - m) * invT);
        prob[i] = e;
        sum += e;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const e = expNeg((w[idx[i]!]! - m) * invT);
        prob[i] = e;
        sum += e;
      }
    }
    let u = this.rng.nextFloat() * sum;
    const count = n < 0 ? V : n;
    let last = this.best;
    for (let i = 0; i < count; i++) {
      const pi = prob[i]!;
      if (pi <= 0) continue;
      last = n < 0 ? i : idx[i]!;
      u -= pi;
      if (u < 0) return last;
    }
    return last; // rounding left u ≥ 0 after the last weight: take the last possible token
  }

  /**
   * The ids `sample` could return for these inputs (ascending), without drawing: for tests and
   * debugging, not the hot path (it allocates).
   */
  candidates(logits: Float32Array, history: ArrayLike<number>): number[] {
    const n = this.filter(logits, history);
    if (n === 0) return [this.best];
    const ids = n < 0 ? [...Array(this.nVocab).keys()] : Array.from(this.s.idx.subarray(0, n));
    return ids.filter((t) => this.s.work[t]! > -Infinity).sort((a, b) => a - b);
  }

  /**
   * Runs bias, penalties and the filters into the scratch buffers. Returns 0 for greedy (the answer
   * is `best`), −1 when every token stays a candidate, else n with the candidates in idx[0, n).
   *
   * Every filter keeps a prefix of the tokens ranked by logit, so nothing is fully sorted: a pass
   * histograms the tokens by distance below the max (counts for top-k, probability mass for top-p);
   * the bin where the prefix ends is found from the histogram; tokens in earlier bins are kept as a
   * whole and only that one bin is sorted to place the exact cut. O(V) plus a sort of one bin.
   */
  private filter(logits: Float32Array, history: ArrayLike<number>): number {
    const V = this.nVocab;
    const p = this.params;
    const w = this.s.work;
    if (logits.length < V) throw new RangeError(`logits row has ${logits.length} entries, expected ${V}`);
    w.set(logits.length === V ? logits : logits.subarray(0, V));
    this.applyBias();
    this.applyPenalties(history);

    // NaN would poison every comparison and sum below: treat it as "impossible".
    let m = -Infinity;
    let lo = Infinity;
    let best = 0;
    for (let i = 0; i < V; i++) {
      const x = w[i]!;
      if (x !== x) w[i] = -Infinity;
      else if (x > m) {
        m = x;
        best = i;
      }
      if (x < lo && x > -Infinity) lo = x;
    }
    this.maxLogit = m;
    this.best = best;
    this.setBinScale(m, lo);
    if (p.temperature <= GREEDY_TEMPERATURE || p.topK === 1 || m === -Infinity) return 0;

    const useTopK = p.topK > 0 && p.topK < V;
    const useTopP = p.topP < 1;
    const useMinP = p.minP > 0;
    // p_i ≥ minP·p_max ⇔ logit_i ≥ max + ln(minP); minP is capped at 1 so the max always survives.
    const minPThreshold = m + Math.log(Math.min(p.minP, 1));
    if (!useTopK && !useTopP) return useMinP ? gatherAbove(this.s.idx, w, V, minPThreshold) : -1;

    let n = useTopK ? this.topKSet(w, m, p.topK) : -1;
    // top-p renormalises over what top-k left (llama.cpp's softmax over the current candidates).
    if (useTopP) n = this.topPSet(w, m, n, p.topP);
    // min-p comes last and keeps a prefix too, so on the kept set it is a plain threshold.
    if (useMinP) n = keepAbove(this.s.idx, w, n, minPThreshold);
    return n;
  }

  /** Spreads the histogram over the row's actual range, so a flat row does not pile into a few bins. */
  private setBinScale(max: number, min: number): void {
    this.binScale = LAST_BIN / Math.min(Math.max(max - min, MIN_BIN_RANGE), MAX_BIN_RANGE);
  }

  /** Puts the k best-ranked ids of `w` (max m) in idx[0, k), unsorted; returns k. */
  private topKSet(w: Float32Array, m: number, k: number): number {
    const V = this.nVocab;
    const binCount = this.s.binCount;
    const scale = this.binScale;
    binCount.fill(0);
    for (let i = 0; i < V; i++) {
      const d = (m - w[i]!) * scale;
      binCount[d < LAST_BIN ? d | 0 : LAST_BIN]++;
    }
    let before = 0; // tokens in bins before the cut bin: all kept
    let cutBin = 0;
    while (cutBin < LAST_BIN && before + binCount[cutBin]! < k) before += binCount[cutBin++]!;
    const front = this.splitAtBin(w, m, -1, cutBin);
    return front + Math.min(k - front, this.cutBinLength);
  }

  /**
   * Keeps the shortest best-ranked prefix of the candidates (idx[0, n), or every token when n < 0)
   * whose probability, normalised over those candidates, reaches p. Returns the new n (≥ 1).
   */
  private topPSet(w: Float32Array, m: number, n: number, p: number): number {
    const idx = this.s.idx;
    const binMass = this.s.binMass;
    const scale = this.binScale;
    binMass.fill(0);
    let z = 0;
    const count = n < 0 ? this.nVocab : n;
    for (let j = 0; j < count; j++) {
      const x = w[n < 0 ? j : idx[j]!]!;
      const e = expNeg(x - m);
      const d = (m - x) * scale;
      binMass[d < LAST_BIN ? d | 0 : LAST_BIN] += e;
      z += e;
    }
    const target = p * z;
    let cum = 0; // mass of the bins before the cut bin: all kept
    let cutBin = 0;
    while (cutBin < LAST_BIN && cum + binMass[cutBin]! < target) cum += binMass[cutBin++]!;
    const front = this.splitAtBin(w, m, n, cutBin);
    const end = front + this.cutBinLength;
    for (let j = front; j < end; j++) {
      cum += expNeg(w[idx[j]!]! - m);
      if (cum >= target) return j + 1;
    }
    // Summed in another order the bin fell a rounding error short of p: the whole bin is the answer.
    return end;
  }

  /**
   * Rewrites idx as [ids in bins before cutBin, in source order | ids in cutBin, sorted best first],
   * dropping later bins. The source is every token (n < 0) or idx[0, n) itself, compacted in place.
   * Returns the front length; the cut bin's length goes to `cutBinLength`. Bins are computed exactly
   * as in the histogram passes, so both agree on which side of a bin edge each token falls.
   */
  private splitAtBin(w: Float32Array, m: number, n: number, cutBin: number): number {
    const idx = this.s.idx;
    const tmp = this.s.tmp;
    const scale = this.binScale;
    const count = n < 0 ? this.nVocab : n;
    let front = 0;
    let inBin = 0;
    for (let j = 0; j < count; j++) {
      const i = n < 0 ? j : idx[j]!;
      const d = (m - w[i]!) * scale;
      const b = d < LAST_BIN ? d | 0 : LAST_BIN;
      if (b < cutBin) idx[front++] = i;
      else if (b === cutBin) tmp[inBin++] = i;
    }
    idx.set(tmp.subarray(0, inBin), front);
    sortRange(idx, w, front, front + inBin - 1);
    this.cutBinLength = inBin;
    return front;
  }

  /** The k most likely tokens of the model's own distribution (raw logits), most likely first. */
  topLogprobs(logits: Float32Array, k: number): TokenLogprob[] {
    const V = this.nVocab;
    const kk = Math.min(Math.max(0, Math.floor(k)), V);
    if (kk === 0) return [];
    const row = logits.length === V ? logits : logits.subarray(0, V);
    let m = -Infinity;
    let lo = Infinity;
    for (let i = 0; i < V; i++) {
      const x = row[i]!;
      if (x > m) m = x;
      if (x < lo && x > -Infinity) lo = x;
    }
    if (m === -Infinity || m === Infinity) throw new RangeError("logits row has no finite maximum");
    this.setBinScale(m, lo);
    const logZ = logSumExp(row, V);
    const idx = this.s.idx;
    this.topKSet(row, m, kk);
    sortRange(idx, row, 0, kk - 1);
    const out: TokenLogprob[] = new Array(kk);
    for (let i = 0; i < kk; i++) out[i] = { token: idx[i]!, logprob: logits[idx[i]!]! - logZ };
    return out;
  }

  /** log p(token) under the model's own distribution (raw logits). */
  logprobOf(logits: Float32Array, token: number): number {
    if (!Number.isInteger(token) || token < 0 || token >= this.nVocab) {
      throw new RangeError(`token ${token} outside the vocabulary`);
    }
    return logits[token]! - logSumExp(logits, this.nVocab);
  }

  private applyBias(): void {
    const bias = this.params.logitBias;
    if (bias === null) return;
    const w = this.s.work;
    for (const [token, b] of bias) {
      if (token >= 0 && token < this.nVocab) w[token] = w[token]! + b;
    }
  }

  /**
   * Repetition penalty over the last repeatLastN tokens (llama.cpp: once per distinct token), then
   * OpenAI's μ[j] −= c[j]·frequency + [c[j] > 0]·presence with counts over the whole history.
   * `counts` is left all-zero again, touching only the history's tokens.
   */
  private applyPenalties(history: ArrayLike<number>): void {
    const p = this.params;
    const V = this.nVocab;
    const w = this.s.work;
    const counts = this.s.counts;
    const len = history.length;
    if (p.repeatPenalty !== 1 && p.repeatLastN !== 0) {
      const from = p.repeatLastN < 0 ? 0 : Math.max(0, len - p.repeatLastN);
      for (let i = from; i < len; i++) {
        const t = history[i]!;
        if (t < 0 || t >= V || counts[t] !== 0) continue;
        counts[t] = 1;
        const x = w[t]!;
        w[t] = x <= 0 ? x * p.repeatPenalty : x / p.repeatPenalty;
      }
      for (let i = from; i < len; i++) {
        const t = history[i]!;
        if (t >= 0 && t < V) counts[t] = 0;
      }
    }
    if (p.frequencyPenalty !== 0 || p.presencePenalty !== 0) {
      for (let i = 0; i < len; i++) {
        const t = history[i]!;
        if (t >= 0 && t < V) counts[t] = counts[t]! + 1;
      }
      for (let i = 0; i < len; i++) {
        const t = history[i]!;
        if (t < 0 || t >= V) continue;
        const c = counts[t]!;
        if (c === 0) continue; // already applied for an earlier occurrence
        w[t] = w[t]! - c * p.frequencyPenalty - p.presencePenalty;
        counts[t] = 0;
      }
    }
  }
}

/**
 * The argmax of a row, its softmax probability and the margin p(top1) − p(top2): the confidence
 * signal block diffusion uses to pick which masked positions to commit. Ties go to the lowest id.
 */
export function softmaxConfidence(logits: Float32Array, nVocab: number): Confidence {
  let m1 = -Infinity;
  let m2 = -Infinity;
  let token = 0;
  for (let i = 0; i < nVocab; i++) {
    const x = logits[i]!;
    if (x > m1) {
      m2 = m1;
      m1 = x;
      token = i;
    } else if (x > m2) {
      m2 = x;
    }
  }
  if (m1 === -Infinity) return { token: 0, prob: 1 / nVocab, margin: 0 };
  let z = 0;
  for (let i = 0; i < nVocab; i++) z += expNeg(logits[i]! - m1);
  const prob = 1 / z; // exp(m1 − m1) / z
  const prob2 = expNeg(m2 - m1) / z; // 0 when nVocab is 1 (m2 = −∞)
  return { token, prob, margin: prob - prob2 };
}

/** Max-subtracted log Σ exp: finite for any finite row, the basis of every log-probability. */
function logSumExp(logits: Float32Array, n: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > m) m = logits[i]!;
  if (m === -Infinity || m === Infinity) return m;
  let s = 0;
  for (let i = 0; i < n; i++) s += expNeg(logits[i]! - m);
  return m + Math.log(s);
}
