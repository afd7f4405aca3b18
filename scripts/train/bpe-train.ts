// Learns byte-level BPE merges from a text sample: words split by the same `llama-bpe` pre-tokenizer
// the engines use, spelled in GPT-2's byte-to-unicode alphabet, merged greedily by pair frequency.
// Merges never touch a digit, so numbers stay one token per digit (arithmetic stays learnable).

import { BYTE_TO_UNICODE } from "../byte-vocab.ts";
import { preTokenizerFor, splitWords } from "../../src/tokenizer/pre-tokenizer.ts";
import { toCodepoints } from "../../src/tokenizer/unicode.ts";

const utf8 = new TextEncoder();

/** Word (in the byte-to-unicode spelling) → how often it occurs in `texts`. */
export function countWords(texts: Iterable<string>): Map<string, number> {
  const spec = preTokenizerFor("llama-bpe");
  const counts = new Map<string, number>();
  for (const text of texts) {
    const { cps, offsets } = toCodepoints(text);
    const ends = splitWords(spec, cps, offsets);
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends.data[i]!;
      const word = text.slice(offsets[start]!, offsets[end]!);
      start = end;
      let spelled = "";
      for (const b of utf8.encode(word)) spelled += BYTE_TO_UNICODE[b];
      counts.set(spelled, (counts.get(spelled) ?? 0) + 1);
    }
  }
  return counts;
}

const hasDigit = (s: string): boolean => /[0-9]/.test(s);

/**
 * `nMerges` merges ("left right", best first). Each round recounts the pairs of every distinct word
 * (the corpus sample has a few thousand distinct words, so this stays fast); ties go to the pair
 * whose text sorts first, so the result depends on the counts alone.
 */
export function learnMerges(wordCounts: Map<string, number>, nMerges: number, minCount = 2): string[] {
  const words: { syms: string[]; n: number }[] = [];
  for (const [w, n] of wordCounts) words.push({ syms: [...w], n });
  const merges: string[] = [];
  while (merges.length < nMerges) {
    const pairs = new Map<string, number>();
    for (const { syms, n } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const l = syms[i]!;
        const r = syms[i + 1]!;
        if (hasDigit(l) || hasDigit(r)) continue;
        const key = l + " " + r;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best = "";
    let bestN = 0;
    for (const [k, n] of pairs) {
      if (n > bestN || (n === bestN && k < best)) {
        best = k;
        bestN = n;
      }
    }
    if (bestN < minCount) break;
    merges.push(best);
    const [l, r] = best.split(" ") as [string, string];
    const joined = l + r;
    for (const w of words) {
      const s = w.syms;
      let j = 0;
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === l && s[i + 1] === r) {
          s[j++] = joined;
          i++;
        } else s[j++] = s[i]!;
      }
      s.length = j;
    }
  }
  return merges;
}
