// Bad checkpoints: every refusal is a clear error naming the file / tensor / key, the CLI exits 1,
// and no output (or partial output) is left behind, even when the failure comes mid-stream.
import { afterAll, describe, expect, spyOn, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertMain } from "./cli.ts";
import { convertCheckpoint } from "./convert-checkpoint.ts";
import { ConvertError } from "./errors.ts";
import { writeTestCheckpoint } from "./test-checkpoints.ts";

const root = mkdtempSync(join(tmpdir(), "bad-input-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sink = { write() {} };
const SHAPE = { nEmbd: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, nFf: 256, nCtx: 256 };
const base = join(root, "base");
writeTestCheckpoint(base, { shape: SHAPE });
const packed = join(root, "packed");
writeTestCheckpoint(packed, { shape: SHAPE, form: "packed" });
let n = 0;

/** A copy of a good checkpoint, broken by `edit(dir)`. */
function broken(edit: (dir: string) => void, from = base): string {
  const dir = join(root, `b${n++}`);
  cpSync(from, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Rewrites model.safetensors' JSON header (offsets stay relative to the data, so data is kept). */
function editHeader(dir: string, fn: (h: Record<string, any>) => void): void {
  const path = join(dir, "model.safetensors");
  const bytes = readFileSync(path);
  const len = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + len).toString("utf8"));
  fn(header);
  const text = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(text.length));
  writeFileSync(path, Buffer.concat([prefix, text, bytes.subarray(8 + len)]));
}

const editJson = (dir: string, file: string, fn: (j: Record<string, any>) => void) => {
  const j = JSON.parse(readFileSync(join(dir, file), "utf8"));
  fn(j);
  writeFileSync(join(dir, file), JSON.stringify(j));
};

/** Converts, expecting a ConvertError matching `re`, and checks nothing is left in `out`'s directory. */
function expectRefused(dir: string, re: RegExp, opts: { outType?: "i2_s" | "tq2_0" } = {}): void {
  const outDir = join(root, `out${n++}`);
  mkdirSync(outDir);
  let err: unknown;
  try {
    convertCheckpoint(dir, join(outDir, "model.gguf"), { outType: opts.outType ?? "i2_s", out: sink });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConvertError);
  expect((err as Error).message).toMatch(re);
  expect(readdirSync(outDir)).toEqual([]);
}

const cases: [string, (dir: string) => void, RegExp, string?][] = [
  ["missing config.json", (d) => rmSync(join(d, "config.json")), /config\.json: not found/],
  ["an unknown architecture", (d) => editJson(d, "config.json", (c) => (c.architectures = ["GPT2LMHeadModel"])), /unknown architecture GPT2LMHeadModel/],
  ["an unsupported activation", (d) => editJson(d, "config.json", (c) => (c.hidden_act = "gelu")), /hidden_act "gelu" is not supported/],
  ["a Llama checkpoint without BitLinear", (d) => {
    editJson(d, "config.json", (c) => { c.architectures = ["LlamaForCausalLM"]; delete c.quantization_config; });
    editHeader(d, (h) => { for (const k of Object.keys(h)) if (k.includes("sub_norm")) delete h[k]; });
  }, /LlamaForCausalLM without BitLinear layers .*not a BitNet checkpoint/],
  ["offsets past the end of the file", (d) => editHeader(d, (h) => (h["model.layers.1.mlp.up_proj.weight"].data_offsets = [10_000_000, 10_000_000 + 131072])),
    /model\.safetensors: tensor "model\.layers\.1\.mlp\.up_proj\.weight": data \[10000000, 10131072\) runs past the end/],
  ["overlapping tensors", (d) => editHeader(d, (h) => (h["model.norm.weight"].data_offsets = [...h["model.layers.0.input_layernorm.weight"].data_offsets])),
    /model\.safetensors: tensor "(model\.norm\.weight|model\.layers\.0\.input_layernorm\.weight)" data overlaps tensor/],
  ["a bad dtype", (d) => editHeader(d, (h) => (h["model.norm.weight"].dtype = "F128")), /model\.safetensors: tensor "model\.norm\.weight": unknown dtype "F128"/],
  ["an unsupported dtype", (d) => editHeader(d, (h) => { h["model.norm.weight"].dtype = "I16"; }), /tensor "model\.norm\.weight": dtype I16 is not supported/],
  ["a missing tensor", (d) => editHeader(d, (h) => delete h["model.layers.1.mlp.up_proj.weight"]), /missing tensor "model\.layers\.1\.mlp\.up_proj\.weight"/],
  ["a wrong shape", (d) => editHeader(d, (h) => (h["model.layers.0.self_attn.k_proj.weight"].shape = [256, 128])),
    /tensor "model\.layers\.0\.self_attn\.k_proj\.weight": shape \[256, 128\], expected \[128, 256\] from config\.json/],
  ["an unexpected tensor", (d) => editHeader(d, (h) => (h["model.layers.0.mlp.extra.weight"] = { dtype: "F32", shape: [0], data_offsets: [0, 0] })),
    /tensor "model\.layers\.0\.mlp\.extra\.weight" has no place in the BitNet graph/],
  ["a layer past num_hidden_layers", (d) => editJson(d, "config.json", (c) => (c.num_hidden_layers = 1)), /is for layer 1, but num_hidden_layers is 1/],
  ["a vocab_size that disagrees with the embedding", (d) => editJson(d, "config.json", (c) => (c.vocab_size = 300)), /vocab_size 300 but model\.embed_tokens\.weight has 289 rows/],
  ["an index naming a missing shard", (d) => writeFileSync(join(d, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "model.norm.weight": "model-00002-of-00002.safetensors" } })),
    /model-00002-of-00002\.safetensors: listed in model\.safetensors\.index\.json but missing/],
  ["an index escaping the directory", (d) => writeFileSync(join(d, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "model.norm.weight": "../x.safetensors" } })), /not a file name/],
  ["a NaN in the last layer (mid-stream: the partial file is removed)", (d) => {
    const path = join(d, "model.safetensors");
    const bytes = readFileSync(path);
    const len = Number(bytes.readBigUInt64LE(0));
    const h = JSON.parse(bytes.subarray(8, 8 + len).toString("utf8"));
    const at = 8 + len + h["model.layers.1.mlp.down_proj.weight"].data_offsets[0] + 20;
    bytes.writeUInt16LE(0x7fc0, at); // bf16 NaN
    writeFileSync(path, bytes);
  }, /tensor "model\.layers\.1\.mlp\.down_proj\.weight" has a non-finite value at index 10/],
];

describe("bad input", () => {
  for (const [what, edit, re] of cases) test(`refuses ${what}`, () => expectRefused(broken(edit), re));

  test("refuses packed weights with an invalid code or without weight_scale (mid-stream, nothing left)", () => {
    expectRefused(broken((d) => {
      const path = join(d, "model.safetensors");
      const bytes = readFileSync(path);
      const len = Number(bytes.readBigUInt64LE(0));
      const h = JSON.parse(bytes.subarray(8, 8 + len).toString("utf8"));
      bytes[8 + len + h["model.layers.1.self_attn.o_proj.weight"].data_offsets[0] + 3] = 0xff;
      writeFileSync(path, bytes);
    }, packed), /tensor "model\.layers\.1\.self_attn\.o_proj\.weight" has the invalid code 3 at byte \[0, 3\]/);
    expectRefused(broken((d) => editHeader(d, (h) => delete h["model.layers.0.mlp.up_proj.weight_scale"]), packed),
      /tensor "model\.layers\.0\.mlp\.up_proj\.weight": packed uint8 weight without "model\.layers\.0\.mlp\.up_proj\.weight_scale"/);
  });

  test("the CLI: exit 1 with the message for bad input, 2 with usage for bad flags", async () => {
    const err = spyOn(console, "error").mockImplementation(() => {});
    try {
      expect(await convertMain([join(root, "nope"), "-o", join(root, "x.gguf")])).toBe(1);
      expect(err.mock.calls.flat().join("\n")).toMatch(/nope: not found/);
      expect(await convertMain([broken((d) => rmSync(join(d, "config.json"))), "-o", join(root, "x.gguf")])).toBe(1);
      expect(err.mock.calls.flat().join("\n")).toMatch(/config\.json: not found/);
      expect(await convertMain([base, "--outtype", "q4_0"])).toBe(2);
      expect(err.mock.calls.flat().join("\n")).toMatch(/--outtype q4_0: expected one of i2_s, tq1_0, tq2_0, f16, bf16, f32/);
      expect(await convertMain([base, "--bogus"])).toBe(2);
      expect(await convertMain([])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});
