// The special-token partition step: cuts input text at occurrences of special-token texts
// (longest token first, over the whole text) before anything is tokenized, as llama.cpp does.

import { Attr, type Vocab } from "./vocab.ts";

/** A piece of input: a span of text still to tokenize ([start, end) in UTF-16 units), or a token. */
export type Fragment = { start: number; end: number; token?: undefined } | { token: number };

/** C's isspace: the only whitespace LSTRIP/RSTRIP swallow. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * Splits `text` at special-token texts. Control and unknown tokens are only recognised when
 * `parseSpecial`; user-defined ones always are. Each token in turn (longest first) is searched in
 * every text fragment left by the earlier ones, so a longer token wins an overlap.
 */
export function partition(vocab: Vocab, text: string, parseSpecial: boolean): Fragment[] {
  let fragments: Fragment[] = text.length > 0 ? [{ start: 0, end: text.length }] : [];
  for (const id of vocab.specialTokens) {
    const attr = vocab.attrs[id]!;
    if (!parseSpecial && attr & (Attr.CONTROL | Attr.UNKNOWN)) continue;
    const needle = vocab.texts[id]!;
    const first = text.indexOf(needle);
    if (first < 0) continue;
    // Fragments come in text order, so one search position moves forward through the text:
    // `found` is the first occurrence at or after `searchedFrom` (-1: none).
    let searchedFrom = 0;
    let found = first;
    const find = (from: number): number => {
      if (from < searchedFrom || (found >= 0 && from > found)) {
        found = text.indexOf(needle, from);
        searchedFrom = from;
      }
      return found;
    };
    const next: Fragment[] = [];
    for (const frag of fragments) {
      if (frag.token !== undefined) {
        next.push(frag);
        continue;
      }
      let start = frag.start;
      const end = frag.end;
      for (;;) {
        const match = find(start);
        if (match < 0 || match + needle.length > end) break;
        let leftEnd = match;
        if (attr & Attr.LSTRIP) while (leftEnd > start && isSpace(text.charCodeAt(leftEnd - 1))) leftEnd--;
        if (leftEnd > start) next.push({ start, end: leftEnd });
        next.push({ token: id });
        start = match + needle.length;
        if (attr & Attr.RSTRIP) while (start < end && isSpace(text.charCodeAt(start))) start++;
      }
      if (start < end) next.push({ start, end });
    }
    fragments = next;
  }
  return fragments;
}
