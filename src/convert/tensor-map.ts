// Hugging Face tensor names → the GGUF names llama.cpp's bitnet graph loads, each with its role
// (embedding, head, norm, ternary linear) and the shape the config implies (PyTorch order [out, in]).
//
// Sub-norm aliases: 1bitLLM's `self_attn.inner_attn_ln` / `mlp.ffn_layernorm` and BitNet-b1.58-2B-4T's
// `self_attn.attn_sub_norm` / `mlp.ffn_sub_norm`. `<linear>.weight_scale` belongs to its linear weight.

import type { CheckpointConfig } from "./hf-config.ts";

export type Role = "embd" | "head" | "norm" | "linear";

export interface PlannedTensor {
  hfName: string;
  ggufName: string;
  role: Role;
  /** PyTorch order (outermost first); the GGUF shape is its reverse. */
  hfShape: number[];
}

const LINEAR: Record<string, string> = {
  "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
  "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
};
const NORM: Record<string, string> = {
  input_layernorm: "attn_norm", post_attention_layernorm: "ffn_norm",
  "self_attn.inner_attn_ln": "attn_sub_norm", "self_attn.attn_sub_norm": "attn_sub_norm",
  "mlp.ffn_layernorm": "ffn_sub_norm", "mlp.ffn_sub_norm": "ffn_sub_norm",
};

export type NameKind =
  | { kind: "tensor"; ggufName: string; role: Role; layer?: number }
  | { kind: "scale"; of: string }
  | { kind: "ignore" };

/** What an HF tensor name is, or undefined for a name the bitnet graph has no place for. */
export function classifyHfName(name: string): NameKind | undefined {
  if (name === "model.embed_tokens.weight") return { kind: "tensor", ggufName: "token_embd.weight", role: "embd" };
  if (name === "model.norm.weight") return { kind: "tensor", ggufName: "output_norm.weight", role: "norm" };
  if (name === "lm_head.weight") return { kind: "tensor", ggufName: "output.weight", role: "head" };
  // RoPE frequencies are recomputed from rope_theta.
  if (/(^|\.)rotary_emb\.inv_freq$/.test(name)) return { kind: "ignore" };
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|weight_scale)$/.exec(name);
  if (!m) return undefined;
  const layer = Number(m[1]);
  const [, , module, what] = m;
  if (LINEAR[module] !== undefined) {
    if (what === "weight_scale") return { kind: "scale", of: `model.layers.${layer}.${module}.weight` };
    return { kind: "tensor", ggufName: `blk.${layer}.${LINEAR[module]}.weight`, role: "linear", layer };
  }
  if (NORM[module] !== undefined && what === "weight") return { kind: "tensor", ggufName: `blk.${layer}.${NORM[module]}.weight`, role: "norm", layer };
  return undefined;
}

/** Every GGUF tensor the graph needs, with its expected HF shape (the embedding's rows come from the weights). */
export function expectedGguf(c: CheckpointConfig, nVocab: number, untied: boolean): Map<string, { role: Role; hfShape: number[] }> {
  const kvDim = (c.nEmbd / c.nHeads) * c.nKvHeads;
  const m = new Map<string, { role: Role; hfShape: number[] }>();
  m.set("token_embd.weight", { role: "embd", hfShape: [nVocab, c.nEmbd] });
  for (let l = 0; l < c.nLayers; l++) {
    const p = `blk.${l}.`;
    m.set(`${p}attn_norm.weight`, { role: "norm", hfShape: [c.nEmbd] });
    m.set(`${p}attn_q.weight`, { role: "linear", hfShape: [c.nEmbd, c.nEmbd] });
    m.set(`${p}attn_k.weight`, { role: "linear", hfShape: [kvDim, c.nEmbd] });
    m.set(`${p}attn_v.weight`, { role: "linear", hfShape: [kvDim, c.nEmbd] });
    m.set(`${p}attn_output.weight`, { role: "linear", hfShape: [c.nEmbd, c.nEmbd] });
    m.set(`${p}attn_sub_norm.weight`, { role: "norm", hfShape: [c.nEmbd] });
    m.set(`${p}ffn_norm.weight`, { role: "norm", hfShape: [c.nEmbd] });
    m.set(`${p}ffn_gate.weight`, { role: "linear", hfShape: [c.nFf, c.nEmbd] });
    m.set(`${p}ffn_up.weight`, { role: "linear", hfShape: [c.nFf, c.nEmbd] });
    m.set(`${p}ffn_down.weight`, { role: "linear", hfShape: [c.nEmbd, c.nFf] });
    m.set(`${p}ffn_sub_norm.weight`, { role: "norm", hfShape: [c.nFf] });
  }
  m.set("output_norm.weight", { role: "norm", hfShape: [c.nEmbd] });
  if (untied) m.set("output.weight", { role: "head", hfShape: [nVocab, c.nEmbd] });
  return m;
}

/** The HF name we would expect for a GGUF name (for "missing tensor" messages). */
export function hfNameFor(ggufName: string): string {
  if (ggufName === "token_embd.weight") return "model.embed_tokens.weight";
  if (ggufName === "output_norm.weight") return "model.norm.weight";
  if (ggufName === "output.weight") return "lm_head.weight";
  const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(ggufName);
  if (!m) return ggufName;
  const lin = Object.entries(LINEAR).find(([, g]) => g === m[2]);
  if (lin) return `model.layers.${m[1]}.${lin[0]}.weight`;
  const norms = Object.entries(NORM).filter(([, g]) => g === m[2]).map(([h]) => `model.layers.${m[1]}.${h}.weight`);
  return norms.join(" or ");
}
