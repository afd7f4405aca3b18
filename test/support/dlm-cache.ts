// Runs one DlmSequence to the end on an engine (slot 0) and probes its cache against a fresh causal
// prefill of the same tokens (slot 1): mask keys left behind, or a token written at the wrong position,
// show up as a different probe. Shared by the llama and native engine tests.
import { expect } from "bun:test";
import type { Engine } from "../../src/engine/engine.ts";
import type { Job } from "../../src/engine/protocol.ts";
import { DlmSequence } from "../../src/generate/dlm.ts";
import { batchOf, maxAbsDiff } from "./greedy.ts";

export interface CacheProbe {
  generated: readonly number[];
  passes: number;
  /** Positions in slot 0's cache after the run. */
  cached: number;
  probe: Float32Array; // (nVocab) next-position logits from the run's cache
  fresh: Float32Array; // (nVocab) the same from a fresh causal prefill
  maxDiff: number;
}

export function probeCommittedCache(e: Engine, prompt: number[], job: Job): CacheProbe {
  const V = e.info.nVocab;
  e.kvClear(-1);
  const seq = new DlmSequence(e, 0, job, Int32Array.from(prompt), 0);
  const b = { n: 0, tokens: new Int32Array(128), positions: new Int32Array(128), seqIds: new Int32Array(128), wantLogits: new Uint8Array(128) };
  let passes = 0;
  while (!seq.finished) {
    b.n = 0;
    expect(seq.fill(b, 128)).toBeGreaterThan(0);
    const logits = e.decode(b, seq.attention);
    passes++;
    let rows = 0;
    for (let i = 0; i < b.n; i++) rows += b.wantLogits[i];
    seq.consume(logits.subarray(0, rows * V), rows);
  }
  const cached = e.kvNextPos(0);
  const all = [...prompt, ...seq.generated];
  const probe = e.decode(batchOf([all[cached]], cached, 0), "causal").slice(0, V);
  e.kvClear(1);
  e.decode(batchOf(all.slice(0, cached), 0, 1), "causal");
  const fresh = e.decode(batchOf([all[cached]], cached, 1), "causal").slice(0, V);
  return { generated: seq.generated, passes, cached, probe, fresh, maxDiff: maxAbsDiff(probe, fresh) };
}
