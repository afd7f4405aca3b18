// The micro fixture through llama.cpp: its hand-written byte vocabulary tokenizes as byte-level BPE
// (bytes, then merges), special tokens and the chat template come through, and greedy decoding runs.
import { afterAll, describe, expect, test } from "bun:test";
import {
  BOS_ID, BYTE_TO_UNICODE, byteIds, EOS_ID, EOT_ID, HEADER_END_ID, HEADER_START_ID, MASK_ID, MERGES, N_VOCAB, SPECIAL_TOKENS, TOKENS,
} from "../scripts/byte-vocab.ts";
import { ensureMicroFixture, LLAMA3_CHAT_TEMPLATE } from "../scripts/fixtures.ts";
import { LlamaEngine } from "../src/engine/llama/llama-engine.ts";
import { greedyTokens } from "./support/greedy.ts";

const e = new LlamaEngine({ path: ensureMicroFixture(), nCtx: 256, nBatch: 64, nParallel: 1, threads: 1 });
afterAll(() => e.close());
const id = (text: string) => TOKENS.indexOf(text);
const tok = (text: string, special = false) => [...e.tokenize(text, { addSpecial: false, parseSpecial: special })];

describe("byte vocabulary", () => {
  test("GPT-2's byte-to-unicode table: 256 distinct one-character texts, printable bytes as themselves", () => {
    expect(new Set(BYTE_TO_UNICODE).size).toBe(256);
    expect(BYTE_TO_UNICODE[0x41]).toBe("A");
    expect(BYTE_TO_UNICODE[0x20]).toBe("Ġ"); // U+0120: the 33rd non-printable byte
    expect(BYTE_TO_UNICODE[0x0a]).toBe("Ċ");
    expect(BYTE_TO_UNICODE[0xad]).toBe("Ń");
    expect(N_VOCAB).toBe(256 + SPECIAL_TOKENS.length + MERGES.length);
    expect([BOS_ID, EOS_ID, EOT_ID, HEADER_START_ID, HEADER_END_ID, MASK_ID].map((i) => TOKENS[i])).toEqual([...SPECIAL_TOKENS]);
  });
});

describe("micro fixture in llama.cpp", () => {
  test("model facts: shape, special tokens, mask, chat template", () => {
    expect(e.info).toMatchObject({
      arch: "bitnet", format: "f32", nVocab: N_VOCAB, nEmbd: 64, nLayers: 2, nHeads: 2, nKvHeads: 1,
      bos: BOS_ID, eos: EOS_ID, bosText: "<|begin_of_text|>", eosText: "<|end_of_text|>", addBos: true, maskToken: MASK_ID,
      chatTemplate: LLAMA3_CHAT_TEMPLATE,
    });
    expect(e.info.eog).toEqual([EOS_ID, EOT_ID]);
  });

  test('"hello world" is BOS, the merged "hello" and " world"', () => {
    expect([...e.tokenize("hello world", { addSpecial: true, parseSpecial: false })]).toEqual([BOS_ID, id("hello"), id("Ġworld")]);
  });

  test("merges apply by rank; unmerged bytes stay byte tokens (id = byte)", () => {
    expect(tok("The cat and the dog")).toEqual([
      ...byteIds("T"), id("he"), ...byteIds(" c"), id("at"), id("Ġand"), id("Ġthe"), ...byteIds(" dog"),
    ]);
    // Multi-byte UTF-8 and control bytes come out as their byte tokens.
    expect(tok("héllo\u0001 €")).toEqual([...byteIds("hé"), id("ll"), ...byteIds("o\u0001 €")]);
    expect(tok("<|eot_id|>", true)).toEqual([EOT_ID]);
    expect(tok("<|eot_id|>", false)).not.toContain(EOT_ID);
  });

  test("every byte token detokenizes to its byte", () => {
    for (let b = 0; b < 256; b++) expect([...e.tokenBytes(b, false)]).toEqual([b]);
    expect(new TextDecoder().decode(e.tokenBytes(MASK_ID, true))).toBe("|<MASK>|");
  });

  test("greedy decoding runs, stays in the vocabulary and repeats exactly", () => {
    const prompt = [...e.tokenize("hello world", { addSpecial: true, parseSpecial: false })];
    const a = greedyTokens(e, prompt, 12);
    expect(a).toHaveLength(12);
    for (const t of a) expect(t >= 0 && t < N_VOCAB).toBe(true);
    expect(greedyTokens(e, prompt, 12)).toEqual(a);
  });
});
