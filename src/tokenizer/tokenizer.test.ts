// Tokenizer behaviour: special tokens, BOS/EOS, byte fallback, SPM space handling, decoding options
// and errors, on tiny hand-made vocabularies and on llama.cpp's real ones.

import { describe, expect, test } from "bun:test";
import { parseGguf } from "../gguf/reader.ts";
import { gv } from "../gguf/types.ts";
import { GgufWriter } from "../gguf/writer.ts";
import { cleanSpaces } from "./detokenize.ts";
import { vocabTokenizer } from "./test-vocabs.ts";
import { createTokenizer, tokenizerMetadataFromGguf, type TokenizerMetadata } from "./tokenizer.ts";
import { BYTE_TO_CHAR } from "./unicode.ts";

const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER = 4, BYTE = 6;

/** A SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, then a few pieces. */
function tinySpm(): TokenizerMetadata {
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [UNKNOWN, CONTROL, CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(BYTE);
  }
  const pieces: [string, number, number][] = [
    ["▁", -1, NORMAL], ["a", -2, NORMAL], ["b", -2, NORMAL], ["ab", -1.5, NORMAL], ["▁a", -1, NORMAL],
    ["▁ab", -0.5, NORMAL], ["ba", -0.1, NORMAL], ["<ctrl>", 0, CONTROL], ["<user>", 0, USER],
  ];
  const scores = tokens.map(() => 0);
  for (const [text, score, type] of pieces) {
    tokens.push(text);
    scores.push(score);
    types.push(type);
  }
  return { model: "llama", tokens, types, scores, bos: 1, eos: 2, unk: 0 };
}

/** A byte-level BPE vocabulary (GPT-2 pre-tokenizer): the 256 byte characters plus merges. */
function tinyBpe(merges: string[], extra: string[] = []): TokenizerMetadata {
  const tokens = [...BYTE_TO_CHAR, ...extra];
  return { model: "gpt2", pre: "gpt-2", tokens, types: tokens.map(() => NORMAL), merges };
}

describe("SentencePiece", () => {
  const tok = createTokenizer(tinySpm());
  const id = (text: string) => tok.findToken(text)!;

  test("highest score merges first; a space is added in front", () => {
    // "▁aba": ▁a(-1) vs ab(-1.5) vs ba(-0.1) → ba first, then ▁a + ba is no token
    expect(Array.from(tok.encode("aba"))).toEqual([id("▁a"), id("ba")]);
    expect(Array.from(tok.encode("ab"))).toEqual([id("▁ab")]);
  });

  test("characters without a token fall back to their UTF-8 bytes", () => {
    expect(Array.from(tok.encode("é"))).toEqual([id("▁"), id("<0xC3>"), id("<0xA9>")]);
    expect(tok.decode(tok.encode("é"))).toBe("é");
  });

  test("BOS is added on request; decode drops the added space only when no BOS comes first", () => {
    const ids = tok.encode("ab", { addSpecial: true });
    expect(Array.from(ids)).toEqual([1, id("▁ab")]);
    expect(tok.decode(ids.subarray(1))).toBe("ab");
    expect(tok.decode(ids)).toBe(" ab");
    // llama.cpp keeps the space when it removes the BOS
    expect(tok.decode(ids, { removeSpecial: true })).toBe(" ab");
    expect(tok.decode(ids, { special: true })).toBe("<s> ab");
  });

  test("control text is a token only with parseSpecial; user-defined text always is", () => {
    expect(Array.from(tok.encode("<ctrl>a", { parseSpecial: true }))).toEqual([id("<ctrl>"), id("▁a")]);
    expect(tok.encode("<ctrl>a").includes(id("<ctrl>"))).toBe(false);
    // a special token is followed by a fresh space prefix, like the start of the text
    expect(Array.from(tok.encode("a<user>a"))).toEqual([id("▁a"), id("<user>"), id("▁a")]);
  });

  test("empty text", () => {
    expect(Array.from(tok.encode(""))).toEqual([]);
    expect(Array.from(tok.encode("", { addSpecial: true }))).toEqual([1]);
  });
});

describe("byte-level BPE", () => {
  test("lowest rank merges first, leftmost among equals", () => {
    const tok = createTokenizer(tinyBpe(["b c", "a b", "bc d"], ["bc", "ab", "bcd"]));
    // "abcd": b c (rank 0) beats a b (rank 1), then bc d
    expect(Array.from(tok.encode("abcd")).map((i) => tok.tokenText(i))).toEqual(["a", "bcd"]);
    expect(Array.from(tok.encode("abab")).map((i) => tok.tokenText(i))).toEqual(["ab", "ab"]);
  });

  test("a merge whose result is no token leaves its printable ASCII bytes, as llama.cpp does", () => {
    const tok = createTokenizer(tinyBpe(["x y", "Ġ x"]));
    expect(Array.from(tok.encode("xy")).map((i) => tok.tokenText(i))).toEqual(["x", "y"]);
    // "Ġx" is dropped to "x": the space's character is two UTF-8 bytes, neither of them a token
    expect(Array.from(tok.encode(" x")).map((i) => tok.tokenText(i))).toEqual(["x"]);
  });

  test("token bytes undo the byte map", () => {
    const tok = createTokenizer(tinyBpe([]));
    const ids = tok.encode("é\n");
    expect(ids.length).toBe(3);
    expect(Array.from(ids, (i) => Array.from(tok.tokenBytes(i, false)))).toEqual([[0xc3], [0xa9], [0x0a]]);
  });
});

describe("Llama-3 vocabulary", () => {
  const tok = vocabTokenizer("llama-bpe");

  test("facts", () => {
    expect(tok.kind).toBe("bpe");
    expect(tok.vocabSize).toBe(128256);
    expect([tok.bos, tok.eos, tok.eot]).toEqual([128000, 128001, 128009]);
    expect(tok.addBos).toBe(true);
    expect(tok.eog).toEqual([128001, 128009]);
    expect(tok.isEog(128009)).toBe(true);
    expect(tok.isControl(128009)).toBe(true);
    expect(tok.isControl(9906)).toBe(false);
    expect(tok.findToken("<|eot_id|>")).toBe(128009);
    expect(tok.findToken("Hello")).toBe(9906);
    expect(tok.findToken("no such token text")).toBeNull();
    expect(tok.tokenText(22691)).toBe("ĠHello");
  });

  test("special tokens in text", () => {
    const text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    const parsed = tok.encode(text, { addSpecial: true, parseSpecial: true });
    expect(Array.from(parsed)).toEqual([128000, 128006, 882, 128007, 271, 13347, 128009]);
    expect(tok.decode(parsed, { special: true })).toBe("<|begin_of_text|>" + text);
    expect(tok.decode(parsed)).toBe("user\n\nHi");
    // without parseSpecial the same text is plain text
    const plain = tok.encode(text);
    expect(plain.includes(128009)).toBe(false);
    expect(tok.decode(plain)).toBe(text);
  });

  test("control tokens render only when asked", () => {
    expect(tok.tokenBytes(128009, false).length).toBe(0);
    expect(new TextDecoder().decode(tok.tokenBytes(128009, true))).toBe("<|eot_id|>");
  });

  test("lone surrogates are read as U+FFFD, like their UTF-8 encoding", () => {
    expect(Array.from(tok.encode("a\ud800b"))).toEqual(Array.from(tok.encode("a\ufffdb")));
  });

  test("bad ids are refused", () => {
    expect(() => tok.tokenBytes(-1, false)).toThrow(RangeError);
    expect(() => tok.decode([128256])).toThrow(RangeError);
    expect(() => tok.tokenText(1.5)).toThrow(RangeError);
  });

  test("optional space clean-up matches llama.cpp's detokenizer", () => {
    expect(tok.cleanSpaces).toBe(true);
    const ids = tok.encode("Hello , world ! I 'm here . It 's ' quoted '");
    expect(tok.decode(ids, { cleanSpaces: true })).toBe("Hello, world! I'm here. It's'quoted '");
  });
});

test("Phi-3: whitespace after most special tokens is swallowed (RSTRIP)", () => {
  const tok = vocabTokenizer("phi-3");
  const end = tok.findToken("<|end|>")!;
  expect(Array.from(tok.encode("<|end|>   \nHi", { parseSpecial: true }))).toEqual(
    Array.from(tok.encode("<|end|>Hi", { parseSpecial: true })),
  );
  expect(tok.encode("<|end|>Hi", { parseSpecial: true })[0]).toBe(end);
});

test("cleanSpaces passes", () => {
  const run = (s: string) => {
    const b = new TextEncoder().encode(s);
    return new TextDecoder().decode(b.subarray(0, cleanSpaces(b, b.length)));
  };
  expect(run("a , b . c ! d ?")).toBe("a, b. c! d?");
  expect(run("x ' y")).toBe("x'y");
  expect(run("I 'm it 's we 're you 've I 'll I 'd don 't")).toBe("I'm it's we're you've I 'll I 'd don 't");
  expect(run("")).toBe("");
});

describe("metadata from a GGUF", () => {
  function gguf(entries: Record<string, ReturnType<typeof gv.str>>) {
    const w = new GgufWriter();
    for (const [k, v] of Object.entries(entries)) w.set(k, v);
    return parseGguf(w.toBytes());
  }

  test("reads every tokenizer key", () => {
    const meta = tokenizerMetadataFromGguf(
      gguf({
        "general.name": gv.str("Tiny"),
        "tokenizer.ggml.model": gv.str("gpt2"),
        "tokenizer.ggml.pre": gv.str("qwen2"),
        "tokenizer.ggml.tokens": gv.strings(["a", "b", "ab"]),
        "tokenizer.ggml.token_type": gv.i32s([1, 1, 3]),
        "tokenizer.ggml.merges": gv.strings(["a b"]),
        "tokenizer.ggml.bos_token_id": gv.u32(2),
        "tokenizer.ggml.eos_token_id": gv.u32(2),
        "tokenizer.ggml.add_bos_token": gv.bool(false),
        "tokenizer.ggml.prefix_token_id": gv.u32(1),
      }),
    );
    expect(meta).toMatchObject({ model: "gpt2", pre: "qwen2", tokens: ["a", "b", "ab"], merges: ["a b"], bos: 2, eos: 2, addBos: false, fimPre: 1, modelName: "Tiny" });
    expect(Array.from(meta.types!)).toEqual([1, 1, 3]);
    const tok = createTokenizer(meta);
    expect(Array.from(tok.encode("ab"))).toEqual([2]);
  });

  test("names what is missing or unsupported", () => {
    expect(() => tokenizerMetadataFromGguf(gguf({ "general.name": gv.str("x") }))).toThrow(/tokenizer\.ggml\.model/);
    expect(() =>
      tokenizerMetadataFromGguf(gguf({ "tokenizer.ggml.model": gv.str("gpt2"), "tokenizer.ggml.tokens": gv.str("x") })),
    ).toThrow(/tokenizer\.ggml\.tokens/);
    expect(() => createTokenizer({ model: "bert", tokens: ["a"] })).toThrow(/unsupported tokenizer model 'bert'/);
    expect(() => createTokenizer({ model: "gpt2", pre: "nope", tokens: ["a"], merges: [] })).toThrow(/unsupported pre-tokenizer 'nope'/);
  });
});
