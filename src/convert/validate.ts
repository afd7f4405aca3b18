// --validate: reopens the written GGUF and compares every tensor with its source within the output
// type's exact tolerance, then runs the model-file checks both engines apply before loading.
//
// Tolerances: ternary types — identical codes, scale within fp16 rounding of the derived scale;
// float types holding q · s — the same codes read back, scale within the type's rounding; other
// F32 tensors — bit-exact; F16 / BF16 — within half a unit in the last place of the type; Q8_0 —
// within one quantisation step (d = block absmax / 127).

import { validateModelFile } from "../engine/model-file.ts";
import { dequantize, isTernaryType, ternaryFromFloats, unpackTernary } from "../gguf/quants.ts";
import { openGguf, type TensorInfo } from "../gguf/reader.ts";
import { GgmlType, ggmlTypeInfo, ggmlTypeName } from "../gguf/types.ts";
import { ConvertError } from "./errors.ts";
import type { ConversionPlan, PlanEntry } from "./plan.ts";
import { floatsOf, ternaryOf } from "./weights.ts";

export interface ValidationReport {
  tensors: number;
  detail: string;
}

const SLICE_VALUES = 1 << 22;

function bad(name: string, what: string): never {
  throw new ConvertError(`validation failed: tensor ${name}: ${what}`);
}

export function validateConversion(plan: ConversionPlan, outPath: string): ValidationReport {
  const file = openGguf(outPath);
  const names = new Set(plan.entries.map((e) => e.ggufName));
  for (const t of file.tensors) if (!names.has(t.name)) bad(t.name, "is in the output but not in the plan");
  let ternary = 0;
  for (const e of plan.entries) {
    const t = file.tensor(e.ggufName);
    if (t === undefined) bad(e.ggufName, "is missing from the output");
    const shape = [...e.hfShape].reverse();
    if (t.type !== e.type || t.shape.join() !== shape.join()) {
      bad(e.ggufName, `is ${t.typeName} [${t.shape.join(", ")}], expected ${ggmlTypeName(e.type)} [${shape.join(", ")}]`);
    }
    if (e.role === "linear") {
      checkTernary(plan, e, t, outPath);
      ternary++;
    } else checkFloats(e, t, outPath);
    if (e.src.byteLength > SLICE_VALUES) Bun.gc(true); // unmap the views just dropped
  }
  // The same checks both engines run before loading (architecture, shapes, vocabulary).
  validateModelFile(outPath);
  return { tensors: plan.entries.length, detail: `${ternary} ternary tensors with identical codes` };
}

function checkTernary(plan: ConversionPlan, e: PlanEntry, t: TensorInfo, path: string): void {
  const [rows, cols] = e.hfShape;
  const want = ternaryOf(e.src, e.scale, rows, cols, plan.config.linearClass);
  let got: { q: Int8Array; scale: number };
  let tol = halfUlpF16(want.scale);
  try {
    // Throws for anything that is not one ternary tensor, e.g. per-block scales (ggml's absmax quantiser).
    const data = mapped(path, t, 0, t.byteSize);
    got = isTernaryType(t.type) ? unpackTernary(t.type, data, t.nElements) : ternaryFromFloats(dequantize(t.type, data, t.nElements));
  } catch (err) {
    bad(e.ggufName, (err as Error).message);
  }
  if (t.type === GgmlType.BF16) tol += halfUlp(want.scale16, 8);
  for (let i = 0; i < want.q.length; i++) {
    if (got.q[i] !== want.q[i]) bad(e.ggufName, `code ${i} (row ${Math.floor(i / cols)}, column ${i % cols}) is ${got.q[i]}, the source gives ${want.q[i]}`);
  }
  // An all-zero tensor has no scale to read back from floats.
  const anyNonZero = want.q.some((v) => v !== 0);
  if (anyNonZero && !(Math.abs(got.scale - want.scale) <= tol)) {
    bad(e.ggufName, `scale ${got.scale} differs from the source's ${want.scale} by more than the type's rounding (${tol})`);
  }
}

function checkFloats(e: PlanEntry, t: TensorInfo, path: string): void {
  const cols = e.hfShape[e.hfShape.length - 1];
  const rows = e.src.nElements / cols;
  const info = ggmlTypeInfo(t.type)!;
  const rowBytes = (cols / info.blockSize) * info.bytesPerBlock;
  const rowsPerSlice = Math.max(1, Math.floor(SLICE_VALUES / cols));
  for (let r = 0; r < rows; r += rowsPerSlice) {
    const r1 = Math.min(rows, r + rowsPerSlice);
    const src = floatsOf(e.src, r * cols, r1 * cols);
    const got = dequantize(t.type, mapped(path, t, r * rowBytes, r1 * rowBytes), src.length);
    for (let i = 0; i < src.length; i++) {
      const x = src[i];
      const tol = tolerance(t.type, x, src, i);
      if (!(Math.abs(got[i] - x) <= tol) && !(tol === 0 && Object.is(got[i], x))) {
        const k = r * cols + i;
        bad(e.ggufName, `value ${k} (row ${Math.floor(k / cols)}) is ${got[i]}, the source has ${x} (tolerance ${tol} for ${info.name})`);
      }
    }
    if (rows > rowsPerSlice) Bun.gc(true);
  }
}

/**
 * Bytes [start, end) of an output tensor, mapped on their own: a view into the reader's whole-file
 * mapping would keep every page it touched resident, and the output can be larger than RAM.
 */
function mapped(path: string, t: TensorInfo, start: number, end: number): Uint8Array {
  if (end === start) return new Uint8Array(0);
  return Bun.mmap(path, { shared: false, offset: t.offset + start, size: end - start });
}

function tolerance(type: GgmlType, x: number, src: Float32Array, i: number): number {
  switch (type) {
    case GgmlType.F32: return 0;
    case GgmlType.F16: return halfUlpF16(x);
    case GgmlType.BF16: return halfUlp(x, 8);
    case GgmlType.Q8_0: {
      const b = i - (i % 32);
      let amax = 0;
      for (let j = b; j < b + 32; j++) amax = Math.max(amax, Math.abs(src[j]));
      return (amax / 127) * 1.001 + 1e-30;
    }
  }
  return 0;
}

/** Half a unit in the last place of fp16 at |x| (subnormals: half of 2^-24). */
export function halfUlpF16(x: number): number {
  const a = Math.abs(x);
  if (a < 2 ** -14) return 2 ** -25;
  return 2 ** (Math.floor(Math.log2(a)) - 11);
}

/** Half a unit in the last place at |x|, for a float type with `bits` − 1 stored mantissa bits (bf16: 8). */
function halfUlp(x: number, bits: number): number {
  const a = Math.abs(x);
  if (a === 0) return 0;
  return 2 ** (Math.floor(Math.log2(a)) - bits);
}
