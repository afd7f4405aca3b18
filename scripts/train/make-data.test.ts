// The training-data generators: deterministic from the seed, answers right, held-out prompts kept out,
// and a learned vocabulary that keeps digits apart and tokenizes text the way it decodes.

import { describe, expect, test } from "bun:test";
import { createTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { countWords, learnMerges } from "./bpe-train.ts";
import { Corpus, evalSet, userPrompts, type Doc } from "./corpus.ts";
import { Gen } from "./gen.ts";
import { task } from "./tasks.ts";
import { buildVocab, hfTokenizerJson, tokenizerMetadata } from "./vocab-files.ts";

const docs = (seed: number, n: number, heldOut = new Set<string>()): Doc[] => {
  const c = new Corpus(seed, heldOut);
  return Array.from({ length: n }, () => c.next());
};

describe("corpus", () => {
  test("is a function of its seed", () => {
    expect(JSON.stringify(docs(7, 200))).toBe(JSON.stringify(docs(7, 200)));
    expect(JSON.stringify(docs(7, 50))).not.toBe(JSON.stringify(docs(8, 50)));
  });

  test("never contains a held-out prompt", () => {
    const held = evalSet(1001, 20);
    const prompts = new Set(held.map((t) => t.prompt));
    expect(prompts.size).toBe(held.length);
    for (const d of docs(1, 3000, prompts)) for (const p of userPrompts(d)) expect(prompts.has(p)).toBe(false);
  });

  test("task answers are right", () => {
    const g = new Gen(3);
    for (let i = 0; i < 3000; i++) {
      const t = task(g);
      const m = /^(\d+) ([+-]) (\d+) = (\d+)\.$/.exec(t.answer);
      if (t.family === "add" || t.family === "sub") {
        expect(m).not.toBeNull();
        const [a, op, b, c] = [Number(m![1]), m![2], Number(m![3]), Number(m![4])];
        expect(op === "+" ? a + b : a - b).toBe(c);
        expect(c).toBeGreaterThanOrEqual(0);
      }
      const up = /^Count from (\d+) to (\d+)\.$/.exec(t.prompt);
      if (up) {
        const [a, b] = [Number(up[1]), Number(up[2])];
        expect(t.answer).toBe(Array.from({ length: b - a + 1 }, (_, k) => a + k).join(", ") + ".");
      }
      if (t.prompt.startsWith("Reverse the order of these words: ")) {
        const words = t.prompt.slice(34, -1).split(" ");
        expect(t.answer).toBe(words.reverse().join(" "));
      }
    }
  });
});

describe("vocabulary", () => {
  const sample = docs(1, 2000).flatMap((d) => (d.kind === "plain" ? [d.text] : d.messages.map((m) => m.content)));
  const merges = learnMerges(countWords(sample), 400);
  const vocab = buildVocab(merges);
  const tok = createTokenizer(tokenizerMetadata(vocab));

  test("merges never join digits and are reproducible", () => {
    expect(merges.some((m) => /[0-9]/.test(m))).toBe(false);
    expect(learnMerges(countWords(sample), 400)).toEqual(merges);
  });

  test("numbers stay one token per digit; text round-trips", () => {
    const ids = tok.encode("What is 123 + 45?");
    const digits = [...ids].map((id) => tok.tokenText(id)).filter((t) => /[0-9]/.test(t));
    expect(digits).toEqual(["1", "2", "3", "4", "5"]);
    for (const s of sample.slice(0, 300)) expect(tok.decode(tok.encode(s))).toBe(s);
  });

  test("special tokens are control tokens with the Llama-3 ids layout", () => {
    const ids = tok.encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", { parseSpecial: true });
    expect(ids[0]).toBe(259);
    expect([...ids]).toContain(260);
    expect(ids[ids.length - 1]).toBe(258);
    expect(tok.mask).toBe(261);
    const json = hfTokenizerJson(vocab) as { added_tokens: { id: number; special: boolean }[]; model: { vocab: Record<string, number> } };
    expect(json.added_tokens.map((t) => t.id)).toEqual([256, 257, 258, 259, 260, 261]);
    expect(Object.keys(json.model.vocab).length).toBe(vocab.tokens.length);
  });
});
