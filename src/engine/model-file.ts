// Model-file checks shared by both engines: a GGUF must be structurally sound (our reader), of an
// architecture we serve, with hyperparameters, tensor shapes and a vocabulary that agree, before any
// native code sees it. Also the facts we read from the file ourselves (format, mask token, DLM mode).
import { GgufError } from "../gguf/errors.ts";
import { openGguf, type GgufFile, type TensorInfo } from "../gguf/reader.ts";
import { GgmlType, GgufType, ggmlTypeName, ggufTypeName } from "../gguf/types.ts";
import type { AttentionMode } from "./engine.ts";
import { EngineError } from "./errors.ts";

/** Architectures with the BitNet graph; they differ only in the FFN activation. */
export const BITNET_ARCHS = ["bitnet", "bitnet-b1.58", "bitnet-25"] as const;

/** Our own metadata keys (written by our converter). */
export const KEY_MASK_TOKEN = "tokenizer.ggml.mask_token_id";
export const KEY_DLM_ATTENTION = "dlm.attention";
export const KEY_ACTIVATION = (arch: string) => `${arch}.activation`;

export interface Hparams {
  arch: string;
  nCtxTrain: number;
  nEmbd: number;
  nLayers: number;
  nFf: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  rmsEps: number;
  ropeBase: number;
  nVocab: number;
  /** FFN gate activation: ReLU² for bitnet-b1.58 / bitnet-25 (or an explicit key), SiLU otherwise. */
  activation: "silu" | "relu2";
  tiedOutput: boolean;
}

export interface ModelFacts {
  arch: string;
  name: string;
  format: string;
  maskToken: number | null;
  dlmAttention: AttentionMode | null;
}

function fail(file: GgufFile, what: string): never {
  throw new EngineError("invalid_request", `${file.file ?? "model"}: ${what}`);
}

/** Opens and checks a model file; every problem becomes an EngineError naming it. */
export function validateModelFile(path: string): GgufFile {
  let file: GgufFile;
  try {
    file = openGguf(path);
  } catch (e) {
    if (e instanceof GgufError) throw new EngineError("invalid_request", `not a usable GGUF file: ${e.message}`);
    throw new EngineError("invalid_request", `cannot open ${path}: ${(e as Error).message}`);
  }
  try {
    checkKeyTypes(file);
    const hp = readHparams(file);
    checkGraphKeys(file, hp);
    checkTensors(file, hp);
    checkVocab(file, hp.nVocab);
  } catch (e) {
    // The typed getters throw GgufError for a key of the wrong type.
    if (e instanceof GgufError) fail(file, e.message);
    throw e;
  }
  return file;
}

export function readHparams(file: GgufFile): Hparams {
  const arch = file.getString("general.architecture");
  if (arch === undefined) fail(file, "missing general.architecture");
  if (!(BITNET_ARCHS as readonly string[]).includes(arch)) {
    fail(file, `unsupported architecture '${arch}' (supported: ${BITNET_ARCHS.join(", ")})`);
  }
  const int = (k: string, min: number, max: number, dflt?: number): number => {
    const v = file.getInt(`${arch}.${k}`) ?? dflt;
    if (v === undefined) fail(file, `missing ${arch}.${k}`);
    if (!Number.isSafeInteger(v) || v < min || v > max) fail(file, `${arch}.${k} = ${v} is out of range [${min}, ${max}]`);
    return v;
  };
  const nEmbd = int("embedding_length", 1, 1 << 16);
  const nHeads = int("attention.head_count", 1, 1024);
  const nKvHeads = int("attention.head_count_kv", 1, 1024, nHeads);
  if (nEmbd % nHeads !== 0) fail(file, `embedding_length ${nEmbd} is not a multiple of head_count ${nHeads}`);
  if (nHeads % nKvHeads !== 0) fail(file, `head_count ${nHeads} is not a multiple of head_count_kv ${nKvHeads}`);
  const headDim = nEmbd / nHeads;
  if (headDim % 2 !== 0) fail(file, `head dimension ${headDim} is odd (RoPE needs pairs)`);
  const tokens = file.getStringArray("tokenizer.ggml.tokens");
  if (!tokens) fail(file, "missing tokenizer.ggml.tokens");
  if (tokens.length === 0) fail(file, "the vocabulary is empty");
  const rmsEps = file.getFloat(`${arch}.attention.layer_norm_rms_epsilon`) ?? 1e-5;
  if (!(rmsEps > 0 && rmsEps < 1)) fail(file, `${arch}.attention.layer_norm_rms_epsilon = ${rmsEps} is out of range`);
  const ropeBase = file.getFloat(`${arch}.rope.freq_base`) ?? 10000;
  if (!(ropeBase > 1 && Number.isFinite(ropeBase))) fail(file, `${arch}.rope.freq_base = ${ropeBase} is out of range`);
  const act = file.getString(KEY_ACTIVATION(arch));
  if (act !== undefined && act !== "silu" && act !== "relu2") fail(file, `${KEY_ACTIVATION(arch)} = '${act}' (expected silu or relu2)`);
  return {
    arch,
    nCtxTrain: int("context_length", 1, 1 << 24),
    nEmbd,
    nLayers: int("block_count", 1, LLAMA_MAX_LAYERS),
    nFf: int("feed_forward_length", 1, 1 << 20),
    nHeads,
    nKvHeads,
    headDim,
    rmsEps,
    ropeBase,
    nVocab: tokens.length,
    activation: (act as Hparams["activation"] | undefined) ?? (arch === "bitnet" ? "silu" : "relu2"),
    tiedOutput: file.tensor("output.weight") === undefined,
  };
}

/** Expected tensors of the BitNet graph, shapes in ggml order (ne0 = row length first). */
export function expectedTensors(hp: Hparams): Map<string, number[]> {
  const kvDim = hp.headDim * hp.nKvHeads;
  const m = new Map<string, number[]>([
    ["token_embd.weight", [hp.nEmbd, hp.nVocab]],
    ["output_norm.weight", [hp.nEmbd]],
  ]);
  if (!hp.tiedOutput) m.set("output.weight", [hp.nEmbd, hp.nVocab]);
  for (let l = 0; l < hp.nLayers; l++) {
    const p = `blk.${l}.`;
    m.set(`${p}attn_norm.weight`, [hp.nEmbd]);
    m.set(`${p}attn_q.weight`, [hp.nEmbd, hp.nEmbd]);
    m.set(`${p}attn_k.weight`, [hp.nEmbd, kvDim]);
    m.set(`${p}attn_v.weight`, [hp.nEmbd, kvDim]);
    m.set(`${p}attn_output.weight`, [hp.nEmbd, hp.nEmbd]);
    m.set(`${p}attn_sub_norm.weight`, [hp.nEmbd]);
    m.set(`${p}ffn_norm.weight`, [hp.nEmbd]);
    m.set(`${p}ffn_gate.weight`, [hp.nEmbd, hp.nFf]);
    m.set(`${p}ffn_up.weight`, [hp.nEmbd, hp.nFf]);
    m.set(`${p}ffn_down.weight`, [hp.nFf, hp.nEmbd]);
    m.set(`${p}ffn_sub_norm.weight`, [hp.nFf]);
  }
  return m;
}

const SCALE_SUFFIX = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.scale$/;

function checkTensors(file: GgufFile, hp: Hparams): void {
  const want = expectedTensors(hp);
  for (const [name, shape] of want) {
    const t = file.tensor(name);
    if (!t) fail(file, `missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      fail(file, `tensor ${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}] for this architecture`);
    }
  }
  for (const t of file.tensors) {
    if (want.has(t.name)) continue;
    if (SCALE_SUFFIX.test(t.name) && t.nElements === 1) continue;
    if (t.name === "rope_freqs.weight") continue;
    fail(file, `unexpected tensor ${t.name} [${t.shape.join(", ")}] ${t.typeName}`);
  }
}

function checkVocab(file: GgufFile, nVocab: number): void {
  const tokens = file.getStringArray("tokenizer.ggml.tokens") ?? [];
  if (nVocab < 1) fail(file, "the vocabulary is empty");
  const model = file.getString("tokenizer.ggml.model");
  if (model !== "gpt2" && model !== "llama") fail(file, `tokenizer.ggml.model '${model}' is not supported (gpt2 or llama)`);
  // llama.cpp asserts on duplicated token texts (it builds a text → id map).
  const seen = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    if (typeof tokens[i] !== "string") fail(file, `tokenizer.ggml.tokens[${i}] is not a string`);
    if (seen.has(tokens[i])) fail(file, `tokenizer.ggml.tokens has a duplicated token text at id ${i}: ${JSON.stringify(tokens[i])}`);
    seen.add(tokens[i]);
  }
  for (const k of ["tokenizer.ggml.token_type", "tokenizer.ggml.scores"]) {
    const a = file.getArray(k);
    if (a !== undefined && a.items.length !== nVocab) fail(file, `${k} has ${a.items.length} entries, the vocabulary ${nVocab}`);
  }
  if (model === "gpt2") {
    const merges = file.getStringArray("tokenizer.ggml.merges");
    if (!merges) fail(file, "a gpt2 (BPE) vocabulary needs tokenizer.ggml.merges");
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      if (typeof m !== "string" || m.indexOf(" ", 1) < 0) fail(file, `tokenizer.ggml.merges[${i}] is not "left right": ${JSON.stringify(m)}`);
    }
  }
  for (const k of ["bos", "eos", "eot", "eom", "unknown", "padding", "seperator", "mask"]) {
    const v = file.getInt(`tokenizer.ggml.${k}_token_id`);
    if (v !== undefined && (v < 0 || v >= nVocab)) fail(file, `tokenizer.ggml.${k}_token_id = ${v} is outside the vocabulary (0..${nVocab - 1})`);
  }
  // The weights must cover the vocabulary the tokenizer can produce.
  const emb = file.tensor("token_embd.weight") as TensorInfo;
  if (emb.shape[1] !== nVocab) fail(file, `token_embd.weight has ${emb.shape[1]} rows, the vocabulary ${nVocab}`);
}

/** What we read from the file ourselves (llama.cpp does not expose these). */
export function describeModelFile(file: GgufFile): ModelFacts {
  const arch = file.getString("general.architecture") ?? "unknown";
  const counts = new Map<string, number>();
  for (const t of file.tensors) {
    if (!/^blk\.\d+\..*\.weight$/.test(t.name) || t.shape.length !== 2) continue;
    counts.set(t.typeName, (counts.get(t.typeName) ?? 0) + 1);
  }
  const format = counts.size === 1 ? [...counts.keys()][0].toLowerCase() : counts.size === 0 ? "none" : "mixed";
  const mask = file.getInt(KEY_MASK_TOKEN);
  const att = file.getString(KEY_DLM_ATTENTION);
  return {
    arch,
    name: file.getString("general.name") ?? "",
    format,
    maskToken: mask ?? null,
    dlmAttention: att === "block" || att === "causal" ? att : null,
  };
}
