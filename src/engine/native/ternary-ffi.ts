// The only bun:ffi import for libternary: its dlopen table (C names verbatim, mirroring
// cpp/ternary/include/ternary.h), library lookup, ABI check, call tracing, and typed handles with close().

import { locateNativeLib, traced } from "../ffi-support.ts";
import { dlopen, type FFIFunction, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";

import { NativeError } from "../native-error.ts";

// ---- constants shared with the header (ternary-ffi.test.ts checks them against it) -------------

export const TERN_ABI_VERSION = 2;

export const Status = {
  TERN_OK: 0,
  TERN_E_ARG: -1,
  TERN_E_FORMAT: -2,
  TERN_E_UNSUPPORTED: -3,
  TERN_E_NOMEM: -4,
  TERN_E_CAPACITY: -5,
  TERN_E_THREAD: -6,
} as const;

export const Kernels = {
  TERN_KERNELS_AUTO: 0,
  TERN_KERNELS_SCALAR: 1,
  TERN_KERNELS_AVX2: 2,
  TERN_KERNELS_AVX512: 3,
  TERN_KERNELS_AMX: 4,
} as const;

export const CpuFeature = {
  TERN_CPU_AVX2: 1 << 0,
  TERN_CPU_FMA: 1 << 1,
  TERN_CPU_F16C: 1 << 2,
  TERN_CPU_AVX512F: 1 << 3,
  TERN_CPU_AVX512BW: 1 << 4,
  TERN_CPU_AVX512VL: 1 << 5,
  TERN_CPU_AVX512VNNI: 1 << 6,
  TERN_CPU_AMX_TILE: 1 << 7,
  TERN_CPU_AMX_INT8: 1 << 8,
  TERN_CPU_OS_AVX: 1 << 9,
  TERN_CPU_OS_AVX512: 1 << 10,
  TERN_CPU_OS_AMX: 1 << 11,
} as const;

/** Input formats; the values are ggml type ids where ggml has them. */
export const Format = {
  TERN_FMT_F32: 0,
  TERN_FMT_F16: 1,
  TERN_FMT_TQ1_0: 34,
  TERN_FMT_TQ2_0: 35,
  TERN_FMT_I2_S: 36,
  TERN_FMT_TERNARY_I8: 1000,
} as const;

export const MatrixKind = {
  TERN_MATRIX_TERNARY: 1,
  TERN_MATRIX_Q8: 2,
  TERN_MATRIX_F16: 3,
  TERN_MATRIX_F32: 4,
} as const;

export const MatrixFlag = { TERN_MATRIX_FLAG_BORROW: 1, TERN_MATRIX_FLAG_Q8: 2, TERN_MATRIX_FLAG_DROP_INPUT: 4 } as const;
export const ActMode = { TERN_ACT_TOKEN: 0, TERN_ACT_Q8K: 1 } as const;
export const Mask = { TERN_MASK_CAUSAL: 0, TERN_MASK_BLOCK: 1 } as const;
export const RopeMode = { TERN_ROPE_EXACT: 0, TERN_ROPE_GGML: 1 } as const;
export const Glu = { TERN_GLU_SILU: 0, TERN_GLU_RELU2: 1 } as const;
export const KvType = { TERN_KV_F32: 0, TERN_KV_F16: 1 } as const;

// ---- the dlopen table: one entry per TERN_API declaration, in header order -----------------------

export const symbols = {
  tern_abi_version: { args: [], returns: "u32" },
  tern_last_error: { args: [], returns: "cstring" },
  tern_status_name: { args: ["i32"], returns: "cstring" },
  tern_cpu_features: { args: [], returns: "u32" },
  tern_kernels_available: { args: [], returns: "u32" },
  tern_kernels_name: { args: ["i32"], returns: "cstring" },
  tern_pool_init: { args: ["i32", "i32", "ptr"], returns: "i32" },
  tern_pool_free: { args: ["ptr"], returns: "void" },
  tern_pool_threads: { args: ["ptr"], returns: "i32" },
  tern_pool_kernels: { args: ["ptr"], returns: "i32" },
  tern_matrix_init: { args: ["ptr", "i32", "ptr", "u64", "i64", "i64", "u32", "ptr"], returns: "i32" },
  tern_matrix_free: { args: ["ptr"], returns: "void" },
  tern_matrix_rows: { args: ["ptr"], returns: "i64" },
  tern_matrix_cols: { args: ["ptr"], returns: "i64" },
  tern_matrix_kind: { args: ["ptr"], returns: "i32" },
  tern_matrix_nbytes: { args: ["ptr"], returns: "u64" },
  tern_matrix_scale: { args: ["ptr"], returns: "f32" },
  tern_matrix_set_scale: { args: ["ptr", "f32"], returns: "i32" },
  tern_matrix_get_rows: { args: ["ptr", "ptr", "i32", "ptr"], returns: "i32" },
  tern_acts_init: { args: ["i32", "i64", "ptr"], returns: "i32" },
  tern_acts_free: { args: ["ptr"], returns: "void" },
  tern_acts_quantize: { args: ["ptr", "ptr", "ptr", "i32", "i32"], returns: "i32" },
  tern_acts_tokens: { args: ["ptr"], returns: "i32" },
  tern_acts_get: { args: ["ptr", "i32", "ptr", "ptr"], returns: "i32" },
  tern_matmul: { args: ["ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  tern_matmul3: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  tern_matmul_f32: { args: ["ptr", "ptr", "ptr", "i32", "ptr"], returns: "i32" },
  tern_rmsnorm: { args: ["ptr", "ptr", "ptr", "ptr", "i32", "i32", "f32"], returns: "i32" },
  tern_glu: { args: ["ptr", "i32", "ptr", "ptr", "ptr", "i64"], returns: "i32" },
  tern_add: { args: ["ptr", "ptr", "ptr", "ptr", "i64"], returns: "i32" },
  tern_softmax: { args: ["ptr", "ptr", "i32", "i32"], returns: "i32" },
  tern_argmax: { args: ["ptr", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  tern_rope_init: { args: ["i32", "f32", "i32", "i32", "ptr"], returns: "i32" },
  tern_rope_free: { args: ["ptr"], returns: "void" },
  tern_rope_apply: { args: ["ptr", "ptr", "ptr", "i32", "i32", "i32", "ptr"], returns: "i32" },
  tern_kv_init: { args: ["i32", "i32", "i32", "i32", "i32", "i32", "ptr"], returns: "i32" },
  tern_kv_free: { args: ["ptr"], returns: "void" },
  tern_kv_nbytes: { args: ["ptr"], returns: "u64" },
  tern_kv_clear: { args: ["ptr"], returns: "i32" },
  tern_kv_seq_rm: { args: ["ptr", "i32", "i32", "i32"], returns: "i32" },
  tern_kv_seq_cp: { args: ["ptr", "i32", "i32", "i32", "i32"], returns: "i32" },
  tern_kv_seq_pos_max: { args: ["ptr", "i32", "ptr"], returns: "i32" },
  tern_attention: {
    args: ["ptr", "ptr", "i32", "ptr", "ptr", "ptr", "i32", "ptr", "ptr", "i32", "f32", "i32", "ptr"],
    returns: "i32",
  },
} as const satisfies Record<string, FFIFunction>;

type Symbols = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

// ---- locating and opening the library ---------------------------------------------------------------

/** `$TERNARY_LIBTERNARY`, else the executable's embedded copy, else `build/lib/libternary.so` in the checkout. */
export function locateTernary(env: Record<string, string | undefined> = process.env): string {
  return locateNativeLib("libternary", "TERNARY_LIBTERNARY", env);
}

const statusNames = new Map<number, string>(Object.entries(Status).map(([name, code]) => [code, name]));

export function statusName(code: number): string {
  return statusNames.get(code) ?? "TERN_E_UNKNOWN";
}

/** Throws RangeError unless `a` holds at least `n` elements (C cannot check buffer sizes). */
function need(fn: string, what: string, a: ArrayBufferView & { length: number }, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || a.length < n) {
    throw new RangeError(`${fn}: ${what} has ${a.length} elements, needs ${n}`);
  }
}

/**
 * The opened library. Calls block the calling thread (the engine worker); the out-parameter scratch
 * below is reused by every call, so one instance belongs to one thread.
 */
export class Ternary {
  readonly path: string;
  /** The raw symbols (traced when TERNARY_TRACE_FFI=1); prefer the typed methods and handles. */
  readonly fns: Symbols;
  private readonly lib: { close(): void };
  /** @internal (1) pointer out-parameter of the *_init calls */
  readonly outPtr = new BigUint64Array(1);
  /** @internal (1) int32_t out-parameter */
  readonly outI32 = new Int32Array(1);

  private constructor(path: string, lib: { close(): void; symbols: Symbols }, trace: boolean) {
    this.path = path;
    this.lib = lib;
    this.fns = trace ? traced(lib.symbols) : lib.symbols;
  }

  /** dlopens libternary and checks its ABI version. Throws with a clear message. */
  static open(path: string = locateTernary(), env: Record<string, string | undefined> = process.env): Ternary {
    if (!existsSync(path)) throw new Error(`libternary not found at ${path}: run \`npm run setup\` or set TERNARY_LIBTERNARY`);
    let lib: ReturnType<typeof dlopen<typeof symbols>>;
    try {
      lib = dlopen(path, symbols);
    } catch (e) {
      throw new Error(`cannot load ${path}: ${(e as Error).message} (stale build? run \`npm run setup\`)`);
    }
    const t = new Ternary(path, lib, env.TERNARY_TRACE_FFI === "1");
    const version = t.fns.tern_abi_version();
    if (version !== TERN_ABI_VERSION) {
      lib.close();
      throw new Error(`${path} has ABI version ${version}, this code expects ${TERN_ABI_VERSION}: rebuild it (npm run setup)`);
    }
    return t;
  }

  close(): void {
    this.lib.close();
  }

  lastError(): string {
    return this.fns.tern_last_error() ?? "";
  }

  /** Throws NativeError for a negative status; returns the status otherwise. */
  check(fn: string, status: number): number {
    if (status < 0) throw new NativeError("ternary", fn, status, statusName(status), this.lastError());
    return status;
  }

  /** @internal Reads the handle an *_init call wrote to outPtr. */
  takeHandle(fn: string, status: number): Pointer {
    this.check(fn, status);
    const p = Number(this.outPtr[0]);
    if (!p) throw new NativeError("ternary", fn, Status.TERN_E_ARG, "TERN_E_ARG", "returned a NULL handle");
    return p as Pointer;
  }

  // ---- CPU and kernel families ----------------------------------------------------------------------

  cpuFeatures(): number {
    return this.fns.tern_cpu_features();
  }

  /** The kernel families (Kernels values) this CPU can run. */
  kernelsAvailable(): number[] {
    const mask = this.fns.tern_kernels_available();
    return Object.values(Kernels).filter((k) => k !== Kernels.TERN_KERNELS_AUTO && mask & (1 << k));
  }

  kernelsName(family: number): string {
    return this.fns.tern_kernels_name(family) ?? "?";
  }

  // ---- constructors of the handles ------------------------------------------------------------------

  /** A thread pool with its kernel family (Kernels; AUTO honours env TERNARY_KERNELS). */
  pool(nThreads: number, kernels: number = Kernels.TERN_KERNELS_AUTO): Pool {
    return new Pool(this, this.takeHandle("tern_pool_init", this.fns.tern_pool_init(nThreads, kernels, this.outPtr)));
  }

  /**
   * A matrix repacked from `data` (a Format) of rows x cols, repacked on `pool` (or this thread).
   * With TERN_MATRIX_FLAG_BORROW the matrix keeps pointing into `data` (kept alive here); arrays under
   * 64 KiB are copied instead, since small typed arrays may move.
   */
  matrix(pool: Pool | null, format: number, data: NodeJS.TypedArray, rows: number, cols: number, flags = 0): Matrix {
    if (data.byteLength < 65536) flags &= ~MatrixFlag.TERN_MATRIX_FLAG_BORROW;
    const status = this.fns.tern_matrix_init(pool?.ptr ?? null, format, data, data.byteLength, rows, cols, flags, this.outPtr);
    const m = new Matrix(this, this.takeHandle("tern_matrix_init", status));
    if (flags & MatrixFlag.TERN_MATRIX_FLAG_BORROW) m.borrowed = data;
    return m;
  }

  /** A buffer of int8-quantised activations for up to maxTokens x cols. */
  acts(maxTokens: number, cols: number): Acts {
    return new Acts(this, this.takeHandle("tern_acts_init", this.fns.tern_acts_init(maxTokens, cols, this.outPtr)), cols, maxTokens);
  }

  /** NEOX RoPE table for positions [0, nPos) (RopeMode: exact, or ggml's float rounding). */
  rope(nRot: number, thetaBase: number, nPos: number, mode: number = RopeMode.TERN_ROPE_EXACT): Rope {
    return new Rope(this, this.takeHandle("tern_rope_init", this.fns.tern_rope_init(nRot, thetaBase, nPos, mode, this.outPtr)));
  }

  /** KV cache: layers x sequence slots x nCtx positions of nKvHeads x headDim (KvType). */
  kv(nLayers: number, nSeqs: number, nCtx: number, nKvHeads: number, headDim: number, dtype: number = KvType.TERN_KV_F16): KvCache {
    const status = this.fns.tern_kv_init(nLayers, nSeqs, nCtx, nKvHeads, headDim, dtype, this.outPtr);
    return new KvCache(this, this.takeHandle("tern_kv_init", status), { nLayers, nSeqs, nCtx, nKvHeads, headDim });
  }

  /** Per row of x [nRows][nCols]: the first index of the maximum, and its softmax probability. */
  argmax(x: Float32Array, nRows: number, nCols: number, ids: Int32Array, maxProb: Float32Array | null = null): void {
    need("tern_argmax", "x", x, nRows * nCols);
    need("tern_argmax", "ids", ids, nRows);
    if (maxProb) need("tern_argmax", "maxProb", maxProb, nRows);
    this.check("tern_argmax", this.fns.tern_argmax(x, nRows, nCols, ids, maxProb));
  }
}

// ---- handles ------------------------------------------------------------------------------------------

/** An owned C handle: every use after close() throws instead of touching freed memory. */
abstract class Handle {
  #ptr: Pointer | null;

  protected constructor(
    protected readonly t: Ternary,
    ptr: Pointer,
    private readonly freeFn: (p: Pointer) => void,
  ) {
    this.#ptr = ptr;
  }

  get ptr(): Pointer {
    if (this.#ptr === null) throw new Error(`${this.constructor.name} used after close()`);
    return this.#ptr;
  }

  get closed(): boolean {
    return this.#ptr === null;
  }

  close(): void {
    if (this.#ptr === null) return;
    this.freeFn(this.#ptr);
    this.#ptr = null;
  }
}

/** Threads + kernel family: the execution context of every batch op (one caller thread at a time). */
export class Pool extends Handle {
  constructor(t: Ternary, ptr: Pointer) {
    super(t, ptr, (p) => t.fns.tern_pool_free(p));
  }

  get threads(): number {
    return this.t.fns.tern_pool_threads(this.ptr);
  }

  get kernels(): number {
    return this.t.fns.tern_pool_kernels(this.ptr);
  }

  /** y [T][rows] = W . a for a ternary or Q8 matrix and quantised activations (T = acts.tokens). */
  matmul(m: Matrix, a: Acts, y: Float32Array): void {
    need("tern_matmul", "y", y, a.tokens * m.rows);
    this.t.check("tern_matmul", this.t.fns.tern_matmul(this.ptr, m.ptr, a.ptr, y));
  }

  /**
   * Up to three ternary/Q8 matrices on the same activations as one job (Q, K, V; gate, up): the same
   * results as three matmul calls, one pool synchronisation instead of three.
   */
  matmul3(a: Acts, m0: Matrix, y0: Float32Array, m1: Matrix | null = null, y1: Float32Array | null = null, m2: Matrix | null = null, y2: Float32Array | null = null): void {
    const T = a.tokens;
    need("tern_matmul3", "y0", y0, T * m0.rows);
    if (m1) need("tern_matmul3", "y1", y1 ?? new Float32Array(0), T * m1.rows);
    if (m2) need("tern_matmul3", "y2", y2 ?? new Float32Array(0), T * m2.rows);
    const st = this.t.fns.tern_matmul3(this.ptr, a.ptr, m0.ptr, y0, m1?.ptr ?? null, m1 ? y1 : null, m2?.ptr ?? null, m2 ? y2 : null);
    this.t.check("tern_matmul3", st);
  }

  /** y [T][rows] = W . x [T][cols] for any matrix kind. */
  matmulF32(m: Matrix, x: Float32Array, nTokens: number, y: Float32Array): void {
    need("tern_matmul_f32", "x", x, nTokens * m.cols);
    need("tern_matmul_f32", "y", y, nTokens * m.rows);
    this.t.check("tern_matmul_f32", this.t.fns.tern_matmul_f32(this.ptr, m.ptr, x, nTokens, y));
  }

  /** y [T][dim] = x / rms(x) * weight; y may be x. */
  rmsnorm(x: Float32Array, weight: Float32Array | null, y: Float32Array, nTokens: number, dim: number, eps: number): void {
    need("tern_rmsnorm", "x", x, nTokens * dim);
    need("tern_rmsnorm", "y", y, nTokens * dim);
    if (weight) need("tern_rmsnorm", "weight", weight, dim);
    this.t.check("tern_rmsnorm", this.t.fns.tern_rmsnorm(this.ptr, x, weight, y, nTokens, dim, eps));
  }

  /** out [n] = act(gate) * up (Glu); out may be gate or up. */
  glu(act: number, gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void {
    need("tern_glu", "gate", gate, n);
    need("tern_glu", "up", up, n);
    need("tern_glu", "out", out, n);
    this.t.check("tern_glu", this.t.fns.tern_glu(this.ptr, act, gate, up, out, n));
  }

  /** out [n] = a + b; out may be a or b. */
  add(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void {
    need("tern_add", "a", a, n);
    need("tern_add", "b", b, n);
    need("tern_add", "out", out, n);
    this.t.check("tern_add", this.t.fns.tern_add(this.ptr, a, b, out, n));
  }

  /** In place, per row of x [nRows][nCols]. */
  softmax(x: Float32Array, nRows: number, nCols: number): void {
    need("tern_softmax", "x", x, nRows * nCols);
    this.t.check("tern_softmax", this.t.fns.tern_softmax(this.ptr, x, nRows, nCols));
  }
}

/** A weight matrix in the kernels' layout. */
export class Matrix extends Handle {
  /** The caller's array a borrowed F32/F16 matrix points into (kept alive with the matrix). */
  borrowed: ArrayBufferView | null = null;
  readonly rows: number;
  readonly cols: number;
  /** MatrixKind (fixed at init). */
  readonly kind: number;

  constructor(t: Ternary, ptr: Pointer) {
    super(t, ptr, (p) => t.fns.tern_matrix_free(p));
    this.rows = Number(t.fns.tern_matrix_rows(ptr));
    this.cols = Number(t.fns.tern_matrix_cols(ptr));
    this.kind = t.fns.tern_matrix_kind(ptr);
  }

  override close(): void {
    super.close();
    this.borrowed = null;
  }

  get nbytes(): number {
    return Number(this.t.fns.tern_matrix_nbytes(this.ptr));
  }

  /** Ternary: the tensor scale (settable, e.g. to fold in a `.scale` tensor); others 1. */
  get scale(): number {
    return this.t.fns.tern_matrix_scale(this.ptr);
  }

  set scale(s: number) {
    this.t.check("tern_matrix_set_scale", this.t.fns.tern_matrix_set_scale(this.ptr, s));
  }

  /** Dequantised rows ids[0..n) into out [n][cols] (embedding lookup). */
  getRows(ids: Int32Array, out: Float32Array, n: number = ids.length): void {
    need("tern_matrix_get_rows", "ids", ids, n);
    need("tern_matrix_get_rows", "out", out, n * this.cols);
    this.t.check("tern_matrix_get_rows", this.t.fns.tern_matrix_get_rows(this.ptr, ids, n, out));
  }
}

/** int8-quantised activations of a batch. */
export class Acts extends Handle {
  constructor(
    t: Ternary,
    ptr: Pointer,
    readonly cols: number,
    readonly maxTokens: number,
  ) {
    super(t, ptr, (p) => t.fns.tern_acts_free(p));
  }

  get tokens(): number {
    return this.t.fns.tern_acts_tokens(this.ptr);
  }

  /** Quantises x [nTokens][cols] (ActMode). */
  quantize(pool: Pool, x: Float32Array, nTokens: number, mode: number = ActMode.TERN_ACT_TOKEN): void {
    need("tern_acts_quantize", "x", x, nTokens * this.cols);
    this.t.check("tern_acts_quantize", this.t.fns.tern_acts_quantize(pool.ptr, this.ptr, x, nTokens, mode));
  }

  /** Token t's int8 values and scales (TOKEN: 1 act_scale; Q8K: cols/256 block scales). */
  get(t: number, q: Int8Array | null, scales: Float32Array | null): void {
    if (q) need("tern_acts_get", "q", q, this.cols);
    if (scales) need("tern_acts_get", "scales", scales, Math.max(1, Math.floor(this.cols / 256)));
    this.t.check("tern_acts_get", this.t.fns.tern_acts_get(this.ptr, t, q, scales));
  }
}

/** The cos/sin table of NEOX RoPE. */
export class Rope extends Handle {
  constructor(t: Ternary, ptr: Pointer) {
    super(t, ptr, (p) => t.fns.tern_rope_free(p));
  }

  /** In place on x [nTokens][nHeads * headDim] at positions [nTokens]. */
  apply(pool: Pool, x: Float32Array, nTokens: number, nHeads: number, headDim: number, positions: Int32Array): void {
    need("tern_rope_apply", "x", x, nTokens * nHeads * headDim);
    need("tern_rope_apply", "positions", positions, nTokens);
    this.t.check("tern_rope_apply", this.t.fns.tern_rope_apply(pool.ptr, this.ptr, x, nTokens, nHeads, headDim, positions));
  }
}

export interface KvShape {
  nLayers: number;
  nSeqs: number;
  nCtx: number;
  nKvHeads: number;
  headDim: number;
}

/** The KV cache and the attention that writes and reads it. */
export class KvCache extends Handle {
  constructor(
    t: Ternary,
    ptr: Pointer,
    readonly shape: KvShape,
  ) {
    super(t, ptr, (p) => t.fns.tern_kv_free(p));
  }

  get nbytes(): number {
    return Number(this.t.fns.tern_kv_nbytes(this.ptr));
  }

  clear(): void {
    this.t.check("tern_kv_clear", this.t.fns.tern_kv_clear(this.ptr));
  }

  /** Invalidates [p0, p1) of seq (p1 < 0: to the end; seq < 0: all sequences). */
  seqRm(seq: number, p0: number, p1: number): void {
    this.t.check("tern_kv_seq_rm", this.t.fns.tern_kv_seq_rm(this.ptr, seq, p0, p1));
  }

  seqCp(src: number, dst: number, p0: number, p1: number): void {
    this.t.check("tern_kv_seq_cp", this.t.fns.tern_kv_seq_cp(this.ptr, src, dst, p0, p1));
  }

  /** Highest valid position of seq, or -1. */
  seqPosMax(seq: number): number {
    this.t.check("tern_kv_seq_pos_max", this.t.fns.tern_kv_seq_pos_max(this.ptr, seq, this.t.outI32));
    return this.t.outI32[0];
  }

  /** One layer of attention for the batch; writes k, v at (seqIds, positions) first (Mask). */
  attention(
    pool: Pool,
    layer: number,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    nTokens: number,
    seqIds: Int32Array,
    positions: Int32Array,
    nHeads: number,
    scale: number,
    mask: number,
    out: Float32Array,
  ): void {
    const kvDim = this.shape.nKvHeads * this.shape.headDim;
    need("tern_attention", "q", q, nTokens * nHeads * this.shape.headDim);
    need("tern_attention", "out", out, nTokens * nHeads * this.shape.headDim);
    need("tern_attention", "k", k, nTokens * kvDim);
    need("tern_attention", "v", v, nTokens * kvDim);
    need("tern_attention", "seqIds", seqIds, nTokens);
    need("tern_attention", "positions", positions, nTokens);
    const status = this.t.fns.tern_attention(
      pool.ptr, this.ptr, layer, q, k, v, nTokens, seqIds, positions, nHeads, scale, mask, out,
    );
    this.t.check("tern_attention", status);
  }
}
