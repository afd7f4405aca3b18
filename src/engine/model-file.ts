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
    checkLayout(file);
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

/**
 * ggml's GGUF reader wants the tensor data packed in declaration order, each tensor padded to the
 * alignment; ours only needs it in bounds and disjoint. (An I2_S file is rewritten, packed, before
 * llama.cpp sees it.)
 */
function checkLayout(file: GgufFile): void {
  if (file.tensors.some((t) => t.type === GgmlType.I2_S)) return;
  let rel = 0;
  for (const t of file.tensors) {
    const at = t.offset - file.dataOffset;
    if (at !== rel) fail(file, `tensor ${t.name} data is at offset ${at} of the data section, expected ${rel} (tensors must be packed in order)`);
    rel += Math.ceil(t.byteSize / file.alignment) * file.alignment;
  }
}

/** llama.cpp's LLAMA_MAX_LAYERS: it asserts (aborts the process) on a larger block_count. */
const LLAMA_MAX_LAYERS = 512;

/** A scalar value type, or the item types an array may have. */
type Want = GgufType | readonly GgufType[];
const { UINT32: U32, FLOAT32: F32, STRING: STR, BOOL } = GgufType;
const SPECIAL_IDS = ["bos", "eos", "eot", "eom", "unknown", "padding", "seperator", "mask", "fim_pre", "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep"];

/**
 * The value type of each key llama.cpp reads: its typed getters take exactly this type (a u16 count
 * or an f64 epsilon fails the load there), so such a file is refused here, naming the key.
 */
const KEY_TYPES: Record<string, Want> = {
  "general.architecture": STR,
  "general.name": STR,
  "general.file_type": U32,
  "general.quantization_version": U32,
  "tokenizer.ggml.model": STR,
  "tokenizer.ggml.pre": STR,
  "tokenizer.ggml.tokens": [STR],
  "tokenizer.ggml.token_type": [GgufType.INT32],
  "tokenizer.ggml.scores": [F32, GgufType.INT32],
  "tokenizer.ggml.merges": [STR],
  "tokenizer.ggml.add_bos_token": BOOL,
  "tokenizer.ggml.add_eos_token": BOOL,
  "tokenizer.ggml.add_sep_token": BOOL,
  "tokenizer.ggml.add_space_prefix": BOOL,
  "tokenizer.ggml.remove_extra_whitespaces": BOOL,
  "tokenizer.chat_template": STR,
  [KEY_DLM_ATTENTION]: STR,
  ...Object.fromEntries(SPECIAL_IDS.map((k) => [`tokenizer.ggml.${k}_token_id`, U32])),
};

/** The same, for keys under `<arch>.`. */
const ARCH_KEY_TYPES: Record<string, Want> = {
  "vocab_size": U32,
  "context_length": U32,
  "embedding_length": U32,
  "block_count": U32,
  "feed_forward_length": U32,
  "attention.head_count": U32,
  "attention.head_count_kv": U32,
  "attention.key_length": U32,
  "attention.value_length": U32,
  "attention.layer_norm_rms_epsilon": F32,
  "attention.causal": BOOL,
  "rope.dimension_count": U32,
  "rope.freq_base": F32,
  "rope.scaling.type": STR,
  "rope.scaling.factor": F32,
  "activation": STR,
  "expert_count": U32,
  "expert_used_count": U32,
  "expert_group_count": U32,
  "expert_group_used_count": U32,
  "nextn_predict_layers": U32,
};

function typeText(t: GgufType, item?: GgufType): string {
  return t === GgufType.ARRAY ? `an array of ${ggufTypeName(item ?? -1)}` : ggufTypeName(t);
}

function checkKeyTypes(file: GgufFile): void {
  const a = file.get("general.architecture");
  const prefix = a?.type === STR ? `${a.value}.` : undefined;
  for (const [key, v] of file.metadata) {
    const want = KEY_TYPES[key] ?? (prefix !== undefined && key.startsWith(prefix) ? ARCH_KEY_TYPES[key.slice(prefix.length)] : undefined);
    if (want === undefined) continue;
    const got = typeText(v.type, v.type === GgufType.ARRAY ? v.value.itemType : undefined);
    if (typeof want === "number") {
      if (v.type !== want) fail(file, `${key} is ${got}, expected ${ggufTypeName(want)}`);
    } else if (v.type !== GgufType.ARRAY || !want.includes(v.value.itemType)) {
      fail(file, `${key} is ${got}, expected ${want.map((t) => typeText(GgufType.ARRAY, t)).join(" or ")}`);
    }
  }
}

/** Keys that switch on graph features a BitNet model does not have; llama.cpp asserts on several. */
const DENSE_ONLY_KEYS = ["expert_count", "expert_used_count", "expert_group_count", "expert_group_used_count", "nextn_predict_layers"];

/** Hyperparameters beyond the shape that change (or break) the graph llama.cpp builds. */
function checkGraphKeys(file: GgufFile, hp: Hparams): void {
  const key = (k: string) => `${hp.arch}.${k}`;
  // llama.cpp ropes the first rope.dimension_count values of a head (ggml asserts they fit, and 0
  // never returns) and sizes K and V heads by key/value_length; our engines assume whole heads.
  for (const k of ["rope.dimension_count", "attention.key_length", "attention.value_length"]) {
    const v = file.getInt(key(k));
    if (v !== undefined && v !== hp.headDim) {
      fail(file, `${key(k)} = ${v} differs from the head dimension ${hp.headDim} (embedding_length / head_count); the bitnet graph needs them equal`);
    }
  }
  // llama.cpp asserts on a scaling type it does not know; the bitnet graph has plain RoPE.
  const scaling = file.getString(key("rope.scaling.type"));
  if (scaling !== undefined && scaling !== "none" && scaling !== "linear") {
    fail(file, `${key("rope.scaling.type")} = '${scaling}' is not supported (the bitnet graph has plain RoPE: none, or linear with factor 1)`);
  }
  const factor = file.getFloat(key("rope.scaling.factor"));
  if (factor !== undefined && factor !== 0 && factor !== 1) fail(file, `${key("rope.scaling.factor")} = ${factor} is not supported (plain RoPE only)`);
  for (const k of DENSE_ONLY_KEYS) {
    const v = file.getInt(key(k));
    if (v !== undefined && v !== 0) fail(file, `${key(k)} = ${v}: BitNet models are dense (no experts, no extra prediction layers)`);
  }
  const vocabSize = file.getInt(key("vocab_size"));
  if (vocabSize !== undefined && vocabSize !== hp.nVocab) fail(file, `${key("vocab_size")} = ${vocabSize}, but tokenizer.ggml.tokens has ${hp.nVocab} entries`);
  const dlm = file.getString(KEY_DLM_ATTENTION);
  if (dlm !== undefined && dlm !== "block" && dlm !== "causal") fail(file, `${KEY_DLM_ATTENTION} = '${dlm}' (expected block or causal)`);
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

/**
 * Types ggml's CPU backend multiplies a weight matrix in (and looks embedding rows up in); I2_S is
 * transcoded to TQ2_0 before llama.cpp sees it. Others (I8, I32, F64, ...) crash it mid-decode.
 */
const MATRIX_TYPES: ReadonlySet<number> = new Set([
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
  GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS,
  GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S,
]);

function checkTensors(file: GgufFile, hp: Hparams): void {
  const want = expectedTensors(hp);
  for (const [name, shape] of want) {
    const t = file.tensor(name);
    if (!t) fail(file, `missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      fail(file, `tensor ${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}] for this architecture`);
    }
    // Norm weights multiply F32 activations, and ggml's CPU multiply has no F32 × F16 (or quantised) kernel.
    if (shape.length === 1 && t.type !== GgmlType.F32) fail(file, `tensor ${name} is ${t.typeName}; norm weights must be f32`);
    if (shape.length === 2 && !MATRIX_TYPES.has(t.type)) {
      fail(file, `tensor ${name} is ${t.typeName}, not a weight type this server can multiply (${[...MATRIX_TYPES].map(ggmlTypeName).join(", ")})`);
    }
  }
  for (const t of file.tensors) {
    if (want.has(t.name)) continue;
    if (SCALE_SUFFIX.test(t.name) && t.nElements === 1) {
      if (t.type !== GgmlType.F32) fail(file, `tensor ${t.name} is ${t.typeName}; scales must be f32`);
      continue;
    }
    if (t.name === "rope_freqs.weight") continue;
    fail(file, `unexpected tensor ${t.name} [${t.shape.join(", ")}] ${t.typeName}`);
  }
}

const TOKEN_TYPE_BYTE = 6;
const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

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
  // llama.cpp reads a BYTE token's value from the hex digits of "<0xXX>" (a shorter text throws at load).
  const types = file.getArray("tokenizer.ggml.token_type")?.items as Int32Array | undefined;
  if (types !== undefined) {
    for (let i = 0; i < nVocab; i++) {
      if (types[i] === TOKEN_TYPE_BYTE && !BYTE_TOKEN.test(tokens[i])) fail(file, `token ${i} ${JSON.stringify(tokens[i])} has type BYTE but is not spelled <0xXX>`);
    }
  }
  // An SPM vocabulary spells bytes it has no piece for as "<0xXX>" tokens; llama.cpp throws mid-tokenize without them.
  if (model === "llama") {
    for (let b = 0; b < 256; b++) {
      const text = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
      if (!seen.has(text)) fail(file, `a llama (SPM) vocabulary needs the 256 byte tokens <0x00>..<0xFF>; ${text} is missing`);
    }
  }
  if (model === "gpt2") {
    const merges = file.getStringArray("tokenizer.ggml.merges");
    if (!merges) fail(file, "a gpt2 (BPE) vocabulary needs tokenizer.ggml.merges");
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      if (typeof m !== "string" || m.indexOf(" ", 1) < 0) fail(file, `tokenizer.ggml.merges[${i}] is not "left right": ${JSON.stringify(m)}`);
    }
  }
  for (const k of SPECIAL_IDS) {
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
