// Pre-tokenizer splits on hand-picked strings, including the places where the scanners must agree
// with the regex semantics llama.cpp implements (whitespace look-ahead, digit groups, contractions).

import { describe, expect, test } from "bun:test";
import { preTokenizerFor, splitWords } from "./pre-tokenizer.ts";
import { compileRegex } from "./regex-split.ts";
import { toCodepoints } from "./unicode.ts";

function words(pre: string, text: string): string[] {
  const { cps, offsets } = toCodepoints(text);
  const ends = splitWords(preTokenizerFor(pre), cps, offsets);
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    out.push(text.slice(offsets[start]!, offsets[ends.data[i]!]!));
    start = ends.data[i]!;
  }
  return out;
}

describe("llama3", () => {
  test("contractions are case-insensitive, digits go by three", () => {
    expect(words("llama-bpe", "I'M here, they'Ll 1234567")).toEqual(["I", "'M", " here", ",", " they", "'Ll", " ", "123", "456", "7"]);
  });
  test("whitespace keeps one space for the next word, newlines end a run", () => {
    expect(words("llama-bpe", "a   b")).toEqual(["a", "  ", " b"]);
    expect(words("llama-bpe", "a  \n\n  b")).toEqual(["a", "  \n\n", " ", " b"]);
    expect(words("llama-bpe", "x   ")).toEqual(["x", "   "]);
    expect(words("llama-bpe", "!!\n\nx")).toEqual(["!!\n\n", "x"]);
  });
  test("a non-letter, non-digit character leads a letter run", () => {
    expect(words("llama-bpe", "$hello\tworld")).toEqual(["$hello", "\tworld"]);
    expect(words("llama-bpe", "3d")).toEqual(["3", "d"]);
  });
});

describe("gpt2", () => {
  test("contractions are lower-case only; one optional space leads", () => {
    expect(words("gpt-2", "I'M it's  x")).toEqual(["I", "'", "M", " it", "'s", " ", " x"]);
    expect(words("gpt-2", "a 123 !?")).toEqual(["a", " 123", " !?"]);
  });
});

describe("qwen2 and qwen35", () => {
  test("one digit per word", () => {
    expect(words("qwen2", "x 2024")).toEqual(["x", " ", "2", "0", "2", "4"]);
  });
  test("qwen35 keeps combining marks in letter runs", () => {
    // qwen2: a lone mark can only lead the next letter run ([^\r\n\p{L}\p{N}]?\p{L}+)
    expect(words("qwen2", "नमस्ते")).toEqual(["नमस", "्त", "े"]);
    expect(words("qwen35", "नमस्ते")).toEqual(["नमस्ते"]);
  });
});

describe("regex passes", () => {
  test("\\p{..} classes are rewritten for the collapsed text, \\s is ASCII only", () => {
    const { regex, collapsed } = compileRegex("\\s?\\p{L}+");
    expect(collapsed).toBe(true);
    expect(regex.source).toBe("[\\t-\\r ]?[\\u00d2A-Za-z]+");
    expect(compileRegex("[\r\n]").collapsed).toBe(false);
  });
  test("starcoder splits every digit before the GPT-2 pattern", () => {
    expect(words("starcoder", "ab 123")).toEqual(["ab", " ", "1", "2", "3"]);
  });
  test("deepseek-coder isolates CJK runs and newlines", () => {
    expect(words("deepseek-coder", "你好 x\n1")).toEqual(["你好", " x", "\n", "1"]);
  });
  test("unknown pre-tokenizers are refused", () => {
    expect(() => preTokenizerFor("no-such-pre")).toThrow(/unsupported pre-tokenizer 'no-such-pre'/);
  });
});

test("every code point lands in exactly one word", () => {
  const text = "  héllo,\u00a0wörld!! 12345\r\n\t 🦙🦙 ''s  ";
  for (const pre of ["llama-bpe", "gpt-2", "qwen2", "qwen35", "starcoder", "falcon", "default", "deepseek-llm", "deepseek-v3", "tekken", "gpt-4o", "bloom", "chameleon", "gemma4"]) {
    const w = words(pre, text);
    expect(w.join("")).toBe(text);
    expect(w.every((x) => x.length > 0)).toBe(true);
  }
});
