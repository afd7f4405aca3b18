// The conversion plan: every GGUF tensor with its source tensor(s), its output type and the metadata,
// decided and checked (names, shapes, dtypes, block divisibility) before a byte is written.
//
// Output types: ternary outtypes put the linear weights in that type, the embedding in F16 and the
// norms in F32; f16 / bf16 / f32 put everything but the norms in that type (linear weights as q · s).
// Norms are F32 in every outtype (ggml's CPU `mul` has no f32 × f16 kernel). `--head` sets the output
// head: token_embd when tied, output.weight when not. With `allowFallback`, a linear weight whose
// rows do not fit the type's block (TQ: 256, I2_S: 128) is written as F16 (q · s) instead.

import { basename, join, resolve } from "node:path";
import { GgmlType, ggmlTypeInfo, gv, type GgufValue } from "../gguf/types.ts";
import { KEY_ACTIVATION, KEY_DLM_ATTENTION } from "../engine/model-file.ts";
import { openCheckpointTensors, readJson } from "./checkpoint.ts";
import { fail } from "./errors.ts";
import { parseHfConfig, type CheckpointConfig } from "./hf-config.ts";
import type { StTensor } from "./safetensors.ts";
import { classifyHfName, expectedGguf, hfNameFor, type Role } from "./tensor-map.ts";
import { convertTokenizer } from "./tokenizer-json.ts";

export const OUT_TYPES = ["i2_s", "tq1_0", "tq2_0", "f16", "bf16", "f32"] as const;
export type OutType = (typeof OUT_TYPES)[number];
export const HEAD_TYPES = ["f16", "f32", "bf16", "q8_0"] as const;
export type HeadType = (typeof HEAD_TYPES)[number];

const GGML_OF: Record<OutType | HeadType, GgmlType> = {
  i2_s: GgmlType.I2_S, tq1_0: GgmlType.TQ1_0, tq2_0: GgmlType.TQ2_0, f16: GgmlType.F16, bf16: GgmlType.BF16, f32: GgmlType.F32, q8_0: GgmlType.Q8_0,
};
/** general.file_type (llama_ftype); I2_S is 40 in Microsoft's fork. */
const FILE_TYPE: Record<OutType, number> = { f32: 0, f16: 1, bf16: 32, tq1_0: 36, tq2_0: 37, i2_s: 40 };

export interface PlanOptions {
  outType: OutType;
  head?: HeadType;
  allowFallback?: boolean;
  name?: string;
}

export interface PlanEntry {
  ggufName: string;
  role: Role;
  src: StTensor;
  /** A linear weight's `weight_scale`. */
  scale?: StTensor;
  /** Unpacked PyTorch shape; the GGUF shape is its reverse. */
  hfShape: number[];
  type: GgmlType;
  /** Written as F16 because its rows do not fit the outtype's block. */
  fallback: boolean;
}

export interface ConversionPlan {
  dir: string;
  config: CheckpointConfig;
  entries: PlanEntry[];
  metadata: [string, GgufValue][];
  nVocab: number;
  warnings: string[];
  outType: OutType;
}

export function planConversion(dir: string, opts: PlanOptions): ConversionPlan {
  const cfg = parseHfConfig(readJson(dir, "config.json", true), join(dir, "config.json"));
  const ck = openCheckpointTensors(dir);
  const warnings: string[] = [];

  // Every checkpoint tensor must have a place: a silently dropped tensor is a different model.
  const byGguf = new Map<string, { src: StTensor; role: Role }>();
  const scales = new Map<string, StTensor>(); // HF weight name → its weight_scale
  const ggufToHf = new Map<string, string>();
  for (const [name, t] of ck.tensors) {
    const k = classifyHfName(name);
    if (k === undefined) fail(`${basename(t.file)}: tensor "${name}" has no place in the BitNet graph (unexpected tensor)`);
    if (k.kind === "ignore") continue;
    if (k.kind === "scale") {
      scales.set(k.of, t);
      continue;
    }
    if (k.layer !== undefined && k.layer >= cfg.nLayers) fail(`${basename(t.file)}: tensor "${name}" is for layer ${k.layer}, but num_hidden_layers is ${cfg.nLayers}`);
    const prev = ggufToHf.get(k.ggufName);
    if (prev !== undefined) fail(`tensors "${prev}" and "${name}" both map to ${k.ggufName}`);
    ggufToHf.set(k.ggufName, name);
    byGguf.set(k.ggufName, { src: t, role: k.role });
  }
  for (const [w, s] of scales) {
    if (!ck.tensors.has(w)) fail(`${basename(s.file)}: tensor "${s.name}" has no weight "${w}"`);
  }
  const hasSubNorms = [...byGguf.keys()].some((n) => n.endsWith("attn_sub_norm.weight") || n.endsWith("ffn_sub_norm.weight"));
  if (!cfg.bitnetByConfig && !hasSubNorms) {
    fail(`${dir}: ${cfg.hfArchitecture} without BitLinear layers (no quantization_config.quant_method "bitnet" and no sub-norm tensors): not a BitNet checkpoint`);
  }

  const embd = byGguf.get("token_embd.weight");
  if (embd === undefined) fail(`${dir}: missing tensor "model.embed_tokens.weight"`);
  if (embd.src.shape.length !== 2 || embd.src.shape[1] !== cfg.nEmbd) {
    fail(`${basename(embd.src.file)}: tensor "model.embed_tokens.weight" has shape [${embd.src.shape.join(", ")}], expected [vocab, ${cfg.nEmbd}]`);
  }
  const nVocab = embd.src.shape[0];
  if (cfg.vocabSize !== undefined && cfg.vocabSize !== nVocab) fail(`config.json: vocab_size ${cfg.vocabSize} but model.embed_tokens.weight has ${nVocab} rows`);
  let untied = byGguf.has("output.weight");
  if (untied && cfg.tieEmbeddings === true) {
    warnings.push("lm_head.weight is ignored: config.json ties the head to the embedding (tie_word_embeddings)");
    byGguf.delete("output.weight");
    untied = false;
  }
  if (!untied && cfg.tieEmbeddings === false) fail(`${dir}: missing tensor "lm_head.weight" (tie_word_embeddings is false)`);
  if (untied) warnings.push("untied output head (output.weight): upstream llama.cpp's bitnet graph does not load one");

  const expected = expectedGguf(cfg, nVocab, untied);
  for (const name of byGguf.keys()) if (!expected.has(name)) fail(`tensor "${ggufToHf.get(name)}" (${name}) is not part of this architecture`);

  const entries: PlanEntry[] = [];
  for (const [ggufName, want] of expected) {
    const got = byGguf.get(ggufName);
    if (got === undefined) fail(`${dir}: missing tensor "${hfNameFor(ggufName)}"`);
    const { src } = got;
    const where = `${basename(src.file)}: tensor "${src.name}"`;
    const scale = scales.get(src.name);
    if (scale !== undefined && want.role !== "linear") fail(`${basename(scale.file)}: tensor "${scale.name}" scales a weight that is not a linear layer`);
    if (want.role === "linear" && src.dtype === "U8") {
      const [rows, cols] = want.hfShape;
      if (src.shape.length !== 2 || rows % 4 !== 0 || src.shape[0] !== rows / 4 || src.shape[1] !== cols) {
        fail(`${where}: packed uint8 shape [${src.shape.join(", ")}], expected [${rows / 4}, ${cols}] for a [${rows}, ${cols}] weight`);
      }
      if (scale === undefined) fail(`${where}: packed uint8 weight without "${src.name}_scale"`);
    } else {
      if (!["F32", "F16", "BF16"].includes(src.dtype)) fail(`${where}: dtype ${src.dtype} is not supported (F32, F16, BF16${want.role === "linear" ? " or packed U8" : ""})`);
      if (src.shape.length !== want.hfShape.length || src.shape.some((d, i) => d !== want.hfShape[i])) {
        fail(`${where}: shape [${src.shape.join(", ")}], expected [${want.hfShape.join(", ")}] from config.json`);
      }
    }
    const { type, fallback } = chooseType(ggufName, want.role, want.hfShape, untied, opts, src.name);
    if (fallback) warnings.push(`${ggufName}: rows of ${want.hfShape[want.hfShape.length - 1]} do not fit ${opts.outType}: written as F16`);
    entries.push({ ggufName, role: want.role, src, scale, hfShape: want.hfShape, type, fallback });
  }

  const vocab = convertTokenizer(dir, cfg, nVocab);
  warnings.push(...vocab.warnings);
  const name = opts.name ?? cfg.nameOrPath?.split("/").pop() ?? basename(resolve(dir));
  return { dir, config: cfg, entries, metadata: metadataFor(cfg, opts.outType, name, nVocab, vocab.kv, entries), nVocab, warnings, outType: opts.outType };
}

function chooseType(ggufName: string, role: Role, hfShape: number[], untied: boolean, opts: PlanOptions, hfName: string): { type: GgmlType; fallback: boolean } {
  const out = GGML_OF[opts.outType];
  const ternaryOut = opts.outType === "i2_s" || opts.outType === "tq1_0" || opts.outType === "tq2_0";
  let type: GgmlType;
  if (role === "norm") type = GgmlType.F32;
  else if (role === "linear") type = out;
  else {
    const isHead = role === "head" || !untied;
    type = isHead && opts.head !== undefined ? GGML_OF[opts.head] : ternaryOut ? GgmlType.F16 : out;
  }
  const cols = hfShape[hfShape.length - 1];
  const block = ggmlTypeInfo(type)!.blockSize;
  if (cols % block === 0) return { type, fallback: false };
  if (opts.allowFallback) return { type: GgmlType.F16, fallback: true };
  fail(`tensor "${hfName}" (${ggufName}) has rows of ${cols} values, not a multiple of ${block} as ${ggmlTypeInfo(type)!.name} needs; --allow-fallback writes such tensors as F16`);
}

function metadataFor(cfg: CheckpointConfig, outType: OutType, name: string, nVocab: number, vocab: [string, GgufValue][], entries: PlanEntry[]): [string, GgufValue][] {
  const a = cfg.arch;
  const kv: [string, GgufValue][] = [
    ["general.architecture", gv.str(a)],
    ["general.name", gv.str(name)],
    ["general.file_type", gv.u32(FILE_TYPE[outType])],
  ];
  if (entries.some((e) => e.type !== GgmlType.F32 && e.type !== GgmlType.F16 && e.type !== GgmlType.BF16)) kv.push(["general.quantization_version", gv.u32(2)]);
  kv.push(
    [`${a}.vocab_size`, gv.u32(nVocab)],
    [`${a}.context_length`, gv.u32(cfg.nCtx)],
    [`${a}.embedding_length`, gv.u32(cfg.nEmbd)],
    [`${a}.block_count`, gv.u32(cfg.nLayers)],
    [`${a}.feed_forward_length`, gv.u32(cfg.nFf)],
    [`${a}.rope.dimension_count`, gv.u32(cfg.nEmbd / cfg.nHeads)],
    [`${a}.attention.head_count`, gv.u32(cfg.nHeads)],
    [`${a}.attention.head_count_kv`, gv.u32(cfg.nKvHeads)],
    [`${a}.rope.freq_base`, gv.f32(cfg.ropeTheta)],
    [`${a}.attention.layer_norm_rms_epsilon`, gv.f32(cfg.rmsEps)],
    // Explicit, so neither engine has to infer the FFN activation from the architecture name.
    [KEY_ACTIVATION(a), gv.str(cfg.activation)],
  );
  if (cfg.dlmAttention !== undefined) kv.push([KEY_DLM_ATTENTION, gv.str(cfg.dlmAttention)]);
  kv.push(...vocab);
  return kv;
}
