// Pre-tokenization: splits text into the "words" BPE merges inside, per `tokenizer.ggml.pre`.
// The common patterns (GPT-2, Llama-3, Qwen2/3.5) are hand-written scanners, the rest run as JS regexes.

import { IntList } from "./int-list.ts";
import { splitRegex, type SplitInput } from "./regex-split.ts";
import { scanGpt2, scanLlama3, scanNewlines } from "./scanners.ts";

/**
 * One splitting pass. Passes run in order; each splits every fragment left by the previous one
 * (text a pass does not match becomes a fragment of its own), so later passes never cross
 * earlier boundaries.
 */
export type SplitStep =
  /** `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` */
  | { kind: "gpt2" }
  /** `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` */
  | { kind: "llama3" }
  /** As llama3 with `\p{N}` (one digit per word). */
  | { kind: "qwen2" }
  /** As qwen2, with combining marks joining letter runs and leaving the punctuation class. */
  | { kind: "qwen35" }
  /** `[^\n]+|[\n]+` */
  | { kind: "newlines" }
  /** Any other pattern, in ECMAScript syntax with `\p{L}`-style classes (see compileRegex). */
  | { kind: "regex"; source: string };

export interface PreTokenizerSpec {
  steps: SplitStep[];
  /** Words go through GPT-2's byte → character map before BPE (false: raw UTF-8 characters). */
  byteEncode: boolean;
}

const GPT2: SplitStep = { kind: "gpt2" };
const LLAMA3: SplitStep = { kind: "llama3" };
const QWEN2: SplitStep = { kind: "qwen2" };
const re = (source: string): SplitStep => ({ kind: "regex", source });

const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT4O_WORDS =
  "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" + CONTRACTIONS +
  "?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" + CONTRACTIONS + "?";

/** The pass lists, keyed by llama.cpp's pre-tokenizer families (same patterns, same order). */
const FAMILIES = {
  llama3: [LLAMA3],
  gpt2: [GPT2],
  qwen2: [QWEN2],
  qwen35: [{ kind: "qwen35" }],
  laguna: [{ kind: "newlines" }, QWEN2],
  starcoder: [re("\\p{N}"), GPT2],
  falcon: [re("[\\p{P}\\$\\+<=>\\^~\\|`]+"), GPT2, re("[0-9][0-9][0-9]")],
  default: [re("[\\p{P}\\$\\+<=>\\^~\\|]+"), GPT2, re("\\p{N}+"), re("[0-9][0-9][0-9]")],
  deepseekCoder: [re("[\r\n]"), re("\\s?\\p{L}+"), re("\\s?\\p{P}+"), re("[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+"), re("\\p{N}")],
  deepseekLlm: [
    re("[\r\n]"),
    re(
      "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295" +
        "-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-" +
        "\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5" +
        "\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-" +
        "\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-" +
        "\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-" +
        "\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-" +
        "\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E" +
        "\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-" +
        "\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17" +
        "\uFF21-\uFF3A\uFF41-\uFF5A\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}" +
        "\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+",
    ),
    re("\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+"),
    re("\\s+$"),
    re("[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+"),
    re("\\p{N}+"),
  ],
  deepseek3: [
    re("\\p{N}{1,3}"),
    re("[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+"),
    re(
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    ),
  ],
  bloom: [re(" ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+")],
  viking: [re(" ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+"), re("\\p{N}")],
  tekken: [
    re(
      "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ),
  ],
  gpt4o: [re(GPT4O_WORDS + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")],
  bailingmoe: [
    re(
      "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    ),
  ],
  seedCoder: [
    re(
      CONTRACTIONS +
        "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ),
  ],
  exaoneMoe: [
    re(
      CONTRACTIONS +
        "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    ),
  ],
  minicpm5: [
    re("\\p{N}{1,3}"),
    re(CONTRACTIONS + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
  ],
  jais2: [
    re(
      CONTRACTIONS +
        "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
    ),
  ],
  chameleon: [
    re("<sentinel:[0-9]+>"),
    re("(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z"),
    re("([\\t\\n]|    |  )"),
    re("\\p{N}"),
    re("[\\p{P}!-/:-@\\[-`{-~]"),
    re("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"),
  ],
} satisfies Record<string, SplitStep[]>;

type Family = keyof typeof FAMILIES;

/** `tokenizer.ggml.pre` → family, as llama.cpp maps them. */
const PRE_TO_FAMILY: Record<string, Family> = {
  default: "default",
  llama3: "llama3", "llama-v3": "llama3", "llama-bpe": "llama3", falcon3: "llama3", "falcon-h1": "llama3",
  pixtral: "llama3", "midm-2.0": "llama3", lfm2: "llama3", "jina-v5-nano": "llama3", dbrx: "llama3",
  "smaug-bpe": "llama3", glm4: "llama3", "chatglm-bpe": "llama3",
  "gpt-2": "gpt2", "phi-2": "gpt2", "jina-es": "gpt2", "jina-de": "gpt2", gigachat: "gpt2", "jina-v2-es": "gpt2",
  "jina-v2-de": "gpt2", "a.x-4.0": "gpt2", mellum: "gpt2", "modern-bert": "gpt2", "jina-v1-en": "gpt2",
  "jina-v2-code": "gpt2", "roberta-bpe": "gpt2", exaone4: "gpt2", mpt: "gpt2", olmo: "gpt2", jais: "gpt2",
  trillion: "gpt2", "granite-docling": "gpt2",
  qwen2: "qwen2", "deepseek-r1-qwen": "qwen2", kormo: "qwen2", f2llmv2: "qwen2", stablelm2: "qwen2",
  hunyuan: "qwen2", "solar-open": "qwen2", megrez: "qwen2", "grok-2": "qwen2",
  qwen35: "qwen35",
  laguna: "laguna",
  starcoder: "starcoder", refact: "starcoder", "command-r": "starcoder", smollm: "starcoder",
  codeshell: "starcoder", exaone: "starcoder", "minerva-7b": "starcoder", mellum2: "starcoder",
  falcon: "falcon",
  "deepseek-coder": "deepseekCoder",
  "deepseek-llm": "deepseekLlm",
  "deepseek-v3": "deepseek3", "hunyuan-dense": "deepseek3", "joyai-llm": "deepseek3",
  bloom: "bloom", "poro-chat": "bloom", "gpt3-finnish": "bloom",
  viking: "viking",
  tekken: "tekken",
  "gpt-4o": "gpt4o", llama4: "gpt4o", kanana2: "gpt4o", talkie: "gpt4o", "minimax-m2": "gpt4o",
  bailingmoe: "bailingmoe", bailingmoe2: "bailingmoe", "llada-moe": "bailingmoe",
  "seed-coder": "seedCoder",
  "exaone-moe": "exaoneMoe",
  minicpm5: "minicpm5",
  "jais-2": "jais2",
  chameleon: "chameleon",
};

/** The split passes for a `tokenizer.ggml.pre` value (SPM-style BPE vocabularies pass "gemma4"). */
export function preTokenizerFor(pre: string): PreTokenizerSpec {
  if (pre === "gemma4" || pre === "granite-embed-multi-311m" || pre === "sarvam-moe") {
    // Spaces are already ▁ and merges run over whole lines of raw UTF-8.
    return { steps: [{ kind: "newlines" }], byteEncode: false };
  }
  const family = PRE_TO_FAMILY[pre === "" ? "default" : pre];
  if (family === undefined) throw new Error(`unsupported pre-tokenizer '${pre}' (tokenizer.ggml.pre)`);
  return { steps: FAMILIES[family], byteEncode: true };
}


// ---------------------------------------------------------------------------------------------
// Splitting

/**
 * Splits `cps` into words and returns the end index (in code points) of each word, in order.
 * Every code point lands in exactly one word; words are never empty.
 */
export function splitWords(spec: PreTokenizerSpec, cps: Int32Array, offsets: Int32Array): IntList {
  let ends = new IntList(Math.max(16, cps.length >> 2));
  if (cps.length === 0) return ends;
  ends.push(cps.length);
  const input: SplitInput = { cps, offsets };
  for (const step of spec.steps) {
    const next = new IntList(Math.max(16, ends.length * 2));
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends.data[i]!;
      splitFragment(step, input, start, end, next);
      start = end;
    }
    ends = next;
  }
  return ends;
}

function splitFragment(step: SplitStep, input: SplitInput, start: number, end: number, out: IntList): void {
  switch (step.kind) {
    case "gpt2":
      return scanGpt2(input.cps, start, end, out);
    case "llama3":
      return scanLlama3(input.cps, start, end, out, 3, false);
    case "qwen2":
      return scanLlama3(input.cps, start, end, out, 1, false);
    case "qwen35":
      return scanLlama3(input.cps, start, end, out, 1, true);
    case "newlines":
      return scanNewlines(input.cps, start, end, out);
    case "regex":
      return splitRegex(step.source, input, start, end, out);
  }
}
