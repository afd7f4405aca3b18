// Checks the dlopen table and constants in llama-ffi.ts against cpp/llama-shim/include/llama-shim.h,
// then (when the library is built) drives the shim: tokenizer vectors, vocab facts, decode, cache edits.

import { ensureFixtures } from "../../../scripts/fixtures.ts";
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

import { NativeError } from "../native-error.ts";
import { Info, LlamaShim, LogLevel, LoadFlag, LSHIM_ABI_VERSION, locateShim, Status, Str, symbols } from "./llama-ffi.ts";

const REPO_ROOT = resolve(import.meta.dir, "../../..");
const HEADER = readFileSync(join(REPO_ROOT, "cpp/llama-shim/include/llama-shim.h"), "utf8");

// ---- the header, parsed ---------------------------------------------------------------------

interface CFunction {
  name: string;
  returns: string;
  args: string[];
}

/** C type → bun:ffi type, as llama-ffi.ts must declare it. */
function ffiType(cType: string): string {
  const t = cType.replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
  if (t.includes("*")) return "ptr";
  const table: Record<string, string> = {
    int8_t: "i8",
    uint8_t: "u8",
    int32_t: "i32",
    uint32_t: "u32",
    int64_t: "i64",
    uint64_t: "u64",
    float: "f32",
    double: "f64",
    lshim_progress_fn: "ptr",
    lshim_log_fn: "ptr",
  };
  const mapped = table[t];
  if (!mapped) throw new Error(`no bun:ffi type for C type '${cType}'`);
  return mapped;
}

function parseFunctions(header: string): CFunction[] {
  const out: CFunction[] = [];
  for (const line of header.split("\n")) {
    if (!line.startsWith("LSHIM_API ")) continue;
    const m = /^LSHIM_API\s+(.+?)\s*\b(lshim_\w+)\s*\((.*)\);\s*$/.exec(line);
    if (!m) throw new Error(`cannot parse declaration: ${line}`);
    const [, ret, name, params] = m;
    const args =
      params.trim() === "void"
        ? []
        : params.split(",").map((p) => {
            // drop the parameter name: the last identifier
            const typeOnly = p.trim().replace(/\b\w+$/, "");
            return ffiType(typeOnly);
          });
    const returns = ret.includes("char") && ret.includes("*") ? "cstring" : ffiType(ret);
    out.push({ name, returns, args });
  }
  return out;
}

/** Every `LSHIM_X = n` inside `typedef enum <name> { ... }`. */
function parseEnum(header: string, name: string): Record<string, number> {
  const m = new RegExp(`typedef enum ${name} \\{([\\s\\S]*?)\\}`).exec(header);
  if (!m) throw new Error(`enum ${name} not found`);
  const out: Record<string, number> = {};
  for (const e of m[1].matchAll(/\b(LSHIM_\w+)\s*=\s*(-?\d+)/g)) out[e[1]] = Number(e[2]);
  return out;
}

describe("llama-ffi table vs llama-shim.h", () => {
  const declared = parseFunctions(HEADER);

  test("the header declares functions", () => {
    expect(declared.length).toBeGreaterThan(20);
  });

  test("every declared function is in the dlopen table with the same types, in the same order", () => {
    const table: CFunction[] = Object.entries(symbols).map(([name, def]) => ({
      name,
      returns: def.returns as string,
      args: [...def.args] as string[],
    }));
    expect(table).toEqual(declared);
  });

  test("every status-returning function returns int32_t", () => {
    const special = new Set(["lshim_last_error"]);
    for (const fn of declared) {
      if (!special.has(fn.name)) expect({ name: fn.name, returns: fn.returns }).toEqual({ name: fn.name, returns: "i32" });
    }
  });

  test("constants match the header", () => {
    expect(Number(/#define LSHIM_ABI_VERSION (\d+)/.exec(HEADER)?.[1])).toBe(LSHIM_ABI_VERSION);
    expect(parseEnum(HEADER, "lshim_status")).toEqual(Status);
    expect(parseEnum(HEADER, "lshim_load_flag")).toEqual(LoadFlag);
    expect(parseEnum(HEADER, "lshim_info")).toEqual(Info);
    expect(parseEnum(HEADER, "lshim_str")).toEqual(Str);
    expect(parseEnum(HEADER, "lshim_log_level")).toEqual(LogLevel);
  });

  test("locateShim honours TERNARY_LLAMA_SHIM", () => {
    expect(locateShim({ TERNARY_LLAMA_SHIM: "/opt/x/libllama-shim.so" })).toBe("/opt/x/libllama-shim.so");
    expect(locateShim({})).toBe(join(REPO_ROOT, "build/lib/libllama-shim.so"));
  });
});

// ---- the library itself (built by setup, which `npm test` runs first) ------------------------

const shimPath = locateShim();
const vocabDir = process.env.TERNARY_TEST_LLAMA_MODELS ?? join(REPO_ROOT, "extern/llama.cpp/models");
const bpeVocab = join(vocabDir, "ggml-vocab-llama-bpe.gguf");

/** TERNARY_TEST_MODEL_GGUF, else the generated tiny TQ2_0 fixture. */
const modelPath = process.env.TERNARY_TEST_MODEL_GGUF ?? ensureFixtures().paths.bitnet.tq2_0;

const defaults = { nCtx: 256, nBatch: 64, nUbatch: 64, nSeqMax: 2, nThreads: 2, mmap: true, vocabOnly: false, kvSplit: false };

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

describe("libllama-shim", () => {
  test("opens and reports a clear load error", () => {
    const shim = LlamaShim.open(shimPath);
    const err = expectNativeError(() => shim.loadModel("/nonexistent/model.gguf", defaults), Status.LSHIM_E_LOAD);
    expect(err.message).toContain("/nonexistent/model.gguf");
    expect(err.codeName).toBe("LSHIM_E_LOAD");
    expect(shim.logTail()).toContain("failed to open GGUF file");
  });

  test("vocab-only: llama.cpp's tokenizer vectors and vocabulary facts", () => {
    const shim = LlamaShim.open(shimPath);
    const m = shim.loadModel(bpeVocab, { ...defaults, vocabOnly: true });
    try {
      // the .inp/.out pairs used by llama.cpp's test-tokenizer-0 (no BOS, no special parsing)
      const inputs = readFileSync(`${bpeVocab}.inp`, "utf8").split("\n__ggml_vocab_test__\n");
      if (inputs.at(-1) === "") inputs.pop();
      const outputs = readFileSync(`${bpeVocab}.out`, "utf8").split("\n");
      if (outputs.at(-1) === "") outputs.pop();
      expect(inputs.length).toBe(outputs.length);
      inputs.forEach((text, i) => {
        const want = outputs[i].trim() === "" ? [] : outputs[i].trim().split(" ").map(Number);
        expect({ text, ids: Array.from(shim.tokenize(m, text, false, false)) }).toEqual({ text, ids: want });
      });

      expect(shim.str(m, Str.LSHIM_STR_ARCH)).toBe("llama");
      expect(shim.info(m, Info.LSHIM_INFO_N_VOCAB)).toBe(128256);
      expect(shim.info(m, Info.LSHIM_INFO_BOS)).toBe(128000);
      expect(shim.info(m, Info.LSHIM_INFO_EOT)).toBe(128009);
      expect(shim.tokenize(m, "Hello world", true, false)).toEqual(new Int32Array([128000, 9906, 1917]));
      expect(shim.tokenize(m, "<|eot_id|>", false, true)).toEqual(new Int32Array([128009]));
      expect(shim.tokenFind(m, "<|eot_id|>")).toBe(128009);
      expect(shim.tokenFind(m, "|<MASK>|")).toBeNull();
      expect(shim.eogTokens(m)).toEqual(expect.arrayContaining([128001, 128009]));
      expect(shim.tokenIsEog(m, 128009)).toBe(true);
      expect(shim.tokenIsEog(m, 9906)).toBe(false);
      expect(new TextDecoder().decode(shim.tokenPiece(m, 1917, false))).toBe(" world");
      expect(shim.tokenPiece(m, 128009, false).length).toBe(0);
      expect(new TextDecoder().decode(shim.tokenPiece(m, 128009, true))).toBe("<|eot_id|>");
      expect(shim.tokenText(m, 1917)).toBe("Ġworld");
      const long = "the quick brown fox ".repeat(200);
      expect(new TextDecoder().decode(shim.detokenize(m, shim.tokenize(m, long, false, false), false, false))).toBe(long);
      expect(shim.meta(m, "general.architecture")).toBe("llama");
      expect(shim.meta(m, "no.such.key")).toBeNull();
      expectNativeError(() => shim.tokenIsEog(m, 128256), Status.LSHIM_E_INVALID_ARG);
      const one = new Int32Array(1);
      expectNativeError(() => shim.decode(m, one, one, one, new Int8Array(1), 1), Status.LSHIM_E_NO_CONTEXT);
    } finally {
      shim.freeModel(m);
    }
    expectNativeError(() => shim.info(m, Info.LSHIM_INFO_N_VOCAB), Status.LSHIM_E_BAD_HANDLE);
  });

  test("decode, block attention and cache edits on a model with weights", () => {
    const shim = LlamaShim.open(shimPath);
    let lastProgress = -1;
    const m = shim.loadModel(modelPath, { ...defaults, onProgress: (p) => (lastProgress = p) });
    try {
      expect(lastProgress).toBe(1);
      const nVocab = shim.info(m, Info.LSHIM_INFO_N_VOCAB);
      const nBatch = shim.info(m, Info.LSHIM_INFO_N_BATCH);
      expect(nBatch).toBe(64);
      const prompt = shim.tokenize(m, "Hello world, this is a test", true, false);
      const n = prompt.length;
      const pos = Int32Array.from({ length: n }, (_, i) => i);
      const seq = new Int32Array(n);
      const all = new Int8Array(n).fill(1);

      // causal: every row, then the same batch with block attention
      expect(shim.decode(m, prompt, pos, seq, all, n)).toBe(n);
      const causal = shim.logits(m, nVocab).slice();
      expect(causal.length).toBe(n * nVocab);
      expect(causal.every(Number.isFinite)).toBe(true);
      shim.kvSeqRm(m, 0, -1, -1);
      shim.setCausal(m, false);
      shim.decode(m, prompt, pos, seq, all, n);
      const block = shim.logits(m, nVocab).slice();
      shim.setCausal(m, true);
      // with block attention the first token sees the whole block
      const row = (a: Float32Array, i: number) => a.subarray(i * nVocab, (i + 1) * nVocab);
      const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((d, v, i) => Math.max(d, Math.abs(v - b[i])), 0);
      expect(maxDiff(row(causal, 0), row(block, 0))).toBeGreaterThan(1e-3);

      // one token at a time through the cache gives the batch's rows
      shim.kvSeqRm(m, 0, -1, -1);
      for (let i = 0; i < n; i++) {
        expect(shim.decode(m, prompt.subarray(i, i + 1), new Int32Array([i]), new Int32Array([0]), new Int8Array([1]), 1)).toBe(1);
        expect(maxDiff(shim.logits(m, nVocab), row(causal, i))).toBeLessThan(1e-2);
      }

      // cache: share the prompt with sequence 1, extend both, rewind
      expect(shim.kvSeqPosMax(m, 0)).toBe(n - 1);
      shim.kvSeqCp(m, 0, 1, 0, -1);
      expect(shim.kvSeqPosMax(m, 1)).toBe(n - 1);
      const two = new Int32Array([prompt[1], prompt[1]]);
      expect(shim.decode(m, two, new Int32Array([n, n]), new Int32Array([0, 1]), new Int8Array([1, 1]), 2)).toBe(2);
      const rows = shim.logits(m, nVocab);
      expect(maxDiff(row(rows, 0), row(rows, 1))).toBeLessThan(1e-4); // same history, same token
      shim.kvSeqRm(m, 1, -1, -1);
      expect(shim.kvSeqPosMax(m, 1)).toBe(-1);
      shim.kvSeqRm(m, 0, n, -1);
      expect(shim.kvSeqPosMax(m, 0)).toBe(n - 1);

      // errors arrive as NativeError with the shim's status
      const big = new Int32Array(nBatch + 1);
      expectNativeError(
        () => shim.decode(m, big, Int32Array.from(big, (_, i) => n + i), new Int32Array(nBatch + 1), new Int8Array(nBatch + 1), nBatch + 1),
        Status.LSHIM_E_BATCH_TOO_LARGE,
      );
      expectNativeError(() => shim.kvSeqRm(m, 2, 0, -1), Status.LSHIM_E_INVALID_ARG);
      const gap = expectNativeError(
        () => shim.decode(m, new Int32Array([1]), new Int32Array([n + 5]), new Int32Array([0]), new Int8Array([1]), 1),
        Status.LSHIM_E_INVALID_ARG,
      );
      expect(gap.detail).toContain("inconsistent sequence positions");
      shim.kvClear(m);
      expect(shim.kvSeqPosMax(m, 0)).toBe(-1);
    } finally {
      shim.freeModel(m);
    }
  });
});
