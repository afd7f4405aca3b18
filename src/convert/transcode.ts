// GGUF → GGUF transcoding of ternary tensors (I2_S ↔ TQ2_0 ↔ TQ1_0), streamed tensor by tensor.
// Lossless for ternary weights: the codes are copied and every block carries the tensor's scale.

import { dequantize, f32ArrayToF16, isTernaryType, transcodeTernary, unpackTernary, type TernaryType } from "../gguf/quants.ts";
import { openGguf, type GgufFile } from "../gguf/reader.ts";
import { GgmlType, GgufType, ggmlTypeInfo, ggmlTypeName } from "../gguf/types.ts";
import { GgufWriter } from "../gguf/writer.ts";
import { ConvertError } from "./errors.ts";
import { halfUlpF16 } from "./validate.ts";

export interface TranscodeOptions {
  /** Write a ternary tensor whose rows do not fit the target's block as F16 (q · s) instead of failing. */
  allowFallback?: boolean;
}

/** Writes `file` to `outPath` with every ternary tensor in `to`; other tensors are copied as they are. */
export function transcodeGguf(file: GgufFile, to: TernaryType, outPath: string, onTensor?: (i: number, n: number) => void, opts: TranscodeOptions = {}): void {
  const w = new GgufWriter();
  // general.alignment is re-declared by the writer when it differs from the default.
  w.setAll([...file.metadata].filter(([k]) => k !== "general.alignment" && k !== "general.file_type"));
  w.set("general.file_type", { type: GgufType.UINT32, value: fileTypeOf(to) });
  const plan = file.tensors.map((t) => {
    if (!isTernaryType(t.type)) return { t, type: t.type as GgmlType };
    if (t.shape[0] % ggmlTypeInfo(to)!.blockSize === 0) return { t, type: to as GgmlType };
    if (opts.allowFallback) return { t, type: GgmlType.F16 as GgmlType };
    throw new ConvertError(
      `tensor ${t.name} has rows of ${t.shape[0]} weights, not a multiple of ${ggmlTypeInfo(to)!.blockSize} as ${ggmlTypeName(to)} needs; --allow-fallback writes it as F16`,
    );
  });
  for (const p of plan) w.addTensor(p.t.name, p.type, p.t.shape);
  const out = w.openStream(outPath);
  try {
    plan.forEach((p, i) => {
      const data = p.t.data();
      let bytes = data;
      if (p.type === GgmlType.F16 && isTernaryType(p.t.type)) {
        const h = f32ArrayToF16(dequantize(p.t.type, data, p.t.nElements));
        bytes = new Uint8Array(h.buffer);
      } else if (isTernaryType(p.t.type) && p.t.type !== to) bytes = transcodeTernary(p.t.type, data, to, p.t.nElements);
      out.writeTensor(p.t.name, bytes);
      onTensor?.(i + 1, plan.length);
    });
    out.close();
  } catch (e) {
    out.abort();
    throw e;
  }
}

/**
 * Checks a transcoded file against its source: ternary tensors have identical codes and scales
 * within fp16 rounding (I2_S keeps an f32 scale, TQ blocks an fp16 one); every other tensor is
 * byte-identical. Returns the number of tensors compared.
 */
export function validateTranscode(srcPath: string, outPath: string): number {
  const a = openGguf(srcPath);
  const b = openGguf(outPath);
  if (a.tensors.length !== b.tensors.length) throw new ConvertError(`validation failed: ${b.tensors.length} tensors, the source has ${a.tensors.length}`);
  for (const s of a.tensors) {
    const o = b.tensor(s.name);
    if (o === undefined) throw new ConvertError(`validation failed: tensor ${s.name} is missing`);
    const bad = (what: string): never => {
      throw new ConvertError(`validation failed: tensor ${s.name}: ${what}`);
    };
    if (isTernaryType(s.type)) {
      const x = unpackTernary(s.type, s.data(), s.nElements);
      let y: { q: Int8Array; scale: number };
      if (isTernaryType(o.type)) y = unpackTernary(o.type, o.data(), o.nElements);
      else {
        const f = dequantize(o.type, o.data(), o.nElements);
        let scale = 0;
        for (let i = 0; i < f.length; i++) scale = Math.max(scale, Math.abs(f[i]));
        y = { q: Int8Array.from(f, (v) => Math.sign(v)), scale };
      }
      for (let i = 0; i < x.q.length; i++) if (x.q[i] !== y.q[i]) bad(`code ${i} is ${y.q[i]}, the source has ${x.q[i]}`);
      if (x.q.some((v) => v !== 0) && Math.abs(x.scale - y.scale) > halfUlpF16(x.scale)) bad(`scale ${y.scale}, the source has ${x.scale}`);
    } else {
      const p = s.data();
      const q = o.data();
      if (s.type !== o.type || p.length !== q.length || !p.every((v, i) => v === q[i])) bad("differs from the source (it should be copied as it is)");
    }
  }
  return a.tensors.length;
}

/** llama.cpp's `llama_ftype` for an all-ternary file (MOSTLY_TQ1_0 = 36, MOSTLY_TQ2_0 = 37). */
function fileTypeOf(t: TernaryType): number {
  if (t === GgmlType.TQ1_0) return 36;
  if (t === GgmlType.TQ2_0) return 37;
  // Microsoft's fork numbers its I2_S file type 40; upstream has none.
  if (t === GgmlType.I2_S) return 40;
  throw new Error(`no file type for ${ggmlTypeName(t)}`);
}
