// End to end: test checkpoints (latent bf16, already-ternary, Microsoft packed uint8; SiLU and ReLU²)
// → every outtype → model-file checks → llama.cpp (LlamaEngine) and the TS reference forward pass.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { argmax, batchOf, greedyTokens } from "../../test/support/greedy.ts";
import { validateModelFile } from "../engine/model-file.ts";
import { LlamaEngine } from "../engine/llama/llama-engine.ts";
import { NativeEngine } from "../engine/native/native-engine.ts";
import { ReferenceModel } from "../engine/reference/forward-ref.ts";
import { isTernaryType, unpackTernary } from "../gguf/quants.ts";
import { openGguf } from "../gguf/reader.ts";
import { createTokenizer, tokenizerMetadataFromGguf } from "../tokenizer/tokenizer.ts";
import { convertCheckpoint } from "./convert-checkpoint.ts";
import { OUT_TYPES, type OutType } from "./plan.ts";
import { CKPT_CHAT_TEMPLATE, CKPT_VOCAB, WEIGHT_FORMS, writeTestCheckpoint, type CkptArch, type WeightForm } from "./test-checkpoints.ts";

const root = mkdtempSync(join(tmpdir(), "convert-test-"));
const savedCache = process.env.TERNARY_CACHE_DIR;
beforeAll(() => (process.env.TERNARY_CACHE_DIR = join(root, "cache"))); // LlamaEngine's I2_S → TQ2_0 copies
afterAll(() => {
  process.env.TERNARY_CACHE_DIR = savedCache;
  rmSync(root, { recursive: true, force: true });
});

const ARCHS: CkptArch[] = ["bitnet", "bitnet-b1.58"];
const TERNARY_OUT: OutType[] = ["i2_s", "tq1_0", "tq2_0"];
const sink = { write() {} };

function engine(path: string, kvF32 = false): LlamaEngine {
  return new LlamaEngine({ path, nCtx: 256, nBatch: 64, nParallel: 1, threads: 1, kvF32 });
}

/** Converts one checkpoint to every outtype (validated); paths by outtype. */
function convertAll(dir: string): Record<OutType, string> {
  const out = {} as Record<OutType, string>;
  for (const t of OUT_TYPES) {
    out[t] = join(dir, `out-${t}.gguf`);
    const s = convertCheckpoint(dir, out[t], { outType: t, validate: true, out: sink });
    expect(s.validation?.tensors).toBe(24);
  }
  return out;
}

const converted = new Map<string, Record<OutType, string>>();
function outputs(arch: CkptArch, form: WeightForm): Record<OutType, string> {
  const key = `${arch}-${form}`;
  let o = converted.get(key);
  if (!o) {
    const dir = join(root, key);
    writeTestCheckpoint(dir, { arch, form, dlmAttention: arch === "bitnet" ? "block" : undefined });
    o = convertAll(dir);
    converted.set(key, o);
  }
  return o;
}

const PROMPT = [CKPT_VOCAB.bos, 104, 101, 108, 108, 111, 262, 119];

describe("checkpoint → GGUF, every outtype", () => {
  for (const arch of ARCHS) {
    for (const form of WEIGHT_FORMS) {
      test(`${arch} ${form}: all outtypes validate, load in llama.cpp and the native engine with finite logits, ternary outputs agree greedily, f32 matches the reference`, () => {
        const o = outputs(arch, form);
        const greedy: Record<string, number[]> = {};
        for (const t of OUT_TYPES) {
          const f = validateModelFile(o[t]);
          expect(f.getString("general.architecture")).toBe(arch);
          expect(f.getString(`${arch}.activation`)).toBe(arch === "bitnet" ? "silu" : "relu2");
          // Linear weights in the outtype, norms always F32, the (tied) embedding F16 unless a float outtype.
          expect(f.tensor("blk.1.ffn_down.weight")!.typeName).toBe(t);
          expect(f.tensor("blk.1.attn_sub_norm.weight")!.typeName).toBe("f32");
          expect(f.tensor("token_embd.weight")!.typeName).toBe(t === "bf16" || t === "f32" ? t : "f16");
          const e = engine(o[t]);
          try {
            expect(e.info.arch).toBe(arch);
            e.kvClear(0);
            const logits = e.decode(batchOf(PROMPT, 0, 0, true), "causal");
            expect(logits.length).toBe(PROMPT.length * CKPT_VOCAB.size);
            expect(logits.every(Number.isFinite)).toBe(true);
            greedy[t] = greedyTokens(e, PROMPT, 10);
          } finally {
            e.close();
          }
        }
        for (const t of TERNARY_OUT) expect(greedy[t]).toEqual(greedy.tq2_0);
        // Our native engine loads every outtype too; the ternary ones and F16/F32 (which hold exactly
        // q·s with an fp16 scale) are one model to it and continue identically.
        const native: Record<string, number[]> = {};
        for (const t of OUT_TYPES) {
          const n = new NativeEngine({ path: o[t], nCtx: 256, nBatch: 64, nParallel: 1, threads: 1 });
          try {
            expect(n.info.arch).toBe(arch);
            n.kvClear(0);
            expect(n.decode(batchOf(PROMPT, 0, 0, true), "causal").every(Number.isFinite)).toBe(true);
            native[t] = greedyTokens(n, PROMPT, 10);
          } finally {
            n.close();
          }
        }
        for (const t of [...TERNARY_OUT, "f16", "f32"] as OutType[]) expect(native[t]).toEqual(native.tq2_0);
        // The F32 file through the TS reference (no activation quantisation, as llama.cpp on F32).
        const ref = new ReferenceModel(openGguf(o.f32), "none").forward([...PROMPT, ...greedy.f32.slice(0, -1)]);
        const refGreedy = greedy.f32.map((_, i) => argmax(ref[PROMPT.length - 1 + i]));
        expect(refGreedy).toEqual(greedy.f32);
      });
    }
  }

  test("the three weight forms of one seed carry the same ternary codes (packed uint8 decodes like absmean)", () => {
    const codes = WEIGHT_FORMS.map((form) => {
      const f = openGguf(outputs("bitnet-b1.58", form).tq2_0);
      return f.tensors.filter((t) => isTernaryType(t.type)).map((t) => unpackTernary(t.type as 35, t.data(), t.nElements).q);
    });
    expect(codes[0].length).toBe(14);
    for (let k = 1; k < codes.length; k++) codes[k].forEach((q, i) => expect(q).toEqual(codes[0][i]));
  });
});

describe("tokenizer and metadata land in the GGUF", () => {
  test("our TS tokenizer and llama.cpp tokenize identically over the converted vocabulary", () => {
    const path = outputs("bitnet-b1.58", "latent").tq2_0;
    const tk = createTokenizer(tokenizerMetadataFromGguf(openGguf(path)));
    const e = engine(path);
    try {
      for (const text of ["hello world", "Hello, World! 1234567 <tool> x", "  spaces\n\n\tand\r\nnewlines  ", "ünïcödé 🙂 日本語", "|<MASK>| <|eot_id|>the world's"]) {
        for (const parseSpecial of [false, true]) {
          const a = [...e.tokenize(text, { addSpecial: true, parseSpecial })];
          expect([...tk.encode(text, { addSpecial: true, parseSpecial })]).toEqual(a);
        }
      }
      expect(e.tokenize("<tool>", { addSpecial: false, parseSpecial: false })).toEqual(Int32Array.of(CKPT_VOCAB.tool));
    } finally {
      e.close();
    }
  });

  test("special ids, add_bos, chat template, mask token and DLM attention", () => {
    const f = openGguf(outputs("bitnet", "packed").i2_s);
    expect(f.getInt("tokenizer.ggml.bos_token_id")).toBe(CKPT_VOCAB.bos);
    expect(f.getInt("tokenizer.ggml.eos_token_id")).toBe(CKPT_VOCAB.eos);
    expect(f.getInt("tokenizer.ggml.eot_token_id")).toBe(CKPT_VOCAB.eot);
    expect(f.getInt("tokenizer.ggml.mask_token_id")).toBe(CKPT_VOCAB.mask);
    expect(f.getBool("tokenizer.ggml.add_bos_token")).toBe(true);
    expect(f.getString("tokenizer.chat_template")).toBe(CKPT_CHAT_TEMPLATE);
    expect(f.getString("dlm.attention")).toBe("block");
    expect(f.getInt("general.file_type")).toBe(40);
    const e = engine(outputs("bitnet", "packed").i2_s);
    try {
      expect(e.info).toMatchObject({ bos: CKPT_VOCAB.bos, eos: CKPT_VOCAB.eos, maskToken: CKPT_VOCAB.mask, dlmAttention: "block", addBos: true, chatTemplate: CKPT_CHAT_TEMPLATE });
      expect(e.info.eog).toContain(CKPT_VOCAB.eot);
    } finally {
      e.close();
    }
    expect(openGguf(outputs("bitnet-b1.58", "latent").tq2_0).getString("dlm.attention")).toBeUndefined();
  });
});

describe("other checkpoint shapes", () => {
  test("LlamaForCausalLM with BitLinear (quantization_config), 1bitLLM sub-norm names, 3 shards, list chat template", () => {
    const dir = join(root, "llama-sharded");
    const ck = writeTestCheckpoint(dir, { arch: "bitnet", hfClass: "LlamaForCausalLM", oldSubNormNames: true, shards: 3, chatTemplateForm: "list", mergesForm: "array" });
    expect(ck.files.length).toBe(3);
    const out = join(dir, "out.gguf");
    const s = convertCheckpoint(dir, out, { outType: "tq1_0", validate: true, out: sink, head: "q8_0" });
    expect(s.forms.latent).toBe(14);
    const f = openGguf(out);
    expect(f.tensor("token_embd.weight")!.typeName).toBe("q8_0");
    expect(f.getStringArray("tokenizer.chat_templates")).toEqual(["tool_use"]);
    const e = engine(out);
    try {
      e.kvClear(0);
      expect(e.decode(batchOf(PROMPT, 0), "causal").every(Number.isFinite)).toBe(true);
      expect(greedyTokens(e, PROMPT, 6).every((t) => t >= 0 && t < CKPT_VOCAB.size)).toBe(true);
    } finally {
      e.close();
    }
  });
});
