// The native forward pass of the BitNet b1.58 graph (FACTS.md §3), llama2.c style: config, weights and
// run state kept apart by lifetime, one coarse libternary call per op over the whole batch, and a decode
// step that allocates nothing.
import type { Hparams } from "../model-file.ts";
import { ActMode, Glu, Mask, MatrixKind, type Acts, type KvCache, type Matrix, type Pool, type Rope, type Ternary } from "./ternary-ffi.ts";
import type { Weights } from "./weights.ts";

// ---- config ------------------------------------------------------------------------------------------

export interface Config {
  dim: number; // transformer width (nEmbd)
  hiddenDim: number; // FFN width (nFf)
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number; // dim / nHeads
  kvDim: number; // nKvHeads * headDim
  nVocab: number;
  rmsEps: number;
  glu: number; // Glu.TERN_GLU_SILU (bitnet) or Glu.TERN_GLU_RELU2 (bitnet-b1.58, bitnet-25)
  nBatch: number; // most tokens one forward pass takes
}

export function configOf(hp: Hparams, nBatch: number): Config {
  return {
    dim: hp.nEmbd,
    hiddenDim: hp.nFf,
    nLayers: hp.nLayers,
    nHeads: hp.nHeads,
    nKvHeads: hp.nKvHeads,
    headDim: hp.headDim,
    kvDim: hp.nKvHeads * hp.headDim,
    nVocab: hp.nVocab,
    rmsEps: hp.rmsEps,
    glu: hp.activation === "relu2" ? Glu.TERN_GLU_RELU2 : Glu.TERN_GLU_SILU,
    nBatch,
  };
}

/**
 * How activations entering a ternary matmul are quantised: `token` is BitNet's BitLinear (one int8
 * absmax scale per token); `q8k` mimics llama.cpp (Q8_K: one scale per 256 values, and an F16 head fed
 * F16-rounded activations) so the two engines can be compared to float precision.
 */
export type ActQuant = "token" | "q8k";

// ---- run state -----------------------------------------------------------------------------------------

/** The buffers of one forward pass, each sized for nBatch tokens; made once per engine. */
export class RunState {
  readonly x: Float32Array; // (nBatch, dim) residual stream
  readonly xb: Float32Array; // (nBatch, dim) normed input of a matmul, then its output
  readonly q: Float32Array; // (nBatch, dim) queries
  readonly k: Float32Array; // (nBatch, kvDim) keys of this batch
  readonly v: Float32Array; // (nBatch, kvDim) values of this batch
  readonly att: Float32Array; // (nBatch, dim) attention output
  readonly hb: Float32Array; // (nBatch, hiddenDim) gate, then the gated activation
  readonly hb2: Float32Array; // (nBatch, hiddenDim) up
  readonly actsDim: Acts; // (nBatch, dim) int8 activations entering wq/wk/wv, wo, gate/up
  readonly actsHidden: Acts; // (nBatch, hiddenDim) int8 activations entering wDown
  logits: Float32Array; // (cap, nVocab) rows of the tokens that want logits; grown on demand
  private views: Float32Array[] = []; // views[nOut] = logits.subarray(0, nOut * nVocab), made once each

  constructor(t: Ternary, readonly c: Config, logitRows: number) {
    const n = c.nBatch;
    this.x = new Float32Array(n * c.dim);
    this.xb = new Float32Array(n * c.dim);
    this.q = new Float32Array(n * c.dim);
    this.k = new Float32Array(n * c.kvDim);
    this.v = new Float32Array(n * c.kvDim);
    this.att = new Float32Array(n * c.dim);
    this.hb = new Float32Array(n * c.hiddenDim);
    this.hb2 = new Float32Array(n * c.hiddenDim);
    this.actsDim = t.acts(n, c.dim);
    try {
      this.actsHidden = t.acts(n, c.hiddenDim);
    } catch (e) {
      this.actsDim.close();
      throw e;
    }
    this.logits = new Float32Array(Math.max(1, logitRows) * c.nVocab);
  }

  /** The first nOut logits rows; grows the buffer only when a batch wants more rows than ever before. */
  logitsFor(nOut: number): Float32Array {
    const V = this.c.nVocab;
    if (nOut * V > this.logits.length) {
      this.logits = new Float32Array(nOut * V);
      this.views = [];
    }
    return (this.views[nOut] ??= this.logits.subarray(0, nOut * V));
  }

  close(): void {
    this.actsDim.close();
    this.actsHidden.close();
  }
}

// ---- the forward pass ------------------------------------------------------------------------------------

const isInt = (m: Matrix) => m.kind === MatrixKind.TERN_MATRIX_TERNARY || m.kind === MatrixKind.TERN_MATRIX_Q8;

export class Forward {
  /** The thread pool every op runs on (the engine swaps it on setThreads). */
  pool: Pool;
  private readonly actMode: number;
  private readonly roundHeadInput: boolean;
  private readonly attnScale: number;
  private readonly empty = new Float32Array(0);
  /** Per layer: whether Q/K/V and gate/up are all integer matrices, so each group is one matmul3 job. */
  private readonly fused: { qkv: boolean; gateUp: boolean }[];

  constructor(
    readonly c: Config,
    readonly w: Weights,
    readonly s: RunState,
    pool: Pool,
    readonly kv: KvCache,
    readonly rope: Rope,
    actQuant: ActQuant,
  ) {
    this.pool = pool;
    this.actMode = actQuant === "q8k" ? ActMode.TERN_ACT_Q8K : ActMode.TERN_ACT_TOKEN;
    this.roundHeadInput = actQuant === "q8k" && w.head.kind === MatrixKind.TERN_MATRIX_F16;
    this.attnScale = 1 / Math.sqrt(c.headDim);
    this.fused = w.layers.map((L) => ({ qkv: isInt(L.wq) && isInt(L.wk) && isInt(L.wv), gateUp: isInt(L.wGate) && isInt(L.wUp) }));
  }

  /** y (n, m.rows) = m · x: integer matrices take the quantised `acts` of x, float ones x itself. */
  private linear(m: Matrix, acts: Acts, x: Float32Array, n: number, y: Float32Array): void {
    if (isInt(m)) this.pool.matmul(m, acts, y);
    else this.pool.matmulF32(m, x, n, y);
  }

  /**
   * Runs n tokens (parallel arrays, positions already checked against the cache) through the model,
   * writing their keys and values into the cache, and returns the logits of the tokens with
   * wantLogits set, in batch order: (nOut, nVocab), valid until the next call.
   */
  run(tokens: Int32Array, positions: Int32Array, seqIds: Int32Array, wantLogits: Uint8Array, n: number, block: boolean): Float32Array {
    const { c, w, s, pool } = this;
    const { dim, hiddenDim } = c;
    const mask = block ? Mask.TERN_MASK_BLOCK : Mask.TERN_MASK_CAUSAL;

    w.embed.getRows(tokens, s.x, n); // x (n, dim)

    for (let l = 0; l < c.nLayers; l++) {
      const L = w.layers[l];

      // attention: xb = rmsnorm(x); q, k, v = W xb (one quantisation for the three); RoPE; attend over the cache
      pool.rmsnorm(s.x, L.attnNorm, s.xb, n, dim, c.rmsEps);
      s.actsDim.quantize(pool, s.xb, n, this.actMode);
      if (this.fused[l].qkv) pool.matmul3(s.actsDim, L.wq, s.q, L.wk, s.k, L.wv, s.v);
      else {
        this.linear(L.wq, s.actsDim, s.xb, n, s.q);
        this.linear(L.wk, s.actsDim, s.xb, n, s.k);
        this.linear(L.wv, s.actsDim, s.xb, n, s.v);
      }
      this.rope.apply(pool, s.q, n, c.nHeads, c.headDim, positions);
      this.rope.apply(pool, s.k, n, c.nKvHeads, c.headDim, positions);
      this.kv.attention(pool, l, s.q, s.k, s.v, n, seqIds, positions, c.nHeads, this.attnScale, mask, s.att);

      // x += wo · rmsnorm(att)   (BitNet's sub-norm sits before the output projection)
      pool.rmsnorm(s.att, L.attnSubNorm, s.att, n, dim, c.rmsEps);
      s.actsDim.quantize(pool, s.att, n, this.actMode);
      this.linear(L.wo, s.actsDim, s.att, n, s.xb);
      pool.add(s.x, s.xb, s.x, n * dim);

      // FFN: x += down · rmsnorm(act(gate · xb) * (up · xb)),  xb = rmsnorm(x)
      pool.rmsnorm(s.x, L.ffnNorm, s.xb, n, dim, c.rmsEps);
      s.actsDim.quantize(pool, s.xb, n, this.actMode);
      if (this.fused[l].gateUp) pool.matmul3(s.actsDim, L.wGate, s.hb, L.wUp, s.hb2);
      else {
        this.linear(L.wGate, s.actsDim, s.xb, n, s.hb);
        this.linear(L.wUp, s.actsDim, s.xb, n, s.hb2);
      }
      pool.glu(c.glu, s.hb, s.hb2, s.hb, n * hiddenDim);
      pool.rmsnorm(s.hb, L.ffnSubNorm, s.hb, n, hiddenDim, c.rmsEps);
      s.actsHidden.quantize(pool, s.hb, n, this.actMode);
      this.linear(L.wDown, s.actsHidden, s.hb, n, s.xb);
      pool.add(s.x, s.xb, s.x, n * dim);
    }

    // Compact the rows that want logits to the front of x, so the head runs on those rows only.
    let nOut = 0;
    for (let i = 0; i < n; i++) {
      if (!wantLogits[i]) continue;
      if (i !== nOut) s.x.copyWithin(nOut * dim, i * dim, (i + 1) * dim);
      nOut++;
    }
    if (nOut === 0) return this.empty;
    pool.rmsnorm(s.x, w.outNorm, s.xb, nOut, dim, c.rmsEps);
    if (this.roundHeadInput) {
      // llama.cpp converts the activations of an F16 matmul to F16 first
      for (let i = 0; i < nOut * dim; i++) s.xb[i] = Math.f16round(s.xb[i]);
    }
    const logits = s.logitsFor(nOut);
    pool.matmulF32(w.head, s.xb, nOut, logits);
    return logits;
  }
}
