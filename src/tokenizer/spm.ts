// SentencePiece (BPE flavour) as llama.cpp runs it: merge the adjacent pair whose joined text is
// the highest-scoring token, repeat; characters left without a token fall back to <0xNN> bytes.

import { PairQueue } from "./pair-queue.ts";
import type { IntList } from "./int-list.ts";
import { utf8Encoder } from "./unicode.ts";

export class SpmModel {
  private readonly queue = new PairQueue();
  // Per-call scratch: UTF-16 start and length of each symbol, and its neighbours.
  private start = new Int32Array(256);
  private len = new Int32Array(256);
  private prev = new Int32Array(256);
  private next = new Int32Array(256);

  /**
   * @param byteIds token of each byte (its `<0xNN>` token, else the one-character token), -1 if none
   */
  constructor(
    private readonly tokenToId: Map<string, number>,
    private readonly scores: Float32Array,
    private readonly byteIds: Int32Array,
    private readonly unk: number | null,
  ) {}

  /** Appends the tokens of `text` (spaces already escaped to ▁). The whole text is one word. */
  encode(text: string, out: IntList): void {
    const n = this.initSymbols(text);
    const { start, len, prev, next, queue } = this;
    queue.clear();
    for (let i = 0; i + 1 < n; i++) this.tryPair(text, i, i + 1);
    while (queue.size > 0) {
      queue.pop();
      const l = queue.topLeft;
      const r = queue.topRight;
      // Symbols only grow, so an unchanged total length means both sides are as they were queued.
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== queue.topA) continue;
      len[l]! += len[r]!;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      if (prev[l]! >= 0) this.tryPair(text, prev[l]!, l);
      if (next[l]! >= 0) this.tryPair(text, l, next[l]!);
    }
    for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]!) {
      const piece = text.slice(start[i]!, start[i]! + len[i]!);
      const id = this.tokenToId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // Only single characters can be left without a token (merges always make tokens).
      for (const byte of utf8Encoder.encode(piece)) {
        const byteId = this.byteIds[byte]!;
        if (byteId >= 0) out.push(byteId);
        else if (this.unk !== null) out.push(this.unk);
      }
    }
  }

  private tryPair(text: string, l: number, r: number): void {
    const joined = text.slice(this.start[l]!, this.start[r]! + this.len[r]!);
    const id = this.tokenToId.get(joined);
    if (id === undefined) return;
    // Highest score first: the queue pops the lowest priority, so negate.
    this.queue.push(-this.scores[id]!, l, r, joined.length, 0);
  }

  /** One symbol per code point. */
  private initSymbols(text: string): number {
    if (this.start.length < text.length) {
      const size = Math.max(text.length, this.start.length * 2);
      this.start = new Int32Array(size);
      this.len = new Int32Array(size);
      this.prev = new Int32Array(size);
      this.next = new Int32Array(size);
    }
    let n = 0;
    for (let i = 0; i < text.length; ) {
      const width = text.charCodeAt(i) >= 0xd800 && text.charCodeAt(i) < 0xdc00 ? 2 : 1;
      this.start[n] = i;
      this.len[n] = width;
      this.prev[n] = n - 1;
      this.next[n] = n + 1;
      n++;
      i += width;
    }
    if (n > 0) this.next[n - 1] = -1;
    return n;
  }
}
