// tokenizer.json + tokenizer_config.json (+ chat_template.jinja / .json) → the `tokenizer.*` GGUF keys
// llama.cpp's gpt2 (byte-level BPE) vocabulary loader and our TS tokenizer read.
//
// What it writes, following llama.cpp's own converter: tokens in id order (added tokens included,
// ids the tokenizer lacks up to the embedding's row count become "[PAD<id>]", type UNUSED); types
// NORMAL for the BPE vocabulary, CONTROL for special added tokens (or ones that look special:
// "<|...|>"), USER_DEFINED for the other added tokens; merges as "left right" (array-form merges are
// joined, a space inside a part spelled U+0120 as in llama.cpp); the pre-tokenizer name from the
// split regex (llama-bpe, qwen2, gpt-2, else "default" with a warning); special ids; add_bos/eos;
// chat templates. SentencePiece models (tokenizer.model, Unigram, BPE with byte_fallback) are refused.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gv, GgufType, type GgufValue } from "../gguf/types.ts";
import { readJson } from "./checkpoint.ts";
import { fail } from "./errors.ts";
import type { CheckpointConfig } from "./hf-config.ts";

/** llama.cpp's token types (`tokenizer.ggml.token_type`). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Texts a diffusion mask token goes by. */
export const MASK_TEXTS = ["|<MASK>|", "<|mask|>"];
/** End-of-turn texts llama.cpp also recognises by name. */
const EOT_TEXTS = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"];

// Split patterns of the pre-tokenizers we recognise (as they appear in tokenizer.json).
const LLAMA3_RE = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN2_RE = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const GPT2_RE = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

export interface ConvertedVocab {
  kv: [string, GgufValue][];
  tokens: string[];
  pre: string;
  bos?: number;
  eos?: number;
  eot?: number;
  mask?: number;
  warnings: string[];
}

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

type Json = Record<string, unknown>;

/** `nVocab`: the embedding's row count, which the vocabulary must cover exactly. */
export function convertTokenizer(dir: string, cfg: CheckpointConfig, nVocab: number): ConvertedVocab {
  const where = join(dir, "tokenizer.json");
  if (!existsSync(where)) {
    if (existsSync(join(dir, "tokenizer.model"))) fail(`${dir}: only a SentencePiece tokenizer.model, which is not supported: a byte-level BPE tokenizer.json is needed`);
    fail(`${where}: not found (the converter needs the tokenizer)`);
  }
  const tk = readJson(dir, "tokenizer.json", true);
  const tc = readJson(dir, "tokenizer_config.json") ?? {};
  const warnings: string[] = [];

  const model = tk.model as Json | undefined;
  if (typeof model !== "object" || model === null) fail(`${where}: no "model" object`);
  const type = model.type ?? (model.merges !== undefined ? "BPE" : undefined);
  if (type !== "BPE") fail(`${where}: model type ${JSON.stringify(type)} is not supported (only byte-level BPE; SentencePiece Unigram is not)`);
  if (model.byte_fallback === true) fail(`${where}: BPE with byte_fallback (SentencePiece-style) is not supported; only byte-level BPE`);
  if (!mentionsByteLevel(tk.pre_tokenizer) && !mentionsByteLevel(tk.decoder)) {
    fail(`${where}: neither the pre-tokenizer nor the decoder is ByteLevel: not a byte-level BPE vocabulary`);
  }

  // ─── Tokens in id order ───
  const vocab = model.vocab as Json | undefined;
  if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab)) fail(`${where}: model.vocab is not an object`);
  const texts: (string | undefined)[] = [];
  const types: number[] = [];
  const claim = (id: unknown, text: string, t: number, what: string) => {
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) fail(`${where}: ${what} ${JSON.stringify(text)} has id ${JSON.stringify(id)}`);
    if (id >= nVocab) fail(`${where}: ${what} ${JSON.stringify(text)} has id ${id}, but the embedding has only ${nVocab} rows`);
    texts[id] = text;
    types[id] = t;
  };
  for (const [text, id] of Object.entries(vocab)) claim(id, text, TokenType.NORMAL, "token");
  const added = parseAdded(tk.added_tokens, where);
  for (const a of added) claim(a.id, a.content, a.special || looksSpecial(a.content) ? TokenType.CONTROL : TokenType.USER_DEFINED, "added token");

  // The mask token may sit past the tokenizer (WrinkleFree: id 128256 of a 128257-row embedding).
  const idOf = (text: string): number | undefined => {
    const a = added.find((x) => x.content === text);
    if (a) return a.id;
    const v = vocab[text];
    return typeof v === "number" ? v : undefined;
  };
  let mask = cfg.maskTokenId ?? specialFromConfig(tc, "mask", idOf) ?? MASK_TEXTS.map(idOf).find((i) => i !== undefined);
  if (mask !== undefined) {
    if (mask >= nVocab) fail(`config mask_token_id ${mask} is outside the vocabulary (${nVocab} embedding rows)`);
    if (texts[mask] === undefined) {
      if (idOf(MASK_TEXTS[0]) !== undefined) fail(`mask_token_id ${mask} has no token, and "${MASK_TEXTS[0]}" already has id ${idOf(MASK_TEXTS[0])}`);
      texts[mask] = MASK_TEXTS[0];
      types[mask] = TokenType.CONTROL;
      warnings.push(`mask token id ${mask} is not in the tokenizer: added as ${MASK_TEXTS[0]} (control)`);
    }
  }

  const tokens: string[] = new Array(nVocab);
  let padded = 0;
  for (let i = 0; i < nVocab; i++) {
    if (texts[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TokenType.UNUSED;
      padded++;
    } else tokens[i] = texts[i]!;
  }
  if (padded > 0) warnings.push(`${padded} embedding rows have no token in tokenizer.json: written as [PAD<id>] (unused)`);
  const seen = new Map<string, number>();
  tokens.forEach((t, i) => {
    const prev = seen.get(t);
    if (prev !== undefined) fail(`${where}: token text ${JSON.stringify(t)} is used by ids ${prev} and ${i} (llama.cpp needs unique texts)`);
    seen.set(t, i);
  });

  // ─── Merges ───
  const merges = parseMerges(model.merges, where);

  // ─── Pre-tokenizer ───
  let pre = detectPre(tk.pre_tokenizer);
  if (pre === undefined) {
    warnings.push(`unrecognised pre-tokenizer ${JSON.stringify(tk.pre_tokenizer)?.slice(0, 200)}: writing "default"`);
    pre = "default";
  }

  // ─── Special tokens ───
  let bos = specialFromConfig(tc, "bos", idOf) ?? specialFromConfig(tc, "cls", idOf) ?? cfg.bosTokenId;
  let eos = specialFromConfig(tc, "eos", idOf) ?? specialFromConfig(tc, "sep", idOf) ?? cfg.eosTokenId;
  const unk = specialFromConfig(tc, "unk", idOf);
  const sep = specialFromConfig(tc, "sep", idOf);
  const pad = specialFromConfig(tc, "pad", idOf);
  const eot = EOT_TEXTS.map(idOf).find((i) => i !== undefined);
  for (const [name, id] of [["bos", bos], ["eos", eos]] as const) {
    if (id !== undefined && id >= nVocab) {
      warnings.push(`${name} token id ${id} is outside the vocabulary: left out`);
      if (name === "bos") bos = undefined;
      else eos = undefined;
    }
  }

  const addBos = typeof tc.add_bos_token === "boolean" ? tc.add_bos_token : templateAdds(tk.post_processor, bos !== undefined ? tokens[bos] : undefined, "first");
  const addEos = typeof tc.add_eos_token === "boolean" ? tc.add_eos_token : templateAdds(tk.post_processor, eos !== undefined ? tokens[eos] : undefined, "last");

  const kv: [string, GgufValue][] = [
    ["tokenizer.ggml.model", gv.str("gpt2")],
    ["tokenizer.ggml.pre", gv.str(pre)],
    ["tokenizer.ggml.tokens", gv.strings(tokens)],
    ["tokenizer.ggml.token_type", gv.i32s(types.slice(0, nVocab))],
    ["tokenizer.ggml.merges", gv.strings(merges)],
  ];
  const id = (key: string, v: number | undefined) => {
    if (v !== undefined) kv.push([`tokenizer.ggml.${key}_token_id`, gv.u32(v)]);
  };
  id("bos", bos);
  id("eos", eos);
  id("eot", eot);
  id("unknown", unk);
  id("seperator", sep); // sic: llama.cpp's key
  id("padding", pad);
  id("mask", mask);
  kv.push(["tokenizer.ggml.add_bos_token", gv.bool(addBos)]);
  if (addEos) kv.push(["tokenizer.ggml.add_eos_token", gv.bool(true)]);
  kv.push(...chatTemplates(dir, tc));
  return { kv, tokens, pre, bos, eos, eot, mask, warnings };
}

function parseAdded(v: unknown, where: string): AddedToken[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`${where}: added_tokens is not a list`);
  return v.map((a: Json, i) => {
    if (typeof a !== "object" || a === null || typeof a.content !== "string") fail(`${where}: added_tokens[${i}] has no content`);
    return { id: a.id as number, content: a.content, special: a.special === true };
  });
}

/** As llama.cpp's converter: added tokens that are not flagged special but are used as control tokens. */
function looksSpecial(t: string): boolean {
  return ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) || (t.startsWith("<|") && t.endsWith("|>")) ||
    (t.startsWith("<｜") && t.endsWith("｜>")) || (t.startsWith("<unused") && t.endsWith(">"));
}

function parseMerges(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`${where}: model.merges is not a list`);
  return v.map((m: unknown, i) => {
    if (typeof m === "string") {
      if (m.indexOf(" ", 1) < 0) fail(`${where}: merge ${i} ${JSON.stringify(m)} is not "left right"`);
      return m;
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string" && m[0].length > 0 && m[1].length > 0) {
      // A space inside a part would split wrongly: spell it U+0120 as llama.cpp's converter does.
      return `${m[0].replaceAll(" ", "\u0120")} ${m[1].replaceAll(" ", "\u0120")}`;
    }
    fail(`${where}: merge ${i} ${JSON.stringify(m)} is neither "left right" nor ["left", "right"]`);
  });
}

function mentionsByteLevel(node: unknown): boolean {
  if (typeof node !== "object" || node === null) return false;
  const n = node as Json;
  if (n.type === "ByteLevel") return true;
  const kids = (n.pretokenizers ?? n.decoders) as unknown;
  return Array.isArray(kids) && kids.some(mentionsByteLevel);
}

/** llama.cpp's `tokenizer.ggml.pre` for a tokenizer.json pre_tokenizer, or undefined when unknown. */
export function detectPre(node: unknown): string | undefined {
  if (typeof node !== "object" || node === null) return undefined;
  const n = node as Json;
  const steps = n.type === "Sequence" && Array.isArray(n.pretokenizers) ? (n.pretokenizers as Json[]) : [n];
  const splits = steps.filter((s) => s?.type === "Split");
  const byte = steps.filter((s) => s?.type === "ByteLevel");
  if (byte.length !== 1 || steps.length !== splits.length + 1) return undefined;
  if (splits.length === 0) return byte[0].use_regex === false ? undefined : "gpt-2";
  if (splits.length !== 1 || byte[0].use_regex === true) return undefined;
  const re = (splits[0].pattern as Json | undefined)?.Regex;
  if (re === LLAMA3_RE) return "llama-bpe";
  if (re === QWEN2_RE) return "qwen2";
  if (re === GPT2_RE) return "gpt-2";
  return undefined;
}

/** A `<typ>_token` entry of tokenizer_config.json (a string or {content}) as an id. */
function specialFromConfig(tc: Json, typ: string, idOf: (t: string) => number | undefined): number | undefined {
  const e = tc[`${typ}_token`];
  const text = typeof e === "string" ? e : typeof e === "object" && e !== null ? (e as Json).content : undefined;
  return typeof text === "string" ? idOf(text) : undefined;
}

/** Whether a TemplateProcessing post-processor puts `text` first (or last) in a single sequence. */
function templateAdds(pp: unknown, text: string | undefined, at: "first" | "last"): boolean {
  if (text === undefined || typeof pp !== "object" || pp === null) return false;
  const procs = ((pp as Json).type === "Sequence" ? (pp as Json).processors : [pp]) as Json[] | undefined;
  for (const p of procs ?? []) {
    if (p?.type !== "TemplateProcessing" || !Array.isArray(p.single) || p.single.length < 2) continue;
    const item = (at === "first" ? p.single[0] : p.single[p.single.length - 1]) as Json;
    if ((item?.SpecialToken as Json | undefined)?.id === text) return true;
  }
  return false;
}

/** tokenizer.chat_template (+ named ones) from tokenizer_config.json, chat_template.jinja or .json. */
function chatTemplates(dir: string, tc: Json): [string, GgufValue][] {
  let t: unknown = tc.chat_template;
  if (t === undefined && existsSync(join(dir, "chat_template.jinja"))) t = readFileSync(join(dir, "chat_template.jinja"), "utf8");
  if (t === undefined) t = readJson(dir, "chat_template.json")?.chat_template;
  if (t === undefined || t === null) return [];
  if (typeof t === "string") return [["tokenizer.chat_template", gv.str(t)]];
  if (!Array.isArray(t)) fail(`${join(dir, "tokenizer_config.json")}: chat_template is neither a string nor a list`);
  const out: [string, GgufValue][] = [];
  const names: string[] = [];
  for (const c of t as Json[]) {
    const name = typeof c?.name === "string" ? c.name.replace(/[^A-Za-z0-9]/g, "_") : "";
    if (name === "" || typeof c.template !== "string") continue;
    if (name === "default") out.unshift(["tokenizer.chat_template", gv.str(c.template)]);
    else {
      names.push(name);
      out.push([`tokenizer.chat_template.${name}`, gv.str(c.template)]);
    }
  }
  if (names.length > 0) out.push(["tokenizer.chat_templates", gv.array(GgufType.STRING, names)]);
  return out;
}
