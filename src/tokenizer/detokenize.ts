// Token → bytes (what each token stands for in the text) and llama.cpp's optional space clean-up,
// the two halves of detokenization.

import { CHAR_TO_BYTE, utf8Encoder } from "./unicode.ts";
import { Attr, type Vocab } from "./vocab.ts";

const EMPTY = new Uint8Array(0);

/**
 * The bytes of token `id` with special tokens rendered as their text (llama.cpp's piece with
 * special = true). Normal tokens: SPM and SPM-style BPE turn ▁ back into spaces, byte-level BPE maps
 * each character back to its byte; byte tokens are their byte; control, unknown and user-defined
 * tokens are their raw text; unused and undefined tokens are nothing.
 */
export function tokenPiece(vocab: Vocab, id: number): Uint8Array {
  const attr = vocab.attrs[id]!;
  const text = vocab.texts[id]!;
  if (attr & (Attr.UNKNOWN | Attr.CONTROL | Attr.USER_DEFINED)) return utf8Encoder.encode(text);
  if (attr & Attr.NORMAL) {
    if (vocab.escapeWhitespace) return utf8Encoder.encode(text.replaceAll("\u2581", " "));
    return byteLevelDecode(text);
  }
  if (attr & Attr.BYTE) return Uint8Array.of(parseInt(text.slice(3, 5), 16) & 0xff);
  return EMPTY;
}

/** GPT-2 characters → bytes. A character outside the map becomes llama.cpp's "[UNK_BYTE_0x..]". */
function byteLevelDecode(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    const byte = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c]! : -1;
    if (byte >= 0) {
      out.push(byte);
      continue;
    }
    const hex = Array.from(utf8Encoder.encode(ch), (b) => b.toString(16).padStart(2, "0")).join("");
    out.push(...utf8Encoder.encode(`[UNK_BYTE_0x${hex}${text}]`));
  }
  return Uint8Array.from(out);
}

const SP = 0x20;
const APOS = 0x27;
const ch = (s: string) => s.charCodeAt(0);

/**
 * llama.cpp's clean_up_tokenization_spaces, byte for byte: drops the space in " ?", " !", " .",
 * " ,", the spaces around a lone " ' ", and the space before "'s", "'m", "'re", "'ve".
 * Works in place on `t` and returns the new length.
 */
export function cleanSpaces(t: Uint8Array, length: number): number {
  // pass 1: space before ? ! . ,
  let total = length > 0 ? 1 : 0;
  for (let i = 1; i < length; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && (x === ch("?") || x === ch("!") || x === ch(".") || x === ch(","))) total--;
    t[total++] = x;
  }
  // pass 2: " ' " → "'" (the zeroed byte keeps the next position from matching, as upstream)
  const total2 = total;
  total = total2 > 0 ? 1 : 0;
  for (let i = 1; i < total2; i++) {
    const x = t[i]!;
    if (x === APOS && i + 1 < total2 && t[i - 1] === SP && t[i + 1] === SP) {
      total--;
      t[++i] = 0;
    }
    t[total++] = x;
  }
  // pass 3: " 's", " 'm", " 're", " 've" → no space (not " 't", " 'd", " 'll")
  const total3 = total;
  total = total3 > 0 ? 1 : 0;
  for (let i = 1; i < total3; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && x === APOS && i + 1 < total3) {
      const x1 = t[i + 1]!;
      if (x1 === ch("s") || x1 === ch("m")) total--;
      else if (x1 !== ch("t") && x1 !== ch("d") && i + 2 < total3) {
        const x2 = t[i + 2]!;
        if ((x1 === ch("r") || x1 === ch("v")) && x2 === ch("e")) total--;
      }
    }
    t[total++] = x;
  }
  return total;
}
