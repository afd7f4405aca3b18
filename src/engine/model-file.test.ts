// validateModelFile: every generated fixture passes, and each check added because llama.cpp aborted
// (or hung) on a file that used to pass is exercised on a one-change variant of the micro fixture.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureFixtures, ensureMicroFixture, FIXTURE_ARCHS, FIXTURE_FORMATS } from "../../scripts/fixtures.ts";
import { headerFields, Model } from "../../test/support/model-mutants.ts";
import { GgmlType, gv } from "../gguf/types.ts";
import { EngineError } from "./errors.ts";
import { describeModelFile, validateModelFile } from "./model-file.ts";

const dir = mkdtempSync(join(tmpdir(), "model-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const microBytes = new Uint8Array(await Bun.file(ensureMicroFixture()).arrayBuffer());
const micro = Model.parse(microBytes);
let n = 0;

function write(bytes: Uint8Array): string {
  const p = join(dir, `${n++}.gguf`);
  writeFileSync(p, bytes);
  return p;
}

/** The micro fixture with one edit, written out. */
function variant(edit: (m: Model) => void): string {
  const m = micro.clone();
  edit(m);
  return write(m.toBytes());
}

function rejection(path: string): string {
  try {
    validateModelFile(path);
  } catch (e) {
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).kind).toBe("invalid_request");
    return (e as EngineError).message;
  }
  throw new Error(`${path} was accepted`);
}

describe("validateModelFile accepts", () => {
  test("every tiny fixture (both archs, every weight format)", () => {
    const fx = ensureFixtures();
    for (const arch of FIXTURE_ARCHS) for (const f of FIXTURE_FORMATS) expect(() => validateModelFile(fx.paths[arch][f])).not.toThrow();
  });

  test("the micro fixture, and its facts", () => {
    const facts = describeModelFile(validateModelFile(ensureMicroFixture()));
    expect(facts).toEqual({ arch: "bitnet", name: expect.stringContaining("micro"), format: "f32", maskToken: 261, dlmAttention: null });
  });

  test("variants that change nothing the graph depends on", () => {
    const ok: ((m: Model) => void)[] = [
      (m) => m.set("bitnet.rope.scaling.type", gv.str("none")),
      (m) => m.set("bitnet.rope.scaling.type", gv.str("linear")).set("bitnet.rope.scaling.factor", gv.f32(1)),
      (m) => m.set("bitnet.attention.key_length", gv.u32(32)).set("bitnet.attention.value_length", gv.u32(32)),
      (m) => m.set("bitnet.expert_count", gv.u32(0)),
      (m) => m.set("dlm.attention", gv.str("block")),
      (m) => m.retype("blk.0.attn_q.weight", GgmlType.F16).retype("token_embd.weight", GgmlType.Q8_0),
      (m) => m.add("blk.0.attn_q.scale", GgmlType.F32, [1]),
      (m) => m.set("tokenizer.ggml.tokens", gv.strings(m.strings("tokenizer.ggml.tokens").map((t, i) => (i === 287 ? "<0x41>" : t))))
        .set("tokenizer.ggml.token_type", gv.i32s(m.ints("tokenizer.ggml.token_type").map((t, i) => (i === 287 ? 6 : t)))),
    ];
    for (const edit of ok) expect(() => validateModelFile(variant(edit))).not.toThrow();
  });
});

describe("validateModelFile rejects what crashed llama.cpp", () => {
  test("rope.dimension_count / key_length / value_length other than the head dimension (GGML_ASSERT n_dims <= ne0; 0 hangs)", () => {
    for (const [k, v] of [["rope.dimension_count", 0], ["rope.dimension_count", 33], ["rope.dimension_count", 64], ["attention.key_length", 16], ["attention.value_length", 64]] as const) {
      expect(rejection(variant((m) => m.set(`bitnet.${k}`, gv.u32(v))))).toContain(`bitnet.${k} = ${v} differs from the head dimension 32`);
    }
  });

  test("an unknown rope scaling type (GGML_ASSERT rope_scaling_type_train), or any real scaling", () => {
    expect(rejection(variant((m) => m.set("bitnet.rope.scaling.type", gv.str("bogus"))))).toContain("rope.scaling.type = 'bogus' is not supported");
    expect(rejection(variant((m) => m.set("bitnet.rope.scaling.type", gv.str("yarn"))))).toContain("plain RoPE");
    expect(rejection(variant((m) => m.set("bitnet.rope.scaling.factor", gv.f32(4))))).toContain("rope.scaling.factor = 4");
    expect(rejection(variant((m) => m.set("bitnet.rope.scaling.factor", gv.f32(Number.NaN))))).toContain("rope.scaling.factor = NaN");
  });

  test("expert and next-token-prediction keys (GGML_ASSERTs on n_expert, n_layer_nextn)", () => {
    for (const k of ["expert_count", "expert_used_count", "expert_group_count", "expert_group_used_count", "nextn_predict_layers"]) {
      expect(rejection(variant((m) => m.set(`bitnet.${k}`, gv.u32(2))))).toContain(`bitnet.${k} = 2: BitNet models are dense`);
    }
  });

  test("block_count past llama.cpp's 512 layers (GGML_ASSERT n_layer <= LLAMA_MAX_LAYERS)", () => {
    expect(rejection(variant((m) => m.set("bitnet.block_count", gv.u32(513))))).toContain("bitnet.block_count = 513 is out of range [1, 512]");
  });

  test("norm weights and scales not in f32 (ggml's CPU multiply aborts on f32 × f16)", () => {
    expect(rejection(variant((m) => m.retype("blk.0.attn_norm.weight", GgmlType.F16)))).toContain("tensor blk.0.attn_norm.weight is f16; norm weights must be f32");
    expect(rejection(variant((m) => m.retype("blk.1.ffn_sub_norm.weight", GgmlType.Q8_0)))).toContain("norm weights must be f32");
    expect(rejection(variant((m) => m.add("blk.0.attn_q.scale", GgmlType.F16, [1])))).toContain("scales must be f32");
  });

  test("weight matrices in types ggml cannot multiply or look rows up in (segfaults, get_rows abort)", () => {
    for (const [name, type] of [["blk.0.attn_v.weight", GgmlType.I32], ["blk.0.ffn_gate.weight", GgmlType.I8], ["blk.0.attn_output.weight", GgmlType.F64], ["blk.1.ffn_up.weight", GgmlType.Q8_1], ["token_embd.weight", GgmlType.I16]] as const) {
      expect(rejection(variant((m) => m.retype(name, type)))).toContain(`tensor ${name} is`);
    }
  });
});

describe("validateModelFile rejects what llama.cpp would refuse, with a clearer message", () => {
  test("metadata values of a type llama.cpp's typed getters refuse", () => {
    const cases: [string, (m: Model) => void, string][] = [
      ["general.name", (m) => m.set("general.name", gv.u32(5)), "general.name is u32, expected string"],
      ["context_length", (m) => m.set("bitnet.context_length", gv.u64(512)), "bitnet.context_length is u64, expected u32"],
      ["eps", (m) => m.set("bitnet.attention.layer_norm_rms_epsilon", gv.f64(1e-5)), "is f64, expected f32"],
      ["token_type", (m) => m.set("tokenizer.ggml.token_type", gv.u32s(m.ints("tokenizer.ggml.token_type"))), "tokenizer.ggml.token_type is an array of u32, expected an array of i32"],
      ["add_bos", (m) => m.set("tokenizer.ggml.add_bos_token", gv.u32(1)), "add_bos_token is u32, expected bool"],
      ["bos id", (m) => m.set("tokenizer.ggml.bos_token_id", gv.i32(256)), "bos_token_id is i32, expected u32"],
      ["dlm.attention", (m) => m.set("dlm.attention", gv.u32(1)), "dlm.attention is u32, expected string"],
    ];
    for (const [, edit, msg] of cases) expect(rejection(variant(edit))).toContain(msg);
  });

  test("tensors not packed in order as ggml's GGUF reader requires", () => {
    // A norm's type forged from f32 to f16 in the header: in bounds for our reader, misplaced for ggml.
    const f = headerFields(microBytes).fields.find((x) => x.kind === "tensor type" && x.owner === "blk.1.attn_norm.weight")!;
    const b = microBytes.slice();
    new DataView(b.buffer).setUint32(f.at, GgmlType.F16, true);
    expect(rejection(write(b))).toMatch(/tensor blk\.1\.attn_q\.weight data is at offset \d+ of the data section, expected \d+/);
  });

  test("vocabulary details", () => {
    expect(rejection(variant((m) => m.set("bitnet.vocab_size", gv.u32(1000))))).toContain("bitnet.vocab_size = 1000, but tokenizer.ggml.tokens has 288 entries");
    expect(rejection(variant((m) => m.set("dlm.attention", gv.str("sideways"))))).toContain("dlm.attention = 'sideways'");
    expect(rejection(variant((m) => m.set("tokenizer.ggml.token_type", gv.i32s(m.ints("tokenizer.ggml.token_type").fill(6))))))
      .toContain('token 0 "Ā" has type BYTE but is not spelled <0xXX>');
    expect(rejection(variant((m) => m.set("tokenizer.ggml.model", gv.str("llama"))))).toContain("needs the 256 byte tokens <0x00>..<0xFF>; <0x00> is missing");
    expect(rejection(variant((m) => m.set("tokenizer.ggml.tokens", gv.strings([])).set("tokenizer.ggml.token_type", gv.i32s([]))))).toContain("the vocabulary is empty");
  });
});
