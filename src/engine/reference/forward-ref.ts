// A plain TypeScript forward pass of the BitNet graph (FACTS.md §3), in F32 with every weight
// dequantised: slow, obvious, and the yardstick both engines are checked against in tests.
import { dequantize } from "../../gguf/quants.ts";
import type { GgufFile } from "../../gguf/reader.ts";
import type { GgmlType } from "../../gguf/types.ts";
import { readHparams, type Hparams } from "../model-file.ts";

/**
 * How activations entering a ternary matmul are treated:
 * - `none`: full F32 (what llama.cpp does for F32/F16 weights);
 * - `int8-token`: BitNet's BitLinear, one absmax int8 scale per token (our native engine);
 * - `q8k`: one absmax int8 scale per 256 values, as llama.cpp's TQ kernels quantise to Q8_K.
 */
export type ActQuant = "none" | "int8-token" | "q8k";

interface Layer {
  attnNorm: Float32Array;
  wq: Linear;
  wk: Linear;
  wv: Linear;
  wo: Linear;
  attnSubNorm: Float32Array;
  ffnNorm: Float32Array;
  wGate: Linear;
  wUp: Linear;
  wDown: Linear;
  ffnSubNorm: Float32Array;
}

interface Linear {
  w: Float32Array; // (rows = out, cols = in), row-major
  rows: number;
  cols: number;
  scale: number; // optional per-tensor `.scale`, 1 when absent
  ternary: boolean;
}

function tensorF32(file: GgufFile, name: string): Float32Array {
  const t = file.tensor(name);
  if (!t) throw new Error(`reference: missing tensor ${name}`);
  return dequantize(t.type as GgmlType, t.data(), t.nElements);
}

function linear(file: GgufFile, name: string): Linear {
  const t = file.tensor(`${name}.weight`)!;
  const s = file.tensor(`${name}.scale`);
  return {
    w: tensorF32(file, `${name}.weight`),
    cols: t.shape[0],
    rows: t.shape[1],
    scale: s ? tensorF32(file, `${name}.scale`)[0] : 1,
    ternary: /^(TQ1_0|TQ2_0|I2_S)$/i.test(t.typeName), // typeName is lower-case (tq2_0)
  };
}

export class ReferenceModel {
  readonly hp: Hparams;
  private readonly embd: Float32Array; // (nVocab, nEmbd)
  private readonly outNorm: Float32Array; // (nEmbd)
  private readonly head: Float32Array; // (nVocab, nEmbd)
  private readonly layers: Layer[] = [];

  constructor(
    file: GgufFile,
    readonly actQuant: ActQuant = "none",
  ) {
    this.hp = readHparams(file);
    this.embd = tensorF32(file, "token_embd.weight");
    this.outNorm = tensorF32(file, "output_norm.weight");
    this.head = file.tensor("output.weight") ? tensorF32(file, "output.weight") : this.embd;
    for (let l = 0; l < this.hp.nLayers; l++) {
      const p = `blk.${l}.`;
      this.layers.push({
        attnNorm: tensorF32(file, `${p}attn_norm.weight`),
        wq: linear(file, `${p}attn_q`),
        wk: linear(file, `${p}attn_k`),
        wv: linear(file, `${p}attn_v`),
        wo: linear(file, `${p}attn_output`),
        attnSubNorm: tensorF32(file, `${p}attn_sub_norm.weight`),
        ffnNorm: tensorF32(file, `${p}ffn_norm.weight`),
        wGate: linear(file, `${p}ffn_gate`),
        wUp: linear(file, `${p}ffn_up`),
        wDown: linear(file, `${p}ffn_down`),
        ffnSubNorm: tensorF32(file, `${p}ffn_sub_norm.weight`),
      });
    }
  }

  /**
   * Logits for every position of `tokens` (positions 0..n-1, one sequence, empty cache).
   * `blockFrom`: tokens at index ≥ blockFrom attend bidirectionally among themselves (block diffusion).
   */
  forward(tokens: ArrayLike<number>, blockFrom = tokens.length): Float32Array[] {
    const { nEmbd: dim, nHeads, nKvHeads, headDim, nVocab } = this.hp;
    const n = tokens.length;
    let x: Float32Array[] = Array.from({ length: n }, (_, t) => this.embd.slice(tokens[t] * dim, (tokens[t] + 1) * dim));
    for (const L of this.layers) {
      const h = x.map((v) => rmsNorm(v, L.attnNorm, this.hp.rmsEps));
      const q = h.map((v, t) => rope(this.matvec(L.wq, v), t, nHeads, headDim, this.hp.ropeBase));
      const k = h.map((v, t) => rope(this.matvec(L.wk, v), t, nKvHeads, headDim, this.hp.ropeBase));
      const vv = h.map((v) => this.matvec(L.wv, v));
      const att = q.map((qt, t) => {
        const out = new Float32Array(dim);
        const visible = t >= blockFrom ? n : t + 1; // causal, or the whole block for block tokens
        for (let hh = 0; hh < nHeads; hh++) {
          const kvh = Math.floor(hh / (nHeads / nKvHeads));
          const scores = new Float64Array(visible);
          for (let s = 0; s < visible; s++) {
            let d = 0;
            for (let i = 0; i < headDim; i++) d += qt[hh * headDim + i] * k[s][kvh * headDim + i];
            scores[s] = d / Math.sqrt(headDim);
          }
          const p = softmax(scores);
          for (let s = 0; s < visible; s++) {
            for (let i = 0; i < headDim; i++) out[hh * headDim + i] += p[s] * vv[s][kvh * headDim + i];
          }
        }
        return out;
      });
      const o = att.map((a) => this.matvec(L.wo, rmsNorm(a, L.attnSubNorm, this.hp.rmsEps)));
      const ffnIn = x.map((v, t) => add(v, o[t]));
      x = ffnIn.map((v) => {
        const hn = rmsNorm(v, L.ffnNorm, this.hp.rmsEps);
        const g = this.matvec(L.wGate, hn);
        const u = this.matvec(L.wUp, hn);
        const a = new Float32Array(g.length);
        for (let i = 0; i < g.length; i++) {
          const gi = g[i];
          a[i] = (this.hp.activation === "relu2" ? (gi > 0 ? gi * gi : 0) : gi / (1 + Math.exp(-gi))) * u[i];
        }
        return add(v, this.matvec(L.wDown, rmsNorm(a, L.ffnSubNorm, this.hp.rmsEps)));
      });
    }
    return x.map((v) => {
      const hn = rmsNorm(v, this.outNorm, this.hp.rmsEps);
      const logits = new Float32Array(nVocab);
      for (let r = 0; r < nVocab; r++) {
        let s = 0;
        for (let c = 0; c < dim; c++) s += this.head[r * dim + c] * hn[c];
        logits[r] = s;
      }
      return logits;
    });
  }

  private matvec(m: Linear, x: Float32Array): Float32Array {
    const xin = m.ternary ? quantizeActs(x, this.actQuant) : x;
    const y = new Float32Array(m.rows);
    for (let r = 0; r < m.rows; r++) {
      let s = 0;
      const o = r * m.cols;
      for (let c = 0; c < m.cols; c++) s += m.w[o + c] * xin[c];
      y[r] = s * m.scale;
    }
    return y;
  }
}

/** Quantise-dequantise round trip of one token's activations, per the chosen scheme. */
export function quantizeActs(x: Float32Array, mode: ActQuant): Float32Array {
  if (mode === "none") return x;
  const group = mode === "q8k" ? 256 : x.length;
  const out = new Float32Array(x.length);
  for (let g0 = 0; g0 < x.length; g0 += group) {
    const g1 = Math.min(x.length, g0 + group);
    let amax = 0;
    for (let i = g0; i < g1; i++) amax = Math.max(amax, Math.abs(x[i]));
    if (amax === 0) continue;
    // In float32 as the kernels compute it (scale and product rounded to f32, ties to even), so that
    // only differences in x itself can move a value across a rounding boundary.
    const s = Math.fround(127 / amax);
    for (let i = g0; i < g1; i++) out[i] = Math.max(-127, Math.min(127, roundHalfEven(Math.fround(x[i] * s)))) / s;
  }
  return out;
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function rmsNorm(x: Float32Array, w: Float32Array, eps: number): Float32Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const k = 1 / Math.sqrt(ss / x.length + eps);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * k * w[i];
  return out;
}

/** NEOX RoPE (rotate-half): pairs (i, i + headDim/2) of each head rotate by pos · base^(−2i/headDim). */
function rope(v: Float32Array, pos: number, nHeads: number, headDim: number, base: number): Float32Array {
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      const theta = pos * Math.pow(base, (-2 * i) / headDim);
      const c = Math.cos(theta), s = Math.sin(theta);
      const a = v[h * headDim + i], b = v[h * headDim + i + half];
      v[h * headDim + i] = a * c - b * s;
      v[h * headDim + i + half] = a * s + b * c;
    }
  }
  return v;
}

function softmax(x: Float64Array): Float64Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  let sum = 0;
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) sum += out[i] = Math.exp(x[i] - m);
  for (let i = 0; i < x.length; i++) out[i] /= sum;
  return out;
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}
