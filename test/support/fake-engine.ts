// A deterministic Engine in pure TypeScript for scheduler and generation tests: a byte vocabulary
// (ids 0..255) plus EOS (256), where each token predicts "previous + 1" and byte `eosAfter` predicts EOS
// (with `induction`: what followed the token's last earlier occurrence in the sequence, when there is one).
// It keeps a per-sequence cache of positions and rejects any batch that does not continue it.
import type { AttentionMode, Batch, Engine, ModelInfo, TokenizeOptions } from "../../src/engine/engine.ts";

export const FAKE_EOS = 256;

export class FakeEngine implements Engine {
  readonly kind = "native" as const;
  readonly info: ModelInfo;
  /** Per sequence: the tokens in the cache, in position order. */
  readonly cache = new Map<number, number[]>();
  decodes: { n: number; seqs: number[]; attention: AttentionMode }[] = [];
  private out: Float32Array;

  constructor(opts: { nCtx?: number; nBatch?: number; nSeqMax?: number; eosAfter?: number; induction?: boolean } = {}) {
    this.eosAfter = opts.eosAfter ?? -1;
    this.induction = opts.induction ?? false;
    this.info = {
      arch: "fake", name: "fake", format: "f32", nVocab: 257, nCtx: opts.nCtx ?? 256, nCtxTrain: 256,
      nEmbd: 8, nLayers: 1, nHeads: 1, nKvHeads: 1, nBatch: opts.nBatch ?? 64, nSeqMax: opts.nSeqMax ?? 4,
      bos: null, eos: FAKE_EOS, bosText: "", eosText: "</s>", addBos: false, eog: [FAKE_EOS], maskToken: null,
      dlmAttention: null, chatTemplate: null, fileBytes: 0,
    };
    this.out = new Float32Array(this.info.nBatch * this.info.nVocab);
  }
  private readonly eosAfter: number;
  private readonly induction: boolean;

  tokenize(text: string, _o: TokenizeOptions): Int32Array {
    return Int32Array.from(new TextEncoder().encode(text));
  }
  tokenBytes(token: number, _special: boolean): Uint8Array {
    return token === FAKE_EOS ? new TextEncoder().encode("</s>") : Uint8Array.of(token);
  }
  isEog(token: number): boolean {
    return token === FAKE_EOS;
  }
  decode(b: Batch, attention: AttentionMode): Float32Array {
    const V = this.info.nVocab;
    let rows = 0;
    const seqs = new Set<number>();
    for (let i = 0; i < b.n; i++) {
      const s = b.seqIds[i];
      seqs.add(s);
      const c = this.cache.get(s) ?? [];
      if (b.positions[i] !== c.length) throw new Error(`fake: seq ${s} got position ${b.positions[i]}, cache has ${c.length}`);
      c.push(b.tokens[i]);
      this.cache.set(s, c);
      if (b.wantLogits[i]) {
        const row = this.out.subarray(rows * V, (rows + 1) * V);
        row.fill(0);
        const t = b.tokens[i];
        const seen = this.induction ? c.lastIndexOf(t, c.length - 2) : -1;
        row[seen >= 0 ? c[seen + 1] : t === this.eosAfter ? FAKE_EOS : (t + 1) % 256] = 10;
        rows++;
      }
    }
    this.decodes.push({ n: b.n, seqs: [...seqs], attention });
    return this.out.subarray(0, rows * V);
  }
  kvRemove(seq: number, p0: number, p1: number): void {
    const c = this.cache.get(seq) ?? [];
    c.splice(p0, (p1 < 0 ? c.length : p1) - p0);
  }
  kvCopy(src: number, dst: number, p0: number, p1: number): void {
    const c = this.cache.get(src) ?? [];
    this.cache.set(dst, c.slice(p0, p1 < 0 ? undefined : p1));
  }
  kvClear(seq: number): void {
    if (seq < 0) this.cache.clear();
    else this.cache.delete(seq);
  }
  kvNextPos(seq: number): number {
    return this.cache.get(seq)?.length ?? 0;
  }
  setThreads(): void {}
  close(): void {}
}
