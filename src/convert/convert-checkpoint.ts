// Runs a conversion plan: streams the GGUF tensor by tensor (large float tensors in row slices), so
// memory stays near one linear weight's worth plus a slice, and reports what it wrote.
//
// Memory: a source tensor is a private mapping of its bytes only; a ternary linear weight costs its
// f32 copy (4 B/weight) + codes (1 B/weight) + the packed output; embedding and head go through in
// slices of SLICE_VALUES. Bun.gc after each large piece unmaps the views just dropped.

import { f32ArrayToBf16, f32ArrayToF16, packTernary, quantize, isTernaryType } from "../gguf/quants.ts";
import { GgmlType, ggmlTypeName } from "../gguf/types.ts";
import { GgufWriter, type GgufStream } from "../gguf/writer.ts";
import { rmSync } from "node:fs";
import { ConvertError, fail } from "./errors.ts";
import { planConversion, type ConversionPlan, type PlanEntry, type PlanOptions } from "./plan.ts";
import { formatBytes, peakRssBytes, Progress, type ProgressMode, type ProgressSink } from "./progress.ts";
import { validateConversion, type ValidationReport } from "./validate.ts";
import { floatsOf, ternaryOf, type TernaryForm, type TernaryWeights } from "./weights.ts";

/** Values per slice of a streamed float tensor (16 MiB of f32). */
const SLICE_VALUES = 1 << 22;

export interface ConvertOptions extends PlanOptions {
  validate?: boolean;
  progress?: ProgressMode;
  /** Where progress and warnings go (default: stdout and stderr). */
  out?: ProgressSink;
}

export interface ConvertSummary {
  outPath: string;
  tensors: number;
  fileBytes: number;
  /** Linear (ternary-role) weights: count, bytes written for them, bits per weight. */
  linearWeights: number;
  linearBytes: number;
  bpw: number;
  forms: Record<TernaryForm, number>;
  fallbacks: string[];
  warnings: string[];
  seconds: number;
  peakRss: number;
  validation?: ValidationReport;
}

export function convertCheckpoint(dir: string, outPath: string, opts: ConvertOptions): ConvertSummary {
  const t0 = performance.now();
  const plan = planConversion(dir, opts);
  // Warnings to stderr, progress to stdout, unless the caller gives one sink for both.
  for (const w of plan.warnings) (opts.out ?? process.stderr).write(`warning: ${w}\n`);
  const summary = writePlan(plan, outPath, opts.progress ?? "none", opts.out ?? process.stdout);
  if (opts.validate) {
    try {
      summary.validation = validateConversion(plan, outPath);
    } catch (e) {
      // A file that does not match its source is worse than none.
      rmSync(outPath, { force: true });
      throw new ConvertError(`${(e as Error).message} (removed ${outPath})`);
    }
  }
  summary.seconds = (performance.now() - t0) / 1000;
  summary.peakRss = peakRssBytes();
  return summary;
}

function writePlan(plan: ConversionPlan, outPath: string, mode: ProgressMode, sink: ProgressSink): ConvertSummary {
  const w = new GgufWriter();
  w.setAll(plan.metadata);
  for (const e of plan.entries) w.addTensor(e.ggufName, e.type, [...e.hfShape].reverse());
  const progress = new Progress(plan.entries.length, mode, sink);
  const stream = w.openStream(outPath);
  const s: ConvertSummary = {
    outPath, tensors: plan.entries.length, fileBytes: 0, linearWeights: 0, linearBytes: 0, bpw: 0,
    forms: { latent: 0, ternary: 0, packed: 0 }, fallbacks: plan.entries.filter((e) => e.fallback).map((e) => e.ggufName),
    warnings: plan.warnings, seconds: 0, peakRss: 0,
  };
  try {
    for (const e of plan.entries) {
      const bytes = writeEntry(plan, e, stream, s);
      progress.tick(e.ggufName, `${e.src.dtype} [${e.hfShape.join(", ")}] → ${ggmlTypeName(e.type)} (${formatBytes(bytes)})`);
      if (e.src.byteLength > SLICE_VALUES) Bun.gc(true);
    }
    stream.close();
  } catch (e) {
    stream.abort();
    progress.end();
    throw e;
  }
  progress.end();
  const last = stream.tensors[stream.tensors.length - 1];
  s.fileBytes = last === undefined ? 0 : last.offset + last.byteSize;
  s.bpw = s.linearWeights === 0 ? 0 : (s.linearBytes * 8) / s.linearWeights;
  return s;
}

/** Writes one tensor; returns its byte size. */
function writeEntry(plan: ConversionPlan, e: PlanEntry, stream: GgufStream, s: ConvertSummary): number {
  if (e.role === "linear") {
    const [rows, cols] = e.hfShape;
    const tw = ternaryOf(e.src, e.scale, rows, cols, plan.config.linearClass);
    s.forms[tw.form]++;
    const bytes = encodeTernary(e.type, tw, e.ggufName);
    stream.writeTensor(e.ggufName, bytes);
    s.linearWeights += rows * cols;
    s.linearBytes += bytes.length;
    return bytes.length;
  }
  // Float tensors in slices of whole rows (a Q8_0 block never straddles a slice).
  const cols = e.hfShape[e.hfShape.length - 1];
  const rows = e.src.nElements / cols;
  const rowsPerSlice = Math.max(1, Math.floor(SLICE_VALUES / cols));
  let total = 0;
  for (let r = 0; r < rows; r += rowsPerSlice) {
    const r1 = Math.min(rows, r + rowsPerSlice);
    const bytes = encodeFloats(e.type, floatsOf(e.src, r * cols, r1 * cols), e.ggufName);
    stream.write(bytes);
    total += bytes.length;
    if (rows > rowsPerSlice) Bun.gc(true);
  }
  return total;
}

/** Ternary weights in the output type: packed codes with fp16(s), or the floats q · fp16(s). */
export function encodeTernary(type: GgmlType, tw: TernaryWeights, name: string): Uint8Array {
  if (isTernaryType(type)) return packTernary(type, tw.q, tw.scale16);
  const f = new Float32Array(tw.q.length);
  for (let i = 0; i < f.length; i++) f[i] = tw.q[i] * tw.scale16;
  return encodeFloats(type, f, name);
}

const F16_MAX = 65504;

export function encodeFloats(type: GgmlType, f: Float32Array, name: string): Uint8Array {
  switch (type) {
    case GgmlType.F32:
      return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    case GgmlType.F16: {
      for (let i = 0; i < f.length; i++) {
        // Values just above F16_MAX still round down to it; past the rounding boundary they become inf.
        if (!(Math.abs(f[i]) < F16_MAX + 16)) fail(`tensor ${name}: value ${f[i]} does not fit f16 (choose --outtype bf16 or f32)`);
      }
      const h = f32ArrayToF16(f);
      return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    }
    case GgmlType.BF16: {
      for (let i = 0; i < f.length; i++) if (!Number.isFinite(f[i])) fail(`tensor ${name}: non-finite value ${f[i]}`);
      const h = f32ArrayToBf16(f);
      return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    }
    case GgmlType.Q8_0:
      for (let i = 0; i < f.length; i++) if (!Number.isFinite(f[i])) fail(`tensor ${name}: non-finite value ${f[i]}`);
      return quantize(type, f);
  }
  fail(`tensor ${name}: no encoder for ${ggmlTypeName(type)}`);
}

/** The end-of-run report, one fact per line. */
export function formatSummary(s: ConvertSummary): string {
  const lines = [
    `wrote ${s.outPath}: ${s.tensors} tensors, ${formatBytes(s.fileBytes)}`,
    `linear weights: ${s.linearWeights.toLocaleString("en-US")} at ${s.bpw.toFixed(4)} bits/weight (${formatBytes(s.linearBytes)}); ` +
      `source forms: ${Object.entries(s.forms).filter(([, n]) => n > 0).map(([f, n]) => `${n} ${f}`).join(", ") || "none"}`,
  ];
  if (s.fallbacks.length > 0) lines.push(`F16 fallback: ${s.fallbacks.join(", ")}`);
  if (s.validation) lines.push(`validated: ${s.validation.tensors} tensors match the source (${s.validation.detail})`);
  lines.push(`time ${s.seconds.toFixed(s.seconds < 10 ? 2 : 1)} s, peak RSS ${formatBytes(s.peakRss)}`);
  return lines.join("\n");
}
