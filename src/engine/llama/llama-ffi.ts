// The only bun:ffi import for libllama-shim: its dlopen table (C names verbatim, mirroring
// cpp/llama-shim/include/llama-shim.h), library lookup, ABI check, call tracing, and typed calls
// that turn statuses into NativeError and pointers/buffers into JS values.

import { locateNativeLib, traced } from "../ffi-support.ts";
import { dlopen, JSCallback, toArrayBuffer, type FFIFunction, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";

import { NativeError } from "../native-error.ts";

// ---- constants shared with the header (llama-ffi.test.ts checks them against it) -------------

export const LSHIM_ABI_VERSION = 2;

export const Status = {
  LSHIM_OK: 0,
  LSHIM_E_INVALID_ARG: -1,
  LSHIM_E_BAD_HANDLE: -2,
  LSHIM_E_ABI: -3,
  LSHIM_E_LOAD: -4,
  LSHIM_E_CONTEXT: -5,
  LSHIM_E_NO_CONTEXT: -6,
  LSHIM_E_BUFFER_TOO_SMALL: -7,
  LSHIM_E_BATCH_TOO_LARGE: -8,
  LSHIM_E_NO_KV_SLOT: -9,
  LSHIM_E_ABORTED: -10,
  LSHIM_E_DECODE: -11,
  LSHIM_E_KV: -12,
  LSHIM_E_NOT_FOUND: -13,
  LSHIM_E_TOKENIZE: -14,
  LSHIM_E_OUT_OF_MEMORY: -15,
  LSHIM_E_INTERNAL: -16,
} as const;

export const LoadFlag = {
  LSHIM_LOAD_MMAP: 1,
  LSHIM_LOAD_VOCAB_ONLY: 2,
  LSHIM_LOAD_KV_SPLIT: 4,
  LSHIM_LOAD_KV_F32: 8,
} as const;

export const Info = {
  LSHIM_INFO_N_VOCAB: 0,
  LSHIM_INFO_N_CTX: 1,
  LSHIM_INFO_N_CTX_SEQ: 2,
  LSHIM_INFO_N_CTX_TRAIN: 3,
  LSHIM_INFO_N_EMBD: 4,
  LSHIM_INFO_N_LAYER: 5,
  LSHIM_INFO_N_HEAD: 6,
  LSHIM_INFO_N_HEAD_KV: 7,
  LSHIM_INFO_N_BATCH: 8,
  LSHIM_INFO_N_UBATCH: 9,
  LSHIM_INFO_N_SEQ_MAX: 10,
  LSHIM_INFO_SIZE_BYTES: 11,
  LSHIM_INFO_N_PARAMS: 12,
  LSHIM_INFO_BOS: 13,
  LSHIM_INFO_EOS: 14,
  LSHIM_INFO_EOT: 15,
  LSHIM_INFO_SEP: 16,
  LSHIM_INFO_NL: 17,
  LSHIM_INFO_PAD: 18,
  LSHIM_INFO_MASK: 19,
  LSHIM_INFO_ADD_BOS: 20,
  LSHIM_INFO_ADD_EOS: 21,
  LSHIM_INFO_VOCAB_TYPE: 22,
  LSHIM_INFO_N_THREADS: 23,
  LSHIM_INFO_N_THREADS_BATCH: 24,
  LSHIM_INFO_CAUSAL: 25,
  LSHIM_INFO_COUNT: 26,
} as const;

export const Str = {
  LSHIM_STR_ARCH: 0,
  LSHIM_STR_NAME: 1,
  LSHIM_STR_DESC: 2,
  LSHIM_STR_CHAT_TEMPLATE: 3,
  LSHIM_STR_COUNT: 4,
} as const;

export const LogLevel = {
  LSHIM_LOG_NONE: 0,
  LSHIM_LOG_DEBUG: 1,
  LSHIM_LOG_INFO: 2,
  LSHIM_LOG_WARN: 3,
  LSHIM_LOG_ERROR: 4,
} as const;

/** llama_token_attr bits (lshim_token_attr). */
export const TokenAttr = { unknown: 1, unused: 2, normal: 4, control: 8, userDefined: 16, byte: 32 } as const;

// ---- the dlopen table: one entry per LSHIM_API declaration, in header order ------------------

export const symbols = {
  lshim_abi_version: { args: [], returns: "i32" },
  lshim_sizeof_check: { args: ["i32", "i32", "i32", "i32", "i32"], returns: "i32" },
  lshim_last_error: { args: [], returns: "cstring" },
  lshim_backend_init: { args: [], returns: "i32" },
  lshim_log_set_stderr_level: { args: ["i32"], returns: "i32" },
  lshim_log_set_callback: { args: ["ptr", "ptr", "i32"], returns: "i32" },
  lshim_log_tail: { args: ["ptr", "i32", "ptr"], returns: "i32" },
  lshim_model_load: {
    args: ["ptr", "i32", "i32", "i32", "i32", "i32", "u32", "ptr", "ptr", "ptr"],
    returns: "i32",
  },
  lshim_model_free: { args: ["ptr"], returns: "i32" },
  lshim_model_info: { args: ["ptr", "i32", "ptr"], returns: "i32" },
  lshim_model_str: { args: ["ptr", "i32", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_model_meta: { args: ["ptr", "ptr", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_model_chat_template: { args: ["ptr", "ptr", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_token_is_eog: { args: ["ptr", "i32", "ptr"], returns: "i32" },
  lshim_token_attr: { args: ["ptr", "i32", "ptr"], returns: "i32" },
  lshim_token_text: { args: ["ptr", "i32", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_token_piece: { args: ["ptr", "i32", "i32", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_token_find: { args: ["ptr", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_vocab_eog_tokens: { args: ["ptr", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_tokenize: { args: ["ptr", "ptr", "i32", "i32", "i32", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_detokenize: { args: ["ptr", "ptr", "i32", "i32", "i32", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_decode: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "i32", "ptr"], returns: "i32" },
  lshim_logits: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  lshim_set_causal: { args: ["ptr", "i32"], returns: "i32" },
  lshim_set_threads: { args: ["ptr", "i32", "i32"], returns: "i32" },
  lshim_kv_seq_rm: { args: ["ptr", "i32", "i32", "i32"], returns: "i32" },
  lshim_kv_seq_cp: { args: ["ptr", "i32", "i32", "i32", "i32"], returns: "i32" },
  lshim_kv_seq_keep: { args: ["ptr", "i32"], returns: "i32" },
  lshim_kv_clear: { args: ["ptr"], returns: "i32" },
  lshim_kv_seq_pos_min: { args: ["ptr", "i32", "ptr"], returns: "i32" },
  lshim_kv_seq_pos_max: { args: ["ptr", "i32", "ptr"], returns: "i32" },
} as const satisfies Record<string, FFIFunction>;

type Symbols = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

// ---- locating and opening the library -------------------------------------------------------

/** `$TERNARY_LLAMA_SHIM`, else the executable's embedded copy, else `build/lib/libllama-shim.so` in the checkout. */
export function locateShim(env: Record<string, string | undefined> = process.env): string {
  return locateNativeLib("libllama-shim", "TERNARY_LLAMA_SHIM", env);
}

const statusNames = new Map<number, string>(Object.entries(Status).map(([name, code]) => [code, name]));

export function statusName(code: number): string {
  return statusNames.get(code) ?? `LSHIM_E_UNKNOWN`;
}

/** A model handle from lshim_model_load, used until `LlamaShim.freeModel`. */
export type ModelHandle = Pointer;

export interface LoadOptions {
  nCtx: number;
  nBatch: number;
  nUbatch: number;
  nSeqMax: number;
  nThreads: number;
  mmap: boolean;
  vocabOnly: boolean;
  /** One KV stream per sequence instead of one unified cache (see LSHIM_LOAD_KV_SPLIT). */
  kvSplit: boolean;
  /** F32 K/V and no flash attention: exact but slower (LSHIM_LOAD_KV_F32). */
  kvF32?: boolean;
  onProgress?: (progress: number) => void;
}


const encoder = new TextEncoder();

/** A NUL-terminated copy of `s` for `const char *` arguments. */
function cString(s: string): Uint8Array {
  if (s.includes("\0")) throw new TypeError(`string passed to C contains a NUL byte: ${JSON.stringify(s)}`);
  return encoder.encode(`${s}\0`);
}

/**
 * The opened library. Not thread-safe: one instance per thread (the engine worker); the scratch
 * out-parameters below are reused by every call.
 */
export class LlamaShim {
  readonly path: string;
  /** The raw symbols (traced when TERNARY_TRACE_FFI=1); prefer the typed methods. */
  readonly fns: Symbols;
  private readonly lib: { close(): void };
  private readonly outI32 = new Int32Array(2); // (2) scalar out-parameters
  private readonly outI64 = new BigInt64Array(1); // (1) int64_t out-parameter
  private readonly outPtr = new BigUint64Array(1); // (1) pointer out-parameter
  private textBuf = new Uint8Array(256); // grows to the largest string read so far
  private tokenBuf = new Int32Array(256); // grows to the longest tokenization so far

  private constructor(path: string, lib: { close(): void; symbols: Symbols }, trace: boolean) {
    this.path = path;
    this.lib = lib;
    this.fns = trace ? traced(lib.symbols) : lib.symbols;
  }

  /** dlopens the shim, checks its ABI and initialises llama.cpp's backends. Throws with a clear message. */
  static open(path: string = locateShim(), env: Record<string, string | undefined> = process.env): LlamaShim {
    if (!existsSync(path)) {
      throw new Error(`libllama-shim not found at ${path}: run \`npm run setup\` or set TERNARY_LLAMA_SHIM`);
    }
    let lib: ReturnType<typeof dlopen<typeof symbols>>;
    try {
      lib = dlopen(path, symbols);
    } catch (e) {
      throw new Error(`cannot load ${path}: ${(e as Error).message} (stale build? run \`npm run setup\`)`);
    }
    const shim = new LlamaShim(path, lib, env.TERNARY_TRACE_FFI === "1");
    const version = shim.fns.lshim_abi_version();
    if (version !== LSHIM_ABI_VERSION) {
      lib.close();
      throw new Error(`${path} has ABI version ${version}, this code expects ${LSHIM_ABI_VERSION}: rebuild it (npm run setup)`);
    }
    // pointer, llama_token, llama_pos, llama_seq_id, float
    shim.check("lshim_sizeof_check", shim.fns.lshim_sizeof_check(8, 4, 4, 4, 4));
    shim.check("lshim_backend_init", shim.fns.lshim_backend_init());
    return shim;
  }

  close(): void {
    this.lib.close();
  }

  lastError(): string {
    return this.fns.lshim_last_error() ?? "";
  }

  /** Throws NativeError for a negative status; returns the status otherwise. */
  check(fn: string, status: number): number {
    if (status < 0) throw new NativeError("llama-shim", fn, status, statusName(status), this.lastError());
    return status;
  }

  // ---- buffers ------------------------------------------------------------------------------

  /** Runs a `(buf, cap, out_len)` call, growing the buffer once if it was too small; returns a copy. */
  private readBytes(fn: string, call: (buf: Uint8Array, cap: number, outLen: Int32Array) => number): Uint8Array | null {
    for (let attempt = 0; attempt < 2; attempt++) {
      const status = call(this.textBuf, this.textBuf.length, this.outI32);
      const len = this.outI32[0];
      if (status === Status.LSHIM_E_BUFFER_TOO_SMALL && attempt === 0) {
        this.textBuf = new Uint8Array(Math.max(len + 1, this.textBuf.length * 2));
        continue;
      }
      if (status === Status.LSHIM_E_NOT_FOUND) return null;
      this.check(fn, status);
      return this.textBuf.slice(0, len);
    }
    throw new NativeError("llama-shim", fn, Status.LSHIM_E_BUFFER_TOO_SMALL, "LSHIM_E_BUFFER_TOO_SMALL", "size changed between calls");
  }

  private readString(fn: string, call: (buf: Uint8Array, cap: number, outLen: Int32Array) => number): string | null {
    const bytes = this.readBytes(fn, call);
    return bytes === null ? null : new TextDecoder().decode(bytes);
  }

  // ---- process-wide -------------------------------------------------------------------------

  /** Echo llama.cpp's log lines at or above `level` (LogLevel) to stderr; LSHIM_LOG_NONE: silent. */
  setLogStderrLevel(level: number): void {
    this.check("lshim_log_set_stderr_level", this.fns.lshim_log_set_stderr_level(level));
  }

  /** The last 64 KiB of llama.cpp's log (info and above). */
  logTail(): string {
    return this.readString("lshim_log_tail", (b, c, o) => this.fns.lshim_log_tail(b, c, o)) ?? "";
  }

  // ---- model lifetime -----------------------------------------------------------------------

  loadModel(path: string, opts: LoadOptions): ModelHandle {
    const flags =
      (opts.mmap ? LoadFlag.LSHIM_LOAD_MMAP : 0) |
      (opts.vocabOnly ? LoadFlag.LSHIM_LOAD_VOCAB_ONLY : 0) |
      (opts.kvSplit ? LoadFlag.LSHIM_LOAD_KV_SPLIT : 0) |
      (opts.kvF32 ? LoadFlag.LSHIM_LOAD_KV_F32 : 0);
    const onProgress = opts.onProgress;
    // called synchronously on this thread during the load, closed right after
    const callback = onProgress
      ? new JSCallback((progress: number) => onProgress(progress), { args: ["f32", "ptr"], returns: "void" })
      : null;
    try {
      this.outPtr[0] = 0n;
      const status = this.fns.lshim_model_load(
        cString(path), opts.nCtx, opts.nBatch, opts.nUbatch, opts.nSeqMax, opts.nThreads, flags,
        callback?.ptr ?? null, null, this.outPtr,
      );
      this.check("lshim_model_load", status);
      return Number(this.outPtr[0]) as ModelHandle;
    } finally {
      callback?.close();
    }
  }

  freeModel(model: ModelHandle): void {
    this.check("lshim_model_free", this.fns.lshim_model_free(model));
  }

  // ---- model facts --------------------------------------------------------------------------

  /** An integer fact (Info key). */
  info(model: ModelHandle, key: number): number {
    this.check("lshim_model_info", this.fns.lshim_model_info(model, key, this.outI64));
    return Number(this.outI64[0]);
  }

  /** A string fact (Str key), null when the model has none. */
  str(model: ModelHandle, key: number): string | null {
    return this.readString("lshim_model_str", (b, c, o) => this.fns.lshim_model_str(model, key, b, c, o));
  }

  /** A GGUF metadata value rendered as text, null when absent. */
  meta(model: ModelHandle, key: string): string | null {
    const k = cString(key);
    return this.readString("lshim_model_meta", (b, c, o) => this.fns.lshim_model_meta(model, k, b, c, o));
  }

  chatTemplate(model: ModelHandle, name?: string): string | null {
    const n = name === undefined ? null : cString(name);
    return this.readString("lshim_model_chat_template", (b, c, o) => this.fns.lshim_model_chat_template(model, n, b, c, o));
  }

  // ---- vocabulary ---------------------------------------------------------------------------

  tokenIsEog(model: ModelHandle, token: number): boolean {
    this.check("lshim_token_is_eog", this.fns.lshim_token_is_eog(model, token, this.outI32));
    return this.outI32[0] !== 0;
  }

  tokenAttr(model: ModelHandle, token: number): number {
    this.check("lshim_token_attr", this.fns.lshim_token_attr(model, token, this.outI32));
    return this.outI32[0];
  }

  /** The token's vocabulary text (e.g. "Ġthe"). */
  tokenText(model: ModelHandle, token: number): string {
    return this.readString("lshim_token_text", (b, c, o) => this.fns.lshim_token_text(model, token, b, c, o)) ?? "";
  }

  /** The exact bytes a token stands for; `special` renders control tokens as their text. */
  tokenPiece(model: ModelHandle, token: number, special: boolean): Uint8Array {
    const s = special ? 1 : 0;
    return this.readBytes("lshim_token_piece", (b, c, o) => this.fns.lshim_token_piece(model, token, s, b, c, o)) ?? new Uint8Array(0);
  }

  /** The id of the token whose text is exactly `text` (a special token preferred), or null. */
  tokenFind(model: ModelHandle, text: string): number | null {
    const bytes = encoder.encode(text);
    const status = this.fns.lshim_token_find(model, bytes, bytes.length, this.outI32);
    if (status === Status.LSHIM_E_NOT_FOUND) return null;
    this.check("lshim_token_find", status);
    return this.outI32[0];
  }

  eogTokens(model: ModelHandle): number[] {
    const buf = new Int32Array(64);
    const status = this.fns.lshim_vocab_eog_tokens(model, buf, buf.length, this.outI32);
    if (status === Status.LSHIM_E_BUFFER_TOO_SMALL) {
      const big = new Int32Array(this.outI32[0]);
      this.check("lshim_vocab_eog_tokens", this.fns.lshim_vocab_eog_tokens(model, big, big.length, this.outI32));
      return Array.from(big);
    }
    this.check("lshim_vocab_eog_tokens", status);
    return Array.from(buf.subarray(0, this.outI32[0]));
  }

  tokenize(model: ModelHandle, text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array {
    const bytes = encoder.encode(text);
    const add = addSpecial ? 1 : 0;
    const parse = parseSpecial ? 1 : 0;
    if (this.tokenBuf.length < bytes.length + 8) this.tokenBuf = new Int32Array(bytes.length + 8);
    let status = this.fns.lshim_tokenize(model, bytes, bytes.length, add, parse, this.tokenBuf, this.tokenBuf.length, this.outI32);
    if (status === Status.LSHIM_E_BUFFER_TOO_SMALL) {
      this.tokenBuf = new Int32Array(this.outI32[0]);
      status = this.fns.lshim_tokenize(model, bytes, bytes.length, add, parse, this.tokenBuf, this.tokenBuf.length, this.outI32);
    }
    this.check("lshim_tokenize", status);
    return this.tokenBuf.slice(0, this.outI32[0]);
  }

  detokenize(model: ModelHandle, tokens: Int32Array, removeSpecial: boolean, unparseSpecial: boolean): Uint8Array {
    const rm = removeSpecial ? 1 : 0;
    const un = unparseSpecial ? 1 : 0;
    return (
      this.readBytes("lshim_detokenize", (b, c, o) => this.fns.lshim_detokenize(model, tokens, tokens.length, rm, un, b, c, o)) ??
      new Uint8Array(0)
    );
  }

  // ---- decoding -----------------------------------------------------------------------------

  /** Decodes the first `n` entries of the parallel arrays; returns the number of logits rows. */
  decode(
    model: ModelHandle,
    tokens: Int32Array,
    positions: Int32Array,
    seqIds: Int32Array,
    wantLogits: Int8Array | Uint8Array,
    n: number,
  ): number {
    if (tokens.length < n || positions.length < n || seqIds.length < n || wantLogits.length < n) {
      throw new RangeError(`decode: arrays shorter than n = ${n}`);
    }
    this.check("lshim_decode", this.fns.lshim_decode(model, tokens, positions, seqIds, wantLogits, n, this.outI32));
    return this.outI32[0];
  }

  /** The last decode's logits, zero-copy: (rows, nVocab) floats, valid until the next decode or free. */
  logits(model: ModelHandle, nVocab: number): Float32Array {
    this.check("lshim_logits", this.fns.lshim_logits(model, this.outPtr, this.outI32));
    const rows = this.outI32[0];
    const address = Number(this.outPtr[0]);
    if (rows === 0 || address === 0) return new Float32Array(0);
    return new Float32Array(toArrayBuffer(address as Pointer, 0, rows * nVocab * 4));
  }

  setCausal(model: ModelHandle, causal: boolean): void {
    this.check("lshim_set_causal", this.fns.lshim_set_causal(model, causal ? 1 : 0));
  }

  setThreads(model: ModelHandle, nThreads: number, nThreadsBatch: number): void {
    this.check("lshim_set_threads", this.fns.lshim_set_threads(model, nThreads, nThreadsBatch));
  }

  // ---- KV cache -----------------------------------------------------------------------------

  kvSeqRm(model: ModelHandle, seq: number, p0: number, p1: number): void {
    this.check("lshim_kv_seq_rm", this.fns.lshim_kv_seq_rm(model, seq, p0, p1));
  }

  kvSeqCp(model: ModelHandle, src: number, dst: number, p0: number, p1: number): void {
    this.check("lshim_kv_seq_cp", this.fns.lshim_kv_seq_cp(model, src, dst, p0, p1));
  }

  kvSeqKeep(model: ModelHandle, seq: number): void {
    this.check("lshim_kv_seq_keep", this.fns.lshim_kv_seq_keep(model, seq));
  }

  kvClear(model: ModelHandle): void {
    this.check("lshim_kv_clear", this.fns.lshim_kv_clear(model));
  }

  kvSeqPosMin(model: ModelHandle, seq: number): number {
    this.check("lshim_kv_seq_pos_min", this.fns.lshim_kv_seq_pos_min(model, seq, this.outI32));
    return this.outI32[0];
  }

  kvSeqPosMax(model: ModelHandle, seq: number): number {
    this.check("lshim_kv_seq_pos_max", this.fns.lshim_kv_seq_pos_max(model, seq, this.outI32));
    return this.outI32[0];
  }
}
