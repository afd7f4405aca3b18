// NativeEngine: the Engine interface over our own kernels (libternary) and our own tokenizer. Owns the
// native handles (pool, weights, KV cache, RoPE table, run state), checks every batch against the cache
// before C sees it, and frees everything on close().
import type { AttentionMode, Batch, Engine, ModelInfo, TokenizeOptions } from "../engine.ts";
import { EngineError } from "../errors.ts";
import { describeModelFile, readHparams, validateModelFile } from "../model-file.ts";
import { NativeError } from "../native-error.ts";
import { createTokenizer, tokenizerMetadataFromGguf, type Tokenizer } from "../../tokenizer/tokenizer.ts";
import { configOf, Forward, RunState, type ActQuant, type Config } from "./forward.ts";
import { Kernels, KvType, RopeMode, Status, Ternary, type KvCache, type Pool, type Rope } from "./ternary-ffi.ts";
import { checkNativeSupport, freeWeights, HEAD_MODES, loadWeights, type HeadMode, type Weights } from "./weights.ts";

export interface NativeEngineOptions {
  path: string;
  nCtx: number;
  nBatch: number;
  nParallel: number;
  threads: number;
  /** Output head representation (default: env TERNARY_HEAD, else `auto`). */
  head?: HeadMode;
  /** Activation quantisation (default `token`, BitNet's; `q8k` mimics llama.cpp for cross-checks). */
  actQuant?: ActQuant;
  /** F32 KV cache instead of F16 (exact comparisons). */
  kvF32?: boolean;
  /** RoPE angles in double precision (`exact`, default) or rounded as ggml does (`ggml`, cross-checks). */
  ropeTable?: "exact" | "ggml";
  /** Kernel family (Kernels; default AUTO, which honours env TERNARY_KERNELS). */
  kernels?: number;
}

let shared: Ternary | null = null;

function lib(): Ternary {
  if (shared) return shared;
  try {
    shared = Ternary.open();
  } catch (e) {
    throw new EngineError("not_ready", `the native engine cannot start: ${(e as Error).message}`);
  }
  if (shared.kernelsAvailable().length === 0) {
    throw new EngineError("not_ready", "the native engine needs an x86-64 CPU with AVX2, FMA and F16C: use --engine llama");
  }
  return shared;
}

/** The head mode from the options or env TERNARY_HEAD. */
function headModeOf(o: NativeEngineOptions): HeadMode {
  const h = o.head ?? process.env.TERNARY_HEAD ?? "auto";
  if (!(HEAD_MODES as readonly string[]).includes(h)) {
    throw new EngineError("invalid_request", `TERNARY_HEAD=${h}: expected ${HEAD_MODES.join(", ")}`);
  }
  return h as HeadMode;
}

/** A native failure as the engine reports it (NativeError keeps the C function and status in the text). */
function asEngineError(e: unknown, what: string): unknown {
  if (e instanceof NativeError) return new EngineError("internal", `${what}: ${e.message}`);
  return e;
}

export class NativeEngine implements Engine {
  readonly kind = "native" as const;
  readonly info: ModelInfo;
  /** What the load made of the file: matrix kinds, bytes, kernel family, time. */
  readonly loadStats: {
    seconds: number;
    weightBytes: number;
    decodeBytes: number;
    kvBytes: number;
    kinds: Record<string, number>;
    kernels: string;
    head: HeadMode;
  };
  private readonly t: Ternary;
  private readonly tok: Tokenizer;
  private readonly c: Config;
  private pool: Pool | null = null;
  private weights: Weights | null = null;
  private kv: KvCache | null = null;
  private rope: Rope | null = null;
  private state: RunState | null = null;
  private fwd: Forward | null = null;
  private readonly kernels: number;
  private readonly nextPos: Int32Array; // (nSeqMax) scratch of decode's position check

  constructor(o: NativeEngineOptions) {
    const t0 = performance.now();
    for (const [k, v, min] of [["nCtx", o.nCtx, 1], ["nBatch", o.nBatch, 1], ["nParallel", o.nParallel, 1], ["threads", o.threads, 0]] as const) {
      if (!Number.isSafeInteger(v) || v < min) throw new EngineError("invalid_request", `${k} = ${v} must be an integer >= ${min}`);
    }
    // Everything about the file is checked before the first native call.
    const file = validateModelFile(o.path);
    const hp = readHparams(file);
    checkNativeSupport(file, hp);
    const facts = describeModelFile(file);
    const head = headModeOf(o);
    try {
      this.tok = createTokenizer(tokenizerMetadataFromGguf(file));
    } catch (e) {
      throw new EngineError("invalid_request", `${o.path}: the tokenizer cannot be built: ${(e as Error).message}`);
    }
    this.c = configOf(hp, o.nBatch);
    this.kernels = o.kernels ?? Kernels.TERN_KERNELS_AUTO;
    this.nextPos = new Int32Array(o.nParallel);

    this.t = lib();
    try {
      this.pool = this.t.pool(o.threads, this.kernels);
      this.weights = loadWeights(this.t, this.pool, file, hp, head);
      this.kv = this.t.kv(hp.nLayers, o.nParallel, o.nCtx, hp.nKvHeads, hp.headDim, o.kvF32 ? KvType.TERN_KV_F32 : KvType.TERN_KV_F16);
      this.rope = this.t.rope(hp.headDim, hp.ropeBase, o.nCtx, o.ropeTable === "ggml" ? RopeMode.TERN_ROPE_GGML : RopeMode.TERN_ROPE_EXACT);
      this.state = new RunState(this.t, this.c, o.nParallel);
      this.fwd = new Forward(this.c, this.weights, this.state, this.pool, this.kv, this.rope, o.actQuant ?? "token");
    } catch (e) {
      this.close();
      if (e instanceof NativeError) {
        const kind = e.code === Status.TERN_E_NOMEM ? "internal" : "invalid_request";
        throw new EngineError(kind, `the native engine could not load ${o.path}: ${e.message}`);
      }
      throw e;
    }

    const tk = this.tok;
    const text = (id: number | null) => (id === null ? "" : new TextDecoder().decode(tk.tokenBytes(id, true)));
    const mask = facts.maskToken ?? tk.mask ?? tk.findToken("|<MASK>|") ?? tk.findToken("<|mask|>");
    this.info = {
      arch: hp.arch,
      name: facts.name,
      format: facts.format,
      nVocab: hp.nVocab,
      nCtx: o.nCtx,
      nCtxTrain: hp.nCtxTrain,
      nEmbd: hp.nEmbd,
      nLayers: hp.nLayers,
      nHeads: hp.nHeads,
      nKvHeads: hp.nKvHeads,
      nBatch: o.nBatch,
      nSeqMax: o.nParallel,
      bos: tk.bos,
      eos: tk.eos,
      bosText: text(tk.bos),
      eosText: text(tk.eos),
      addBos: tk.addBos,
      eog: [...tk.eog],
      maskToken: mask,
      dlmAttention: facts.dlmAttention,
      chatTemplate: file.getString("tokenizer.chat_template") ?? null,
      fileBytes: file.size,
    };
    this.loadStats = {
      seconds: (performance.now() - t0) / 1000,
      weightBytes: this.weights.nbytes,
      decodeBytes: this.weights.decodeBytes,
      kvBytes: this.kv.nbytes,
      kinds: this.weights.kinds,
      kernels: this.t.kernelsName(this.pool.kernels),
      head,
    };
  }

  private forward(): Forward {
    if (this.fwd === null) throw new EngineError("internal", "the native engine was used after close()");
    return this.fwd;
  }

  private cache(): KvCache {
    if (this.kv === null) throw new EngineError("internal", "the native engine was used after close()");
    return this.kv;
  }

  tokenize(text: string, opts: TokenizeOptions): Int32Array {
    return this.tok.encode(text, { addSpecial: opts.addSpecial, parseSpecial: opts.parseSpecial });
  }

  tokenBytes(token: number, special: boolean): Uint8Array {
    return this.tok.tokenBytes(token, special);
  }

  isEog(token: number): boolean {
    return this.tok.isEog(token);
  }

  /**
   * Refuses a batch that the cache cannot take as it is: each sequence's tokens must continue it at
   * its next position, one after another (what llama.cpp also demands), within nBatch and nCtx.
   */
  private check(b: Batch): void {
    const { nBatch, nCtx, nVocab, nSeqMax } = this.info;
    if (!Number.isSafeInteger(b.n) || b.n < 1 || b.n > nBatch) throw new EngineError("invalid_request", `a batch holds 1..${nBatch} tokens, got ${b.n}`);
    if (b.tokens.length < b.n || b.positions.length < b.n || b.seqIds.length < b.n || b.wantLogits.length < b.n) {
      throw new EngineError("invalid_request", `the batch arrays are shorter than n = ${b.n}`);
    }
    const next = this.nextPos;
    next.fill(-1);
    const kv = this.cache();
    for (let i = 0; i < b.n; i++) {
      const s = b.seqIds[i], p = b.positions[i], tok = b.tokens[i];
      if (s < 0 || s >= nSeqMax) throw new EngineError("invalid_request", `token ${i} of the batch has sequence id ${s}, outside 0..${nSeqMax - 1}`);
      if (tok < 0 || tok >= nVocab) throw new EngineError("invalid_request", `token ${i} of the batch is ${tok}, outside the vocabulary (0..${nVocab - 1})`);
      if (next[s] < 0) next[s] = kv.seqPosMax(s) + 1;
      if (p !== next[s]) {
        throw new EngineError(
          "invalid_request",
          `token ${i} of the batch is at position ${p} of sequence ${s}, but that sequence continues at ${next[s]} (positions must continue the cache, in order)`,
        );
      }
      if (p >= nCtx) throw new EngineError("context_length_exceeded", `position ${p} of sequence ${s} is past the context (${nCtx} tokens)`);
      next[s]++;
    }
  }

  decode(b: Batch, attention: AttentionMode): Float32Array {
    const f = this.forward();
    this.check(b);
    try {
      return f.run(b.tokens, b.positions, b.seqIds, b.wantLogits, b.n, attention === "block");
    } catch (e) {
      throw asEngineError(e, "native decode failed");
    }
  }

  kvRemove(seq: number, p0: number, p1: number): void {
    this.checkSeq(seq, true);
    this.cache().seqRm(seq, p0, p1);
  }

  kvCopy(src: number, dst: number, p0: number, p1: number): void {
    this.checkSeq(src, false);
    this.checkSeq(dst, false);
    this.cache().seqCp(src, dst, p0, p1);
  }

  kvClear(seq: number): void {
    if (seq < 0) this.cache().clear();
    else {
      this.checkSeq(seq, false);
      this.cache().seqRm(seq, 0, -1);
    }
  }

  kvNextPos(seq: number): number {
    this.checkSeq(seq, false);
    return this.cache().seqPosMax(seq) + 1;
  }

  private checkSeq(seq: number, negativeIsAll: boolean): void {
    if (!Number.isSafeInteger(seq) || seq >= this.info.nSeqMax || (seq < 0 && !negativeIsAll)) {
      throw new EngineError("invalid_request", `sequence id ${seq} is outside 0..${this.info.nSeqMax - 1}`);
    }
  }

  setThreads(n: number): void {
    const f = this.forward();
    if (this.pool && this.pool.threads === n) return;
    let pool: Pool;
    try {
      pool = this.t.pool(n, this.kernels);
    } catch (e) {
      throw asEngineError(e, `cannot start ${n} threads`);
    }
    this.pool?.close();
    this.pool = pool;
    f.pool = pool;
  }

  close(): void {
    this.fwd = null;
    this.state?.close();
    this.state = null;
    if (this.weights) freeWeights(this.weights);
    this.weights = null;
    this.kv?.close();
    this.kv = null;
    this.rope?.close();
    this.rope = null;
    this.pool?.close();
    this.pool = null;
  }
}
