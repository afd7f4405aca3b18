// The training-data generators: deterministic from the seed, answers right, held-out prompts kept out,
// and a learned vocabulary that keeps digits apart and tokenizes text the way it decodes.

import { describe, expect, test } from "bun:test";
import { createTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { countWords, learnMerges } from "./bpe-train.ts";
import { Corpus, evalSet, userPrompts, type Doc } from "./corpus.ts";
import { Gen } from "./gen.ts";
import { parseBoost, task, taskWeights } from "./tasks.ts";
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

describe("task mix boost", () => {
  const shares = (weights?: number[]) => {
    const g = new Gen(5);
    const n = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const f = task(g, weights).family;
      n.set(f, (n.get(f) ?? 0) + 1);
    }
    return n;
  };

  test("multiplies the boosted families' shares and leaves the default mix alone", () => {
    const plain = shares();
    const boosted = shares(taskWeights(parseBoost("compare=4, lookup=2,copy=0.5")));
    const share = (m: Map<string, number>, f: string) => (m.get(f) ?? 0) / 4000;
    // compare: 1 of 26 by default, 4 of 31.5 boosted (lookup 10, copy 1)
    expect(share(plain, "compare")).toBeCloseTo(1 / 26, 1);
    expect(share(boosted, "compare")).toBeCloseTo(4 / 31, 1);
    expect(share(boosted, "compare") / share(plain, "compare")).toBeGreaterThan(2.5);
    expect(share(boosted, "copy")).toBeLessThan(share(plain, "copy"));
    expect(taskWeights()).toEqual(taskWeights({}));
  });

  test("the held-out set is the same whatever the training mix (it never takes a boost)", () => {
    const prompts = (ts: { prompt: string }[]) => ts.map((t) => t.prompt).join("\n");
    const held = evalSet(1001, 5);
    const c = new Corpus(1, new Set(held.map((t) => t.prompt)), parseBoost("lookup=3"));
    for (let i = 0; i < 50; i++) c.next();
    expect(prompts(evalSet(1001, 5))).toBe(prompts(held));
  });

  test("bad --boost values are clear errors", () => {
    expect(() => parseBoost("lookups=2")).toThrow(/unknown task family "lookups".*lookup/);
    expect(() => parseBoost("lookup=0")).toThrow(/positive/);
    expect(() => parseBoost("lookup")).toThrow(/family=factor/);
    expect(parseBoost("")).toEqual({});
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
