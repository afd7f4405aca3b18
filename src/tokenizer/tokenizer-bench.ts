// Tokenizer benchmark: encode/decode throughput on large and pathological inputs (100 kB of mixed
// text, long whitespace runs, one-word scripts...). Prints a table, then JSON.
//   bun src/tokenizer/tokenizer-bench.ts [vocab-name ...]   (llama.cpp's models/ggml-vocab-NAME.gguf)

import { llamaVocabPath } from "../../test/support/llama-cpp.ts";
import { openGguf } from "../gguf/reader.ts";
import { makeCorpus } from "./test-corpus.ts";
import { createTokenizer, tokenizerMetadataFromGguf } from "./tokenizer.ts";

const KB = 1024;

function inputs(): Record<string, string> {
  const mixed = makeCorpus(4000, 1).map((x) => x.text).join(" ").slice(0, 100 * KB);
  return {
    "mixed 100 kB": mixed,
    "spaces 10k": " ".repeat(10_000) + "x",
    "space+newline 10k": " \n".repeat(5_000),
    "CJK 100 kB": "我想在工作天".repeat(100 * KB / 6),
    "punctuation 100 kB": "!?".repeat(50 * KB),
    "one letter 100 kB": "a".repeat(100 * KB),
    "digits 100 kB": "1234567890".repeat(10 * KB),
    "special text 100 kB": "<|eot_id|>hello ".repeat(100 * KB / 16),
  };
}

/** [first call, mean of the next three]: the first pays for JIT and an empty word cache. */
function time(fn: () => void): [number, number] {
  let t0 = performance.now();
  fn();
  const first = performance.now() - t0;
  const runs = 3;
  t0 = performance.now();
  for (let i = 0; i < runs; i++) fn();
  return [first, (performance.now() - t0) / runs];
}

const results: Record<string, unknown>[] = [];
for (const name of process.argv.length > 2 ? process.argv.slice(2) : ["llama-bpe", "llama-spm"]) {
  const t0 = performance.now();
  const tok = createTokenizer(tokenizerMetadataFromGguf(openGguf(llamaVocabPath(name))));
  const loadMs = performance.now() - t0;
  console.log(`\n${name}: vocabulary ${tok.vocabSize}, load ${loadMs.toFixed(0)} ms`);
  for (const [label, text] of Object.entries(inputs())) {
    let ids: Int32Array = new Int32Array(0);
    const [encodeFirstMs, encodeMs] = time(() => (ids = tok.encode(text, { parseSpecial: true })));
    const [, decodeMs] = time(() => tok.decode(ids, { special: true }));
    const mbps = text.length / KB / KB / (encodeMs / 1000);
    console.log(
      `  ${label.padEnd(20)} ${String(ids.length).padStart(7)} tokens  encode first ${encodeFirstMs.toFixed(1).padStart(6)} ms, ` +
        `then ${encodeMs.toFixed(1).padStart(6)} ms (${mbps.toFixed(1)} MB/s)  decode ${decodeMs.toFixed(1).padStart(5)} ms`,
    );
    results.push({ vocab: name, input: label, chars: text.length, tokens: ids.length, encodeFirstMs, encodeMs, decodeMs });
  }
}
console.log(JSON.stringify(results));
