// A deterministic corpus of awkward strings for tokenizer tests: many scripts, emoji, code,
// whitespace runs, digits, special-token look-alikes and malformed input, reproducible from a seed.

export interface CorpusItem {
  /** What generated it (for failure messages). */
  kind: string;
  text: string;
}

/** mulberry32: small, fast and the same on every platform, so a seed names a corpus forever. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS: Record<string, string[]> = {
  english: ["the", "Hello", "world", "don't", "I'm", "WE'RE", "they'll", "it's", "She'D", "you've", "ain't", "o'clock", "rock'n'roll", "TOKEN", "iPhone", "McDonald's"],
  latin: ["café", "naïve", "Ångström", "façade", "señor", "Straße", "Œuvre", "ĳssel", "Dvořák", "Łódź", "İstanbul", "ǅemal"],
  cyrillic: ["Привет", "мир", "нещо", "Български", "ЁЖИК", "съм", "їжак", "Ґанок"],
  greek: ["Καλημέρα", "κόσμε", "ΑΘΗΝΑ", "ἀρετή", "ΐ", "ς"],
  arabic: ["مرحبا", "بالعالم", "العربية", "ﷺ", "٣٤٥"],
  hebrew: ["שלום", "עולם", "בְּרֵאשִׁית"],
  devanagari: ["नमस्ते", "दुनिया", "हिन्दी", "क्षत्रिय"],
  thai: ["สวัสดี", "ภาษาไทย", "กรุงเทพมหานคร"],
  khmer: ["កាន់តែពិសេស", "អាចខលចេញ"],
  cjk: ["你好", "世界", "我想在apple工作", "中文字符", "𠀋𡈽", "漢字"],
  japanese: ["こんにちは", "カタカナ", "ひらがな", "ｶﾀｶﾅ", "日本語"],
  korean: ["안녕하세요", "세계", "한국어", "ㄱㄴㄷ"],
  other: ["ᎣᏏᏲ", "ሰላም", "გამარჯობა", "Բարեւ", "ꦲꦏ꧀ꦱꦫ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟘𝟙𝟚"],
};

const EMOJI = [
  "🦙", "🚀", "😁", "✅", "❤️", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "😶‍🌫️", "🧑🏿‍💻", "☕", "1️⃣", "🫠", "🪿",
];

const CODE = [
  "function add(a, b) {\n  return a + b;\n}\n",
  "def f(x):\n\tif x > 0:\n\t\treturn x ** 2\n\treturn None\n",
  "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); }\n",
  "SELECT * FROM users WHERE id = 'x' AND name <> \"y\";",
  "const re = /[^\\s\\p{L}]+/gu; // regex\r\n",
  "{\"key\": [1, 2.5e-3, null, true], \"nested\": {\"a\": \"b\"}}",
  "    for (int i = 0; i < n; ++i) { sum += v[i]; }\n",
  "<div class=\"x\">&amp; &lt;tag&gt;</div>",
  "x=1;y=2;z=x<<y|~x^y&&!z||z>=3",
  "```python\nprint('hi')\n```\n",
];

/** Texts that are, or look like, special tokens of common vocabularies. */
const SPECIAL_LOOKALIKES = [
  "<|begin_of_text|>", "<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>user<|end_header_id|>",
  "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<pad>", "[INST]", "[/INST]",
  "<|eot", "eot_id|>", "<|reserved_special_token_5|>", "<0x0A>", "<0xFF>", "<|user|>", "<|assistant|>",
  "<|end|>", "<start_of_turn>", "<end_of_turn>", "<|fim_prefix|>", "<mask>", "<|", "|>",
];

const WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\n\n", " \n ", "\u00a0", "\u3000", "\u2028", "\u0085", "\u2009", "\v", "\f", "\r"];

const PUNCT = [".", ",", "!", "?", "...", "…", "—", "–", "'", "\"", "«»", "“”", "‘’", "(", ")", "[", "]", "{", "}", "-", "_", "/", "\\", "@", "#", "$", "%", "^", "&", "*", "~", "`", "|", ";", ":", "¿", "¡", "。", "，", "、", "！"];

/** Awkward code points: controls, BOM, marks without a base, private use, unassigned (incl.
 *  characters newer than llama.cpp's Unicode 15.1 table), noncharacters, replacement char. */
const ODD = [
  "\u0000", "\u0001", "\u001f", "\u007f", "\u0080", "\u009f", "\ufeff", "\u200b", "\u200d", "\u2060",
  "\u0301", "\u0308\u0301", "\ue000", "\uf8ff", "\u{f0000}", "\u0378", "\u1acf", "\u{1fae9}", "\ufffe",
  "\uffff", "\ufffd", "\u2581", "\u00ad", "\u202e", "\u{e0041}", "\u{10ffff}",
];

const DIGITS_EXTRA = ["٣", "४", "७", "１２３", "²", "½", "Ⅻ", "ↂ", "①", "𝟝", "〇"];

type Gen = (r: () => number) => string;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const repeat = (r: () => number, gen: Gen, lo: number, hi: number) => {
  let s = "";
  for (let n = int(r, lo, hi); n > 0; n--) s += gen(r);
  return s;
};

const word: Gen = (r) => pick(r, WORDS[pick(r, Object.keys(WORDS))]!);
const space: Gen = (r) => pick(r, WHITESPACE);
const sentence: Gen = (r) => {
  let s = "";
  for (let n = int(r, 1, 12); n > 0; n--) s += word(r) + (r() < 0.2 ? pick(r, PUNCT) : "") + (r() < 0.85 ? " " : space(r));
  return s;
};
const digits: Gen = (r) => {
  const len = int(r, 1, r() < 0.1 ? 40 : 9);
  let s = "";
  for (let i = 0; i < len; i++) s += r() < 0.05 ? pick(r, DIGITS_EXTRA) : String(int(r, 0, 9));
  return s + (r() < 0.3 ? pick(r, [".", ",", " ", "e", "%", "k"]) + String(int(r, 0, 999)) : "");
};

/** Generators by kind; a corpus cycles through them so every kind is covered. */
const GENERATORS: Record<string, Gen> = {
  sentence,
  script: (r) => repeat(r, (q) => word(q) + (q() < 0.7 ? " " : ""), 1, 8),
  emoji: (r) => repeat(r, (q) => pick(q, EMOJI) + (q() < 0.4 ? " " : q() < 0.5 ? word(q) : ""), 1, 6),
  code: (r) => pick(r, CODE) + (r() < 0.5 ? pick(r, CODE) : ""),
  whitespace: (r) => repeat(r, (q) => (q() < 0.7 ? space(q) : word(q)), 1, 10),
  longWhitespace: (r) => pick(r, [" ", "\t", "\n", " \n", "\u00a0"]).repeat(int(r, 2, 300)) + (r() < 0.5 ? word(r) : ""),
  digits: (r) => repeat(r, (q) => digits(q) + (q() < 0.5 ? " " : ""), 1, 5),
  punctuation: (r) => repeat(r, (q) => pick(q, PUNCT) + (q() < 0.3 ? " " : ""), 1, 12),
  contractions: (r) => repeat(r, (q) => pick(q, ["'s", "'S", "'re", "'RE", "'Ve", "'ll", "'LL", "'d", "'m", "'t", "'", "''", " '", "' "]) + (q() < 0.5 ? word(q) : ""), 1, 8),
  special: (r) => repeat(r, (q) => (q() < 0.5 ? pick(q, SPECIAL_LOOKALIKES) : "") + (q() < 0.6 ? sentence(q) : space(q)), 1, 5),
  odd: (r) => repeat(r, (q) => (q() < 0.6 ? pick(q, ODD) : word(q)), 1, 8),
  mixed: (r) => repeat(r, (q) => pick(q, Object.values(MIXABLE))(q), 2, 8),
  random: (r) => {
    // Random code points from everywhere (surrogates excluded: they get their own kind).
    let s = "";
    for (let n = int(r, 1, 20); n > 0; n--) {
      const cp = r() < 0.7 ? int(r, 0x20, 0x2fff) : int(r, 0x3000, 0x10ffff);
      s += cp >= 0xd800 && cp < 0xe000 ? "?" : String.fromCodePoint(cp);
    }
    return s;
  },
  long: (r) => repeat(r, sentence, 20, 60),
};
const MIXABLE: Record<string, Gen> = {
  sentence, word, space, digits,
  emoji: (r) => pick(r, EMOJI),
  punct: (r) => pick(r, PUNCT),
  special: (r) => pick(r, SPECIAL_LOOKALIKES),
  odd: (r) => pick(r, ODD),
};

/** Fixed edge cases every corpus starts with. */
const EDGE_CASES: string[] = [
  "", " ", "  ", "\n", "\t", "a", "'", "''", "'s", " 's", "\u2581", " \u2581 ", "\u00a0", "\ufeff", "\ufeffBOM",
  "\u0000", "\r", "\r\n", "\n\r", " \n", "1", "12", "123", "1234", "1234567890", "Hello", " Hello", "  Hello",
  "Hello\n", "Hello ", "Hello  ", "Hello\n\n", "<s>", "</s>", "<|endoftext|>", "<|eot_id|>", "<0x0A>",
];

/**
 * `count` strings (the edge cases first, then generated ones cycling through every kind), the same
 * for the same seed. With `malformed`, some strings hold lone surrogates: they have no UTF-8 form,
 * so a tokenizer sees U+FFFD there (compare against `text.toWellFormed()`).
 */
export function makeCorpus(count: number, seed = 1, malformed = false): CorpusItem[] {
  const r = seededRandom(seed);
  const items: CorpusItem[] = EDGE_CASES.slice(0, count).map((text) => ({ kind: "edge", text }));
  const kinds = Object.keys(GENERATORS);
  for (let i = 0; items.length < count; i++) {
    const kind = kinds[i % kinds.length]!;
    let text = GENERATORS[kind]!(r);
    if (malformed && r() < 0.05) {
      const at = int(r, 0, text.length);
      text = text.slice(0, at) + pick(r, ["\ud800", "\udfff", "\udc00x", "a\ud83d"]) + text.slice(at);
      items.push({ kind: kind + "+surrogate", text });
    } else items.push({ kind, text });
  }
  return items;
}
