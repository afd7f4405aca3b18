// Token sampling from one row of logits: logit bias, penalties, top-k / top-p / min-p, temperature
// and a seeded draw (llama.cpp's chain and order), plus log-probabilities for the `logprobs` feature.

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

/** At or below this temperature sampling is greedy (llama.cpp treats temp ≤ 0 so; tiny temps overflow exp). */
export const GREEDY_TEMPERATURE = 1e-5;

/** First candidate count tried when top-p is searched by partial selection (llama.cpp uses 256 too). */
const TOP_P_FIRST_K = 256;

export interface TokenLogprob {
  token: number;
  logprob: number;
}

/**
 * One sampler per sequence: it owns the PRNG (so a seed replays a whole generation) and scratch
 * buffers sized to the vocabulary, so `sample` allocates nothing.
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
  private readonly work: Float32Array; // (nVocab) logits after bias and penalties
  private readonly idx: Int32Array; // (nVocab) candidate token ids
  private readonly prob: Float64Array; // (nVocab) unnormalised candidate weights
  private readonly counts: Int32Array; // (nVocab) per-token occurrences, zero between calls
  /** Outputs of `filter` for the row in `work`: its max logit and argmax. */
  private maxLogit = -Infinity;
  private best = 0;

  constructor(params: SamplingParams, nVocab: number) {
    if (!Number.isInteger(nVocab) || nVocab < 1) throw new RangeError(`nVocab must be a positive integer, got ${nVocab}`);
    for (const key of ["temperature", "topK", "topP", "minP", "repeatPenalty", "repeatLastN", "presencePenalty", "frequencyPenalty"] as const) {
      if (!Number.isFinite(params[key])) throw new RangeError(`sampling parameter ${key} must be finite, got ${params[key]}`);
    }
    if (params.repeatPenalty <= 0) throw new RangeError(`repeatPenalty must be > 0, got ${params.repeatPenalty}`);
    this.params = { ...params };
    this.nVocab = nVocab;
    this.seed = params.seed ?? randomSeed();
    this.rng = new Rng(this.seed);
    this.work = new Float32Array(nVocab);
    this.idx = new Int32Array(nVocab);
    this.prob = new Float64Array(nVocab);
    this.counts = new Int32Array(nVocab);
  }

  /** Picks the next token from one row of logits (read only; at least nVocab long). */
  sample(logits: Float32Array, history: ArrayLike<number>): number {
    const n = this.filter(logits, history);
    if (n === 0) return this.best;
    const V = this.nVocab;
    const w = this.work;
    const idx = this.idx;
    const m = this.maxLogit;

    // Temperature last; the max logit m always survives the filters, so exp never overflows.
    const invT = 1 / this.params.temperature;
    const prob = this.prob;
    let sum = 0;
    if (n < 0) {
      for (let i = 0; i < V; i++) {
        const e = Math.exp((w[i]! - m) * invT);
        prob[i] = e;
        sum += e;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const e = Math.exp((w[idx[i]!]! - m) * invT);
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
    const ids = n < 0 ? Array.from({ length: this.nVocab }, (_, i) => i) : Array.from(this.idx.subarray(0, n));
    return ids.filter((t) => this.work[t]! > -Infinity).sort((a, b) => a - b);
  }

  /**
   * Runs bias, penalties and the filters into the scratch buffers. Returns 0 for greedy (the answer
   * is `best`), −1 when every token stays a candidate, else n with the candidates in idx[0, n).
   */
  private filter(logits: Float32Array, history: ArrayLike<number>): number {
    const V = this.nVocab;
    const p = this.params;
    const w = this.work;
    if (logits.length < V) throw new RangeError(`logits row has ${logits.length} entries, expected ${V}`);
    w.set(logits.length === V ? logits : logits.subarray(0, V));
    this.applyBias();
    this.applyPenalties(history);

    // NaN would poison every comparison and sum below: treat it as "impossible".
    let m = -Infinity;
    let best = 0;
    for (let i = 0; i < V; i++) {
      const x = w[i]!;
      if (x !== x) w[i] = -Infinity;
      else if (x > m) {
        m = x;
        best = i;
      }
    }
    this.maxLogit = m;
    this.best = best;
    if (p.temperature <= GREEDY_TEMPERATURE || p.topK === 1 || m === -Infinity) return 0;

    const useTopK = p.topK > 0 && p.topK < V;
    const useTopP = p.topP < 1;
    const useMinP = p.minP > 0;
    // p_i ≥ minP·p_max ⇔ logit_i ≥ max + ln(minP); minP is capped at 1 so the max always survives.
    const minPThreshold = m + Math.log(Math.min(p.minP, 1));
    const idx = this.idx;
    let n: number; // candidates are idx[0, n); -1: every token, idx untouched

    if (useTopK) {
      for (let i = 0; i < V; i++) idx[i] = i;
      selectTop(idx, w, V, p.topK);
      n = p.topK;
      if (useTopP) {
        // top-p renormalises over what top-k left (llama.cpp's softmax over the current candidates).
        let z = 0;
        for (let i = 0; i < n; i++) z += Math.exp(w[idx[i]!]! - m);
        sortRange(idx, w, 0, n - 1);
        n = topPCut(idx, w, n, m, z, p.topP) || n;
      }
      if (useMinP) n = minPFilter(idx, w, n, minPThreshold);
    } else if (useTopP) {
      let z = 0;
      for (let i = 0; i < V; i++) z += Math.exp(w[i]! - m);
      // min-p keeps a prefix of the sorted order too, so applying it first only shortens the search.
      n = useMinP ? gatherAbove(idx, w, V, minPThreshold) : fillIdentity(idx, V);
      // The top-p set is usually small: select and sort a few hundred, widen only when p is not reached.
      let k = Math.min(n, TOP_P_FIRST_K);
      for (;;) {
        if (k < n) selectTop(idx, w, n, k);
        sortRange(idx, w, 0, k - 1);
        const cut = topPCut(idx, w, k, m, z, p.topP);
        if (cut > 0) {
          n = cut;
          break;
        }
        if (k === n) break; // rounding kept the sum under p, or min-p's prefix is the shorter one
        k = Math.min(n, k * 4);
      }
    } else if (useMinP) {
      n = gatherAbove(idx, w, V, minPThreshold);
    } else {
      n = -1;
    }

    return n;
  }

  /** The k most likely tokens of the model's own distribution (raw logits), most likely first. */
  topLogprobs(logits: Float32Array, k: number): TokenLogprob[] {
    const V = this.nVocab;
    const kk = Math.min(Math.max(0, Math.floor(k)), V);
    if (kk === 0) return [];
    const logZ = logSumExp(logits, V);
    const idx = this.idx;
    fillIdentity(idx, V);
    if (kk < V) selectTop(idx, logits, V, kk);
    sortRange(idx, logits, 0, kk - 1);
    const out: TokenLogprob[] = new Array(kk);
    for (let i = 0; i < kk; i++) out[i] = { token: idx[i]!, logprob: logits[idx[i]!]! - logZ };
    return out;
  }

  /** log p(token) under the model's own distribution (raw logits). */
  logprobOf(logits: Float32Array, token: number): number {
    if (!Number.isInteger(token) || token < 0 || token >= this.nVocab) throw new RangeError(`token ${token} outside the vocabulary`);
    return logits[token]! - logSumExp(logits, this.nVocab);
  }

  private applyBias(): void {
    const bias = this.params.logitBias;
    if (bias === null) return;
    const w = this.work;
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
    const w = this.work;
    const counts = this.counts;
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
export function softmaxConfidence(logits: Float32Array, nVocab: number): { token: number; prob: number; margin: number } {
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
  for (let i = 0; i < nVocab; i++) z += Math.exp(logits[i]! - m1);
  const prob = 1 / z; // exp(m1 − m1) / z
  const prob2 = Math.exp(m2 - m1) / z; // 0 when nVocab is 1 (m2 = −∞)
  return { token, prob, margin: prob - prob2 };
}

// ── selection helpers over index arrays keyed by logits ──────────────────────────────────────────

/** Max-subtracted log Σ exp: finite for any finite row, the basis of every log-probability. */
function logSumExp(logits: Float32Array, n: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > m) m = logits[i]!;
  if (m === -Infinity || m === Infinity) return m;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(logits[i]! - m);
  return m + Math.log(s);
}

function fillIdentity(idx: Int32Array, n: number): number {
  for (let i = 0; i < n; i++) idx[i] = i;
  return n;
}

/** Writes the ids whose logit is ≥ threshold to idx, returns how many (never fewer than the max). */
function gatherAbove(idx: Int32Array, w: Float32Array, V: number, threshold: number): number {
  let n = 0;
  for (let i = 0; i < V; i++) if (w[i]! >= threshold) idx[n++] = i;
  return n;
}

/** Keeps idx[0, n) entries whose logit is ≥ threshold, in order; at least one survives. */
function minPFilter(idx: Int32Array, w: Float32Array, n: number, threshold: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (w[idx[i]!]! >= threshold) idx[k++] = idx[i]!;
  return k > 0 ? k : 1;
}

/**
 * On idx[0, k) sorted best-first: the length of the shortest prefix whose probability (exp(w − m) / z)
 * reaches p (≥ 1: llama.cpp's min_keep), or 0 when these k do not reach it.
 */
function topPCut(idx: Int32Array, w: Float32Array, k: number, m: number, z: number, p: number): number {
  let cum = 0;
  for (let i = 0; i < k; i++) {
    cum += Math.exp(w[idx[i]!]! - m) / z;
    if (cum >= p) return i + 1;
  }
  return 0;
}

/**
 * "a ranks before b": higher logit first, then lower id, a strict total order so selection and
 * sorting are deterministic and greedy ties agree with argmax.
 */
function before(w: Float32Array, a: number, b: number): boolean {
  const wa = w[a]!;
  const wb = w[b]!;
  return wa > wb || (wa === wb && a < b);
}

/**
 * Quickselect (Hoare partition, median-of-three): rearranges idx[0, n) so idx[0, k) are the k
 * best-ranked ids, in no particular order. O(n) expected, no allocation.
 */
function selectTop(idx: Int32Array, w: Float32Array, n: number, k: number): void {
  let lo = 0;
  let hi = n - 1;
  const target = k - 1; // the slot that must end up holding the k-th best
  while (hi > lo) {
    const pivot = medianOfThree(idx, w, lo, (lo + hi) >>> 1, hi);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (before(w, idx[i]!, pivot)) i++;
      while (before(w, pivot, idx[j]!)) j--;
      if (i <= j) {
        const t = idx[i]!;
        idx[i] = idx[j]!;
        idx[j] = t;
        i++;
        j--;
      }
    }
    // Now idx[lo, j] rank ≤ pivot, idx[i, hi] rank ≥ pivot and anything between is the pivot itself.
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return;
  }
}

/** Orders idx[lo], idx[mid], idx[hi] best-first and returns the middle id as the pivot. */
function medianOfThree(idx: Int32Array, w: Float32Array, lo: number, mid: number, hi: number): number {
  if (before(w, idx[mid]!, idx[lo]!)) swap(idx, lo, mid);
  if (before(w, idx[hi]!, idx[lo]!)) swap(idx, lo, hi);
  if (before(w, idx[hi]!, idx[mid]!)) swap(idx, mid, hi);
  return idx[mid]!;
}

function swap(idx: Int32Array, a: number, b: number): void {
  const t = idx[a]!;
  idx[a] = idx[b]!;
  idx[b] = t;
}

/** In-place quicksort of idx[lo, hi] best-first; insertion sort for short runs. */
function sortRange(idx: Int32Array, w: Float32Array, lo: number, hi: number): void {
  while (hi - lo > 16) {
    const pivot = medianOfThree(idx, w, lo, (lo + hi) >>> 1, hi);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (before(w, idx[i]!, pivot)) i++;
      while (before(w, pivot, idx[j]!)) j--;
      if (i <= j) {
        swap(idx, i, j);
        i++;
        j--;
      }
    }
    // Recurse into the smaller side, loop on the larger: stack depth stays O(log n).
    if (j - lo < hi - i) {
      sortRange(idx, w, lo, j);
      lo = i;
    } else {
      sortRange(idx, w, i, hi);
      hi = j;
    }
  }
  for (let i = lo + 1; i <= hi; i++) {
    const x = idx[i]!;
    let j = i - 1;
    while (j >= lo && before(w, x, idx[j]!)) {
      idx[j + 1] = idx[j]!;
      j--;
    }
    idx[j + 1] = x;
  }
}
