// Test helpers: tokenizers built from llama.cpp's vocab-only GGUFs (models/ggml-vocab-*.gguf) and
// the test vectors beside them (.inp inputs, .out expected ids), read as test-tokenizer-0 reads them.

import { readFileSync } from "node:fs";
import { llamaVocabPath } from "../../test/support/llama-cpp.ts";
import { openGguf } from "../gguf/reader.ts";
import { createTokenizer, tokenizerMetadataFromGguf, type Tokenizer } from "./tokenizer.ts";

/** The vocabularies with test vectors this tokenizer supports (bert-bge is WordPiece: not supported). */
export const VECTOR_VOCABS = [
  "llama-bpe", "gpt-2", "qwen2", "qwen35", "llama-spm", "phi-3", "mpt", "starcoder", "refact", "command-r",
  "falcon", "deepseek-coder", "deepseek-llm", "gemma-4",
] as const;

const loaded = new Map<string, Tokenizer>();

export function vocabTokenizer(name: string): Tokenizer {
  let tok = loaded.get(name);
  if (tok === undefined) {
    tok = createTokenizer(tokenizerMetadataFromGguf(openGguf(llamaVocabPath(name))));
    loaded.set(name, tok);
  }
  return tok;
}

export interface VocabVector {
  input: string;
  expected: number[];
}

/**
 * Inputs are separated by "\n__ggml_vocab_test__\n" (the file ends with one, so no empty input
 * follows it); line i of the .out file holds the ids of input i, space separated. llama.cpp's
 * test tokenizes them with add_special = false, parse_special = false.
 */
export function vocabVectors(name: string): VocabVector[] {
  const path = llamaVocabPath(name);
  const raw = readFileSync(path + ".inp", "utf8");
  const sep = "\n__ggml_vocab_test__\n";
  const inputs: string[] = [];
  for (let pos = 0; pos < raw.length; ) {
    const next = raw.indexOf(sep, pos);
    if (next < 0) {
      inputs.push(raw.slice(pos));
      break;
    }
    inputs.push(raw.slice(pos, next));
    pos = next + sep.length;
  }
  const lines = readFileSync(path + ".out", "utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  if (lines.length !== inputs.length) throw new Error(`${name}: ${inputs.length} inputs but ${lines.length} outputs`);
  return inputs.map((input, i) => {
    const line = lines[i]!.trim();
    return { input, expected: line === "" ? [] : line.split(" ").map(Number) };
  });
}
