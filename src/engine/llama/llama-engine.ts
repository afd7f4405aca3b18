// LlamaEngine: the Engine interface over libllama-shim (the vendored llama.cpp). The GGUF is checked
// with our own reader first, because llama.cpp aborts the process on some malformed files.
import type { AttentionMode, Batch, Engine, ModelInfo, TokenizeOptions } from "../engine.ts";
import { EngineError } from "../errors.ts";
import { describeModelFile, validateModelFile } from "../model-file.ts";
import { NativeError } from "../native-error.ts";
import { Info, LlamaShim, Str, type ModelHandle } from "./llama-ffi.ts";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { transcodeGguf } from "../../convert/transcode.ts";
import type { GgufFile } from "../../gguf/reader.ts";
import { GgmlType } from "../../gguf/types.ts";

export interface LlamaEngineOptions {
  path: string;
  nCtx: number;
  nBatch: number;
  nParallel: number;
  threads: number;
  /** Exact mode for cross-checks: F32 KV cache, no flash attention. */
  kvF32?: boolean;
}

let shared: LlamaShim | null = null;

/**
 * Upstream llama.cpp has no I2_S type. An I2_S file is transcoded once, losslessly, to TQ2_0 (same
 * ternary codes, the tensor scale in every block) in the cache directory, keyed by the file's identity.
 */
function llamaLoadablePath(path: string, file: GgufFile): string {
  if (!file.tensors.some((t) => t.type === GgmlType.I2_S)) return path;
  const st = statSync(path);
  const key = createHash("sha256").update(`${path}\0${st.size}\0${st.mtimeMs}`).digest("hex").slice(0, 20);
  const cache = process.env.TERNARY_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "ternary-serve");
  const dir = join(cache, "i2s-as-tq2_0");
  const out = join(dir, `${key}.gguf`);
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    transcodeGguf(file, GgmlType.TQ2_0, out, undefined, { allowFallback: true });
  }
  return out;
}

function shim(): LlamaShim {
  shared ??= LlamaShim.open();
  return shared;
}

export class LlamaEngine implements Engine {
  readonly kind = "llama" as const;
  readonly info: ModelInfo;
  private model: ModelHandle | null;
  private readonly lib: LlamaShim;
  private readonly eog: Set<number>;
  private readonly pieces: (Uint8Array | undefined)[] = [];
  private readonly specialPieces: (Uint8Array | undefined)[] = [];
  private causal = true;

  constructor(o: LlamaEngineOptions) {
    const file = validateModelFile(o.path);
    const facts = describeModelFile(file);
    this.lib = shim();
    const loadPath = llamaLoadablePath(o.path, file);
    try {
      this.model = this.lib.loadModel(loadPath, {
        // One KV stream per sequence, each nCtx long.
        nCtx: o.nCtx * o.nParallel,
        nBatch: o.nBatch,
        nUbatch: o.nBatch,
        nSeqMax: o.nParallel,
        nThreads: o.threads,
        mmap: true,
        vocabOnly: false,
        kvSplit: true,
        kvF32: o.kvF32 ?? false,
      });
    } catch (e) {
      if (e instanceof NativeError) throw new EngineError("internal", `llama.cpp could not load ${o.path}: ${e.detail || e.message}`);
      throw e;
    }
    const m = this.model;
    const id = (k: number) => {
      const v = this.lib.info(m, k);
      return v < 0 ? null : v;
    };
    this.eog = new Set(this.lib.eogTokens(m));
    const bos = id(Info.LSHIM_INFO_BOS);
    const eos = id(Info.LSHIM_INFO_EOS);
    const text = (t: number | null) => (t === null ? "" : new TextDecoder().decode(this.lib.tokenPiece(m, t, true)));
    // The mask token for block diffusion: our metadata key, llama.cpp's own, or a token so named.
    const mask = facts.maskToken ?? id(Info.LSHIM_INFO_MASK) ?? this.lib.tokenFind(m, "|<MASK>|") ?? this.lib.tokenFind(m, "<|mask|>");
    this.info = {
      arch: this.lib.str(m, Str.LSHIM_STR_ARCH) ?? facts.arch,
      name: this.lib.str(m, Str.LSHIM_STR_NAME) ?? facts.name,
      format: facts.format,
      nVocab: this.lib.info(m, Info.LSHIM_INFO_N_VOCAB),
      nCtx: Math.min(o.nCtx, this.lib.info(m, Info.LSHIM_INFO_N_CTX_SEQ)),
      nCtxTrain: this.lib.info(m, Info.LSHIM_INFO_N_CTX_TRAIN),
      nEmbd: this.lib.info(m, Info.LSHIM_INFO_N_EMBD),
      nLayers: this.lib.info(m, Info.LSHIM_INFO_N_LAYER),
      nHeads: this.lib.info(m, Info.LSHIM_INFO_N_HEAD),
      nKvHeads: this.lib.info(m, Info.LSHIM_INFO_N_HEAD_KV),
      nBatch: this.lib.info(m, Info.LSHIM_INFO_N_BATCH),
      nSeqMax: this.lib.info(m, Info.LSHIM_INFO_N_SEQ_MAX),
      bos,
      eos,
      bosText: text(bos),
      eosText: text(eos),
      addBos: this.lib.info(m, Info.LSHIM_INFO_ADD_BOS) === 1,
      eog: [...this.eog].sort((a, b) => a - b),
      maskToken: mask,
      dlmAttention: facts.dlmAttention,
      chatTemplate: this.lib.str(m, Str.LSHIM_STR_CHAT_TEMPLATE),
      fileBytes: file.size,
    };
  }

  private handle(): ModelHandle {
    if (this.model === null) throw new EngineError("internal", "the llama engine was used after close()");
    return this.model;
  }

  tokenize(text: string, opts: TokenizeOptions): Int32Array {
    return this.lib.tokenize(this.handle(), text, opts.addSpecial, opts.parseSpecial);
  }

  tokenBytes(token: number, special: boolean): Uint8Array {
    const cache = special ? this.specialPieces : this.pieces;
    let p = cache[token];
    if (p === undefined) {
      p = this.lib.tokenPiece(this.handle(), token, special);
      cache[token] = p;
    }
    return p;
  }

  isEog(token: number): boolean {
    return this.eog.has(token);
  }

  decode(b: Batch, attention: AttentionMode): Float32Array {
    const m = this.handle();
    const causal = attention === "causal";
    if (causal !== this.causal) {
      this.lib.setCausal(m, causal);
      this.causal = causal;
    }
    const rows = this.lib.decode(m, b.tokens, b.positions, b.seqIds, b.wantLogits, b.n);
    return rows === 0 ? new Float32Array(0) : this.lib.logits(m, this.info.nVocab);
  }

  kvRemove(seq: number, p0: number, p1: number): void {
    this.lib.kvSeqRm(this.handle(), seq, p0, p1);
  }

  kvCopy(src: number, dst: number, p0: number, p1: number): void {
    this.lib.kvSeqCp(this.handle(), src, dst, p0, p1);
  }

  kvClear(seq: number): void {
    if (seq < 0) this.lib.kvClear(this.handle());
    else this.lib.kvSeqRm(this.handle(), seq, -1, -1);
  }

  kvNextPos(seq: number): number {
    return this.lib.kvSeqPosMax(this.handle(), seq) + 1;
  }

  setThreads(n: number): void {
    this.lib.setThreads(this.handle(), n, n);
  }

  close(): void {
    if (this.model === null) return;
    this.lib.freeModel(this.model);
    this.model = null;
  }
}
