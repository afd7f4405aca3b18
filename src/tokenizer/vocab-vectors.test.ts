// llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf.inp/.out) for every supported
// vocabulary: exact ids, plus byte-exact detokenization of each input.

import { describe, expect, test } from "bun:test";
import { VECTOR_VOCABS, vocabTokenizer, vocabVectors } from "./test-vocabs.ts";

const utf8 = new TextEncoder();

describe.each(VECTOR_VOCABS)("%s", (name) => {
  const vectors = vocabVectors(name);

  test("every vector tokenizes to llama.cpp's ids", () => {
    const tok = vocabTokenizer(name);
    const wrong = vectors.filter((v) => {
      const got = Array.from(tok.encode(v.input, { addSpecial: false, parseSpecial: false }));
      return got.length !== v.expected.length || got.some((id, i) => id !== v.expected[i]);
    });
    expect(wrong.map((v) => v.input)).toEqual([]);
    expect(vectors.length).toBeGreaterThanOrEqual(45);
  });

  test("decode gives every input back", () => {
    const tok = vocabTokenizer(name);
    for (const { input, expected } of vectors) expect(tok.decode(expected)).toBe(input);
  });

  test("token bytes concatenate to the input's UTF-8", () => {
    const tok = vocabTokenizer(name);
    for (const { input, expected } of vectors) {
      const parts = expected.map((id) => tok.tokenBytes(id, false));
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
      // SentencePiece adds one space before the text (add_space_prefix)
      const want = tok.addSpacePrefix && input.length > 0 ? " " + input : input;
      expect(bytes).toEqual(utf8.encode(want));
    }
  });
});
