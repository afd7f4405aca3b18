// config.json → architecture and hyperparameters, and HF tensor names → GGUF names: the accepted
// classes, the activation → arch rule, our DLM keys, and what is refused.
import { describe, expect, test } from "bun:test";
import { parseHfConfig } from "./hf-config.ts";
import { classifyHfName, hfNameFor } from "./tensor-map.ts";

const base = {
  architectures: ["BitNetForCausalLM"], hidden_size: 2560, intermediate_size: 6912, num_hidden_layers: 30,
  num_attention_heads: 20, num_key_value_heads: 5, max_position_embeddings: 4096, rms_norm_eps: 1e-5,
  rope_theta: 500000.0, vocab_size: 128256, tie_word_embeddings: true, hidden_act: "relu2",
  quantization_config: { quant_method: "bitnet", linear_class: "bitlinear", quantization_mode: "offline" },
};

describe("config.json", () => {
  test("BitNet-b1.58-2B-4T's config: bitnet-b1.58 (ReLU²) with every hyperparameter", () => {
    expect(parseHfConfig(base)).toMatchObject({
      arch: "bitnet-b1.58", activation: "relu2", bitnetByConfig: true, linearClass: "bitlinear", nEmbd: 2560, nLayers: 30,
      nHeads: 20, nKvHeads: 5, nFf: 6912, nCtx: 4096, rmsEps: 1e-5, ropeTheta: 500000, vocabSize: 128256, tieEmbeddings: true,
    });
  });

  test("SiLU → bitnet; 1bitLLM's BitnetForCausalLM; Llama needs the weights' word unless quantization_config says bitnet", () => {
    expect(parseHfConfig({ ...base, architectures: ["BitnetForCausalLM"], hidden_act: "silu" }).arch).toBe("bitnet");
    const llama = { ...base, architectures: ["LlamaForCausalLM"], hidden_act: "silu" };
    expect(parseHfConfig(llama).bitnetByConfig).toBe(true);
    expect(parseHfConfig({ ...llama, quantization_config: undefined }).bitnetByConfig).toBe(false);
    expect(parseHfConfig({ ...base, architectures: undefined, model_type: "bitnet" }).hfArchitecture).toBe("BitNetForCausalLM");
  });

  test("DLM keys: mask_token_id, dlm_attention / bd_attention", () => {
    expect(parseHfConfig({ ...base, mask_token_id: 128256, dlm_attention: "block" })).toMatchObject({ maskTokenId: 128256, dlmAttention: "block" });
    expect(parseHfConfig({ ...base, bd_attention: false }).dlmAttention).toBe("causal");
    expect(parseHfConfig({ ...base, bd_attention: true }).dlmAttention).toBe("block");
    expect(parseHfConfig(base).dlmAttention).toBeUndefined();
    expect(() => parseHfConfig({ ...base, dlm_attention: "full" })).toThrow(/dlm_attention \/ bd_attention = "full"/);
  });

  test("defaults: num_key_value_heads = heads, rope_theta 10000, eos as a list", () => {
    const c = parseHfConfig({ ...base, num_key_value_heads: undefined, rope_theta: undefined, eos_token_id: [128001, 128009] });
    expect([c.nKvHeads, c.ropeTheta, c.eosTokenId]).toEqual([20, 10000, 128001]);
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ["an unknown class", { architectures: ["MistralForCausalLM"] }, /unknown architecture MistralForCausalLM/],
    ["GELU", { hidden_act: "gelu" }, /hidden_act "gelu" is not supported/],
    ["rope scaling", { rope_scaling: { type: "llama3", factor: 8 } }, /rope_scaling .* is not supported/],
    ["a head_dim that is not hidden / heads", { head_dim: 64 }, /head_dim 64 differs/],
    ["heads that do not divide", { num_key_value_heads: 3 }, /not a multiple of num_key_value_heads 3/],
    ["biases", { attention_bias: true }, /attention_bias/],
    ["a missing hidden_size", { hidden_size: undefined }, /missing hidden_size/],
    ["a bad linear_class", { quantization_config: { quant_method: "bitnet", linear_class: "x" } }, /linear_class "x"/],
  ];
  for (const [what, edit, re] of refused) test(`refuses ${what}`, () => expect(() => parseHfConfig({ ...base, ...edit })).toThrow(re));
});

describe("tensor names", () => {
  test("HF names map to the GGUF names llama.cpp's bitnet graph loads", () => {
    const cases: [string, string][] = [
      ["model.embed_tokens.weight", "token_embd.weight"], ["model.norm.weight", "output_norm.weight"], ["lm_head.weight", "output.weight"],
      ["model.layers.3.input_layernorm.weight", "blk.3.attn_norm.weight"], ["model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight"],
      ["model.layers.3.self_attn.q_proj.weight", "blk.3.attn_q.weight"], ["model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"],
      ["model.layers.3.self_attn.attn_sub_norm.weight", "blk.3.attn_sub_norm.weight"], ["model.layers.3.self_attn.inner_attn_ln.weight", "blk.3.attn_sub_norm.weight"],
      ["model.layers.3.mlp.ffn_sub_norm.weight", "blk.3.ffn_sub_norm.weight"], ["model.layers.3.mlp.ffn_layernorm.weight", "blk.3.ffn_sub_norm.weight"],
      ["model.layers.3.mlp.gate_proj.weight", "blk.3.ffn_gate.weight"], ["model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight"],
    ];
    for (const [hf, gguf] of cases) expect(classifyHfName(hf)).toMatchObject({ kind: "tensor", ggufName: gguf });
    expect(classifyHfName("model.layers.0.mlp.up_proj.weight_scale")).toEqual({ kind: "scale", of: "model.layers.0.mlp.up_proj.weight" });
    expect(classifyHfName("model.layers.0.self_attn.rotary_emb.inv_freq")).toEqual({ kind: "ignore" });
    expect(classifyHfName("model.layers.0.self_attn.q_proj.bias")).toBeUndefined();
    expect(hfNameFor("blk.1.ffn_sub_norm.weight")).toBe("model.layers.1.mlp.ffn_layernorm.weight or model.layers.1.mlp.ffn_sub_norm.weight");
  });
});
