// TokenizerMetadata: everything the tokenizer needs from a GGUF, as a plain object, and the one
// function that reads it out of a GGUF file's `tokenizer.ggml.*` / `general.*` keys.

import type { GgufFile } from "../gguf/reader.ts";

export interface TokenizerMetadata {
  /** `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece), "gemma4" (raw BPE). */
  model: string;
  /** `tokenizer.ggml.pre`: the pre-tokenizer of BPE vocabularies ("llama-bpe", "gpt-2", "qwen2", ...). */
  pre?: string;
  tokens: readonly string[];
  /** `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  types?: ArrayLike<number>;
  /** `tokenizer.ggml.scores`: SentencePiece merge priorities (higher merges first). */
  scores?: ArrayLike<number>;
  /** `tokenizer.ggml.merges`: "left right" pairs, best first. */
  merges?: readonly string[];
  // Special token ids; absent ones take the model type's defaults, as in llama.cpp.
  bos?: number;
  eos?: number;
  eot?: number;
  eom?: number;
  unk?: number;
  sep?: number;
  pad?: number;
  mask?: number;
  fimPre?: number;
  fimSuf?: number;
  fimMid?: number;
  fimPad?: number;
  fimRep?: number;
  fimSep?: number;
  addBos?: boolean;
  addEos?: boolean;
  addSpacePrefix?: boolean;
  /** `general.name` and `general.architecture`: llama.cpp keys a few token attributes on them. */
  modelName?: string;
  architecture?: string;
}

/** Reads the tokenizer metadata of a GGUF; the reader's typed getters name a mistyped key. */
export function tokenizerMetadataFromGguf(file: GgufFile): TokenizerMetadata {
  const numbers = (key: string): ArrayLike<number> | undefined => {
    const a = file.getArray(key);
    if (a === undefined) return undefined;
    if (!ArrayBuffer.isView(a.items) || a.items instanceof BigInt64Array || a.items instanceof BigUint64Array) {
      throw new Error(`GGUF key "${key}" is not an array of 32-bit numbers`);
    }
    return a.items;
  };

  const t = "tokenizer.ggml.";
  const model = file.getString(t + "model");
  if (model === undefined) throw new Error("GGUF has no tokenizer (tokenizer.ggml.model is missing)");
  const tokens = file.getStringArray(t + "tokens");
  if (tokens === undefined) throw new Error("GGUF has no vocabulary (tokenizer.ggml.tokens is missing)");
  const id = (key: string) => file.getInt(t + key);
  return {
    model,
    pre: file.getString(t + "pre"),
    tokens,
    types: numbers(t + "token_type"),
    scores: numbers(t + "scores"),
    merges: file.getStringArray(t + "merges"),
    bos: id("bos_token_id"),
    eos: id("eos_token_id"),
    eot: id("eot_token_id"),
    eom: id("eom_token_id"),
    unk: id("unknown_token_id"),
    sep: id("seperator_token_id"), // sic: llama.cpp's key name
    pad: id("padding_token_id"),
    mask: id("mask_token_id"),
    // llama.cpp reads the deprecated prefix/suffix/middle keys last, so they win when present
    fimPre: id("prefix_token_id") ?? id("fim_pre_token_id"),
    fimSuf: id("suffix_token_id") ?? id("fim_suf_token_id"),
    fimMid: id("middle_token_id") ?? id("fim_mid_token_id"),
    fimPad: id("fim_pad_token_id"),
    fimRep: id("fim_rep_token_id"),
    fimSep: id("fim_sep_token_id"),
    addBos: file.getBool(t + "add_bos_token"),
    addEos: file.getBool(t + "add_eos_token"),
    addSpacePrefix: file.getBool(t + "add_space_prefix"),
    modelName: file.getString("general.name"),
    architecture: file.getString("general.architecture"),
  };
}
