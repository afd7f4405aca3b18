// Checks the dlopen table and constants in ternary-ffi.ts against cpp/ternary/include/ternary.h, then
// (when libternary is built) drives it: formats packed by src/gguf against the library, matmul, ops, KV.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

import { packTernary } from "../../gguf/ternary.ts";
import { GgmlType } from "../../gguf/types.ts";
import { NativeError } from "../native-error.ts";
import {
  ActMode, CpuFeature, Format, Glu, Kernels, KvType, Mask, MatrixFlag, MatrixKind, RopeMode, Status, symbols,
  TERN_ABI_VERSION, Ternary, locateTernary,
} from "./ternary-ffi.ts";

const REPO_ROOT = resolve(import.meta.dir, "../../..");
const HEADER = readFileSync(join(REPO_ROOT, "cpp/ternary/include/ternary.h"), "utf8");

// ---- the header, parsed ---------------------------------------------------------------------------

/** C type -> bun:ffi type, as ternary-ffi.ts must declare it. */
function ffiType(cType: string): string {
  const t = cType.replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
  if (t.includes("*")) return "ptr";
  const table: Record<string, string> = { int32_t: "i32", uint32_t: "u32", int64_t: "i64", uint64_t: "u64", float: "f32", void: "void" };
  const mapped = table[t];
  if (!mapped) throw new Error(`no bun:ffi type for C type '${cType}'`);
  return mapped;
}

/** Every `TERN_API ... ;` declaration (possibly over several lines). */
function parseFunctions(header: string): { name: string; returns: string; args: string[] }[] {
  const decls = header.match(/^TERN_API [^;]*;/gm) ?? [];
  return decls.map((d) => {
    const m = /^TERN_API\s+(.+?)\s*\b(tern_\w+)\s*\(([\s\S]*)\);$/.exec(d.replace(/\s+/g, " "));
    if (!m) throw new Error(`cannot parse declaration: ${d}`);
    const [, ret, name, params] = m;
    const args = params.trim() === "void" ? [] : params.split(",").map((p) => ffiType(p.trim().replace(/\b\w+$/, "")));
    const returns = ret.includes("char") && ret.includes("*") ? "cstring" : ffiType(ret);
    return { name, returns, args };
  });
}

/** `#define NAME value` for every NAME with the prefix (values: integers and (1u << n)). */
function parseDefines(header: string, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^#define (?<name>(?:${prefix})\\w*)\\s+(?<value>\\S[^/]*?)\\s*(?:/\\*.*)?$`, "gm");
  for (const m of header.matchAll(re)) {
    const v = (m.groups?.value ?? "").replace(/[()u]/g, "");
    const shift = /^1 << (\d+)$/.exec(v);
    out[m.groups?.name ?? ""] = shift ? 1 << Number(shift[1]) : Number(v);
  }
  return out;
}

describe("ternary-ffi table vs ternary.h", () => {
  test("every declared function is in the dlopen table with the same types, in the same order", () => {
    const declared = parseFunctions(HEADER);
    expect(declared.length).toBeGreaterThan(40);
    const table = Object.entries(symbols).map(([name, def]) => ({ name, returns: def.returns as string, args: [...def.args] as string[] }));
    expect(table).toEqual(declared);
  });

  test("constants match the header", () => {
    expect(parseDefines(HEADER, "TERN_ABI_VERSION")).toEqual({ TERN_ABI_VERSION });
    expect(parseDefines(HEADER, "TERN_(OK|E_)")).toEqual(Status);
    expect(parseDefines(HEADER, "TERN_KERNELS_")).toEqual(Kernels);
    expect(parseDefines(HEADER, "TERN_CPU_")).toEqual(CpuFeature);
    expect(parseDefines(HEADER, "TERN_FMT_")).toEqual(Format);
    expect(parseDefines(HEADER, "TERN_MATRIX_(TERNARY|Q8|F16|F32)")).toEqual(MatrixKind);
    expect(parseDefines(HEADER, "TERN_MATRIX_FLAG_")).toEqual(MatrixFlag);
    expect(parseDefines(HEADER, "TERN_ACT_")).toEqual(ActMode);
    expect(parseDefines(HEADER, "TERN_MASK_")).toEqual(Mask);
    expect(parseDefines(HEADER, "TERN_ROPE_")).toEqual(RopeMode);
    expect(parseDefines(HEADER, "TERN_GLU_")).toEqual(Glu);
    expect(parseDefines(HEADER, "TERN_KV_")).toEqual(KvType);
  });

  test("input formats use ggml's type ids", () => {
    expect(Format.TERN_FMT_TQ1_0).toBe(GgmlType.TQ1_0);
    expect(Format.TERN_FMT_TQ2_0).toBe(GgmlType.TQ2_0);
    expect(Format.TERN_FMT_I2_S).toBe(GgmlType.I2_S);
    expect(Format.TERN_FMT_F16).toBe(GgmlType.F16);
  });

  test("locateTernary honours TERNARY_LIBTERNARY", () => {
    expect(locateTernary({ TERNARY_LIBTERNARY: "/opt/x/libternary.so" })).toBe("/opt/x/libternary.so");
    expect(locateTernary({})).toBe(join(REPO_ROOT, "build/lib/libternary.so"));
  });
});

// ---- the library itself (built by setup, which `npm test` runs first) ------------------------------

const libPath = locateTernary();

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

function expectNativeError(fn: () => unknown, code: number): NativeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NativeError);
    expect((e as NativeError).code).toBe(code);
    return e as NativeError;
  }
  throw new Error(`expected NativeError ${code}`);
}

describe.skipIf(!existsSync(libPath))("libternary", () => {
  const t = Ternary.open(libPath);

  test("reports the CPU and refuses missing kernel families with a reason", () => {
    const families = t.kernelsAvailable();
    expect(families).toContain(Kernels.TERN_KERNELS_SCALAR);
    for (const k of [Kernels.TERN_KERNELS_AVX512, Kernels.TERN_KERNELS_AMX]) {
      if (families.includes(k)) continue;
      const err = expectNativeError(() => t.pool(1, k), Status.TERN_E_UNSUPPORTED);
      expect(err.detail).toContain("not available");
    }
    const pool = t.pool(2);
    expect(pool.threads).toBe(2);
    expect(families).toContain(pool.kernels);
    pool.close();
    expect(() => pool.threads).toThrow("used after close()");
    pool.close(); // idempotent
  });

  test("every ternary format packed by src/gguf reads back the same weights", () => {
    const rows = 40;
    const cols = 512;
    const next = rng(7);
    const q = Int8Array.from({ length: rows * cols }, () => Math.floor(next() * 3) - 1);
    const scale = 0.5; // exact in fp16
    const pool = t.pool(2);
    const ids = Int32Array.from({ length: rows }, (_, i) => i);
    const out = new Float32Array(rows * cols);
    for (const type of [GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S] as const) {
      const m = t.matrix(pool, type, packTernary(type, q, scale), rows, cols);
      expect(m.kind).toBe(MatrixKind.TERN_MATRIX_TERNARY);
      expect([m.rows, m.cols, m.scale]).toEqual([rows, cols, scale]);
      m.getRows(ids, out);
      expect(out).toEqual(Float32Array.from(q, (v) => v * scale));
      m.close();
    }
    const bad = packTernary(GgmlType.TQ2_0, q, scale);
    bad[66 * 3 + 64] ^= 1; // block 3 gets another d
    expect(expectNativeError(() => t.matrix(pool, GgmlType.TQ2_0, bad, rows, cols), Status.TERN_E_FORMAT).detail).toContain(
      "per-block scales",
    );
    pool.close();
  });

  test("matmul equals the BitLinear formula exactly, on every kernel family", () => {
    const rows = 70;
    const cols = 320;
    const nTokens = 5;
    const next = rng(11);
    const q = Int8Array.from({ length: rows * cols }, () => Math.floor(next() * 3) - 1);
    const x = Float32Array.from({ length: nTokens * cols }, () => next() * 4 - 2);
    for (const k of t.kernelsAvailable()) {
      const pool = t.pool(2, k);
      const m = t.matrix(pool, Format.TERN_FMT_TERNARY_I8, q, rows, cols);
      m.scale = 0.125;
      const acts = t.acts(nTokens, cols);
      acts.quantize(pool, x, nTokens);
      const y = new Float32Array(nTokens * rows);
      pool.matmul(m, acts, y);
      const a = new Int8Array(cols);
      const s = new Float32Array(1);
      const f = Math.fround;
      for (let tok = 0; tok < nTokens; tok++) {
        acts.get(tok, a, s);
        for (let r = 0; r < rows; r++) {
          let dot = 0;
          for (let c = 0; c < cols; c++) dot += q[r * cols + c] * a[c];
          expect(y[tok * rows + r]).toBe(f(f(f(dot) / s[0]) * 0.125)); // (float)dot / act_scale * w_scale
        }
      }
      const y2 = new Float32Array(nTokens * rows);
      pool.matmulF32(m, x, nTokens, y2);
      expect(y2).toEqual(y);
      expect(() => pool.matmul(m, acts, new Float32Array(3))).toThrow(RangeError);
      m.close();
      acts.close();
      pool.close();
    }
  });

  test("ops and attention run and agree with small references", () => {
    const pool = t.pool(2);
    const x = Float32Array.from([3, 4, 0, 0]);
    const y = new Float32Array(4);
    pool.rmsnorm(x, null, y, 1, 4, 0);
    expect(Array.from(y).map((v) => +v.toFixed(5))).toEqual([1.2, 1.6, 0, 0]);
    pool.glu(Glu.TERN_GLU_RELU2, Float32Array.from([-1, 2]), Float32Array.from([5, 3]), y, 2);
    expect(Array.from(y.subarray(0, 2))).toEqual([0, 12]);
    const ids = new Int32Array(1);
    const prob = new Float32Array(1);
    t.argmax(Float32Array.from([0, Math.log(3)]), 1, 2, ids, prob);
    expect(ids[0]).toBe(1);
    expect(prob[0]).toBeCloseTo(0.75, 6);

    // one head, head_dim 8: the second token attends to both positions
    const kv = t.kv(1, 1, 16, 1, 8, KvType.TERN_KV_F32);
    const q = new Float32Array(16);
    const k = new Float32Array(16);
    const v = Float32Array.from({ length: 16 }, (_, i) => (i < 8 ? 1 : 3));
    const out = new Float32Array(16);
    const seq = new Int32Array(2);
    const pos = Int32Array.from([0, 1]);
    kv.attention(pool, 0, q, k, v, 2, seq, pos, 1, 1, Mask.TERN_MASK_CAUSAL, out);
    expect(Array.from(out.subarray(0, 8))).toEqual(new Array(8).fill(1));
    expect(Array.from(out.subarray(8))).toEqual(new Array(8).fill(2)); // equal scores: mean of 1 and 3
    expect(kv.seqPosMax(0)).toBe(1);
    kv.seqRm(0, 1, -1);
    expect(kv.seqPosMax(0)).toBe(0);
    expectNativeError(() => kv.attention(pool, 0, q, k, v, 2, seq, Int32Array.from([3, 3]), 1, 1, 0, out), Status.TERN_E_ARG);
    kv.close();

    const rope = t.rope(8, 10000, 4);
    const r = Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0]);
    rope.apply(pool, r, 1, 1, 8, Int32Array.from([1]));
    expect(r[0]).toBeCloseTo(Math.cos(1), 6);
    expect(r[4]).toBeCloseTo(Math.sin(1), 6);
    rope.close();
    pool.close();
  });
});
