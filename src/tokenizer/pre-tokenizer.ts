// Pre-tokenization: splits text into the "words" BPE merges inside, per `tokenizer.ggml.pre`.
// The common patterns (GPT-2, Llama-3, Qwen2/3.5) are hand-written scanners, the rest run as JS regexes.

import { LETTER, MARK, NUMBER, WHITESPACE, codepointFlags } from "./unicode.ts";

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

/** A growable list of int32, so word boundaries of a 100 kB text never allocate per word. */
export class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity = 64) {
    this.data = new Int32Array(capacity);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }
}

/** Context of one split: the text as code points, and lazily the subjects regex passes need. */
interface SplitInput {
  cps: Int32Array; // (nCps)
  /** UTF-16 index of each code point, plus the string length at [nCps]. */
  offsets: Int32Array; // (nCps + 1)
  collapsed?: string;
  widened?: string;
  u16ToCp?: Int32Array;
}

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

const APOS = 0x27;
const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;

/** Length of an English contraction (`'s`, `'re`, ...) at `pos`, or 0. */
function contraction(cps: Int32Array, pos: number, end: number, anyCase: boolean): number {
  if (cps[pos] !== APOS || pos + 1 >= end) return 0;
  const lower = (c: number) => (anyCase && c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  const c1 = lower(cps[pos + 1]!);
  if (c1 === 0x73 || c1 === 0x74 || c1 === 0x6d || c1 === 0x64) return 2; // s t m d
  if (pos + 2 >= end) return 0;
  const c2 = lower(cps[pos + 2]!);
  if ((c1 === 0x72 || c1 === 0x76) && c2 === 0x65) return 3; // re ve
  if (c1 === 0x6c && c2 === 0x6c) return 3; // ll
  return 0;
}

/** Length of the whitespace run at `pos`, and the end of its last \r or \n (0 if none). */
function whitespaceRun(cps: Int32Array, flags: Uint16Array, pos: number, end: number): [number, number] {
  let p = pos;
  let lastNewlineEnd = 0;
  while (p < end && flags[cps[p]!]! & WHITESPACE) {
    if (cps[p] === CR || cps[p] === LF) lastNewlineEnd = p + 1;
    p++;
  }
  return [p - pos, lastNewlineEnd];
}

/** Emits the word ending at the end of a whitespace run, per `\s+(?!\S)|\s+`: a run followed by
 *  more text leaves its last character to prefix the next word. */
function whitespaceEnd(pos: number, run: number, end: number): number {
  if (run > 1 && pos + run < end) return pos + run - 1;
  return pos + Math.max(run, 1);
}

function scanGpt2(cps: Int32Array, start: number, end: number, out: IntList): void {
  const flags = codepointFlags();
  // Flags of the code point at p, 0 past the fragment (the patterns can't look across it).
  const f = (p: number) => (p < end ? flags[cps[p]!]! : 0);
  let pos = start;
  while (pos < end) {
    const c = cps[pos]!;
    const n = contraction(cps, pos, end, false);
    if (n > 0) {
      out.push((pos += n));
      continue;
    }
    // ` ?X+` for X in letters, numbers, then "anything else but whitespace"
    const lead = c === SPACE ? 1 : 0;
    const fl = f(pos + lead);
    let p = pos + lead;
    if (fl & LETTER) {
      while (f(p) & LETTER) p++;
    } else if (fl & NUMBER) {
      while (f(p) & NUMBER) p++;
    } else if (fl !== 0 && !(fl & (WHITESPACE | LETTER | NUMBER))) {
      while (f(p) !== 0 && !(f(p) & (WHITESPACE | LETTER | NUMBER))) p++;
    } else {
      const [run] = whitespaceRun(cps, flags, pos, end);
      p = whitespaceEnd(pos, run, end);
    }
    out.push((pos = p));
  }
}

/** Llama-3 (maxDigits 3), Qwen2 (maxDigits 1) and Qwen3.5 (marks join letters). */
function scanLlama3(cps: Int32Array, start: number, end: number, out: IntList, maxDigits: number, marks: boolean): void {
  const flags = codepointFlags();
  const f = (p: number) => (p < end ? flags[cps[p]!]! : 0);
  const wordClass = marks ? LETTER | MARK : LETTER;
  const notPunct = marks ? WHITESPACE | LETTER | MARK | NUMBER : WHITESPACE | LETTER | NUMBER;
  let pos = start;
  while (pos < end) {
    const c = cps[pos]!;
    const fl = f(pos);
    const n = contraction(cps, pos, end, true);
    if (n > 0) {
      out.push((pos += n));
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+ : one optional lead character of any other kind, then letters
    if (c !== CR && c !== LF && !(fl & NUMBER) && (fl & wordClass || f(pos + 1) & wordClass)) {
      let p = pos + 1;
      while (f(p) & wordClass) p++;
      out.push((pos = p));
      continue;
    }
    // \p{N}{1,maxDigits}
    if (fl & NUMBER) {
      let p = pos;
      while (f(p) & NUMBER && p - pos < maxDigits) p++;
      out.push((pos = p));
      continue;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    const fl2 = c === SPACE ? f(pos + 1) : fl;
    if (!(fl2 & notPunct)) {
      let p = pos + (c === SPACE ? 1 : 0);
      while (f(p) !== 0 && !(f(p) & notPunct)) p++;
      while (p < end && (cps[p] === CR || cps[p] === LF)) p++;
      out.push((pos = p));
      continue;
    }
    // \s*[\r\n]+ | \s+(?!\S) | \s+
    const [run, lastNewlineEnd] = whitespaceRun(cps, flags, pos, end);
    out.push((pos = lastNewlineEnd > 0 ? lastNewlineEnd : whitespaceEnd(pos, run, end)));
  }
}

function scanNewlines(cps: Int32Array, start: number, end: number, out: IntList): void {
  let pos = start;
  while (pos < end) {
    const newline = cps[pos] === LF;
    while (pos < end && (cps[pos] === LF) === newline) pos++;
    out.push(pos);
  }
}

// ---------------------------------------------------------------------------------------------
// Regex passes
//
// llama.cpp runs these with std::regex, which knows no Unicode classes: it first "collapses" the
// text to one byte per code point (ASCII kept, others replaced by a byte standing for their
// category, non-ASCII whitespace by \v) and rewrites each \p{..} into a class of that byte plus
// its ASCII members. Patterns without \p{..} run on the code points with non-ASCII whitespace
// replaced by \v. Doing the same here gives the same splits, quirks included (a \p{L} inside a
// pattern never matches a non-ASCII letter... it matches the "letter" byte, which is the point).

const COLLAPSED = { N: 0xd1, L: 0xd2, P: 0xd3, M: 0xd4, S: 0xd5, other: 0xd0 } as const;
const ASCII_MEMBERS: Record<string, string> = {
  N: "0-9",
  L: "A-Za-z",
  P: "!-#%-*,-/:;?@\\[-\\]_{}",
  M: "",
  S: "$+<->^`|~",
};
const CATEGORY_OF: Record<string, keyof typeof ASCII_MEMBERS> = {
  N: "N", L: "L", P: "P", M: "M", S: "S", Lu: "L", Ll: "L", Lt: "L", Lm: "L", Lo: "L",
};
// std::regex's \s in the C locale: ASCII whitespace only (JS's \s also takes U+FEFF, U+00A0, ...).
const ASCII_SPACE_CLASS = "\\t-\\r ";

interface CompiledRegex {
  regex: RegExp;
  collapsed: boolean;
}

const compiled = new Map<string, CompiledRegex>();

/** Rewrites a pattern the way llama.cpp does (see above) and compiles it for JS. */
export function compileRegex(source: string): CompiledRegex {
  const cached = compiled.get(source);
  if (cached) return cached;
  const collapsed = /\\p\{(?:N|L|P|M|S|Lu|Ll|Lt|Lm|Lo)\}/.test(source);
  let out = "";
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === "\\") {
      const next = source[i + 1];
      if (next === "p" && source[i + 2] === "{") {
        const close = source.indexOf("}", i + 3);
        const cat = CATEGORY_OF[source.slice(i + 3, close)];
        if (cat === undefined) throw new Error(`unsupported class in pre-tokenizer regex: ${source.slice(i, close + 1)}`);
        const members = "\\u00" + COLLAPSED[cat].toString(16) + ASCII_MEMBERS[cat];
        out += inClass ? members : `[${members}]`;
        i = close;
        continue;
      }
      if (next === "s") out += inClass ? ASCII_SPACE_CLASS : `[${ASCII_SPACE_CLASS}]`;
      else if (next === "S" && !inClass) out += `[^${ASCII_SPACE_CLASS}]`;
      else if (next === "S") throw new Error("\\S inside a class is not supported");
      else out += ch + (next ?? "");
      i++;
      continue;
    }
    if (ch === "[" && !inClass) inClass = true;
    else if (ch === "]" && inClass) inClass = false;
    out += ch;
  }
  // Collapsed subjects are one UTF-16 unit per code point, so no `u` flag (and byte-like classes);
  // the others hold real code points, astral ones included.
  const result = { regex: new RegExp(out, collapsed ? "g" : "gu"), collapsed };
  compiled.set(source, result);
  return result;
}

function collapsedSubject(input: SplitInput): string {
  if (input.collapsed !== undefined) return input.collapsed;
  const flags = codepointFlags();
  const { cps } = input;
  const units = new Uint16Array(cps.length);
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    if (cp < 0x80) {
      units[i] = cp;
      continue;
    }
    const fl = flags[cp]!;
    if (fl & WHITESPACE) units[i] = 0x0b;
    else if (fl === NUMBER) units[i] = COLLAPSED.N;
    else if (fl === LETTER) units[i] = COLLAPSED.L;
    else if (fl === 0x20) units[i] = COLLAPSED.P;
    else if (fl === MARK) units[i] = COLLAPSED.M;
    else if (fl === 0x40) units[i] = COLLAPSED.S;
    else units[i] = COLLAPSED.other;
  }
  input.collapsed = decodeUnits(units);
  return input.collapsed;
}

/** The text with non-ASCII whitespace as \v (all BMP, so UTF-16 offsets are unchanged). */
function widenedSubject(input: SplitInput): string {
  if (input.widened !== undefined) return input.widened;
  const flags = codepointFlags();
  const { cps } = input;
  const parts: string[] = [];
  let run = 0;
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    if (cp >= 0x80 && flags[cp]! & WHITESPACE) {
      parts.push(codepointsToString(cps.subarray(run, i)), "\v");
      run = i + 1;
    }
  }
  parts.push(codepointsToString(cps.subarray(run)));
  input.widened = parts.join("");
  const u16ToCp = new Int32Array(input.offsets[cps.length]! + 1);
  for (let i = 0; i <= cps.length; i++) u16ToCp[input.offsets[i]!] = i;
  input.u16ToCp = u16ToCp;
  return input.widened;
}

function splitRegex(source: string, input: SplitInput, start: number, end: number, out: IntList): void {
  const { regex, collapsed } = compileRegex(source);
  // Subject offsets are code points (collapsed) or UTF-16 units (widened); `toCp` maps back.
  let subject: string;
  let base: number;
  let toCp: (i: number) => number;
  if (collapsed) {
    subject = collapsedSubject(input).slice(start, end);
    base = start;
    toCp = (i) => base + i;
  } else {
    const u16Start = input.offsets[start]!;
    subject = widenedSubject(input).slice(u16Start, input.offsets[end]!);
    const map = input.u16ToCp!;
    toCp = (i) => map[u16Start + i]!;
  }
  let last = start;
  regex.lastIndex = 0;
  for (let m = regex.exec(subject); m !== null; m = regex.exec(subject)) {
    if (m[0].length === 0) {
      regex.lastIndex++; // an empty match splits nothing; step over it as std::regex_iterator does
      continue;
    }
    const mStart = toCp(m.index);
    const mEnd = toCp(m.index + m[0].length);
    if (mStart > last) out.push(mStart);
    out.push(mEnd);
    last = mEnd;
  }
  if (last < end) out.push(end);
}

function codepointsToString(cps: Int32Array): string {
  let s = "";
  for (let i = 0; i < cps.length; i += 4096) s += String.fromCodePoint(...cps.subarray(i, i + 4096));
  return s;
}

function decodeUnits(units: Uint16Array): string {
  let s = "";
  for (let i = 0; i < units.length; i += 4096) s += String.fromCharCode(...units.subarray(i, i + 4096));
  return s;
}
