// The corpus generator is deterministic and covers its kinds; every corpus string survives
// encode → decode byte for byte on real vocabularies (the later check against llama.cpp's own
// tokenizer uses the same corpus).

import { describe, expect, test } from "bun:test";
import { makeCorpus } from "./test-corpus.ts";
import { vocabTokenizer } from "./test-vocabs.ts";

const CORPUS_SIZE = 2500;

test("the corpus is a function of its seed", () => {
  const a = makeCorpus(300, 42, true);
  expect(makeCorpus(300, 42, true)).toEqual(a);
  expect(makeCorpus(300, 43, true)).not.toEqual(a);
  const kinds = new Set(a.map((x) => x.kind.replace("+surrogate", "")));
  for (const kind of ["edge", "sentence", "script", "emoji", "code", "whitespace", "longWhitespace", "digits", "punctuation", "contractions", "special", "odd", "mixed", "random", "long"]) {
    expect(kinds.has(kind)).toBe(true);
  }
  expect(a.some((x) => !x.text.isWellFormed())).toBe(true);
});

/** What a tokenizer can give back: the UTF-8 of the text (lone surrogates became U+FFFD). */
const expected = (text: string, spm: boolean) => {
  const wellFormed = text.toWellFormed();
  // SentencePiece spells spaces ▁, so a literal ▁ in the text comes back as a space
  return spm ? wellFormed.replaceAll("\u2581", " ") : wellFormed;
};

const corpus = makeCorpus(CORPUS_SIZE, 1, true);

describe.each(["llama-bpe", "gpt-2", "qwen2", "llama-spm", "gemma-4"])("%s", (name) => {
  test(`decode(encode(x)) === x for ${CORPUS_SIZE} strings`, () => {
    const tok = vocabTokenizer(name);
    const spaced = tok.kind === "spm" || name === "gemma-4";
    const bad = corpus.filter(({ text }) => tok.decode(tok.encode(text)) !== expected(text, spaced));
    expect(bad).toEqual([]);
  });
});

// SentencePiece adds a space after each special token, so only BPE gives such text back unchanged.
describe.each(["llama-bpe", "gpt-2", "qwen2", "gemma-4"])("%s", (name) => {
  test("round trip with special tokens parsed and rendered", () => {
    const tok = vocabTokenizer(name);
    const bad = corpus.filter(
      ({ text }) => tok.decode(tok.encode(text, { parseSpecial: true }), { special: true }) !== expected(text, name === "gemma-4"),
    );
    expect(bad).toEqual([]);
  });
});
