// A direct greedy loop on an Engine (prompt in one batch, then one token per decode): the yardstick for
// "the server's greedy output equals the engine's own".
import type { Batch, Engine } from "../../src/engine/engine.ts";

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** max |a[i] - b[i]| over the length of `a`. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function batchOf(tokens: number[], start: number, seq = 0, allLogits = false): Batch {
  const n = tokens.length;
  return {
    n,
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(tokens, (_, i) => start + i),
    seqIds: new Int32Array(n).fill(seq),
    wantLogits: Uint8Array.from(tokens, (_, i) => (allLogits || i === n - 1 ? 1 : 0)),
  };
}

export function greedyTokens(e: Engine, prompt: number[], n: number, seq = 0): number[] {
  e.kvClear(seq);
  let logits = e.decode(batchOf(prompt, 0, seq), "causal");
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = argmax(logits.subarray(0, e.info.nVocab));
    out.push(t);
    logits = e.decode(batchOf([t], prompt.length + i, seq), "causal");
  }
  return out;
}
