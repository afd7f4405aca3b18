// Ranking token ids by logit inside preallocated index arrays: the strict order (higher logit,
// then lower id), an in-place sort, and threshold gathers. No allocation; used by the sampler.

/** Writes the ids whose logit is ≥ threshold to idx, returns how many (never fewer than the max). */
export function gatherAbove(idx: Int32Array, w: Float32Array, V: number, threshold: number): number {
  let n = 0;
  for (let i = 0; i < V; i++) if (w[i]! >= threshold) idx[n++] = i;
  return n;
}

/** Keeps the candidates (idx[0, n), or every token when n < 0) whose logit is ≥ threshold, in order. */
export function keepAbove(idx: Int32Array, w: Float32Array, n: number, threshold: number): number {
  if (n < 0) return gatherAbove(idx, w, w.length, threshold);
  let k = 0;
  for (let j = 0; j < n; j++) if (w[idx[j]!]! >= threshold) idx[k++] = idx[j]!;
  return k;
}

/**
 * "a ranks before b": higher logit first, then lower id, a strict total order so selection and
 * sorting are deterministic and greedy ties agree with argmax.
 */
export function before(w: Float32Array, a: number, b: number): boolean {
  const wa = w[a]!;
  const wb = w[b]!;
  return wa > wb || (wa === wb && a < b);
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
export function sortRange(idx: Int32Array, w: Float32Array, lo: number, hi: number): void {
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
