// config.json of a Hugging Face BitNet checkpoint → the architecture and hyperparameters we write:
// which HF classes we accept, how the activation picks `bitnet` or `bitnet-b1.58`, and our DLM keys.
//
// Accepted: BitNetForCausalLM / BitnetForCausalLM (model_type "bitnet"), and LlamaForCausalLM whose
// linear layers are BitLinear: quantization_config.quant_method "bitnet", or sub-norm tensors in the
// weights (checked by the planner, since only the weights can tell).
// DLM keys we accept (ours; also in `convert --help`): `mask_token_id` (int), and the attention mode as
// `dlm_attention: "block" | "causal"` or `bd_attention: true (block) | false (causal) | "block" | "causal"`.

import { fail } from "./errors.ts";

export type Arch = "bitnet" | "bitnet-b1.58";
export type Activation = "silu" | "relu2";

export interface CheckpointConfig {
  hfArchitecture: string;
  arch: Arch;
  activation: Activation;
  /** True when the config itself says the linear layers are BitLinear. */
  bitnetByConfig: boolean;
  /**
   * quantization_config.linear_class, when given: transformers' BitLinear divides by `weight_scale`
   * (it stores 1/s), AutoBitLinear multiplies by it (it stores s).
   */
  linearClass: "bitlinear" | "autobitlinear" | undefined;
  nEmbd: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  nFf: number;
  nCtx: number;
  rmsEps: number;
  ropeTheta: number;
  vocabSize: number | undefined;
  tieEmbeddings: boolean | undefined;
  maskTokenId: number | undefined;
  dlmAttention: "block" | "causal" | undefined;
  bosTokenId: number | undefined;
  eosTokenId: number | undefined;
  nameOrPath: string | undefined;
}

const BITNET_CLASSES = ["BitNetForCausalLM", "BitnetForCausalLM"];
const LLAMA_CLASSES = ["LlamaForCausalLM"];

export function parseHfConfig(c: Record<string, unknown>, where = "config.json"): CheckpointConfig {
  const archs = c.architectures;
  const modelType = typeof c.model_type === "string" ? c.model_type : undefined;
  let cls: string;
  if (Array.isArray(archs) && archs.length > 0) {
    if (archs.length !== 1 || typeof archs[0] !== "string") fail(`${where}: architectures ${JSON.stringify(archs)} (expected one class)`);
    cls = archs[0];
  } else if (modelType === "bitnet") cls = "BitNetForCausalLM";
  else if (modelType === "llama") cls = "LlamaForCausalLM";
  else fail(`${where}: no "architectures" entry and model_type ${JSON.stringify(modelType)} is not bitnet or llama`);
  if (!BITNET_CLASSES.includes(cls) && !LLAMA_CLASSES.includes(cls)) {
    fail(`${where}: unknown architecture ${cls} (supported: ${[...BITNET_CLASSES, ...LLAMA_CLASSES].join(", ")} with BitLinear layers)`);
  }

  const q = c.quantization_config as Record<string, unknown> | undefined;
  const bitnetByConfig = BITNET_CLASSES.includes(cls) || (typeof q === "object" && q !== null && q.quant_method === "bitnet");
  const lc = typeof q === "object" && q !== null ? q.linear_class : undefined;
  if (lc !== undefined && lc !== "bitlinear" && lc !== "autobitlinear") fail(`${where}: quantization_config.linear_class ${JSON.stringify(lc)} is not bitlinear or autobitlinear`);
  const linearClass = lc as CheckpointConfig["linearClass"];

  const int = (key: string, min: number, dflt?: number): number => {
    const v = c[key] ?? dflt;
    if (v === undefined) fail(`${where}: missing ${key}`);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) fail(`${where}: ${key} = ${JSON.stringify(v)} (expected an integer ≥ ${min})`);
    return v;
  };
  const num = (key: string, dflt: number): number => {
    const v = c[key] ?? dflt;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(`${where}: ${key} = ${JSON.stringify(v)} (expected a positive number)`);
    return v;
  };
  const optInt = (key: string): number | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v) && v.length > 0) return optIntValue(key, v[0]);
    return optIntValue(key, v);
  };
  const optIntValue = (key: string, v: unknown): number => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(`${where}: ${key} = ${JSON.stringify(v)} (expected a token id)`);
    return v;
  };

  const act = c.hidden_act ?? c.hidden_activation ?? "silu";
  let activation: Activation;
  if (act === "relu2") activation = "relu2";
  else if (act === "silu" || act === "swish") activation = "silu";
  else fail(`${where}: hidden_act ${JSON.stringify(act)} is not supported (BitNet uses relu2 or silu)`);

  const nEmbd = int("hidden_size", 1);
  const nHeads = int("num_attention_heads", 1);
  const nKvHeads = int("num_key_value_heads", 1, nHeads);
  if (nEmbd % nHeads !== 0) fail(`${where}: hidden_size ${nEmbd} is not a multiple of num_attention_heads ${nHeads}`);
  if (nHeads % nKvHeads !== 0) fail(`${where}: num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`);
  if (c.head_dim !== undefined && c.head_dim !== null && c.head_dim !== nEmbd / nHeads) {
    fail(`${where}: head_dim ${JSON.stringify(c.head_dim)} differs from hidden_size / num_attention_heads (${nEmbd / nHeads}): not supported`);
  }
  const rs = c.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs !== undefined && rs !== null && !(rs.factor === 1 || rs.factor === 1.0)) {
    fail(`${where}: rope_scaling ${JSON.stringify(rs)} is not supported (the bitnet graph has plain RoPE)`);
  }
  if (c.attention_bias === true || c.mlp_bias === true) fail(`${where}: attention_bias / mlp_bias are not supported by the bitnet graph`);

  let dlmAttention: CheckpointConfig["dlmAttention"];
  const dlm = c.dlm_attention ?? c.bd_attention;
  if (dlm === "block" || dlm === true) dlmAttention = "block";
  else if (dlm === "causal" || dlm === false) dlmAttention = "causal";
  else if (dlm !== undefined && dlm !== null) fail(`${where}: dlm_attention / bd_attention = ${JSON.stringify(dlm)} (expected "block", "causal" or a boolean)`);

  const tie = c.tie_word_embeddings;
  return {
    hfArchitecture: cls,
    arch: activation === "relu2" ? "bitnet-b1.58" : "bitnet",
    activation,
    bitnetByConfig,
    linearClass,
    nEmbd,
    nLayers: int("num_hidden_layers", 1),
    nHeads,
    nKvHeads,
    nFf: int("intermediate_size", 1),
    nCtx: int("max_position_embeddings", 1, 4096),
    rmsEps: num("rms_norm_eps", 1e-5),
    ropeTheta: num("rope_theta", 10000),
    vocabSize: c.vocab_size === undefined ? undefined : int("vocab_size", 1),
    tieEmbeddings: typeof tie === "boolean" ? tie : undefined,
    maskTokenId: optInt("mask_token_id"),
    dlmAttention,
    bosTokenId: optInt("bos_token_id"),
    eosTokenId: optInt("eos_token_id"),
    nameOrPath: typeof c._name_or_path === "string" && c._name_or_path.length > 0 ? c._name_or_path : undefined,
  };
}
