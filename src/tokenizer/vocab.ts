// The resolved vocabulary: token texts and attributes, special-token ids, the end-of-generation
// set and per-model flags, derived from TokenizerMetadata by the rules llama.cpp's loader applies.

import type { TokenizerMetadata } from "./metadata.ts";

/** Token attribute bits (a token may gain CONTROL, UNUSED, LSTRIP or RSTRIP on top of its type). */
export const Attr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  /** Whitespace before the token's text is swallowed when the text is matched in input. */
  LSTRIP: 1 << 7,
  /** Whitespace after the token's text is swallowed when the text is matched in input. */
  RSTRIP: 1 << 8,
} as const;

/** `tokenizer.ggml.token_type` value → attribute. */
const TYPE_ATTR: Record<number, number> = {
  0: Attr.UNDEFINED,
  1: Attr.NORMAL,
  2: Attr.UNKNOWN,
  3: Attr.CONTROL,
  4: Attr.USER_DEFINED,
  5: Attr.UNUSED,
  6: Attr.BYTE,
};

export interface Vocab {
  kind: "bpe" | "spm";
  /** Pre-tokenizer name for BPE vocabularies ("gemma4" for raw-UTF-8 BPE); "" for SPM. */
  pre: string;
  texts: string[];
  attrs: Uint16Array; // (nVocab)
  scores: Float32Array; // (nVocab)
  merges: readonly string[];
  /** Text → id; a text listed twice maps to its last id. */
  tokenToId: Map<string, number>;
  bos: number | null;
  eos: number | null;
  eot: number | null;
  eom: number | null;
  unk: number | null;
  sep: number | null;
  pad: number | null;
  mask: number | null;
  fimPre: number | null;
  fimSuf: number | null;
  fimMid: number | null;
  fimPad: number | null;
  fimRep: number | null;
  fimSep: number | null;
  eog: Set<number>;
  addBos: boolean;
  addEos: boolean;
  /** SPM: a space goes before text that starts the input or follows a special token; decoding
   *  drops the first token's leading space. */
  addSpacePrefix: boolean;
  /** Spaces become ▁ before merging (SPM, and SPM-style BPE such as Gemma-4). */
  escapeWhitespace: boolean;
  /** llama.cpp's detokenizer tidies " ," and " 's" style spacing for these vocabularies. */
  cleanSpaces: boolean;
  /** A pre-token word that is itself a token is emitted whole. */
  ignoreMerges: boolean;
  /** Tokens whose text is matched in input before tokenizing (control, user-defined, unknown),
   *  longest text first. */
  specialTokens: Int32Array;
}

/** Pre-tokenizers whose vocabularies skip llama.cpp's space clean-up when detokenizing. */
const NO_CLEAN_SPACES = new Set([
  "deepseek-llm", "deepseek-coder", "deepseek-v3", "youtu", "command-r", "qwen2", "deepseek-r1-qwen",
  "kormo", "f2llmv2", "qwen35", "poro-chat", "viking", "tekken", "smollm", "chameleon", "gpt-4o", "llama4",
  "kanana2", "talkie", "granite-embed-multi-97m", "tiny_aya", "cohere2moe", "superbpe", "trillion",
  "granite-docling", "bailingmoe", "bailingmoe2", "llada-moe", "seed-coder", "hunyuan", "hunyuan-dense",
  "joyai-llm", "kimi-k2", "grok-2", "afmoe", "laguna", "minimax-m2", "solar-open", "sarvam-moe",
]);
/** Pre-tokenizers that emit whole-token words without merging, and those that add BOS by default. */
const IGNORE_MERGES = new Set([
  "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
  "youtu", "tekken", "minicpm5", "granite-embed-multi-97m",
]);
const ADD_BOS = new Set([
  "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
  "tekken", "chameleon",
]);

// Texts llama.cpp recognises as special when the metadata doesn't say; the first present wins.
const EOT_TEXTS = [
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
  "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
];
const EOM_TEXTS = ["<|eom_id|>"];
const FIM_PRE_TEXTS = ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];
const FIM_SUF_TEXTS = ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];
const FIM_MID_TEXTS = ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];
const FIM_PAD_TEXTS = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP_TEXTS = ["<|file_sep|>"];
/** Texts that end generation, whatever the metadata says. */
const EOG_TEXTS = [
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
  "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
  "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
];
/** gpt-oss tokens that are always rendered, whatever their type. */
const ALWAYS_RENDERED = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

export function buildVocab(meta: TokenizerMetadata): Vocab {
  const n = meta.tokens.length;
  if (n === 0) throw new Error("tokenizer has an empty vocabulary");
  let kind: "bpe" | "spm";
  let pre = "";
  if (meta.model === "llama") kind = "spm";
  else if (meta.model === "gpt2") {
    kind = "bpe";
    pre = meta.pre ?? "default";
  } else if (meta.model === "gemma4") {
    kind = "bpe";
    pre = "gemma4";
  } else throw new Error(`unsupported tokenizer model '${meta.model}' (tokenizer.ggml.model)`);
  if (kind === "bpe" && meta.merges === undefined) throw new Error("BPE vocabulary without tokenizer.ggml.merges");

  // Texts, attributes, scores. Empty texts get a placeholder so no two tokens share "".
  const texts = meta.tokens.map((t, i) => (t === "" ? `[EMPTY_${i}]` : t));
  const tokenToId = new Map<string, number>();
  for (let i = 0; i < n; i++) tokenToId.set(texts[i]!, i);
  const attrs = new Uint16Array(n).fill(Attr.NORMAL);
  if (meta.types !== undefined) {
    if (meta.types.length < n) throw new Error(`token_type has ${meta.types.length} entries for ${n} tokens`);
    for (let i = 0; i < n; i++) attrs[i] = TYPE_ATTR[meta.types[i]!] ?? Attr.UNDEFINED;
  }
  const scores = new Float32Array(n);
  if (meta.scores !== undefined) {
    if (meta.scores.length < n) throw new Error(`scores has ${meta.scores.length} entries for ${n} tokens`);
    for (let i = 0; i < n; i++) scores[i] = meta.scores[i]!;
  }

  // Per-model defaults, then what the metadata says.
  const spm = kind === "spm";
  const defaults = spm ? { bos: 1, eos: 2, unk: 0 } : { bos: pre === "gemma4" ? -1 : 11, eos: pre === "gemma4" ? -1 : 11, unk: -1 };
  if (pre === "glm4" || pre === "chatglm-bpe") defaults.bos = -1;
  // A metadata id outside the vocabulary is ignored; a default outside it means "none".
  const pick = (given: number | undefined, fallback: number): number | null => {
    if (given !== undefined && given >= 0 && given < n) return given;
    return fallback >= 0 && fallback < n ? fallback : null;
  };
  const v: Vocab = {
    kind,
    pre,
    texts,
    attrs,
    scores,
    merges: meta.merges ?? [],
    tokenToId,
    bos: pick(meta.bos, defaults.bos),
    eos: pick(meta.eos, defaults.eos),
    eot: pick(meta.eot, -1),
    eom: pick(meta.eom, -1),
    unk: pick(meta.unk, defaults.unk),
    sep: pick(meta.sep, -1),
    pad: pick(meta.pad, -1),
    mask: pick(meta.mask, -1),
    fimPre: pick(meta.fimPre, -1),
    fimSuf: pick(meta.fimSuf, -1),
    fimMid: pick(meta.fimMid, -1),
    fimPad: pick(meta.fimPad, -1),
    fimRep: pick(meta.fimRep, -1),
    fimSep: pick(meta.fimSep, -1),
    eog: new Set(),
    addBos: meta.addBos ?? (spm || ADD_BOS.has(pre)),
    addEos: meta.addEos ?? false,
    addSpacePrefix: meta.addSpacePrefix ?? spm,
    escapeWhitespace: spm || pre === "gemma4",
    cleanSpaces: !spm && !NO_CLEAN_SPACES.has(pre),
    ignoreMerges: IGNORE_MERGES.has(pre),
    specialTokens: new Int32Array(0),
  };
  if (pre === "gemma4") v.addBos = true; // llama.cpp forces it for Gemma-4

  detectSpecialTokens(v);
  v.specialTokens = specialTokenOrder(v);
  applyModelAttributes(v, meta);
  return v;
}

/** Fills unset EOT/EOM/FIM ids from well-known texts and builds the end-of-generation set;
 *  every token recognised this way is treated as control, as llama.cpp does. */
function detectSpecialTokens(v: Vocab): void {
  const markControl = (id: number) => (v.attrs[id]! |= Attr.CONTROL);
  const detect = (current: number | null, candidates: string[]): number | null => {
    if (current !== null) return current;
    for (const text of candidates) {
      const id = v.tokenToId.get(text);
      if (id !== undefined) {
        markControl(id);
        return id;
      }
    }
    return null;
  };
  v.eot = detect(v.eot, EOT_TEXTS);
  v.eom = detect(v.eom, EOM_TEXTS);
  v.fimPre = detect(v.fimPre, FIM_PRE_TEXTS);
  v.fimSuf = detect(v.fimSuf, FIM_SUF_TEXTS);
  v.fimMid = detect(v.fimMid, FIM_MID_TEXTS);
  v.fimPad = detect(v.fimPad, FIM_PAD_TEXTS);
  v.fimRep = detect(v.fimRep, FIM_REP_TEXTS);
  v.fimSep = detect(v.fimSep, FIM_SEP_TEXTS);

  // Control tokens named "unused" are placeholders.
  for (let id = 0; id < v.texts.length; id++) {
    if (v.attrs[id]! & Attr.CONTROL && v.texts[id]!.includes("unused")) v.attrs[id]! |= Attr.UNUSED;
  }

  const eog = v.eog;
  for (const id of [v.fimPad, v.fimRep, v.fimSep]) if (id !== null) eog.add(id);
  for (const text of EOG_TEXTS) {
    const id = v.tokenToId.get(text);
    if (id === undefined) continue;
    eog.add(id);
    markControl(id);
  }
  for (const text of ALWAYS_RENDERED) {
    const id = v.tokenToId.get(text);
    if (id !== undefined) v.attrs[id] = Attr.USER_DEFINED;
  }
  for (const id of [v.eos, v.eot, v.eom]) if (id !== null) eog.add(id);

  // gpt-oss and Solar-Open: with <|return|>/<|call|> (or <|calls|>/<|flush|>) present, <|end|> only
  // ends a message, not the generation.
  const inEog = (text: string): number | null => {
    const id = v.tokenToId.get(text);
    return id !== undefined && eog.has(id) ? id : null;
  };
  const end = inEog("<|end|>");
  if (end !== null && inEog("<|call|>") !== null && inEog("<|return|>") !== null) dropEog(v, end, Attr.USER_DEFINED);
  else if (end !== null && inEog("<|calls|>") !== null && inEog("<|flush|>") !== null) dropEog(v, end, Attr.USER_DEFINED);
  // Gemma-4 (and PaddleOCR): </s> is an ordinary token when <|tool_response> is there.
  const s = inEog("</s>");
  if (s !== null && inEog("<|tool_response>") !== null) dropEog(v, s, Attr.NORMAL);
}

function dropEog(v: Vocab, id: number, attr: number): void {
  v.eog.delete(id);
  v.attrs[id] = attr;
}

/** Control, user-defined and unknown tokens, longest text first (ties by id, for determinism). */
function specialTokenOrder(v: Vocab): Int32Array {
  const ids: number[] = [];
  for (let id = 0; id < v.texts.length; id++) {
    if (v.attrs[id]! & (Attr.CONTROL | Attr.USER_DEFINED | Attr.UNKNOWN)) ids.push(id);
  }
  ids.sort((a, b) => v.texts[b]!.length - v.texts[a]!.length || a - b);
  return Int32Array.from(ids);
}

/** The few attributes llama.cpp sets by model or pre-tokenizer name. */
function applyModelAttributes(v: Vocab, meta: TokenizerMetadata): void {
  const name = (meta.modelName ?? "").toLowerCase();
  const pre = meta.pre ?? "";
  const arch = meta.architecture ?? "";
  const set = (text: string, attr: number, on: boolean) => {
    const id = v.tokenToId.get(text);
    if (id !== undefined) v.attrs[id] = on ? v.attrs[id]! | attr : v.attrs[id]! & ~attr;
  };
  if (["jina-v2-de", "jina-v2-es", "jina-v2-code"].some((p) => pre.includes(p)) || ["nomic-bert-moe", "jina-bert-v3"].some((a) => arch.includes(a))) {
    set("<mask>", Attr.LSTRIP, true);
  } else if (name.includes("phi-3") || name.includes("phi3")) {
    for (const id of v.specialTokens) v.attrs[id]! |= Attr.RSTRIP;
    set("</s>", Attr.RSTRIP, true);
    for (const text of ["<unk>", "<s>", "<|endoftext|>"]) set(text, Attr.RSTRIP, false);
  } else if (name.includes("modern-bert")) {
    set("[MASK]", Attr.LSTRIP, true);
  }
}
