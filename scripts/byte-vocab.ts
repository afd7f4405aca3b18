// A small byte-level BPE vocabulary, written out by hand: the 256 bytes in GPT-2's byte-to-unicode
// spelling, six Llama-3 style special tokens (plus a diffusion mask) and a few real English merges.
//
// Layout (fixed, so that a training script and the micro fixture agree on every id):
//   0 .. 255      one token per byte; id = byte value, text = GPT-2's printable stand-in for the byte
//   256 .. 261    special (control) tokens: BOS, EOS, EOT, header start/end, mask
//   262 ..        the result of each merge, in merge (rank) order
// Special ids come before the merges so that adding merges never moves them.

import { gv, type GgufValue } from "../src/gguf/types.ts";

/**
 * GPT-2's bytes_to_unicode: printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
 * themselves; the other 68 bytes (controls, space, 0x7f..0xa0, 0xad) get U+0100, U+0101, ... in
 * byte order. llama.cpp's `gpt2` tokenizer maps token text back to bytes through the same table.
 */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let next = 0x100;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : next++));
  return out;
})();

/** Token type ids as llama.cpp reads `tokenizer.ggml.token_type`. */
export const TokenType = { NORMAL: 1, CONTROL: 3 } as const;

/** Texts of ids 256 .. 261, in id order. */
export const SPECIAL_TOKENS: readonly string[] = [
  "<|begin_of_text|>",
  "<|end_of_text|>",
  "<|eot_id|>",
  "<|start_header_id|>",
  "<|end_header_id|>",
  "|<MASK>|",
];

export const BOS_ID = 256;
export const EOS_ID = 257;
export const EOT_ID = 258;
export const HEADER_START_ID = 259;
export const HEADER_END_ID = 260;
export const MASK_ID = 261;

/**
 * "left right" pairs in rank order (GPT-2's first merges, then enough to spell "hello" and
 * " world" whole). Both sides of every merge are tokens of this vocabulary, by construction.
 * 'Ġ' is the space byte in the byte-to-unicode spelling.
 */
export const MERGES: readonly string[] = [
  "Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r", "Ġ s", "a t", "Ġ w", "Ġ o", "e n",
  "i s", "a n", "o r", "e s", "in g", "Ġa n", "Ġan d", "l l", "l d", "Ġw or", "Ġwor ld", "he ll", "hell o",
];

/** Text of each merge's result, ids 262 onwards. */
export const MERGED_TOKENS: readonly string[] = MERGES.map((m) => m.replace(" ", ""));

/** Every token text by id. */
export const TOKENS: readonly string[] = [...BYTE_TO_UNICODE, ...SPECIAL_TOKENS, ...MERGED_TOKENS];
export const N_VOCAB = TOKENS.length;

export const TOKEN_TYPES: readonly number[] = TOKENS.map((_, id) =>
  id >= BOS_ID && id <= MASK_ID ? TokenType.CONTROL : TokenType.NORMAL);

/** The ids of a text's UTF-8 bytes, before any merge (what the model sees for unseen words). */
export function byteIds(text: string): number[] {
  return [...new TextEncoder().encode(text)];
}

/** The `tokenizer.*` GGUF entries for this vocabulary, as llama.cpp's gpt2 / llama-bpe loader reads them. */
export function byteVocabMetadata(): [string, GgufValue][] {
  return [
    ["tokenizer.ggml.model", gv.str("gpt2")],
    ["tokenizer.ggml.pre", gv.str("llama-bpe")],
    ["tokenizer.ggml.tokens", gv.strings([...TOKENS])],
    ["tokenizer.ggml.token_type", gv.i32s(TOKEN_TYPES)],
    ["tokenizer.ggml.merges", gv.strings([...MERGES])],
    ["tokenizer.ggml.bos_token_id", gv.u32(BOS_ID)],
    ["tokenizer.ggml.eos_token_id", gv.u32(EOS_ID)],
    ["tokenizer.ggml.eot_token_id", gv.u32(EOT_ID)],
    ["tokenizer.ggml.mask_token_id", gv.u32(MASK_ID)],
    ["tokenizer.ggml.add_bos_token", gv.bool(true)],
  ];
}

// Checked at load: a typo in the tables above would otherwise surface as a confusing tokenizer bug.
{
  const ids = new Map(TOKENS.map((t, i) => [t, i]));
  if (ids.size !== TOKENS.length) throw new Error("byte-vocab: duplicated token text");
  for (const m of MERGES) {
    const [l, r] = m.split(" ");
    if (!ids.has(l) || !ids.has(r)) throw new Error(`byte-vocab: merge "${m}" uses a token that is not in the vocabulary`);
  }
}
