// Test checkpoints, made not downloaded: small Hugging Face-style BitNet checkpoints (safetensors +
// config.json + tokenizer.json + tokenizer_config.json) in each weight form the converter reads, and
// the same generator streaming a BitNet-2B-4T-shaped one (≈ 5 GB bf16) for the memory check.
//
// Weight forms: "latent" bf16 master weights (normal, std 0.05); "ternary" bf16 values q · s with s
// exact in bf16 and fp16; "packed" Microsoft uint8 (4 codes per byte along the output dimension, see
// weights.ts) + a bf16 `weight_scale` = 1/s under transformers' BitLinear.
// Vocabulary: the 256 GPT-2 byte tokens, the byte-vocab specials (BOS, EOS, EOT, header start/end,
// |<MASK>|) as special added tokens, its merges, and one user-defined added token "<tool>".

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BYTE_TO_UNICODE, MERGES, SPECIAL_TOKENS } from "../../scripts/byte-vocab.ts";
import { f32ArrayToBf16, bf16ToF32, f32ToBf16, ternarize } from "../gguf/quants.ts";
import { SafetensorsWriter, type StDtype } from "./safetensors.ts";
import { packUint8 } from "./weights.ts";

export type CkptArch = "bitnet" | "bitnet-b1.58";
export type WeightForm = "latent" | "ternary" | "packed";
export const WEIGHT_FORMS: readonly WeightForm[] = ["latent", "ternary", "packed"];

export interface CkptShape {
  nEmbd: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  nFf: number;
  nCtx: number;
}
export const TINY_CKPT_SHAPE: CkptShape = { nEmbd: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, nFf: 512, nCtx: 2048 };
export const BITNET_2B_CKPT_SHAPE: CkptShape = { nEmbd: 2560, nLayers: 30, nHeads: 20, nKvHeads: 5, nFf: 6912, nCtx: 4096 };

/** Token ids of the test vocabulary. */
export const CKPT_VOCAB = {
  bos: 256, eos: 257, eot: 258, mask: 261, tool: 288,
  /** Tokens the tokenizer defines (ids 0..288). */
  size: 289,
} as const;

export const CKPT_CHAT_TEMPLATE = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";

export interface TestCheckpointOptions {
  arch?: CkptArch;
  form?: WeightForm;
  seed?: number;
  shape?: CkptShape;
  hfClass?: "BitNetForCausalLM" | "BitnetForCausalLM" | "LlamaForCausalLM";
  /** 1bitLLM names (inner_attn_ln / ffn_layernorm) instead of 2B-4T's (attn_sub_norm / ffn_sub_norm). */
  oldSubNormNames?: boolean;
  mergesForm?: "string" | "array";
  chatTemplateForm?: "string" | "list";
  /** Split the weights over this many files with model.safetensors.index.json. */
  shards?: number;
  /** Embedding rows (default: the tokenizer's 289). */
  vocabRows?: number;
  untied?: boolean;
  dlmAttention?: "block" | "causal";
  /** Extra config.json entries (override the generated ones). */
  config?: Record<string, unknown>;
  onTensor?: (name: string) => void;
}

// ─── Deterministic randomness (per tensor name, independent of generation order) ─────────────────

function rngFor(seed: number, name: string): () => number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  let a = h;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Approximately normal (sum of four 16-bit uniforms, two per draw): cheap enough for 2.4 B values. */
function fillNormal(out: Float32Array, u32: () => number, std: number, mean = 0): Float32Array {
  const k = (std * Math.sqrt(3)) / 65536; // sum of 4 U(0,1) has variance 1/3
  for (let i = 0; i < out.length; i++) {
    const a = u32();
    const b = u32();
    out[i] = mean + ((a & 0xffff) + (a >>> 16) + (b & 0xffff) + (b >>> 16) - 131070) * k;
  }
  return out;
}

// ─── Tensors ─────────────────────────────────────────────────────────────────────────────────────

interface GenTensor {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Produces the bytes in order, in as many pieces as it likes. */
  emit(write: (b: Uint8Array) => void): void;
}

const bytesOf = (a: Uint16Array | Float32Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function checkpointTensors(o: Required<Pick<TestCheckpointOptions, "form" | "seed" | "shape">> & TestCheckpointOptions, nVocab: number): GenTensor[] {
  const s = o.shape;
  const kvDim = (s.nEmbd / s.nHeads) * s.nKvHeads;
  const bf16 = (name: string, shape: number[], std: number, mean = 0): GenTensor => ({
    name, dtype: "BF16", shape,
    emit(write) {
      const u32 = rngFor(o.seed, name);
      const cols = shape[shape.length - 1];
      const rows = shape.length === 1 ? 1 : shape[0];
      const per = Math.max(1, Math.floor((1 << 22) / cols)); // 4 M values per piece
      for (let r = 0; r < rows; r += per) {
        const n = Math.min(per, rows - r) * cols;
        write(bytesOf(f32ArrayToBf16(fillNormal(new Float32Array(n), u32, std, mean))));
      }
    },
  });
  const linear = (name: string, rows: number, cols: number): GenTensor[] => {
    if (o.form === "latent") return [bf16(name, [rows, cols], 0.05)];
    // Codes from a latent draw, so their distribution is BitNet's (about 1/3 zeros).
    const make = () => {
      const w = f32ArrayToBf16(fillNormal(new Float32Array(rows * cols), rngFor(o.seed, name), 0.05));
      const lat = new Float32Array(w.length);
      for (let i = 0; i < w.length; i++) lat[i] = bf16ToF32(w[i]);
      const t = ternarize(lat);
      return { q: t.q, scale: bf16ToF32(f32ToBf16(t.scale)) }; // bf16 values near 0.04 are fp16-exact too
    };
    if (o.form === "ternary") {
      return [{ name, dtype: "BF16", shape: [rows, cols], emit(write) {
        const { q, scale } = make();
        const v = new Float32Array(q.length);
        for (let i = 0; i < q.length; i++) v[i] = q[i] * scale;
        write(bytesOf(f32ArrayToBf16(v)));
      } }];
    }
    let memo: { q: Int8Array; scale: number } | undefined;
    const get = () => (memo ??= make());
    return [
      { name, dtype: "U8", shape: [rows / 4, cols], emit(write) { write(packUint8(get().q, rows, cols)); } },
      { name: name.replace(/\.weight$/, ".weight_scale"), dtype: "BF16", shape: [1], emit(write) {
        // BitLinear divides by weight_scale: it holds 1/s.
        write(bytesOf(Uint16Array.of(f32ToBf16(1 / get().scale))));
        memo = undefined;
      } },
    ];
  };
  const attnSub = o.oldSubNormNames ? "self_attn.inner_attn_ln" : "self_attn.attn_sub_norm";
  const ffnSub = o.oldSubNormNames ? "mlp.ffn_layernorm" : "mlp.ffn_sub_norm";
  const out: GenTensor[] = [bf16("model.embed_tokens.weight", [nVocab, s.nEmbd], 0.08)];
  for (let l = 0; l < s.nLayers; l++) {
    const p = `model.layers.${l}.`;
    out.push(
      bf16(`${p}input_layernorm.weight`, [s.nEmbd], 0.05, 1),
      ...linear(`${p}self_attn.q_proj.weight`, s.nEmbd, s.nEmbd),
      ...linear(`${p}self_attn.k_proj.weight`, kvDim, s.nEmbd),
      ...linear(`${p}self_attn.v_proj.weight`, kvDim, s.nEmbd),
      ...linear(`${p}self_attn.o_proj.weight`, s.nEmbd, s.nEmbd),
      bf16(`${p}${attnSub}.weight`, [s.nEmbd], 0.05, 1),
      bf16(`${p}post_attention_layernorm.weight`, [s.nEmbd], 0.05, 1),
      ...linear(`${p}mlp.gate_proj.weight`, s.nFf, s.nEmbd),
      ...linear(`${p}mlp.up_proj.weight`, s.nFf, s.nEmbd),
      ...linear(`${p}mlp.down_proj.weight`, s.nEmbd, s.nFf),
      bf16(`${p}${ffnSub}.weight`, [s.nFf], 0.05, 1),
    );
  }
  out.push(bf16("model.norm.weight", [s.nEmbd], 0.05, 1));
  if (o.untied) out.push(bf16("lm_head.weight", [nVocab, s.nEmbd], 0.08));
  return out;
}

// ─── Tokenizer files ─────────────────────────────────────────────────────────────────────────────

const LLAMA3_SPLIT = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

export function tokenizerJson(mergesForm: "string" | "array" = "string"): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_TO_UNICODE.forEach((t, i) => (vocab[t] = i));
  MERGES.forEach((m, i) => (vocab[m.replace(" ", "")] = 256 + SPECIAL_TOKENS.length + i));
  const added = SPECIAL_TOKENS.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  added.push({ id: CKPT_VOCAB.tool, content: "<tool>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: false });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA3_SPLIT }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: SPECIAL_TOKENS[0], type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [],
      special_tokens: {},
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab,
      merges: mergesForm === "string" ? [...MERGES] : MERGES.map((m) => m.split(" ")),
    },
  };
}

// ─── Writing ─────────────────────────────────────────────────────────────────────────────────────

export interface TestCheckpoint {
  dir: string;
  nVocab: number;
  files: string[];
}

/** Writes a checkpoint directory (created if needed); tensors are streamed one at a time. */
export function writeTestCheckpoint(dir: string, opts: TestCheckpointOptions = {}): TestCheckpoint {
  const o = { ...opts, form: opts.form ?? "latent", seed: opts.seed ?? 1, shape: opts.shape ?? TINY_CKPT_SHAPE };
  const arch = opts.arch ?? "bitnet-b1.58";
  const nVocab = opts.vocabRows ?? CKPT_VOCAB.size;
  const s = o.shape;
  mkdirSync(dir, { recursive: true });
  const hfClass = opts.hfClass ?? "BitNetForCausalLM";
  const config: Record<string, unknown> = {
    architectures: [hfClass],
    model_type: hfClass === "LlamaForCausalLM" ? "llama" : "bitnet",
    hidden_size: s.nEmbd, intermediate_size: s.nFf, num_hidden_layers: s.nLayers,
    num_attention_heads: s.nHeads, num_key_value_heads: s.nKvHeads, max_position_embeddings: s.nCtx,
    rms_norm_eps: 1e-5, rope_theta: 500000.0, vocab_size: nVocab, tie_word_embeddings: !opts.untied,
    hidden_act: arch === "bitnet-b1.58" ? "relu2" : "silu",
    bos_token_id: CKPT_VOCAB.bos, eos_token_id: CKPT_VOCAB.eos, torch_dtype: "bfloat16",
  };
  if (o.form === "packed" || hfClass === "LlamaForCausalLM") config.quantization_config = { quant_method: "bitnet", linear_class: "bitlinear", quantization_mode: "offline" };
  if (opts.dlmAttention) config.dlm_attention = opts.dlmAttention;
  Object.assign(config, opts.config ?? {});
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson(opts.mergesForm)));
  const chat = opts.chatTemplateForm === "list" ? [{ name: "default", template: CKPT_CHAT_TEMPLATE }, { name: "tool use", template: "{{ messages }}" }] : CKPT_CHAT_TEMPLATE;
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({
    add_bos_token: true, add_eos_token: false,
    bos_token: SPECIAL_TOKENS[0], eos_token: { content: SPECIAL_TOKENS[1], special: true }, chat_template: chat,
  }, null, 2));

  const tensors = checkpointTensors(o, nVocab);
  const shards = Math.max(1, opts.shards ?? 1);
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  for (let k = 0; k < shards; k++) {
    const part = tensors.filter((_, i) => Math.floor((i * shards) / tensors.length) === k);
    const file = shards === 1 ? "model.safetensors" : `model-${String(k + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const w = new SafetensorsWriter(join(dir, file), part.map(({ name, dtype, shape }) => ({ name, dtype, shape })), { format: "pt" });
    try {
      for (const t of part) {
        t.emit((b) => w.write(b));
        weightMap[t.name] = file;
        opts.onTensor?.(t.name);
      }
      w.close();
    } catch (e) {
      w.abort();
      throw e;
    }
    files.push(file);
  }
  if (shards > 1) writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 1));
  return { dir, nVocab, files };
}
