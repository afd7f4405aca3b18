// One sequence's tokens as a decode batch, for the bench tools (sequence 0, positions start, start+1, ...).
import type { Batch } from "../engine/engine.ts";

/** Logits are wanted for the first `want` tokens (all of them when want >= tokens.length). */
export function batchAt(tokens: number[], start: number, want: number): Batch {
  const n = tokens.length;
  return {
    n,
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(tokens, (_, i) => start + i),
    seqIds: new Int32Array(n),
    wantLogits: Uint8Array.from(tokens, (_, i) => (i < want ? 1 : 0)),
  };
}
