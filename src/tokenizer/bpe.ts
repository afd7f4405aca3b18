// Byte-pair encoding of one pre-tokenized word: GPT-2 byte-level BPE, or BPE over raw UTF-8
// characters (SPM-style vocabularies); ranked merges applied lowest rank first, as llama.cpp does.

import { PairQueue } from "./pair-queue.ts";
import type { IntList } from "./int-list.ts";
import { BYTE_TO_CHAR, utf8Encoder } from "./unicode.ts";

/** Symbol ids pack into one Map key as left * ID_SPACE + right; all ids stay below it. */
const ID_SPACE = 1 << 22;
/** Id of a symbol absorbed by its left neighbour. */
const DEAD = -2;
/** Pair-cache value of a pair that has no merge. */
const NO_MERGE = -1;
/** Word cache size at which it is dropped and refilled (a bound on memory, not an LRU). */
const CACHE_LIMIT = 1 << 16;
/** Count of non-token texts (mostly characters a raw-UTF-8 vocabulary lacks) at which they and
 *  everything keyed by their ids are dropped, so odd input can't grow memory without bound. */
const EXTRA_LIMIT = 1 << 16;

export interface BpeOptions {
  /** Words are UTF-8 bytes spelled with GPT-2's byte characters (false: raw characters). */
  byteEncode: boolean;
  /** A word that is itself a token is emitted whole, merges or not (Llama-3 and a few others). */
  ignoreMerges: boolean;
  /** Gemma-4: a word made only of newlines is emitted whole when it is a token. */
  newlineWords: boolean;
}

/**
 * Symbols are identified by the id of their text: the token id when the text is a token, else an
 * id past the vocabulary (a merge may produce, or a character may be, a text that is no token).
 * Merge ranks are looked up by text once per distinct pair and then cached by id pair, which
 * keeps model loading to one pass over the merge list.
 */
export class BpeModel {
  private readonly nVocab: number;
  /** Merge text "left right" → rank (the first listing of a pair wins). */
  private readonly mergeRank = new Map<string, number>();
  /** (left id, right id) → rank, or NO_MERGE. */
  private readonly pairRank = new Map<number, number>();
  /** Rank → id of the merged text (-1 until first needed). */
  private readonly results: Int32Array;
  /** Texts that are no token, and their ids (nVocab + index). */
  private readonly extraTexts: string[] = [];
  private readonly extraIds = new Map<string, number>();
  /** Byte → id of its GPT-2 character (byteEncode only). */
  private readonly byteIds = new Int32Array(256);
  private readonly cache = new Map<string, Int32Array>();
  private readonly queue = new PairQueue();
  // Per-word scratch, grown on demand: symbol id, neighbours, span in the word's units.
  private ids = new Int32Array(64);
  private prev = new Int32Array(64);
  private next = new Int32Array(64);
  private start = new Int32Array(64);
  private len = new Int32Array(64);
  /** The word's UTF-8 (byteEncode) or its code points, for the symbols' spans. */
  private bytes = new Uint8Array(256);
  private wordCps: Int32Array = new Int32Array(0);

  constructor(
    private readonly texts: readonly string[],
    private readonly tokenToId: Map<string, number>,
    merges: readonly string[],
    private readonly opts: BpeOptions,
  ) {
    this.nVocab = texts.length;
    for (let rank = 0; rank < merges.length; rank++) {
      const m = merges[rank]!;
      if (m.indexOf(" ", 1) >= 0 && !this.mergeRank.has(m)) this.mergeRank.set(m, rank);
    }
    this.results = new Int32Array(merges.length);
    this.resetExtras();
  }

  private resetExtras(): void {
    this.extraTexts.length = 0;
    this.extraIds.clear();
    this.pairRank.clear();
    this.results.fill(-1);
    this.cache.clear();
    if (this.opts.byteEncode) for (let b = 0; b < 256; b++) this.byteIds[b] = this.idOf(BYTE_TO_CHAR[b]!);
  }

  /**
   * Appends the tokens of one word: code points `cps[a..b)`, whose text is `word`.
   * Words repeat a lot in real text, so results are cached by text.
   */
  encodeWord(word: string, cps: Int32Array, a: number, b: number, out: IntList): void {
    const cached = this.cache.get(word);
    if (cached !== undefined) {
      for (let i = 0; i < cached.length; i++) out.push(cached[i]!);
      return;
    }
    if (this.extraTexts.length > EXTRA_LIMIT) this.resetExtras();
    const first = out.length;
    const n = this.initSymbols(word, cps, a, b);
    const whole = this.wholeWord(word, n);
    if (whole >= 0) out.push(whole);
    else this.merge(n, out);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, out.data.slice(first, out.length));
  }

  /** The token a word is emitted as without merging, or -1. */
  private wholeWord(word: string, n: number): number {
    if (this.opts.ignoreMerges) {
      let text = word;
      if (this.opts.byteEncode) {
        text = "";
        for (let i = 0; i < n; i++) text += BYTE_TO_CHAR[this.bytes[i]!]!;
      }
      return this.tokenToId.get(text) ?? -1;
    }
    if (this.opts.newlineWords && /^\n+$/.test(word)) return this.tokenToId.get(word) ?? -1;
    return -1;
  }

  private merge(n: number, out: IntList): void {
    const { ids, prev, next, len, queue } = this;
    queue.clear();
    for (let i = 0; i + 1 < n; i++) this.tryPair(i, i + 1);
    while (queue.size > 0) {
      queue.pop();
      const l = queue.topLeft;
      const r = queue.topRight;
      // Symbols only grow and each text has one id, so unchanged ids mean an unchanged pair.
      if (ids[l] !== queue.topA || ids[r] !== queue.topB || next[l] !== r) continue;
      ids[l] = this.result(this.pairRank.get(queue.topA * ID_SPACE + queue.topB)!, ids[l]!, ids[r]!);
      len[l]! += len[r]!;
      ids[r] = DEAD;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      if (prev[l]! >= 0) this.tryPair(prev[l]!, l);
      if (next[l]! >= 0) this.tryPair(l, next[l]!);
    }
    for (let i = 0; i >= 0; i = next[i]!) {
      if (ids[i]! < this.nVocab) out.push(ids[i]!);
      else this.fallback(i, out);
    }
  }

  /** Fills the scratch arrays with one symbol per byte (byteEncode) or per code point. */
  private initSymbols(word: string, cps: Int32Array, a: number, b: number): number {
    let n: number;
    if (this.opts.byteEncode) {
      if (this.bytes.length < (b - a) * 4) this.bytes = new Uint8Array((b - a) * 8);
      n = encodeUtf8(cps, a, b, this.bytes);
      this.reserve(n);
      for (let i = 0; i < n; i++) {
        this.ids[i] = this.byteIds[this.bytes[i]!]!;
        this.start[i] = i;
      }
    } else {
      n = b - a;
      this.reserve(n);
      this.wordCps = cps;
      for (let i = 0, u = 0; i < n; i++) {
        const width = cps[a + i]! > 0xffff ? 2 : 1;
        this.ids[i] = this.idOf(word.slice(u, u + width));
        this.start[i] = a + i;
        u += width;
      }
    }
    for (let i = 0; i < n; i++) {
      this.len[i] = 1;
      this.prev[i] = i - 1;
      this.next[i] = i + 1 < n ? i + 1 : -1;
    }
    return n;
  }

  private tryPair(l: number, r: number): void {
    const left = this.ids[l]!;
    const right = this.ids[r]!;
    const key = left * ID_SPACE + right;
    let rank = this.pairRank.get(key);
    if (rank === undefined) {
      const leftText = this.textOf(left);
      const merged = leftText + " " + this.textOf(right);
      // The list splits "l r" at its first space after the first character; a pair whose left
      // text holds a space can't be the one listed, even if the joined strings are equal.
      const listed = merged.indexOf(" ", 1) === leftText.length ? this.mergeRank.get(merged) : undefined;
      rank = listed ?? NO_MERGE;
      this.pairRank.set(key, rank);
    }
    if (rank !== NO_MERGE) this.queue.push(rank, l, r, left, right);
  }

  /** Id of the text a merge makes (computed once per rank). */
  private result(rank: number, left: number, right: number): number {
    let id = this.results[rank]!;
    if (id < 0) this.results[rank] = id = this.idOf(this.textOf(left) + this.textOf(right));
    return id;
  }

  private textOf(id: number): string {
    return id < this.nVocab ? this.texts[id]! : this.extraTexts[id - this.nVocab]!;
  }

  /** Id of a text, inventing one past the vocabulary for a text that is no token. */
  private idOf(text: string): number {
    const id = this.tokenToId.get(text) ?? this.extraIds.get(text);
    if (id !== undefined) return id;
    const extra = this.nVocab + this.extraTexts.length;
    if (extra >= ID_SPACE) throw new Error("BPE produced too many texts outside the vocabulary");
    this.extraTexts.push(text);
    this.extraIds.set(text, extra);
    return extra;
  }

  /**
   * A final symbol that is no token. llama.cpp then looks up each byte of its (encoded) text as
   * a one-byte token: with byte encoding only printable ASCII can match; raw-UTF-8 vocabularies
   * have `<0xNN>` byte tokens instead.
   */
  private fallback(i: number, out: IntList): void {
    const s = this.start[i]!;
    const e = s + this.len[i]!;
    if (this.opts.byteEncode) {
      for (let j = s; j < e; j++) {
        const byte = this.bytes[j]!;
        if (byte < 0x21 || byte > 0x7e) continue; // its character is 2 UTF-8 bytes, neither a token
        const id = this.tokenToId.get(BYTE_TO_CHAR[byte]!);
        if (id !== undefined) out.push(id);
      }
      return;
    }
    // spans index the word's code points here; symbols are made of whole characters
    const text = String.fromCodePoint(...this.wordCps.subarray(s, e));
    for (const byte of utf8Encoder.encode(text)) {
      const id = this.tokenToId.get(`<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`);
      if (id !== undefined) out.push(id);
    }
  }

  private reserve(n: number): void {
    if (this.ids.length >= n) return;
    const size = Math.max(n, this.ids.length * 2);
    this.ids = new Int32Array(size);
    this.prev = new Int32Array(size);
    this.next = new Int32Array(size);
    this.start = new Int32Array(size);
    this.len = new Int32Array(size);
  }
}

/** UTF-8 of cps[a..b) into `out` (room for 4 bytes per code point); returns the byte count. */
function encodeUtf8(cps: Int32Array, a: number, b: number, out: Uint8Array): number {
  let n = 0;
  for (let i = a; i < b; i++) {
    const cp = cps[i]!;
    if (cp < 0x80) out[n++] = cp;
    else if (cp < 0x800) {
      out[n++] = 0xc0 | (cp >> 6);
      out[n++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      out[n++] = 0xe0 | (cp >> 12);
      out[n++] = 0x80 | ((cp >> 6) & 0x3f);
      out[n++] = 0x80 | (cp & 0x3f);
    } else {
      out[n++] = 0xf0 | (cp >> 18);
      out[n++] = 0x80 | ((cp >> 12) & 0x3f);
      out[n++] = 0x80 | ((cp >> 6) & 0x3f);
      out[n++] = 0x80 | (cp & 0x3f);
    }
  }
  return n;
}
