// tokenizer.json → tokenizer.ggml.*: token order and types, merges in both forms, pre-tokenizer
// names, special ids, the mask token (also past the tokenizer), chat templates, refused vocabularies.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GgufValue } from "../gguf/types.ts";
import { parseHfConfig } from "./hf-config.ts";
import { CKPT_CHAT_TEMPLATE, CKPT_VOCAB, tokenizerJson, writeTestCheckpoint } from "./test-checkpoints.ts";
import { convertTokenizer, detectPre, TokenType } from "./tokenizer-json.ts";

const root = mkdtempSync(join(tmpdir(), "tok-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A tokenizer-only checkpoint directory: config.json + tokenizer files, edited by `edit`. */
function ckpt(edit: (tk: Record<string, any>, tc: Record<string, any>, cfg: Record<string, any>) => void = () => {}, opts: Parameters<typeof writeTestCheckpoint>[1] = {}): string {
  const dir = join(root, `c${n++}`);
  writeTestCheckpoint(dir, { shape: { nEmbd: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, nFf: 16, nCtx: 64 }, ...opts });
  const tk = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const tc = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  edit(tk, tc, cfg);
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tk));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(tc));
  writeFileSync(join(dir, "config.json"), JSON.stringify(cfg));
  return dir;
}

function convert(dir: string, nVocab: number = CKPT_VOCAB.size) {
  const cfg = parseHfConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")));
  const v = convertTokenizer(dir, cfg, nVocab);
  const kv = new Map<string, GgufValue>(v.kv);
  const items = (k: string) => (kv.get(k)?.value as { items: unknown } | undefined)?.items as any;
  const val = (k: string) => kv.get(k)?.value;
  return { v, kv, items, val };
}

describe("tokenizer.json conversion", () => {
  test("tokens in id order with added tokens, types, merges, specials, add_bos, chat template", () => {
    const { v, items, val } = convert(ckpt());
    expect(val("tokenizer.ggml.model")).toBe("gpt2");
    expect(val("tokenizer.ggml.pre")).toBe("llama-bpe");
    const tokens = items("tokenizer.ggml.tokens") as string[];
    const types = items("tokenizer.ggml.token_type") as Int32Array;
    expect(tokens.length).toBe(CKPT_VOCAB.size);
    expect(tokens[0x20]).toBe("Ġ");
    expect(tokens[CKPT_VOCAB.bos]).toBe("<|begin_of_text|>");
    expect(tokens[CKPT_VOCAB.mask]).toBe("|<MASK>|");
    expect(tokens[262]).toBe("Ġt");
    expect(types[65]).toBe(TokenType.NORMAL);
    expect(types[CKPT_VOCAB.eot]).toBe(TokenType.CONTROL);
    expect(types[CKPT_VOCAB.tool]).toBe(TokenType.USER_DEFINED);
    expect((items("tokenizer.ggml.merges") as string[]).slice(0, 2)).toEqual(["Ġ t", "Ġ a"]);
    expect([val("tokenizer.ggml.bos_token_id"), val("tokenizer.ggml.eos_token_id"), val("tokenizer.ggml.eot_token_id"), val("tokenizer.ggml.mask_token_id")])
      .toEqual([CKPT_VOCAB.bos, CKPT_VOCAB.eos, CKPT_VOCAB.eot, CKPT_VOCAB.mask]);
    expect(val("tokenizer.ggml.add_bos_token")).toBe(true);
    expect(val("tokenizer.chat_template")).toBe(CKPT_CHAT_TEMPLATE);
    expect(v.warnings).toEqual([]);
  });

  test("array-form merges are joined (a space inside a part becomes U+0120); list-form chat templates are named", () => {
    const { items, val } = convert(ckpt((tk) => tk.model.merges.push(["a b", "c"]), { mergesForm: "array", chatTemplateForm: "list" }));
    const merges = items("tokenizer.ggml.merges") as string[];
    expect(merges[0]).toBe("Ġ t");
    expect(merges[merges.length - 1]).toBe("a\u0120b c");
    expect(val("tokenizer.chat_template")).toBe(CKPT_CHAT_TEMPLATE);
    expect(val("tokenizer.chat_template.tool_use")).toBe("{{ messages }}");
    expect(items("tokenizer.chat_templates")).toEqual(["tool_use"]);
  });

  test("embedding rows past the tokenizer become [PAD<id>]; config mask_token_id there names the mask token", () => {
    const dir = ckpt((tk, _tc, cfg) => {
      tk.added_tokens = tk.added_tokens.filter((a: { content: string }) => a.content !== "|<MASK>|");
      cfg.mask_token_id = 291;
    });
    const { v, items, val } = convert(dir, 293);
    const tokens = items("tokenizer.ggml.tokens") as string[];
    const types = items("tokenizer.ggml.token_type") as Int32Array;
    expect(tokens[CKPT_VOCAB.mask]).toBe(`[PAD${CKPT_VOCAB.mask}]`);
    expect(types[CKPT_VOCAB.mask]).toBe(TokenType.UNUSED);
    expect([tokens[291], types[291], val("tokenizer.ggml.mask_token_id")]).toEqual(["|<MASK>|", TokenType.CONTROL, 291]);
    expect(tokens[292]).toBe("[PAD292]");
    expect(v.warnings.join("\n")).toMatch(/mask token id 291 is not in the tokenizer/);
  });

  test("pre-tokenizer names: llama-bpe, qwen2, gpt-2, else undefined (the converter writes default)", () => {
    const split = (re: string) => ({ type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: re } }, { type: "ByteLevel", use_regex: false }] });
    const llama3 = (tokenizerJson().pre_tokenizer as any).pretokenizers[0].pattern.Regex as string;
    expect(detectPre(split(llama3))).toBe("llama-bpe");
    expect(detectPre(split(llama3.replace("\\p{N}{1,3}", "\\p{N}")))).toBe("qwen2");
    expect(detectPre({ type: "ByteLevel", add_prefix_space: false, use_regex: true })).toBe("gpt-2");
    expect(detectPre(split("\\s+"))).toBeUndefined();
    const { v, val } = convert(ckpt((tk) => (tk.pre_tokenizer = split("[a-z]+"))));
    expect(val("tokenizer.ggml.pre")).toBe("default");
    expect(v.warnings.join()).toMatch(/unrecognised pre-tokenizer/);
  });

  test("a byte-level vocabulary without merges converts (an empty merges list)", () => {
    const { items } = convert(ckpt((tk) => delete tk.model.merges));
    expect(items("tokenizer.ggml.merges")).toEqual([]);
  });

  test("special ids fall back to config.json; add_bos comes from the post-processor when the config is silent", () => {
    const { val } = convert(ckpt((_tk, tc) => {
      delete tc.bos_token;
      delete tc.eos_token;
      delete tc.add_bos_token;
    }));
    expect(val("tokenizer.ggml.bos_token_id")).toBe(CKPT_VOCAB.bos);
    expect(val("tokenizer.ggml.eos_token_id")).toBe(CKPT_VOCAB.eos);
    expect(val("tokenizer.ggml.add_bos_token")).toBe(true);
  });

  const refused: [string, (tk: any, tc: any, cfg: any) => void, RegExp][] = [
    ["Unigram", (tk) => (tk.model.type = "Unigram"), /model type "Unigram" is not supported/],
    ["BPE with byte_fallback", (tk) => (tk.model.byte_fallback = true), /byte_fallback \(SentencePiece-style\) is not supported/],
    ["a non-byte-level BPE", (tk) => { tk.pre_tokenizer = { type: "Whitespace" }; tk.decoder = null; }, /not a byte-level BPE/],
    ["a duplicated token text", (tk) => (tk.added_tokens[0].content = "a"), /token text "a" is used by ids 97 and 256/],
    ["an id past the embedding", (tk) => (tk.added_tokens.push({ id: 400, content: "<x>", special: true })), /id 400, but the embedding has only 289 rows/],
    ["a malformed merge", (tk) => tk.model.merges.push("nospace"), /merge \d+ "nospace" is not "left right"/],
  ];
  for (const [what, edit, re] of refused) {
    test(`refuses ${what}`, () => {
      expect(() => convert(ckpt(edit))).toThrow(re);
    });
  }

  test("refuses a SentencePiece tokenizer.model without tokenizer.json", () => {
    const dir = ckpt();
    rmSync(join(dir, "tokenizer.json"));
    writeFileSync(join(dir, "tokenizer.model"), "");
    expect(() => convert(dir)).toThrow(/only a SentencePiece tokenizer.model/);
  });
});
