// The trained vocabulary in its three forms: the TokenizerMetadata our engines build a tokenizer
// from (so the corpus is tokenized exactly as at inference), and the Hugging Face tokenizer.json /
// tokenizer_config.json that go into the checkpoint for the converter.
//
// Id layout (as scripts/byte-vocab.ts): 0..255 bytes, 256..261 special tokens, 262.. merges in rank order.

import { BOS_ID, BYTE_TO_UNICODE, EOS_ID, EOT_ID, MASK_ID, SPECIAL_TOKENS, TokenType } from "../byte-vocab.ts";
import { DEFAULT_CHAT_TEMPLATE } from "../../src/chat/template.ts";
import type { TokenizerMetadata } from "../../src/tokenizer/metadata.ts";

export { BOS_ID, EOS_ID, EOT_ID, MASK_ID };
export const HEADER_START = "<|start_header_id|>";
export const HEADER_END = "<|end_header_id|>";
export const EOT = "<|eot_id|>";

/** Llama-3's pre-tokenizer regex (llama.cpp's `llama-bpe`), as tokenizer.json spells it. */
const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

export interface TrainedVocab {
  tokens: string[];
  types: number[];
  merges: string[];
}

export function buildVocab(merges: readonly string[]): TrainedVocab {
  const tokens = [...BYTE_TO_UNICODE, ...SPECIAL_TOKENS, ...merges.map((m) => m.replace(" ", ""))];
  const seen = new Set<string>();
  for (const t of tokens) {
    if (seen.has(t)) throw new Error(`vocabulary: token ${JSON.stringify(t)} appears twice`);
    seen.add(t);
  }
  const types = tokens.map((_, id) => (id >= BOS_ID && id <= MASK_ID ? TokenType.CONTROL : TokenType.NORMAL));
  return { tokens, types, merges: [...merges] };
}

export function tokenizerMetadata(v: TrainedVocab): TokenizerMetadata {
  return {
    model: "gpt2",
    pre: "llama-bpe",
    tokens: v.tokens,
    types: v.types,
    merges: v.merges,
    bos: BOS_ID,
    eos: EOS_ID,
    eot: EOT_ID,
    mask: MASK_ID,
    addBos: true,
    addEos: false,
  };
}

/** tokenizer.json in the Llama-3 layout: Split(regex) + ByteLevel pre-tokenizer, BPE with ignore_merges. */
export function hfTokenizerJson(v: TrainedVocab): object {
  const vocab: Record<string, number> = {};
  v.tokens.forEach((t, id) => (vocab[t] = id));
  const added = SPECIAL_TOKENS.map((content, i) => ({
    id: BOS_ID + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const bos = SPECIAL_TOKENS[0];
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_PATTERN }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [BOS_ID], tokens: [bos] } },
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges: v.merges,
    },
  };
}

export function hfTokenizerConfig(): object {
  const decoder: Record<string, object> = {};
  SPECIAL_TOKENS.forEach((content, i) => {
    decoder[String(BOS_ID + i)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  });
  return {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: decoder,
    bos_token: SPECIAL_TOKENS[0],
    eos_token: SPECIAL_TOKENS[1],
    mask_token: SPECIAL_TOKENS[5],
    chat_template: DEFAULT_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: true,
    model_input_names: ["input_ids", "attention_mask"],
    model_max_length: 2048,
    tokenizer_class: "PreTrainedTokenizerFast",
  };
}
